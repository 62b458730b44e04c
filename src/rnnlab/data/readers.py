"""Reading the files rnnlab trains on, with one-line errors that name the setting to fix.

* ``read_columns``: numeric columns of a CSV series (``data=csv``);
* ``read_long_csv``: labelled sequences in the long format (``data=sequences``);
* ``read_ts``: a ``.ts`` file of the UCR/UEA archives (``data=ucr``).

Relative paths are tried from the working directory, then among the series shipped with the
package (``data/...``, the repository's ``data/`` folder).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.data.windows import SPLITS

# The shipped series and labelled sets; the repository's top-level data/ links here.
SHIPPED = Path(__file__).resolve().parent / "files"

# Cells read as missing values, compared case-insensitively after stripping spaces: the usual
# markers, listed here rather than left to pandas so that the rule is one place and visible.
MISSING = {"", "nan", "na", "n/a", "null", "none", "#n/a", "-nan", "<na>", "?"}


def resolve_path(path: str | Path) -> Path:
    """The file ``path`` names: as given (from the working directory), else a shipped file
    (``data/sunspots_yearly.csv``)."""
    candidate = Path(path).expanduser()
    if candidate.is_file() or candidate.is_absolute():
        return candidate
    parts = candidate.parts
    shipped = SHIPPED.joinpath(*parts[1:]) if parts and parts[0] == "data" else SHIPPED / candidate
    return shipped if shipped.is_file() else candidate


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


def _numbers(cells: Any, setting: str, file_name: str, fill: str) -> Any:
    """One column of text cells -> float64 values, gaps filled or refused."""
    import pandas as pd

    text = cells.str.strip()
    missing = text.str.lower().isin(MISSING)
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


@dataclass
class Labelled:
    """Sequences of one split: a ``[L_i, F]`` float64 array each, a label each (text), and
    where each came from (for messages)."""

    sequences: list[np.ndarray] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def take(self, index: Sequence[int]) -> Labelled:
        return Labelled(
            [self.sequences[i] for i in index],
            [self.labels[i] for i in index],
            [self.names[i] for i in index],
        )


def read_long_csv(
    path: str | Path,
    id_column: str = "sequence",
    step_column: str = "step",
    label_column: str = "label",
    channels: Sequence[str] | None = None,
    split_column: str | None = "split",
    setting: str = "data.path",
) -> tuple[dict[str | None, Labelled], list[str]]:
    """Read a long CSV of labelled sequences: one row per time step of one sequence::

        sequence,step,ch1,ch2,label,split
        a,0,0.1,1.0,walk,train
        a,1,0.3,0.9,walk,train

    ``step`` orders a sequence's rows; every column but the id, step, label and split is a
    channel (or the ``channels`` named); each sequence has one label and at most one split.
    A missing value, a repeated or missing step, a non-numeric value or a missing column is
    refused in one line.

    Returns ``({split: Labelled}, channel names)``; the split key is None for a file without
    a split column. Raises ``FileNotFoundError``/``ValueError`` with one line for a file that
    cannot work (``setting`` names the config key of ``path`` in messages).
    """
    import pandas as pd

    file = resolve_path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{setting}={str(path)!r}: no such file")
    frame = pd.read_csv(file, dtype=str, keep_default_na=False, skipinitialspace=True)
    columns = [str(c) for c in frame.columns]
    has_split = split_column is not None and split_column in columns
    required = {"data.id_column": id_column, "data.step_column": step_column,
                "data.label_column": label_column}  # fmt: skip
    meta = {id_column, step_column, label_column} | ({split_column} if has_split else set())
    if channels is None:
        channels = [c for c in columns if c not in meta]
    else:
        channels = list(channels)
        required.update({f"data.channels[{i}]": c for i, c in enumerate(channels)})
    absent = [f"{name!r} ({key})" for key, name in required.items() if name not in columns]
    if absent:
        raise ValueError(
            f"{file.name} lacks the column{'s' if len(absent) > 1 else ''} {', '.join(absent)}; "
            f"its columns: {', '.join(columns) or '(none)'}"
        )
    if not channels:
        raise ValueError(f"{file.name} has no input channel: every column is {', '.join(meta)}")
    if frame.empty:
        raise ValueError(f"{file.name} holds no rows")

    values = np.empty((len(frame), len(channels)), dtype=np.float64)
    for j, column in enumerate([step_column, *channels]):
        text = frame[column].str.strip()
        missing = text.str.lower().isin(MISSING)
        if missing.any():
            first = int(np.flatnonzero(missing.to_numpy())[0]) + 2  # line 1 is the header
            raise ValueError(
                f"column {column!r} of {file.name} has {int(missing.sum())} missing values "
                f"(first on line {first}); labelled sequences must be complete"
            )
        numbers = pd.to_numeric(text, errors="coerce")
        bad = numbers.isna().to_numpy() | ~np.isfinite(numbers.to_numpy(dtype=float))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"column {column!r} of {file.name}: non-numeric value "
                f"{text.iloc[first]!r} on line {first + 2}"
            )
        if j == 0:
            steps = numbers.to_numpy(dtype=float)
        else:
            values[:, j - 1] = numbers.to_numpy(dtype=float)

    ids = frame[id_column].str.strip().to_numpy()
    labels = frame[label_column].str.strip().to_numpy()
    splits = frame[split_column].str.strip().str.lower().to_numpy() if has_split else None
    if has_split:
        unknown = sorted(set(splits) - set(SPLITS))
        if unknown:
            raise ValueError(
                f"column {split_column!r} (data.split_column) of {file.name} holds {unknown[0]!r}; "
                f"allowed: {', '.join(SPLITS)}"
            )
    out: dict[str | None, Labelled] = {}
    # Sequences in the order of their first row; rows of one sequence ordered by step.
    order = np.argsort(pd.factorize(ids)[0], kind="stable")
    starts = np.flatnonzero(np.r_[True, ids[order][1:] != ids[order][:-1]])
    for rows in np.split(order, starts[1:]):
        name = str(ids[rows[0]])
        rows = rows[np.argsort(steps[rows], kind="stable")]
        seq_steps = steps[rows]
        where = f"sequence {name!r} of {file.name}"
        if len(rows) > 1 and (np.diff(seq_steps) == 0).any():
            k = int(np.flatnonzero(np.diff(seq_steps) == 0)[0])
            raise ValueError(
                f"{where} has step {seq_steps[k]:g} twice "
                f"(lines {rows[k] + 2} and {rows[k + 1] + 2})"
            )
        if np.all(seq_steps == np.round(seq_steps)) and len(rows) > 1:
            jumps = np.flatnonzero(np.diff(seq_steps) > 1)
            if len(jumps):
                k = int(jumps[0])
                raise ValueError(
                    f"{where} has a gap: no step between {seq_steps[k]:g} (line {rows[k] + 2}) "
                    f"and {seq_steps[k + 1]:g} (line {rows[k + 1] + 2})"
                )
        seq_labels = set(labels[rows])
        if len(seq_labels) > 1:
            raise ValueError(f"{where} has several labels: {', '.join(sorted(seq_labels))}")
        label = labels[rows[0]]
        if label == "":
            raise ValueError(f"{where} has no label (line {rows[0] + 2})")
        split = None
        if splits is not None:
            seq_splits = set(splits[rows])
            if len(seq_splits) > 1:
                raise ValueError(f"{where} lies in several splits: {', '.join(sorted(seq_splits))}")
            split = splits[rows[0]]
        part = out.setdefault(split, Labelled())
        part.sequences.append(values[rows])
        part.labels.append(str(label))
        part.names.append(f"{where} (line {rows[0] + 2})")
    return out, channels


def read_ts(path: str | Path) -> Labelled:
    """A ``.ts`` file of the UCR/UEA archives (the format aeon and sktime ship): ``@`` header
    lines, then one case per line, dimensions separated by ``:``, the label last."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such file")
    out = Labelled()
    in_data = False
    for number, raw in enumerate(file.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            in_data = line.lower() == "@data"
            continue
        *dims, label = line.split(":")
        try:
            channels = [np.array([float(v) for v in d.split(",")], dtype=np.float64) for d in dims]
        except ValueError:
            raise ValueError(
                f"{file.name}: a value that is not a number on line {number}"
            ) from None
        if len({len(c) for c in channels}) != 1 or any(np.isnan(c).any() for c in channels):
            raise ValueError(f"{file.name}: dimensions of unequal length or missing values on line "
                             f"{number}")  # fmt: skip
        out.sequences.append(np.stack(channels, axis=1))  # [L, F]
        out.labels.append(label.strip())
        out.names.append(f"case on line {number} of {file.name}")
    if not out.sequences:
        raise ValueError(f"{file.name} holds no cases (no @data section?)")
    return out
