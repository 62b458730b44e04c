"""Columns of a CSV file, with the same windows and splits as the sine data.

    python train.py data=csv data.path=my.csv data.target=load data.time_column=date
    python train.py data=csv data.path=weather.csv data.target=temp_max \\
        data.inputs=[precipitation,temp_max,temp_min,wind] data.calendar=[day_of_year]

Every column is standardised with the mean and standard deviation of the *training*
segment only (statistics of validation or test points would leak into training). The model
trains in those units; ``to_original_units`` maps the targets back, and metrics,
predictions and plots are reported in the units of the file, per target.

Calendar features (``data.calendar``) are the sine and cosine of the hour of the day, the
day of the week, the day of the year or the month, taken from the time column. They are
*known* columns: the model sees their values at the steps it forecasts, never the future
values of a target or of another observed column.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnlab.data.windows import Columns, WindowDataModule, column_indices

# Relative paths that are not found from the working directory are looked up here, so the
# series shipped in the repository's data/ folder is found from anywhere.
PROJECT_ROOT = Path(__file__).resolve().parents[3]

# Calendar feature -> (what it is read from, its period). Values run from 0 to period - 1
# (day of year and month from 0 too), so the sine/cosine pair is continuous across a cycle.
CALENDAR = {
    "hour": ("hour of the day", 24.0),
    "day_of_week": ("day of the week", 7.0),
    "day_of_year": ("day of the year", 365.25),
    "month": ("month", 12.0),
}


def resolve_path(path: str | Path) -> Path:
    """The file ``path`` names: as given, else relative to the project root."""
    candidate = Path(path).expanduser()
    if candidate.is_file() or candidate.is_absolute():
        return candidate
    return PROJECT_ROOT / candidate if (PROJECT_ROOT / candidate).is_file() else candidate


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


def date_numbers(times: Any) -> Tensor:
    """Datetimes -> float64 days since 1970-01-01 (matplotlib's date numbers)."""
    seconds = (times - np.datetime64("1970-01-01")) / np.timedelta64(1, "s")
    return torch.tensor(np.asarray(seconds, dtype=np.float64) / 86400.0)


def dates_of(numbers: Tensor) -> Any:
    """Inverse of ``date_numbers``: a pandas ``DatetimeIndex``."""
    import pandas as pd

    return pd.to_datetime(numbers.double().numpy() * 86400.0, unit="s").round("s")


def read_columns(
    path: str | Path,
    columns: dict[str, list[str]],
    time_column: str | None = None,
    fill: str = "error",
) -> tuple[Any, Any]:
    """Read the named numeric columns (and the time column) of a CSV file with pandas.

    ``columns`` maps the setting that asked for a column to its names (e.g.
    ``{"data.target": ["load"]}``), so every error names the setting to fix. Returns
    ``(values, time)``: a float64 ``DataFrame`` of the columns, and the time column as
    numbers, datetimes or None. Raises ``FileNotFoundError``/``ValueError`` with a one-line
    message for a missing file or column, a non-numeric cell, a time column out of order,
    or a gap when ``fill='error'`` (``fill='interpolate'`` fills gaps linearly, and leading
    or trailing gaps with the nearest value).
    """
    import pandas as pd

    file = resolve_path(path)
    if not file.is_file():
        raise FileNotFoundError(f"data.path={str(path)!r}: no such file")
    try:
        frame = pd.read_csv(file, skipinitialspace=True, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"data.path={str(path)!r} is not a readable CSV file: {first}") from None
    available = [str(c) for c in frame.columns]
    wanted = dict(columns)
    if time_column is not None:
        wanted["data.time_column"] = [time_column]
    for setting, names in wanted.items():
        for name in names:
            if name not in available:
                shown = f"{setting}={name!r}" if len(names) == 1 else f"{setting}: {name!r}"
                raise ValueError(
                    f"{shown} is not a column of {file.name}; "
                    f"columns: {', '.join(available) or '(none)'}"
                )
    setting_of: dict[str, str] = {}
    for setting, names in columns.items():  # a column asked for twice: the first setting
        for name in names:
            setting_of.setdefault(name, setting)
    values = {}
    for name, setting in setting_of.items():
        values[name] = _numbers(frame[name], f"{setting}={name!r}", file.name, fill)
    time = _time_axis(frame[time_column], time_column, file.name) if time_column else None
    return pd.DataFrame(values), time


# Cells read as missing values, compared case-insensitively after stripping spaces: the usual
# markers, listed here rather than left to pandas so that the rule is one place and visible.
_MISSING = {"", "nan", "na", "n/a", "null", "none", "#n/a", "-nan", "<na>"}


def _numbers(cells: Any, setting: str, file_name: str, fill: str) -> Any:
    """One column of text cells -> float64 values, gaps filled or refused."""
    import pandas as pd

    text = cells.str.strip()
    missing = text.str.lower().isin(_MISSING)
    numbers = pd.to_numeric(text.where(~missing), errors="coerce").astype("float64")
    bad = numbers.isna() & ~missing
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{setting}: non-numeric value {text.iloc[row]!r} on line {row + 2} of {file_name}"
        )
    gaps = ~np.isfinite(numbers.to_numpy())
    if gaps.all():
        raise ValueError(f"{setting}: the column holds no numbers at all in {file_name}")
    if gaps.any():
        if fill == "error":
            first = int(np.flatnonzero(gaps)[0]) + 2  # line 1 is the header
            raise ValueError(
                f"{setting} has {int(gaps.sum())} missing values (first on line {first} of "
                f"{file_name}); set data.fill=interpolate to fill them"
            )
        numbers = numbers.where(~gaps).interpolate(method="linear", limit_direction="both")
    return numbers


