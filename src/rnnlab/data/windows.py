"""Sliding windows over a series, a chronological split, and batches without copies.

A series of N points gives windows of ``seq_len`` inputs followed by ``horizon`` targets
(one by default). The series is cut into three consecutive *segments* (train | val | test)
and windows are formed inside each segment, so the inputs and the targets of every window
lie in one split: nothing a model is evaluated on was ever an input or a target in training.

A series is ``[N]`` (one column, both input and target) or ``[N, C]`` (several columns).
With several columns each column has a role: *inputs* are fed over the window, *targets*
are predicted, and *known* columns (calendar features) are inputs whose values after the
window are known too, so a batch also carries them for the forecast steps::

    x       [B, L, F]   the window: observed inputs, then known columns
    y       [B, H·T]    the next H values of the T targets, step-major (step h, target t
                        at h·T + t); [B, 1] for one target one step ahead
    future  [B, H, K]   the known columns at the H target steps (only when K > 0)

Windows are ``Tensor.unfold`` views of the series; a batch is one fancy-index of that view,
so memory stays O(N) and no Python runs per sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
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


def chronological_splits(
    n_points: int, seq_len: int, val_fraction: float, test_fraction: float, horizon: int = 1
) -> dict[str, Split]:
    """Cut ``n_points`` into train | val | test segments, sized in windows.

    ``test_fraction`` and ``val_fraction`` are fractions of all windows of the series, as in
    the original walk-through (its test set is the last 20 % of windows, so its first target
    sits at index 784 + 20 = 804 for 1000 points). Validation is carved from the end of the
    training part.
    """
    if seq_len < 1:
        raise ValueError(f"data.seq_len={seq_len} must be at least 1")
    span = seq_len + horizon - 1  # points of a segment that start no window
    total = n_points - span
    n_test = round(test_fraction * total)
    n_val = round(val_fraction * total)
    test_start = n_points - n_test - span
    val_start = test_start - n_val - span if n_val > 0 else test_start
    splits = {
        "train": Split("train", 0, val_start, seq_len, horizon),
        "val": Split("val", val_start, test_start, seq_len, horizon) if n_val > 0 else None,
        "test": Split("test", test_start, n_points, seq_len, horizon),
    }
    for name, split in splits.items():
        if split is None:
            continue
        if split.n_windows < 1 or (name == "test" and n_test < 1):
            with_horizon = f" and horizon {horizon}" if horizon > 1 else ""
            raise ValueError(
                f"data.seq_len={seq_len}{with_horizon} with {n_points} points leaves the {name} "
                f"split without windows (val_fraction={val_fraction}, test_fraction="
                f"{test_fraction}); use a shorter seq_len, a longer series or larger fractions"
            )
    return {k: v for k, v in splits.items() if v is not None}


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


class BatchLoaders(L.LightningDataModule):
    """The loaders every rnnlab datamodule shares: ``self.datasets`` (split name -> a dataset
    indexed by a tensor of indices, set up by the subclass) served in whole batches by a
    ``BatchIndexSampler``, nothing collated.

    Args:
        batch_size, eval_batch_size: items per training / evaluation batch.
        shuffle_seed: seed of the training batch order.
        num_workers: DataLoader worker processes.
    """

    def __init__(
        self,
        batch_size: int = 64,
        eval_batch_size: int = 4096,
        shuffle_seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.shuffle_seed = shuffle_seed
        self.num_workers = num_workers
        self.datasets: dict[str, Dataset] = {}

    def accelerator_device(self) -> torch.device | None:
        """The trainer's device when it is not the CPU: the data moves there once in
        ``setup`` and batches are then sliced on the device."""
        trainer = getattr(self, "trainer", None)
        device = trainer.strategy.root_device if trainer is not None else None
        return device if device is not None and device.type != "cpu" else None

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


class WindowDataModule(BatchLoaders):
    """Base for every series datamodule: subclasses provide the series in ``build_series``.

    Subclasses set ``self.series`` (float32, in the units the model trains on: ``[N]`` for one
    column, or ``[N, C]`` with ``self.columns`` naming the roles) and ``self.time`` (``[N]``,
    for plot axes), and may set ``self.clean`` (the noise-free signal, when known) and
    ``self.loc``/``self.scale`` (model units -> original units of the targets: floats for one
    target, ``[T]`` tensors for several).

    Args:
        seq_len: input window length.
        horizon: target steps per window (``${model.horizon}`` in the data configs).
        val_fraction, test_fraction: shares of the windows for validation and test.
        batch_size, eval_batch_size: windows per training / evaluation batch.
        shuffle_seed: seed of the training batch order.
        num_workers: DataLoader worker processes.
        season: steps per seasonal cycle, for the seasonal-naive baseline (None: no season).
    """

    # Class-level defaults so a subclass may compute them on demand as properties.
    time: Tensor | None = None
    clean: Tensor | None = None
    time_is_date = False  # True when ``time`` holds matplotlib date numbers (days since 1970)

    def __init__(
        self,
        seq_len: int = 20,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        batch_size: int = 64,
        eval_batch_size: int = 4096,
        shuffle_seed: int = 0,
        num_workers: int = 0,
        horizon: int = 1,
        season: int | None = None,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, shuffle_seed, num_workers)
        self.seq_len = seq_len
        self.horizon = horizon
        self.season = season
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.series: Tensor | None = None
        self.columns: Columns = UNIVARIATE
        self.loc: float | Tensor = 0.0
        self.scale: float | Tensor = 1.0
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
        self.splits = self.make_splits(len(self.series))

    def make_splits(self, n_points: int) -> dict[str, Split]:
        """The chronological splits of a series of ``n_points`` with this module's settings."""
        return chronological_splits(
            n_points, self.seq_len, self.val_fraction, self.test_fraction, self.horizon
        )

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        self.load()
        device = self.accelerator_device()
        series = self.series if device is None else self.series.to(device)
        self.datasets = {
            name: WindowDataset(series, s, self.columns) for name, s in self.splits.items()
        }

    # ------------------------------------------------------------------ columns and units
    @property
    def n_targets(self) -> int:
        return len(self.columns.targets)

    @property
    def target_names(self) -> list[str]:
        return [self.columns.names[i] for i in self.columns.targets]

    def model_settings(self) -> dict[str, object]:
        """Model settings that follow from the data (filled in by ``build_model``): the
        backbone's input features and the names of the model's columns."""
        self.load()
        return {
            "backbone.input_size": len(self.columns.features),
            "columns": self.columns.model_columns(),
        }

    def to_original_units(self, values: Tensor) -> Tensor:
        """Undo the scaling the model trains in (identity for the sine data).

        ``values``' last dimension holds the targets, step-major when it spans several steps
        (``[..., H·T]``); for one target any shape works.
        """
        if not isinstance(self.scale, Tensor):
            return values * self.scale + self.loc
        n = len(self.scale)
        shaped = values.unflatten(-1, (-1, n))  # [..., H·T] -> [..., H, T]
        return (shaped * self.scale.to(values) + self.loc.to(values)).flatten(-2)

    def target_series(self, original_units: bool = True) -> Tensor:
        """Every target over the whole series, ``[N, T]`` (in the file's units by default)."""
        self.load()
        series = self.series if self.series.ndim == 2 else self.series[:, None]
        values = series[:, list(self.columns.targets)].cpu()
        return self.to_original_units(values.double()) if original_units else values

    def future_known(self, times: Tensor) -> Tensor | None:
        """The known columns at ``times`` (beyond the data), ``[len(times), K]``, or None
        when there are none; subclasses with calendar features compute them."""
        return None

    @property
    def noise_floor_mse(self) -> float | None:
        """MSE of the clean signal against the noisy test targets: the practical floor."""
        clean = self.clean
        if clean is None:
            return None
        self.setup()
        idx = self.splits["test"].target_index
        if self.horizon > 1:  # every (window, step) pair the test MSE averages over
            idx = (idx[:, None] + torch.arange(self.horizon)).flatten()
        series = self.to_original_units(self.series[idx])
        return torch.mean((clean[idx] - series) ** 2).item()


def column_indices(names: Sequence[str], wanted: Sequence[str]) -> tuple[int, ...]:
    """Indices of ``wanted`` in ``names``."""
    return tuple(list(names).index(w) for w in wanted)
