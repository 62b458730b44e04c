"""A series datamodule's data as inference and reports read it: one object, ``dm.frame()``.

The frame holds the series in the units the model trains in, the roles of its columns, its
time axis and splits, and the one map back to the file's units (``to_file_units``). Code that
turns a model into forecasts (``rnnlab.inference``) or scores them (``rnnlab.report``) reads
the data through it, never field by field from the datamodule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnlab.data.windows import Columns, Split, WindowDataset


def date_numbers(times: Any) -> Tensor:
    """Datetimes -> float64 days since 1970-01-01 (matplotlib's date numbers)."""
    seconds = (times - np.datetime64("1970-01-01")) / np.timedelta64(1, "s")
    return torch.tensor(np.asarray(seconds, dtype=np.float64) / 86400.0)


def dates_of(numbers: Tensor) -> Any:
    """Inverse of ``date_numbers``: a pandas ``DatetimeIndex``."""
    import pandas as pd

    return pd.to_datetime(numbers.double().numpy() * 86400.0, unit="s").round("s")


@dataclass(frozen=True)
class SeriesFrame:
    """Everything about one series that a forecast needs (see the module docstring).

    ``series`` is ``[N]`` (one column, input and target) or ``[N, C]``, float32, model units,
    on the CPU; ``loc``/``scale`` map the targets back (floats for one target, ``[T]``
    tensors for several); ``clean`` is the noise-free signal where it is known.
    """

    series: Tensor
    columns: Columns
    time: Tensor
    time_is_date: bool
    splits: dict[str, Split]
    seq_len: int
    horizon: int
    season: int | None
    loc: float | Tensor
    scale: float | Tensor
    clean: Tensor | None
    calendar: Callable[[Tensor], Tensor | None]
    batch_size: int = 4096  # windows inference runs at once (the data's eval_batch_size)

    @property
    def n_points(self) -> int:
        return len(self.series)

    @property
    def n_targets(self) -> int:
        return len(self.columns.targets)

    @property
    def target_names(self) -> list[str]:
        return [self.columns.names[i] for i in self.columns.targets]

    @property
    def target_features(self) -> tuple[int, ...]:
        """Where each target sits among a window's features (what a roll-out fills in)."""
        features = list(self.columns.features)
        return tuple(features.index(c) for c in self.columns.targets)

    def observed_not_forecast(self) -> list[str]:
        """Observed inputs that are not targets: a one-step model cannot roll them forward."""
        targets = set(self.columns.targets)
        return [self.columns.names[i] for i in self.columns.inputs if i not in targets]

    def _columns(self, rows: Tensor, which: tuple[int, ...]) -> Tensor:
        if self.series.ndim == 1:
            return self.series[rows][..., None]
        return self.series[rows][..., list(which)]

    def features(self, rows: Tensor) -> Tensor:
        """Window features of the series rows ``rows`` (any shape): ``[..., F]``, model units."""
        return self._columns(rows, self.columns.features)

    def known(self, rows: Tensor) -> Tensor | None:
        """The known-future columns at ``rows``, ``[..., K]``; None without any."""
        if not self.columns.known or self.series.ndim == 1:
            return None
        return self.series[rows][..., list(self.columns.known)]

    def future_known(self, times: Tensor) -> Tensor | None:
        """The known columns at ``times`` beyond the data, ``[len(times), K]``, or None."""
        return self.calendar(times) if self.columns.known else None

    def targets(self, file_units: bool = True) -> Tensor:
        """Every target over the whole series, ``[N, T]`` (float64 in the file's units by
        default; as stored otherwise)."""
        series = self.series if self.series.ndim == 2 else self.series[:, None]
        values = series[:, list(self.columns.targets)]
        return self.to_file_units(values.double()) if file_units else values

    def to_file_units(self, values: Tensor) -> Tensor:
        """Model units -> the file's units. ``values``' last dimension holds the targets,
        step-major when it spans several steps (``[..., H·T]``); one target: any shape."""
        if not isinstance(self.scale, Tensor):
            return values * self.scale + self.loc
        n = len(self.scale)
        shaped = values.unflatten(-1, (-1, n))  # [..., H·T] -> [..., H, T]
        return (shaped * self.scale.to(values) + self.loc.to(values)).flatten(-2)

    def step(self) -> float:
        """The time between two points (1 for a series of one point)."""
        return float(self.time[-1] - self.time[-2]) if len(self.time) > 1 else 1.0

    def future_time(self, steps: int) -> Tensor:
        """The ``steps`` times after the last point: dates continue the file's frequency
        where pandas can infer one (months stay month ends or starts), other axes the series'
        last time step."""
        if self.time_is_date and len(self.time) >= 3:
            import pandas as pd

            stamps = dates_of(self.time)
            freq = pd.infer_freq(stamps)
            if freq is not None:
                return date_numbers(pd.date_range(stamps[-1], periods=steps + 1, freq=freq)[1:])
        time = self.time.double()
        step = (time[-1] - time[-2]).item() if len(time) > 1 else 1.0
        return time[-1] + step * torch.arange(1, steps + 1, dtype=torch.float64)

    def windows(self, split: str = "test") -> WindowDataset:
        """The windows of ``split``, as the datamodule serves them (the same tensors)."""
        return WindowDataset(self.series, self.splits[split], self.columns)

    def origins(self, split: str = "test", steps: int | None = None) -> Tensor:
        """Series index of the first target of every window of ``split`` that has ``steps``
        true values from there on inside the split (default: the data's horizon)."""
        s = self.splits[split]
        steps = self.horizon if steps is None else steps
        first = s.start + s.seq_len
        return torch.arange(first, max(first, s.stop - steps + 1))

    def time_labels(self, idx: Tensor, times: Tensor | None = None) -> list:
        """Times of the rows ``idx`` (or the ``times`` given, e.g. beyond the data) for files:
        ISO dates for a date axis, numbers otherwise."""
        times = self.time[idx] if times is None else times
        if not self.time_is_date:
            return times.tolist()
        stamps = dates_of(times)
        daily = bool((stamps == stamps.normalize()).all())
        return list(stamps.strftime("%Y-%m-%d" if daily else "%Y-%m-%dT%H:%M:%S"))
