"""Monash forecasting archive files (``.tsf``) as one long table: ``data=tsf``, ``data=m1_yearly``.

    python train.py data=tsf data.path=m4_yearly_dataset.tsf model.horizon=6
    python train.py data=m1_yearly                 # aeon's bundled copy of M1 yearly

A ``.tsf`` file (Godahewa et al. 2021) is a header of ``@relation``, ``@attribute NAME
TYPE`` (string, numeric or date), ``@frequency``, ``@horizon``, ``@missing`` and
``@equallength`` lines, then ``@data`` and one series per line: the attribute values and the
comma-separated values, separated by colons, with ``?`` for a missing value. ``read_tsf``
turns it into the long table ``data=panel`` reads (``unique_id``, ``ds``, ``y``, and the
numeric attributes other than the start date as static columns): ``ds`` counts the steps from
the series' ``start_timestamp`` in the file's frequency, or from 0 without one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab.data.labelled import aeon_data_dir
from rnnlab.data.panel import PanelDataModule
from rnnlab.data.readers import resolve_path

log = logging.getLogger(__name__)

# The archive's frequency words -> pandas offsets (a word not listed: steps numbered 0, 1, ...).
FREQUENCIES = {
    "yearly": "YS",
    "quarterly": "QS",
    "monthly": "MS",
    "weekly": "W",
    "daily": "D",
    "hourly": "h",
    "half_hourly": "30min",
    "10_minutes": "10min",
    "minutely": "min",
    "4_seconds": "4s",
}
ATTRIBUTE_TYPES = ("string", "numeric", "date")
START = "start_timestamp"
# aeon's copy of M1 yearly (Monash's file, CC BY 4.0).
M1_YEARLY = "m1_yearly_dataset/m1_yearly_dataset.tsf"


@dataclass
class TsfFile:
    """A ``.tsf`` file read: the long table and what the header says."""

    table: Any  # pandas DataFrame: unique_id, ds, y, then the numeric attributes
    frequency: str | None = None
    horizon: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)  # name -> type, file order
    static: list[str] = field(default_factory=list)  # the numeric attribute columns


def _number(text: str, where: str) -> float:
    if text.strip() == "?":
        return float("nan")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{where}: non-numeric value {text.strip()!r}") from None


def read_tsf(path: str | Path) -> TsfFile:
    """Read a ``.tsf`` file (module docstring); one-line ``ValueError``s name the line."""
    import numpy as np
    import pandas as pd

    file = resolve_path(path)
    if not file.is_file():
        raise FileNotFoundError(f"data.path={str(path)!r}: no such file")
    attributes: dict[str, str] = {}
    header: dict[str, str] = {}
    ids: list[str] = []
    starts: list[Any] = []
    statics: list[list[float]] = []
    values: list[np.ndarray] = []
    in_data = False
    with file.open(encoding="utf-8", errors="replace") as lines:
        for number, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{file.name} line {number}"
            if not in_data:
                if not line.startswith("@"):
                    raise ValueError(f"{where}: expected an @ header line before @data")
                word, _, rest = line[1:].partition(" ")
                word = word.lower()
                if word == "data":
                    in_data = True
                elif word == "attribute":
                    name, _, kind = rest.strip().partition(" ")
                    if kind.strip() not in ATTRIBUTE_TYPES:
                        raise ValueError(
                            f"{where}: attribute {name!r} has type {kind.strip()!r}; allowed: "
                            f"{', '.join(ATTRIBUTE_TYPES)}"
                        )
                    attributes[name] = kind.strip()
                else:
                    header[word] = rest.strip()
                continue
            parts = line.split(":")
            if len(parts) != len(attributes) + 1:
                raise ValueError(
                    f"{where}: {len(parts)} colon-separated fields, expected "
                    f"{len(attributes) + 1} ({', '.join(attributes) or 'no'} attributes, then "
                    "the values)"
                )
            fields = dict(zip(attributes, parts[:-1], strict=True))
            numbers = np.array([_number(v, where) for v in parts[-1].split(",")])
            if np.isnan(numbers).any() and header.get("missing", "false").lower() == "false":
                raise ValueError(f"{where}: a missing value ('?') in a file marked @missing false")
            names = [n for n, kind in attributes.items() if kind == "string"]
            ids.append(":".join(fields[n] for n in names) if names else f"T{len(ids) + 1}")
            starts.append(fields.get(START))
            statics.append([
                _number(fields[n], where) for n, kind in attributes.items() if kind == "numeric"
            ])  # fmt: skip
            values.append(numbers)
    if not in_data:
        raise ValueError(f"{file.name} has no @data section: it is not a .tsf file")
    if not values:
        raise ValueError(f"{file.name} holds no series after @data")
    frequency = header.get("frequency")
    offset = FREQUENCIES.get(frequency or "")
    lengths = np.array([len(v) for v in values])
    columns: dict[str, Any] = {
        "unique_id": np.repeat(np.array(ids, dtype=object), lengths),
        "y": np.concatenate(values),
    }
    if offset is not None and all(s is not None for s in starts):
        try:  # "1972-01-01 00-00-00": the archive writes the time of day with dashes
            stamps = pd.to_datetime(pd.Series(starts, dtype=str), format="%Y-%m-%d %H-%M-%S")
        except ValueError:
            raise ValueError(
                f"{file.name}: a {START} is not a date of the form 1972-01-01 00-00-00"
            ) from None
        columns["ds"] = np.concatenate([
            pd.date_range(start, periods=n, freq=offset).to_numpy()
            for start, n in zip(stamps, lengths, strict=True)
        ])  # fmt: skip
    else:
        columns["ds"] = np.concatenate([np.arange(n) for n in lengths])
    static = [n for n, kind in attributes.items() if kind == "numeric"]
    for j, name in enumerate(static):
        columns[name] = np.repeat(np.array([s[j] for s in statics]), lengths)
    table = pd.DataFrame(columns)[["unique_id", "ds", "y", *static]]
    horizon = header.get("horizon")
    return TsfFile(
        table=table,
        frequency=frequency,
        horizon=int(horizon) if horizon and horizon.isdigit() else None,
        attributes=attributes,
        static=static,
    )


class TsfDataModule(PanelDataModule):
    """``data=tsf``: a Monash ``.tsf`` file as a panel (``rnnlab.data.panel``); the columns are
    ``unique_id``, ``ds`` and ``y``, and ``data.static`` may name the file's numeric
    attributes. A file whose ``@horizon`` differs from ``model.horizon`` is trained at
    ``model.horizon`` (the log says so)."""

    def read_table(self) -> Any:
        tsf = read_tsf(self.path)
        if tsf.horizon is not None and tsf.horizon != self.horizon:
            log.warning(
                "%s states @horizon %d; training at model.horizon=%d (the archive's protocol "
                "uses its horizon)", Path(self.path).name, tsf.horizon, self.horizon,
            )  # fmt: skip
        self.file_frequency = tsf.frequency
        return tsf.table


def m1_yearly_path(path: str | None = None) -> str:
    """``path`` when given, else aeon's bundled copy of M1 yearly (one line when neither)."""
    if path:
        return path
    root = aeon_data_dir()
    if root is None or not (root / M1_YEARLY).is_file():
        raise FileNotFoundError(
            "data=m1_yearly reads aeon's copy of m1_yearly_dataset.tsf: pip install aeon "
            "(the `ucr` extra), or give data.path=FILE (Monash archive, zenodo record 4656193)"
        )
    return str(root / M1_YEARLY)


class M1YearlyDataModule(TsfDataModule):
    """``data=m1_yearly``: the 181 yearly series of the M1 competition from aeon's bundled
    copy of the Monash file (``data.path`` overrides it); nothing is downloaded."""

    def __init__(self, path: str | None = None, **kwargs: Any) -> None:
        super().__init__(path=m1_yearly_path(path), **kwargs)
