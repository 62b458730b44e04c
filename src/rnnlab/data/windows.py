"""Sliding windows over a 1-D series, a chronological split, and batches without copies.

A series of N points gives windows of ``seq_len`` inputs followed by one target. The series
is cut into three consecutive *segments* (train | val | test) and windows are formed inside
each segment, so the inputs and the target of every window lie in one split: nothing a
model is evaluated on was ever an input or a target in training.

Windows are ``Tensor.unfold`` views of the series; a batch is one fancy-index of that view,
so memory stays O(N) and no Python runs per sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """One contiguous segment of the series and the windows inside it.

    ``start``/``stop`` index the series (points ``start .. stop-1``); the targets of the
    windows are the points ``start + seq_len .. stop - 1``.
    """

    name: str
    start: int
    stop: int
    seq_len: int

    @property
    def n_windows(self) -> int:
        return self.stop - self.start - self.seq_len

    @property
    def target_index(self) -> Tensor:
        """Series index of every window's target, for plots on the true time axis."""
        return torch.arange(self.start + self.seq_len, self.stop)


def chronological_splits(
    n_points: int, seq_len: int, val_fraction: float, test_fraction: float
) -> dict[str, Split]:
    """Cut ``n_points`` into train | val | test segments, sized in windows.

    ``test_fraction`` and ``val_fraction`` are fractions of all ``n_points - seq_len``
    windows, as in the original walk-through (its test set is the last 20 % of windows, so
    its first target sits at index 784 + 20 = 804 for 1000 points). Validation is carved
    from the end of the training part.
    """
    if seq_len < 1:
        raise ValueError(f"data.seq_len={seq_len} must be at least 1")
    total = n_points - seq_len
    n_test = round(test_fraction * total)
    n_val = round(val_fraction * total)
    test_start = n_points - n_test - seq_len
    val_start = test_start - n_val - seq_len if n_val > 0 else test_start
    splits = {
        "train": Split("train", 0, val_start, seq_len),
        "val": Split("val", val_start, test_start, seq_len) if n_val > 0 else None,
        "test": Split("test", test_start, n_points, seq_len),
    }
    for name, split in splits.items():
        if split is None:
            continue
        if split.n_windows < 1 or (name == "test" and n_test < 1):
            raise ValueError(
                f"data.seq_len={seq_len} with {n_points} points leaves the {name} split without "
                f"windows (val_fraction={val_fraction}, test_fraction={test_fraction}); use a "
                "shorter seq_len, a longer series or larger fractions"
            )
    return {k: v for k, v in splits.items() if v is not None}


class WindowDataset(Dataset):
    """Windows of one split, indexed a whole batch at a time.

    ``dataset[idx]`` with a 1-D index tensor returns ``(x [B, L, 1], y [B, 1])``.
    """

    def __init__(self, series: Tensor, split: Split) -> None:
        segment = series[split.start : split.stop]
        # [S] -> [S - L, L + 1]: a view, no copy.
        self.windows = segment.unfold(0, split.seq_len + 1, 1)
        self.seq_len = split.seq_len
        self.split = split

    def __len__(self) -> int:
        return self.windows.shape[0]

    def __getitem__(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        rows = self.windows[idx]  # [B, L + 1], the only copy made
        return rows[:, : self.seq_len, None], rows[:, self.seq_len :]

    @property
    def inputs(self) -> Tensor:
        """All inputs of the split, ``[N, L, 1]`` (a view)."""
        return self.windows[:, : self.seq_len, None]

    @property
    def targets(self) -> Tensor:
        """All targets of the split, ``[N, 1]`` (a view)."""
        return self.windows[:, self.seq_len :]


class BatchIndexSampler(Sampler[Tensor]):
    """Yields one index tensor per batch.

    The order of epoch ``e`` depends only on ``(seed, e)``, so a run resumed from a
    checkpoint sees the same batches as one that was never interrupted. Lightning calls
    ``set_epoch`` before every epoch.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int = 0) -> None:
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[Tensor]:
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.n, generator=gen)
        else:
            order = torch.arange(self.n)
        yield from order.split(self.batch_size)


class WindowDataModule(L.LightningDataModule):
    """Base for every series datamodule: subclasses provide the series in ``build_series``.

    Subclasses set ``self.series`` (float32 ``[N]``, in the units the model trains on) and
    ``self.time`` (``[N]``, for plot axes) and may set ``self.clean`` (the noise-free signal,
    when known) and ``self.loc``/``self.scale`` (model units -> original units).
    """

    # Class-level defaults so a subclass may compute them on demand as properties.
    time: Tensor | None = None
    clean: Tensor | None = None

    def __init__(
        self,
        seq_len: int = 20,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        batch_size: int = 64,
        eval_batch_size: int = 4096,
        shuffle_seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.seq_len = seq_len
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.shuffle_seed = shuffle_seed
        self.num_workers = num_workers
        self.series: Tensor | None = None
        self.loc, self.scale = 0.0, 1.0
        self.splits: dict[str, Split] = {}
        self.datasets: dict[str, WindowDataset] = {}

    def build_series(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def load(self) -> None:
        """Build the series and its splits once (raises one-line ``ValueError``s for data
        that cannot work, e.g. a series too short for ``seq_len``)."""
        if self.series is not None and self.splits:
            return
        self.build_series()
        assert self.series is not None
        self.splits = chronological_splits(
            len(self.series), self.seq_len, self.val_fraction, self.test_fraction
        )

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        self.load()
        series = self.series
        # On a GPU the whole series moves once; batches are then sliced on the device.
        trainer = getattr(self, "trainer", None)
        if trainer is not None and trainer.strategy.root_device.type != "cpu":
            series = series.to(trainer.strategy.root_device)
        self.datasets = {name: WindowDataset(series, s) for name, s in self.splits.items()}

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader:
        dataset = self.datasets[split]
        sampler = BatchIndexSampler(len(dataset), batch_size, shuffle, self.shuffle_seed)
        # batch_size=None: the sampler already yields whole batches, nothing is collated.
        return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True, self.batch_size)

    def val_dataloader(self) -> DataLoader | list:
        if "val" not in self.datasets:
            return []
        return self._loader("val", False, self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False, self.eval_batch_size)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()

    def to_original_units(self, values: Tensor) -> Tensor:
        """Undo the scaling the model trains in (identity for the sine data)."""
        return values * self.scale + self.loc

    @property
    def noise_floor_mse(self) -> float | None:
        """MSE of the clean signal against the noisy test targets: the practical floor."""
        clean = self.clean
        if clean is None:
            return None
        self.setup()
        idx = self.splits["test"].target_index
        series = self.to_original_units(self.series[idx])
        return torch.mean((clean[idx] - series) ** 2).item()
