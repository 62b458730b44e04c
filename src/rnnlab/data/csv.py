"""A univariate series read from a CSV file, with the same windows and splits as the sine data.

    python train.py data=csv data.path=my.csv data.column=load data.time_column=date

The series is standardised with the mean and standard deviation of the *training* segment
only (statistics of validation or test points would leak into training). The model trains
in those units; ``to_original_units`` maps back, and metrics, predictions and plots are
reported in the units of the file.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch

from rnnlab.data.windows import WindowDataModule, chronological_splits

# Relative paths that are not found from the working directory are looked up here, so the
# series shipped in the repository's data/ folder is found from anywhere.
PROJECT_ROOT = Path(__file__).resolve().parents[3]


def resolve_path(path: str | Path) -> Path:
    """The file ``path`` names: as given, else relative to the project root."""
    candidate = Path(path).expanduser()
    if candidate.is_file() or candidate.is_absolute():
        return candidate
    return PROJECT_ROOT / candidate if (PROJECT_ROOT / candidate).is_file() else candidate


def _parse_number(text: str) -> float:
    """A float, or NaN for an empty cell or an explicit NaN/NA marker."""
    text = text.strip()
    if text == "" or text.lower() in ("nan", "na", "n/a", "null"):
        return math.nan
    return float(text)


def interpolate_gaps(values: torch.Tensor) -> torch.Tensor:
    """Fill NaNs linearly between neighbours; leading/trailing NaNs take the nearest value."""
    known = ~torch.isnan(values)
    if not known.any():
        raise ValueError("the column holds no numbers at all")
    positions = torch.arange(len(values), dtype=values.dtype)
    xp, fp = positions[known], values[known]
    # For every point, the known neighbours left and right of it.
    right = torch.searchsorted(xp, positions).clamp(1, len(xp) - 1) if len(xp) > 1 else None
    if right is None:
        return torch.full_like(values, fp[0].item())
    left = right - 1
    weight = ((positions - xp[left]) / (xp[right] - xp[left])).clamp(0.0, 1.0)
    filled = fp[left] + weight * (fp[right] - fp[left])
    return torch.where(known, values, filled)


def read_series(
    path: str | Path, column: str, time_column: str | None = None, fill: str = "error"
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Read ``column`` (and ``time_column``) of a CSV file as float64 tensors.

    Raises ``FileNotFoundError``/``ValueError`` with a one-line message for a missing file
    or column, a non-numeric cell, or a gap when ``fill='error'``.
    """
    file = resolve_path(path)
    if not file.is_file():
        raise FileNotFoundError(f"data.path={str(path)!r}: no such file")
    with file.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = [c for c in (reader.fieldnames or []) if c is not None]
        for setting, name in (("data.column", column), ("data.time_column", time_column)):
            if name is not None and name not in columns:
                raise ValueError(
                    f"{setting}={name!r} is not a column of {file.name}; "
                    f"columns: {', '.join(columns) or '(none)'}"
                )
        rows = list(reader)
    values, times = [], []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        cell = row.get(column) or ""
        try:
            values.append(_parse_number(cell))
        except ValueError:
            raise ValueError(
                f"data.column={column!r}: non-numeric value {cell.strip()!r} on line {line} "
                f"of {file.name}"
            ) from None
        if time_column is not None:
            times.append((row.get(time_column) or "").strip())
    series = torch.tensor(values, dtype=torch.float64)
    gaps = torch.isnan(series) | torch.isinf(series)
    if gaps.any():
        if fill == "error":
            first = int(torch.nonzero(gaps)[0]) + 2
            raise ValueError(
                f"data.column={column!r} has {int(gaps.sum())} missing values (first on line "
                f"{first} of {file.name}); set data.fill=interpolate to fill them"
            )
        series = interpolate_gaps(torch.where(gaps, torch.nan, series))
    return series, _time_axis(times) if time_column is not None else None


def _time_axis(cells: list[str]) -> torch.Tensor:
    """Numbers when the time column is numeric (years, seconds); else the row position,
    because a plot axis needs numbers and dates would need a calendar library."""
    try:
        return torch.tensor([float(c) for c in cells], dtype=torch.float64)
    except ValueError:
        return torch.arange(len(cells), dtype=torch.float64)


class CsvDataModule(WindowDataModule):
    """Windows of one column of a CSV file (``conf/data/csv.yaml``).

    Args:
        path: the CSV file (a header row, then one row per time step, in time order).
        column: the column holding the series.
        time_column: optional numeric column used as the time axis of plots.
        fill: ``error`` (default) refuses missing values; ``interpolate`` fills them linearly.
    """

    def __init__(
        self,
        path: str,
        column: str,
        time_column: str | None = None,
        fill: str = "error",
        **window_kwargs,
    ) -> None:
        super().__init__(**window_kwargs)
        self.path = path
        self.column = column
        self.time_column = time_column
        self.fill = fill

    def build_series(self) -> None:
        raw, time = read_series(self.path, self.column, self.time_column, self.fill)
        # Raises the one-line "too short" error before any statistics are taken.
        splits = chronological_splits(len(raw), self.seq_len, self.val_fraction, self.test_fraction)
        segment = raw[splits["train"].start : splits["train"].stop]
        loc, scale = segment.mean().item(), segment.std().item()
        if not scale > 0:
            raise ValueError(
                f"data.column={self.column!r} is constant over the training segment; "
                "it cannot be standardised"
            )
        self.loc, self.scale = loc, scale
        self.series = ((raw - loc) / scale).float()
        # float64: years or epoch seconds keep their precision on the plot axis.
        self.time = time if time is not None else torch.arange(len(raw), dtype=torch.float64)
        self.clean = None
