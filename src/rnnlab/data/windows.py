"""Sliding windows over a series, a chronological split, and batches without copies.

The series is cut into three consecutive segments (train | val | test) and windows are formed
inside each, so nothing a model is evaluated on was an input or a target in training. Each
column has a role: *inputs* are fed over the window, *targets* are predicted, *known* columns
(calendar features) are also given at the forecast steps::

    x       [B, L, F]   the window: observed inputs, then known columns
    y       [B, H·T]    the next H values of the T targets, step-major (step h, target t at h·T + t)
    future  [B, H, K]   the known columns at the H target steps (only when K > 0)

Windows are ``Tensor.unfold`` views; a batch is one fancy-index of that view, so memory
stays O(N) and no Python runs per sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """One contiguous segment of the series and the windows inside it.

    ``start``/``stop`` index the series (points ``start .. stop-1``); window ``i`` reads the
    inputs ``start + i .. start + i + seq_len - 1`` and the targets from ``start + i + seq_len``
    (its forecast origin) on, ``horizon`` of them.
    """

    name: str
    start: int
    stop: int
    seq_len: int
    horizon: int = 1

    @property
    def n_windows(self) -> int:
        return self.stop - self.start - self.seq_len - self.horizon + 1

    @property
    def target_index(self) -> Tensor:
        """Series index of every window's first target (its forecast origin), for plots on
        the true time axis."""
        return torch.arange(self.start + self.seq_len, self.stop - self.horizon + 1)


def _plan(
    n_points: int, seq_len: int, val_fraction: float, test_fraction: float, horizon: int
) -> dict[str, Split] | None:
    """The splits (no validation split for ``val_fraction=0``), or None when one of them
    gets no window."""
    span = seq_len + horizon - 1  # points of a segment that start no window
    total = n_points - span
    n_test = round(test_fraction * total)
    n_val = round(val_fraction * total)
    if seq_len < 1 or total < 1 or n_test < 1 or (n_val < 1 and val_fraction > 0):
        return None
    test_start = n_points - n_test - span
    val_start = test_start - n_val - span if n_val > 0 else test_start
    splits = {"train": Split("train", 0, val_start, seq_len, horizon)}
    if n_val > 0:
        splits["val"] = Split("val", val_start, test_start, seq_len, horizon)
    splits["test"] = Split("test", test_start, n_points, seq_len, horizon)
    return splits if all(s.n_windows >= 1 for s in splits.values()) else None


def _largest(ok: Callable[[int], bool], low: int, high: int) -> int:
    """Largest x in [low, high] with ok(x), for ok true up to a point (ok(low) is true)."""
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if ok(mid) else (low, mid - 1)
    return low


def _smallest(ok: Callable[[int], bool], low: int) -> int:
    """Smallest x >= low with ok(x), for ok false then (mostly) true."""
    high = max(low, 1)
    while not ok(high):
        high *= 2
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if ok(mid) else (mid + 1, high)
    while low > 1 and ok(low - 1):  # rounding can make ok non-monotone by a point or two
        low -= 1
    return low


def fractions_problem(val_fraction: float, test_fraction: float) -> str | None:
    """None when the split fractions leave room for training; else why not, one line."""
    if val_fraction + test_fraction < 1:
        return None
    return (
        f"data.val_fraction={val_fraction} with data.test_fraction={test_fraction} is invalid: "
        f"they sum to {val_fraction + test_fraction:g} and must sum to less than 1 (the rest "
        "is the training split)"
    )


def split_problem(
    n_points: int,
    seq_len: int,
    val_fraction: float,
    test_fraction: float,
    horizon: int = 1,
    length_key: str | None = None,
) -> str | None:
    """None when train, val and test each get a window; else one line saying which settings
    to change and to what (``length_key``: the setting the series length comes from, e.g.
    ``data.sample_size``; None for a series read from a file)."""
    if _plan(n_points, seq_len, val_fraction, test_fraction, horizon) is not None:
        return None
    problem = fractions_problem(val_fraction, test_fraction)
    if problem is not None:
        return problem
    fits = lambda n, length: _plan(n, length, val_fraction, test_fraction, horizon)  # noqa: E731
    min_points = _smallest(lambda n: fits(n, seq_len) is not None, seq_len + horizon)
    has = f"{length_key}={n_points}" if length_key else f"a series of {n_points} points"
    longer = f"{length_key} >= " if length_key else "a series of at least "
    for key, fraction, split in (
        ("data.val_fraction", val_fraction, "validation"),
        ("data.test_fraction", test_fraction, "test"),
    ):
        windows = n_points - horizon  # the most windows the series can give (seq_len=1)
        if fraction > 0 and windows >= 1 and round(fraction * windows) < 1:
            larger = f"{key} >= {1 / windows:.3g}, or " if windows > 1 else ""
            return (
                f"{key}={fraction} is invalid for {has}: the {split} split gets no windows; "
                f"allowed: {larger}{longer}{min_points}"
            )
    fractions = f"data.val_fraction={val_fraction}, data.test_fraction={test_fraction}"
    with_horizon = f" and horizon {horizon}" if horizon > 1 else ""
    if fits(n_points, 1) is None:
        return (
            f"{has} is invalid: too short for any window with {fractions}; allowed: "
            f"{longer}{min_points} for data.seq_len={seq_len}{with_horizon}"
        )
    max_len = _largest(lambda length: fits(n_points, length) is not None, 1, n_points)
    return (
        f"data.seq_len={seq_len}{with_horizon} with {has} is invalid: with {fractions} a split "
        f"gets no windows; allowed: data.seq_len <= {max_len} for this series, or "
        f"{longer}{min_points} for this seq_len"
    )


def chronological_splits(
    n_points: int,
    seq_len: int,
    val_fraction: float,
    test_fraction: float,
    horizon: int = 1,
    length_key: str | None = None,
) -> dict[str, Split]:
    """Cut ``n_points`` into train | val | test segments, sized in windows.

    ``test_fraction`` and ``val_fraction`` are fractions of all windows of the series, as in
    the original walk-through (its test set is the last 20 % of windows, so its first target
    sits at index 784 + 20 = 804 for 1000 points). Validation is carved from the end of the
    training part. A split without a window is a ``ValueError`` naming what to change
    (``split_problem``).
    """
    splits = _plan(n_points, seq_len, val_fraction, test_fraction, horizon)
    if splits is None:
        raise ValueError(
            split_problem(n_points, seq_len, val_fraction, test_fraction, horizon, length_key)
        )
    return splits


@dataclass(frozen=True)
class Columns:
    """Roles of the columns of a ``[N, C]`` series, as column indices.

    ``inputs`` are observed columns fed over the window; ``known`` columns are fed too and
    their values at the target steps are given to the model (calendar features);
    ``targets`` are predicted. ``names`` names every column.
    """

    names: tuple[str, ...]
    inputs: tuple[int, ...]
    targets: tuple[int, ...]
    known: tuple[int, ...] = ()

    @property
    def features(self) -> tuple[int, ...]:
        """The columns of a window, in the order the model sees them: inputs, then known."""
        return self.inputs + self.known

    def model_columns(self) -> dict[str, list[str]]:
        """Names of the model's input features, targets and known features (plain lists, as
        they go into the model's config and checkpoint)."""
        return {
            "inputs": [self.names[i] for i in self.features],
            "targets": [self.names[i] for i in self.targets],
            "known": [self.names[i] for i in self.known],
        }