def _time_axis(cells: Any, name: str, file_name: str) -> Any:
    """Numbers when the time column is numeric (years, seconds), datetimes when it holds
    dates, else None (plots then use the row position)."""
    import warnings

    import pandas as pd

    text = cells.str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().all():
        return numbers.astype("float64")
    with warnings.catch_warnings():  # "could not infer format": mixed formats are tried
        warnings.simplefilter("ignore", UserWarning)
        dates = pd.to_datetime(text, errors="coerce", format="mixed")
    if dates.isna().any():
        return None
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert(None)  # UTC, naive: calendar features need one clock
    steps = np.diff(dates.to_numpy())
    if (steps <= np.timedelta64(0)).any():
        row = int(np.flatnonzero(steps <= np.timedelta64(0))[0]) + 1
        raise ValueError(
            f"data.time_column={name!r} is not in increasing order: line {row + 2} of "
            f"{file_name} ({text.iloc[row]}) does not come after the line before it"
        )
    return pd.DatetimeIndex(dates)


class CsvDataModule(WindowDataModule):
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
        fill: ``error`` (default) refuses missing values; ``interpolate`` fills them linearly.
        column: the name this setting had before ``target``; kept so that checkpoints
            written before the rename still load.
    """

    def __init__(
        self,
        path: str,
        target: str | Sequence[str] | None = None,
        inputs: Sequence[str] | None = None,
        time_column: str | None = None,
        calendar: Sequence[str] = (),
        fill: str = "error",
        column: str | None = None,
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
        self.fill = fill
        self._dates: Any = None

    def build_series(self) -> None:
        import pandas as pd

        frame, time = read_columns(
            self.path, {"data.target": self.targets, "data.inputs": self.inputs},
            self.time_column, self.fill,
        )  # fmt: skip
        if self.calendar and not isinstance(time, pd.DatetimeIndex):
            raise ValueError(
                f"data.calendar={self.calendar} needs dates in data.time_column "
                f"(now {self.time_column!r}{'' if self.time_column else ', no time column'})"
            )
        names = list(dict.fromkeys(self.inputs + self.targets))  # observed columns, in order
        raw = torch.tensor(frame[names].to_numpy(dtype=np.float64, copy=True))  # [N, C]
        # Raises the one-line "too short" error before any statistics are taken.
        splits = self.make_splits(len(raw))
        segment = raw[splits["train"].start : splits["train"].stop]
        # Training statistics only: the level of later points must not leak into the scaling.
        loc, scale = segment.mean(dim=0), segment.std(dim=0)
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
        univariate = len(names) == 1 and not known
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

    def future_known(self, times: Tensor) -> Tensor | None:
        """Calendar features at ``times`` (date numbers beyond the data), ``[n, K]`` float32."""
        if not self.calendar:
            return None
        return torch.from_numpy(calendar_features(dates_of(times), self.calendar)).float()
