"""The sine datamodule: shapes, chronological splits, no leakage, views, determinism."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnlab.data import SineDataModule
from rnnlab.data.windows import chronological_splits
from rnnlab.report.baselines import noise_floor_mse


def make_dm(**kwargs) -> SineDataModule:
    dm = SineDataModule(**kwargs)
    dm.setup("fit")
    return dm


def test_series_matches_the_walkthrough_definition():
    dm = make_dm()
    t = torch.linspace(0, 100, 1000)
    assert dm.series.shape == (1000,)
    torch.testing.assert_close(dm.time, t)
    torch.testing.assert_close(dm.clean, torch.sin(0.1 * t), atol=1e-6, rtol=0)
    noise = dm.series - dm.clean
    assert 0.09 < noise.std().item() < 0.11


def test_batches_have_the_documented_shapes():
    dm = make_dm(seq_len=20, batch_size=32)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (32, 20, 1) and y.shape == (32, 1)
    assert x.dtype == y.dtype == torch.float32


def test_each_target_is_the_point_after_its_inputs():
    dm = make_dm(seq_len=7)
    for name, ds in dm.datasets.items():
        idx = ds.split.target_index
        torch.testing.assert_close(ds.targets[:, 0], dm.series[idx], msg=name)
        torch.testing.assert_close(ds.inputs[:, -1, 0], dm.series[idx - 1], msg=name)
        torch.testing.assert_close(ds.inputs[:, 0, 0], dm.series[idx - 7], msg=name)


def test_test_split_is_the_original_last_20_percent_of_windows():
    dm = make_dm(seq_len=20, test_fraction=0.2)
    test = dm.splits["test"]
    # 980 windows, 196 for test: the first test target is index 804, the last 999.
    assert test.n_windows == 196
    assert test.target_index[0].item() == 804 and test.target_index[-1].item() == 999


@pytest.mark.parametrize("seq_len", [1, 5, 20, 50])
@pytest.mark.parametrize("val_fraction", [0.0, 0.1, 0.25])
def test_splits_are_chronological_and_no_window_straddles_two(seq_len, val_fraction):
    splits = chronological_splits(1000, seq_len, val_fraction, 0.2)
    ordered = [splits[k] for k in ("train", "val", "test") if k in splits]
    assert ordered[0].start == 0 and ordered[-1].stop == 1000
    for before, after in itertools.pairwise(ordered):
        # Segments touch but do not overlap: every point of a window (inputs and target)
        # lies inside one segment.
        assert before.stop == after.start
        assert before.target_index.max() < after.start
    assert ("val" in splits) == (val_fraction > 0)


def test_no_training_window_sees_a_validation_or_test_point():
    dm = make_dm()
    val_start = dm.splits["val"].start
    train = dm.datasets["train"]
    last_point_used = train.split.target_index.max().item()
    assert last_point_used < val_start
    # and the values really come from before the boundary
    assert torch.isin(train.windows.flatten(), dm.series[val_start:]).sum() == 0


def test_windows_are_views_of_the_series_not_copies():
    dm = make_dm()
    for ds in dm.datasets.values():
        assert ds.windows.untyped_storage().data_ptr() == dm.series.untyped_storage().data_ptr()


def test_noise_realisation_depends_on_data_seed_only():
    a, b, c = make_dm(seed=42), make_dm(seed=42, shuffle_seed=7), make_dm(seed=43)
    assert torch.equal(a.series, b.series)
    assert not torch.equal(a.series, c.series)


def test_batch_order_depends_on_seed_and_epoch_only():
    def first_batch(shuffle_seed: int, epoch: int) -> torch.Tensor:
        loader = make_dm(shuffle_seed=shuffle_seed).train_dataloader()
        loader.sampler.set_epoch(epoch)
        return next(iter(loader))[1]

    assert torch.equal(first_batch(1, 3), first_batch(1, 3))
    assert not torch.equal(first_batch(1, 3), first_batch(1, 4))
    assert not torch.equal(first_batch(1, 3), first_batch(2, 3))


def test_an_epoch_visits_every_training_window_once():
    dm = make_dm(batch_size=50)
    seen = torch.cat([y[:, 0] for _, y in dm.train_dataloader()])
    expected = dm.datasets["train"].targets[:, 0]
    assert len(seen) == len(expected)
    torch.testing.assert_close(seen.sort().values, expected.sort().values)


def test_noise_floor_is_clean_signal_against_noisy_test_targets():
    dm = make_dm()
    idx = dm.splits["test"].target_index
    expected = ((dm.clean[idx] - dm.series[idx]) ** 2).mean().item()
    floor = noise_floor_mse(dm.frame())
    assert floor == pytest.approx(expected)
    assert 0.005 < floor < 0.015  # noise variance is 0.01


def test_a_seq_len_too_long_for_the_split_is_refused():
    with pytest.raises(ValueError, match=r"data\.seq_len=300"):
        make_dm(seq_len=300)