UNIVARIATE = Columns(names=("value",), inputs=(0,), targets=(0,))


class WindowDataset(Dataset):
    """Windows of one split, indexed a whole batch at a time.

    ``dataset[idx]`` with a 1-D index tensor returns ``(x, y)``, or ``(x, y, future)`` when
    there are known columns (shapes in the module docstring).
    """

    def __init__(self, series: Tensor, split: Split, columns: Columns | None = None) -> None:
        segment = series[split.start : split.stop]
        self.seq_len, self.horizon = split.seq_len, split.horizon
        self.split = split
        self.columns = columns or UNIVARIATE
        # [S] -> [S - L - H + 1, L + H], or [S, C] -> [W, C, L + H]: a view, no copy.
        self.windows = segment.unfold(0, split.seq_len + split.horizon, 1)
        if series.ndim == 2:
            c = self.columns
            self._features = torch.tensor(c.features)
            self._targets = torch.tensor(c.targets)
            self._known = torch.tensor(c.known) if c.known else None

    def __len__(self) -> int:
        return self.windows.shape[0]

    def _cut(self, rows: Tensor) -> tuple[Tensor, ...]:
        """Rows of windows -> ``(x, y)`` or ``(x, y, future)``."""
        L = self.seq_len
        if rows.ndim == 2:  # one column: [B, L + H]
            return rows[:, :L, None], rows[:, L:]
        x = rows[:, self._features, :L].transpose(1, 2)  # [B, F, L] -> [B, L, F]
        y = rows[:, self._targets, L:].transpose(1, 2).flatten(1)  # [B, T, H] -> [B, H·T]
        if self._known is None:
            return x, y
        return x, y, rows[:, self._known, L:].transpose(1, 2)  # [B, K, H] -> [B, H, K]

    def __getitem__(self, idx: Tensor) -> tuple[Tensor, ...]:
        return self._cut(self.windows[idx])  # the fancy index is the only copy of the rows

    @property
    def all(self) -> tuple[Tensor, ...]:
        """``(x, y[, future])`` of every window of the split."""
        return self._cut(self.windows)

    @property
    def inputs(self) -> Tensor:
        """All inputs of the split, ``[N, L, F]``."""
        return self.all[0]

    @property
    def targets(self) -> Tensor:
        """All targets of the split, ``[N, H·T]``."""
        return self.all[1]

    @property
    def future(self) -> Tensor | None:
        """The known columns at every window's target steps, ``[N, H, K]``, or None."""
        batch = self.all
        return batch[2] if len(batch) > 2 else None

    @property
    def model_inputs(self) -> tuple[Tensor, ...]:
        """What the model is called with for every window: ``(x,)`` or ``(x, future)``."""
        batch = self.all
        return (batch[0], *batch[2:])


