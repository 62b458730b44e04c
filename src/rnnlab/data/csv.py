"""Columns of a CSV file, with the same windows and splits as the sine data.

    python train.py data=csv data.path=my.csv data.target=load data.time_column=date
    python train.py data=csv data.path=weather.csv data.target=temp_max \\
        data.inputs=[precipitation,temp_max,temp_min,wind] data.calendar=[day_of_year]

Every column is standardised with the mean and standard deviation of the *training*
segment only (statistics of validation or test points would leak into training); a new file
read for prediction (``history``) is scaled with the statistics the model was trained with,
never with its own. The model
trains in those units; ``frame().to_file_units`` maps the targets back, and metrics,
predictions and plots are reported in the units of the file, per target.

Calendar features (``data.calendar``) are the sine and cosine of the hour of the day, the
day of the week, the day of the year or the month, taken from the time column. They are
*known* columns: the model sees their values at the steps it forecasts, never the future
values of a target or of another observed column. ``data.known`` names columns of the file
that are known ahead too (a promotion, a holiday, a planned load): standardised with the
training statistics like the observed columns and served at the forecast steps like the
calendar. Beyond the file's last row (the forecast after the data) their values are unknown:
they are held at their last value, and the log says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnlab.data.anomalies import LabelledSeries, labelled_csv
from rnnlab.data.frame import date_numbers, dates_of
from rnnlab.data.readers import read_columns
from rnnlab.data.series import WindowDataModule
from rnnlab.data.windows import Columns, column_indices

# Calendar feature -> (what it is read from, its period). Values run from 0 to period - 1
# (day of year and month from 0 too), so the sine/cosine pair is continuous across a cycle.
CALENDAR = {
    "hour": ("hour of the day", 24.0),
    "day_of_week": ("day of the week", 7.0),
    "day_of_year": ("day of the year", 365.25),
    "month": ("month", 12.0),
}


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def calendar_features(times: Any, names: Sequence[str]) -> np.ndarray:
    """``[N, 2·len(names)]`` float64: sine and cosine of each calendar feature of ``times``
    (a pandas ``DatetimeIndex``), in the order ``name_sin, name_cos`` per name."""
    parts = {
        "hour": lambda t: t.hour + t.minute / 60.0,
        "day_of_week": lambda t: t.day_of_week,
        "day_of_year": lambda t: t.day_of_year - 1,
        "month": lambda t: t.month - 1,
    }
    columns = []
    for name in names:
        angle = 2 * np.pi * np.asarray(parts[name](times), dtype=np.float64) / CALENDAR[name][1]
        columns += [np.sin(angle), np.cos(angle)]
    return np.stack(columns, axis=1) if columns else np.empty((len(times), 0))


def calendar_names(names: Sequence[str]) -> list[str]:
    """Column names of ``calendar_features``."""
    return [f"{name}_{fn}" for name in names for fn in ("sin", "cos")]


class CsvDataModule(LabelledSeries, WindowDataModule):
    """Windows of the columns of a CSV file (``conf/data/csv.yaml``).

    Args:
        path: the CSV file (a header row, then one row per time step, in time order).
        target: the column to forecast, or a list of columns.
        inputs: the observed columns fed to the model over each window (default: the
            targets). A target missing from ``inputs`` is predicted without its own history.
        time_column: optional column of numbers (years) or dates: the time axis of plots,
            and what calendar features are computed from.
        calendar: calendar features (``hour``, ``day_of_week``, ``day_of_year``, ``month``),
            each as a sine/cosine pair; they need dates in ``time_column``.
        known: columns of the file known over the forecast horizon too (module docstring);
            neither a target nor an input.
        fill: ``error`` (default) refuses missing values; ``interpolate`` fills them linearly.
        column: the name this setting had before ``target``; kept so that checkpoints
            written before the rename still load.
        label: a 0/1 column marking anomalies (``task=anomaly``, ``rnnlab.data.anomalies``).
        train_end: the first row after the training part (training and validation windows
            before it, the test split from it on); None: the chronological splits.
        train_on: ``normal`` (windows touching a labelled anomaly are not trained on) or ``all``.
    """

    tasks = ("forecast", "anomaly")

    def __init__(
        self,
        path: str,
        target: str | Sequence[str] | None = None,
        inputs: Sequence[str] | None = None,
        time_column: str | None = None,
        calendar: Sequence[str] = (),
        known: Sequence[str] = (),
        fill: str = "error",
        column: str | None = None,
        label: str | None = None,
        train_end: int | None = None,
        train_on: str = "normal",
        **window_kwargs: Any,
    ) -> None:
        super().__init__(**window_kwargs)
        if target is None and column is None:
            raise ValueError("data.target is required: the column (or list of columns) to forecast")
        self.path = path
        self.targets = _as_list(target if target is not None else column)
        self.inputs = _as_list(inputs) or list(self.targets)
        self.time_column = time_column
        self.calendar = _as_list(calendar)
        unknown = [name for name in self.calendar if name not in CALENDAR]
        if unknown:
            raise ValueError(
                f"data.calendar={self.calendar} is invalid: {unknown[0]!r} is not one of "
                f"{', '.join(CALENDAR)}"
            )
        if self.calendar and time_column is None:
            raise ValueError(
                f"data.calendar={self.calendar} needs data.time_column: the column of dates the "
                "calendar features are computed from"
            )
        self.known = _as_list(known)
        both = [n for n in self.known if n in self.inputs or n in self.targets]
        if both:
            raise ValueError(
                f"data.known={self.known} is invalid: {both[0]!r} is also a target or an input "
                "(a known column is given ahead, an observed one only up to the forecast origin)"
            )
        self.fill = fill
        self._dates: Any = None
        self.label, self.train_end, self.train_on = label, train_end, train_on
        self.check_train_on()

    def build_series(self) -> None:
        import pandas as pd

        frame, time = read_columns(
            self.path, {"data.target": self.targets, "data.inputs": self.inputs,
                        "data.label": [self.label] if self.label else [],
                        "data.known": self.known},
            self.time_column, self.fill,
        )  # fmt: skip
        labelled_csv(self, self.label, frame)
        if self.calendar and not isinstance(time, pd.DatetimeIndex):
            raise ValueError(
                f"data.calendar={self.calendar} needs dates in data.time_column "
                f"(now {self.time_column!r}{'' if self.time_column else ', no time column'})"
            )
        observed = list(dict.fromkeys(self.inputs + self.targets))  # in order
        names = observed + self.known  # the standardised columns: observed, then known
        raw = torch.tensor(frame[names].to_numpy(dtype=np.float64, copy=True))  # [N, C]
        if self.given_statistics is not None:  # a trained model's: never refitted
            loc, scale = self._given(names)
        else:
            # Raises the one-line "too short" error before any statistics are taken.
            splits = self.make_splits(len(raw))
            segment = raw[splits["train"].start : splits["train"].stop]
            # Training statistics only: the level of later points must not leak into the scaling.
            loc, scale = segment.mean(dim=0), segment.std(dim=0)
        self.column_statistics = {
            n: (a, b) for n, a, b in zip(names, loc.tolist(), scale.tolist(), strict=True)
        }
        for name, s in zip(names, scale.tolist(), strict=True):
            if not s > 0:
                raise ValueError(
                    f"column {name!r} is constant over the training segment; "
                    "it cannot be standardised"
                )
        table = (raw - loc) / scale
        known: list[str] = []
        if self.calendar:
            features = torch.from_numpy(calendar_features(time, self.calendar))
            table = torch.cat([table, features], dim=1)
            known = calendar_names(self.calendar)
        all_names = (*names, *known)
        known = [*self.known, *known]  # the file's known columns, then the calendar's
        self.columns = Columns(
            names=all_names,
            inputs=column_indices(all_names, self.inputs),
            targets=column_indices(all_names, self.targets),
            known=column_indices(all_names, known),
        )
        targets = list(self.columns.targets)
        if len(targets) == 1:
            self.loc, self.scale = loc[targets[0]].item(), scale[targets[0]].item()
        else:
            self.loc, self.scale = loc[targets], scale[targets]
        univariate = len(observed) == 1 and not known
        # One column stays a plain [N] series: the same windows (and numbers) as before.
        self.series = (table[:, 0] if univariate else table).float()
        # float64: years or epoch seconds keep their precision on the plot axis.
        if isinstance(time, pd.DatetimeIndex):
            self._dates = time
            self.time, self.time_is_date = date_numbers(time), True
        elif time is not None:
            self.time = torch.tensor(time.to_numpy(), dtype=torch.float64)
        else:
            self.time = torch.arange(len(raw), dtype=torch.float64)
        self.clean = None

    def _given(self, names: list[str]) -> tuple[Tensor, Tensor]:
        """``(loc, scale) [C]`` of ``names`` from ``given_statistics`` (one line for a column
        the model was not trained on)."""
        given = self.given_statistics or {}
        unknown = [n for n in names if n not in given]
        if unknown:
            raise ValueError(
                f"column {unknown[0]!r} is not one the model was trained on "
                f"({', '.join(given)}): give the training set-up's data.target and data.inputs"
            )
        loc, scale = zip(*(given[n] for n in names), strict=True)
        return torch.tensor(loc, dtype=torch.float64), torch.tensor(scale, dtype=torch.float64)

    def future_known(self, times: Tensor) -> Tensor | None:
        """The known columns at ``times`` (beyond the data), ``[n, K]`` float32: ``data.known``
        held at their last value, then the calendar features of the dates."""
        parts = []
        if self.known:
            import logging

            logging.getLogger(__name__).warning(
                "data.known=%s: the file ends, so the forecast beyond it holds them at their "
                "last value", self.known,
            )  # fmt: skip
            last = self.series[-1, list(self.columns.known[: len(self.known)])]  # [K_file]
            parts.append(last.expand(len(times), -1))
        if self.calendar:
            parts.append(torch.from_numpy(calendar_features(dates_of(times), self.calendar)))
        return torch.cat([p.float() for p in parts], dim=1) if parts else None