class BatchIndexSampler(Sampler[Tensor]):
    """Yields one index tensor per batch.

    An epoch is the fewest whole passes over the ``n`` items that give at least
    ``min_batches`` batches (one pass by default), so the optimizer steps between two
    validations do not shrink with the data. Each pass is a new order; the order of pass
    ``p`` of epoch ``e`` depends only on ``(seed, e, p)``, so a run resumed from a checkpoint
    sees the same batches as one that was never interrupted. Lightning calls ``set_epoch``
    before every epoch.
    """

    def __init__(
        self, n: int, batch_size: int, shuffle: bool, seed: int = 0, min_batches: int = 1
    ) -> None:
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.epoch = 0
        self.per_pass = math.ceil(n / batch_size)
        self.passes = max(1, math.ceil(min_batches / max(self.per_pass, 1)))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.per_pass * self.passes

    def _order(self, p: int) -> Tensor:
        if not self.shuffle:
            return torch.arange(self.n)
        seed = self.seed * 100_003 + self.epoch
        if p > 0:  # the first pass keeps the one-pass epoch's order
            seed = seed * 1_000_003 + p
        return torch.randperm(self.n, generator=torch.Generator().manual_seed(seed))

    def __iter__(self) -> Iterator[Tensor]:
        for p in range(self.passes):
            yield from self._order(p).split(self.batch_size)


class BatchLoaders(L.LightningDataModule):
    """The loaders every rnnlab datamodule shares: ``self.datasets`` (split name -> a dataset
    indexed by a tensor of indices, set up by the subclass) served in whole batches by a
    ``BatchIndexSampler``, nothing collated.

    Args:
        batch_size, eval_batch_size: items per training / evaluation batch.
        shuffle_seed: seed of the training batch order.
        num_workers: DataLoader worker processes.
        min_batches_per_epoch: a training epoch is the fewest whole passes over the training
            items that give at least this many batches (1: one pass).
    """

    def __init__(
        self,
        batch_size: int = 64,
        eval_batch_size: int = 4096,
        shuffle_seed: int = 0,
        num_workers: int = 0,
        min_batches_per_epoch: int = 1,
    ) -> None:
        super().__init__()
        self.min_batches_per_epoch = min_batches_per_epoch
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.shuffle_seed = shuffle_seed
        self.num_workers = num_workers
        self.datasets: dict[str, Dataset] = {}

    def train_size(self) -> int:
        """Items in the training split (windows, sequences)."""
        raise NotImplementedError

    def batches_per_epoch(self) -> int:
        """Optimizer steps in one training epoch (``BatchIndexSampler``'s length)."""
        n = self.train_size()
        return len(BatchIndexSampler(n, self.batch_size, True, 0, self.min_batches_per_epoch))

    def train_examples(self, n: int) -> tuple[Tensor, ...]:
        """A batch of the first ``n`` training items on the CPU, built apart from the
        loaders (what sizing and cost measurements run the model on)."""
        raise NotImplementedError

    def accelerator_device(self) -> torch.device | None:
        """The trainer's device when it is not the CPU: the data moves there once in
        ``setup`` and batches are then sliced on the device."""
        trainer = getattr(self, "trainer", None)
        device = trainer.strategy.root_device if trainer is not None else None
        return device if device is not None and device.type != "cpu" else None

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader:
        dataset = self.datasets[split]
        least = self.min_batches_per_epoch if shuffle else 1
        sampler = BatchIndexSampler(len(dataset), batch_size, shuffle, self.shuffle_seed, least)
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


def column_indices(names: Sequence[str], wanted: Sequence[str]) -> tuple[int, ...]:
    """Indices of ``wanted`` in ``names``."""
    return tuple(list(names).index(w) for w in wanted)
