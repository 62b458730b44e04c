"""Many series in one long table, windows drawn across all of them: ``data=panel``.

    python train.py data=panel data.path=sales.csv model.horizon=7 data.season=7
    python train.py data=panel data.path=sales.parquet data.known=[promo] data.static=[store]
    python train.py data=panel data.path=t.csv data.id_column=item data.time_column=date \
        data.target=qty

The table has one row per series and time step (the Nixtla layout: ``unique_id``, ``ds``,
``y``; each name is a setting). Columns may be *known* (given over the forecast horizon too:
promotions, holidays), *observed* (known only up to the forecast origin) or *static* (one
value per series; text is one-hot coded). Series may differ in length and start.

Splits follow the Monash archive: each series' last ``model.horizon`` points are its test
targets, the ``model.horizon`` points before them its validation targets, and training
windows have all their targets before that. A window reads ``data.seq_len`` points before
its origin. ``data.refit=true`` lets the training windows run up to the test (the validation
horizon trained on, as a final model is fitted once its settings are chosen; the validation
scores are then in-sample). With ``data.min_history`` below ``seq_len`` a window may start
before its series does (the missing steps repeat the first value and a 0/1 input column marks
them), so short series still train and are forecast. A series shorter than
``min_history + horizon`` points is dropped (the log counts them).

Each series is scaled by statistics of its own training part (``data.scaling``: ``naive``
divides by the mean absolute seasonal difference, MASE's scale, so a mean absolute error in
model units is a MASE); covariates are standardised over the training parts of all series.
Windows are never copied: a split is, per series, its first window and a count, and a batch
is index arithmetic into one ``[points, columns]`` table (``PanelWindows``), so memory is
the table's plus O(series).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from rnnlab.data.readers import resolve_path
from rnnlab.data.windows import BatchIndexSampler, BatchLoaders

log = logging.getLogger(__name__)

SCALINGS = ("naive", "std", "none")
PARQUET = (".parquet", ".pq")
SHOWN_DUPLICATES = 3  # duplicate (id, time) rows named in the error


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _part_sums(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``[S]``: the sum of ``values[starts[i] : starts[i] + lengths[i]]`` for every ``i``
    (``starts`` increasing, ``lengths >= 1``), without a per-point temporary."""
    idx = np.empty(2 * len(starts), dtype=np.int64)
    idx[0::2], idx[1::2] = starts, np.asarray(starts) + lengths
    if idx[-1] >= len(values):  # the last part runs to the end
        idx = idx[:-1]
    return np.add.reduceat(values, idx)[0::2]


@dataclass(frozen=True)
class PanelSplit:
    """The windows of one split: per series with windows, the table position of its first
    window's origin (first target) and how many consecutive origins follow.

    Window ``k`` belongs to the series ``j`` with ``ends[j-1] <= k < ends[j]``.
    """

    name: str
    series: Tensor  # [S_k] long: index of the (kept) series
    first: Tensor  # [S_k] long: table row of its first window's first target
    count: Tensor  # [S_k] long: its windows

    @property
    def ends(self) -> Tensor:
        return self.count.cumsum(0)

    @property
    def n_windows(self) -> int:
        return int(self.count.sum())

    def locate(self, k: Tensor) -> tuple[Tensor, Tensor]:
        """Window indices ``[B]`` -> ``(series [B], origin row [B])``."""
        ends = self.ends
        j = torch.searchsorted(ends, k, right=True)
        return self.series[j], self.first[j] + (k - (ends[j] - self.count[j]))


class PanelWindows(Dataset):
    """The windows of one split, indexed a whole batch at a time.

    ``dataset[idx]`` (a 1-D tensor of window indices) returns ``(x, y, future, static, ids)``::

        x       [B, L, F]   target, observed, known columns (and the padding mark) over the window
        y       [B, H]      the next H targets (model units)
        future  [B, H, K]   the known columns at the target steps (K may be 0)
        static  [B, Z]      the series' static features (Z may be 0)
        ids     [B]         the series' index, for a learned embedding
    """

    def __init__(self, panel: PanelDataModule, split: PanelSplit, device: Any = None) -> None:
        self.split = split
        self.values = panel.values if device is None else panel.values.to(device)
        self.starts = panel.starts if device is None else panel.starts.to(device)
        self.static = panel.static_values if device is None else panel.static_values.to(device)
        if device is not None:
            self.split = PanelSplit(*(t.to(device) if isinstance(t, Tensor) else t
                                      for t in (split.name, split.series, split.first,
                                                split.count)))  # fmt: skip
        self.seq_len, self.horizon = panel.seq_len, panel.horizon
        self.n_known = len(panel.known)
        self.pad = panel.pads
        self._back = torch.arange(-self.seq_len, 0, device=self.values.device)
        self._ahead = torch.arange(self.horizon, device=self.values.device)

    def __len__(self) -> int:
        return self.split.n_windows

    def windows(self, series: Tensor, origin: Tensor) -> tuple[Tensor, ...]:
        """The batch of the windows with first targets at table rows ``origin`` of ``series``."""
        pos = origin[:, None] + self._back  # [B, L]
        start = self.starts[series][:, None]  # [B, 1]
        x = self.values[torch.maximum(pos, start)]  # [B, L, C]; before the start: first value
        if self.pad:
            x = torch.cat((x, (pos < start).to(x.dtype)[..., None]), dim=-1)  # [B, L, C + 1]
        ahead = self.values[origin[:, None] + self._ahead]  # [B, H, C]
        y = ahead[..., 0]  # [B, H]
        future = ahead[..., ahead.shape[-1] - self.n_known :]  # [B, H, K]
        return x, y, future, self.static[series], series

    def __getitem__(self, idx: Tensor) -> tuple[Tensor, ...]:
        return self.windows(*self.split.locate(idx.to(self.values.device)))

    @property
    def all(self) -> tuple[Tensor, ...]:
        """Every window of the split (for the one-window-per-series evaluation splits)."""
        return self[torch.arange(len(self))]

    @property
    def model_inputs(self) -> tuple[Tensor, ...]:
        """What the model is called with for every window: ``(x, future, static, ids)``."""
        x, _, future, static, ids = self.all
        return x, future, static, ids


class BalancedSampler(BatchIndexSampler):
    """``data.balance=true``: each pass draws ``per_series`` windows of every training series
    (uniformly among its own), so a long series weighs as much as a short one. The draws of
    pass ``p`` of epoch ``e`` depend only on ``(seed, e, p)``, as ``BatchIndexSampler``'s."""

    def __init__(
        self, split: PanelSplit, per_series: int, batch_size: int, seed: int, min_batches: int
    ) -> None:
        self.split, self.per_series = split, per_series
        super().__init__(len(split.series) * per_series, batch_size, True, seed, min_batches)

    def _order(self, p: int) -> Tensor:
        seed = self.seed * 100_003 + self.epoch
        if p > 0:
            seed = seed * 1_000_003 + p
        gen = torch.Generator().manual_seed(seed)
        count = self.split.count.cpu()
        j = torch.arange(len(count)).repeat(self.per_series)  # [n]
        drawn = (torch.rand(self.n, generator=gen, dtype=torch.float64) * count[j]).long()
        k = count.cumsum(0)[j] - count[j] + drawn  # window index of each draw
        return k[torch.randperm(self.n, generator=gen)]


class PanelDataModule(BatchLoaders):
    """Windows across the series of a long table (module docstring; ``conf/data/panel.yaml``).

    Args:
        path: a CSV or Parquet file (``.parquet``/``.pq``) of the long table.
        table: a pandas DataFrame instead of a file (from Python).
        id_column, time_column, target: the column names (``unique_id``, ``ds``, ``y``).
        known, observed, static: covariate columns (see the module docstring).
        seq_len: points a window reads before its origin.
        horizon: steps forecast at once; also the length of the validation and test parts.
        min_history: the fewest real points a window holds (None: ``seq_len``, no padding).
        season: MASE's period and the seasonal-naive baseline's (1: none).
        scaling: ``naive``, ``std`` or ``none`` (module docstring).
        balance: draw the same number of training windows from every series each pass.
        refit: train on the validation horizon too (targets up to each series' test part);
            the scaling then reads the points before the test.
        windows_per_series: with ``balance``, windows drawn per series and pass.
        id_embedding: the model's series-embedding size (``${model.id_embedding}``): it sizes
            the backbone's input.
        batch_size, eval_batch_size, shuffle_seed, num_workers, min_batches_per_epoch: see
            ``BatchLoaders``.
    """

    tasks = ("panel",)

    def __init__(
        self,
        path: str | None = None,
        table: Any = None,
        id_column: str = "unique_id",
        time_column: str = "ds",
        target: str = "y",
        known: Sequence[str] = (),
        observed: Sequence[str] = (),
        static: Sequence[str] = (),
        seq_len: int = 12,
        horizon: int = 1,
        min_history: int | None = None,
        season: int = 1,
        scaling: str = "naive",
        balance: bool = False,
        refit: bool = False,
        windows_per_series: int = 1,
        id_embedding: int = 0,
        **loader_kwargs: Any,
    ) -> None:
        super().__init__(**loader_kwargs)
        if path is None and table is None:
            raise ValueError("data.path is required: the CSV or Parquet file of the long table")
        if scaling not in SCALINGS:
            raise ValueError(f"data.scaling={scaling!r} is invalid: one of {', '.join(SCALINGS)}")
        self.path, self.given_table = path, table
        self.id_column, self.time_column, self.target = id_column, time_column, target
        self.known, self.observed = _as_list(known), _as_list(observed)
        self.static = _as_list(static)
        self.seq_len, self.horizon, self.season = seq_len, horizon, season or 1
        self.min_history = seq_len if min_history is None else min(min_history, seq_len)
        self.pads = self.min_history < seq_len
        self.scaling, self.balance, self.refit = scaling, balance, bool(refit)
        self.windows_per_series, self.id_embedding = windows_per_series, id_embedding or 0
        self.values: Tensor | None = None
        self.splits: dict[str, PanelSplit] = {}
        self.datasets: dict[str, PanelWindows] = {}

    # ---------------------------------------------------------------- reading
    def source_name(self) -> str:
        return Path(str(self.path)).name if self.path is not None else "the table"

    def read_table(self) -> Any:
        """The long table as a pandas DataFrame (subclasses read other formats)."""
        import pandas as pd

        if self.given_table is not None:
            return self.given_table
        file = resolve_path(self.path)
        if not file.is_file():
            raise FileNotFoundError(f"data.path={str(self.path)!r}: no such file")
        if file.suffix.lower() in PARQUET:
            try:
                return pd.read_parquet(file)
            except ImportError:
                raise ValueError(
                    f"data.path={str(self.path)!r}: reading Parquet needs pyarrow "
                    "(pip install pyarrow), or give a CSV file"
                ) from None
        try:
            return pd.read_csv(file, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(
                f"data.path={str(self.path)!r} is not a readable CSV file: {first}"
            ) from None

    def _series(self, row: int) -> str:
        """``series 'A'`` for a row of the sorted table."""
        series = int(np.searchsorted(self._row_offsets, row, side="right")) - 1
        return f"series {self.ids[series]!r}"

    def _where(self, row: int) -> str:
        """``series 'A' at ds=3`` for a row of the sorted table."""
        return f"{self._series(row)} at {self.time_column}={self._time[row]}"

    def _numeric(self, column: Any, setting: str, order: np.ndarray | None) -> np.ndarray:
        """A column as float64 in table order, a text cell refused in one line."""
        import pandas as pd

        values = column.to_numpy() if order is None else column.to_numpy()[order]
        if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
            column.dtype
        ):
            return values.astype(np.float64, copy=False)
        numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(np.float64)
        bad = np.flatnonzero(np.isnan(numbers) & pd.notna(values))
        if len(bad):
            raise ValueError(
                f"{setting} is not numeric: value {values[bad[0]]!r} in {self._where(bad[0])}"
            )
        return numbers

    # ---------------------------------------------------------------- building
    # Memory: the table's columns are read in place where they are already in order; each
    # per-point temporary below is freed before the next, so building peaks below twice the
    # table's bytes (benchmarks/bench_panel.py measures it at 10^5 series × 100 points).
    def load(self) -> None:
        """Read and check the table, drop the too-short series, scale, and plan the splits
        (one-line ``ValueError``s for a table that cannot work)."""
        if self.values is not None:
            return
        import pandas as pd

        table = self.read_table()
        source = self.source_name()
        wanted = {"data.id_column": [self.id_column], "data.time_column": [self.time_column],
                  "data.target": [self.target], "data.known": self.known,
                  "data.observed": self.observed, "data.static": self.static}  # fmt: skip
        columns = [str(c) for c in table.columns]
        for setting, names in wanted.items():
            for name in names:
                if name not in columns:
                    shown = f"{setting}={name!r}" if len(names) == 1 else f"{setting}: {name!r}"
                    raise ValueError(
                        f"{shown} is not a column of {source}; columns: {', '.join(columns)}"
                    )
        if len(table) == 0:
            raise ValueError(f"{source} holds no rows")
        codes, ids = pd.factorize(table[self.id_column], sort=True)
        self.ids = np.asarray(ids, dtype=object)
        time = self._time_values(table[self.time_column])
        order = None
        if not self._in_order(codes, time):
            order = np.lexsort((time, codes))
            codes, time = codes[order], time[order]
        lengths = np.bincount(codes, minlength=len(ids))
        self._row_offsets = np.concatenate(([0], np.cumsum(lengths)))
        self._time = time
        same = np.flatnonzero((codes[1:] == codes[:-1]) & (time[1:] == time[:-1]))
        del codes
        if len(same):
            pairs = ", ".join(f"({self._series(r).removeprefix('series ')}, {time[r]})"
                              for r in same[:SHOWN_DUPLICATES])  # fmt: skip
            more = (
                f" and {len(same) - SHOWN_DUPLICATES} more" if len(same) > SHOWN_DUPLICATES else ""
            )
            raise ValueError(
                f"{source} has duplicate ({self.id_column}, {self.time_column}) rows: {pairs}"
                f"{more}; a series holds one row per time"
            )
        y = self._numeric(table[self.target], f"data.target={self.target!r}", order)
        missing = np.flatnonzero(~np.isfinite(y))
        if len(missing):
            raise ValueError(
                f"data.target={self.target!r} has {len(missing)} missing values (first: "
                f"{self._where(missing[0])}); fill them before training"
            )
        self._plan(table, order, y, lengths)

    @staticmethod
    def _in_order(codes: np.ndarray, time: np.ndarray) -> bool:
        """Whether the rows already run series by series, in time order (no sort needed)."""
        later = codes[1:] > codes[:-1]
        later |= (codes[1:] == codes[:-1]) & (time[1:] > time[:-1])
        return bool(later.all())

    @staticmethod
    def _time_values(column: Any) -> np.ndarray:
        """The time column as numbers or datetime64 (text read as dates)."""
        import pandas as pd

        if pd.api.types.is_numeric_dtype(column.dtype) or column.dtype.kind == "M":
            return column.to_numpy()
        numbers = pd.to_numeric(column, errors="coerce")
        if numbers.notna().all():
            return numbers.to_numpy()
        try:
            return pd.to_datetime(column).to_numpy()
        except (ValueError, TypeError):
            bad = column[numbers.isna()].iloc[0]
            raise ValueError(
                f"data.time_column={column.name!r}: value {bad!r} is neither a number nor a date"
            ) from None

    def _plan(self, table: Any, order: np.ndarray | None, y: np.ndarray, lengths: np.ndarray):
        """Drop short series, scale, build the value table and the splits."""
        H, need = self.horizon, self.min_history + self.horizon
        keep = lengths >= need
        if not keep.any():
            raise ValueError(
                f"every series is too short: the longest has {lengths.max()} points and a series "
                f"needs data.min_history + model.horizon = {self.min_history} + {H} = {need} "
                "(lower data.min_history, data.seq_len or model.horizon)"
            )
        self.n_dropped = int((~keep).sum())
        if self.n_dropped:
            log.warning(
                "data: dropped %d of %d series shorter than %d points (data.min_history=%d "
                "+ model.horizon=%d)", self.n_dropped, len(lengths), need, self.min_history, H,
            )  # fmt: skip
            rows = np.flatnonzero(np.repeat(keep, lengths))
            y, self._time = y[rows], self._time[rows]
            order = rows if order is None else order[rows]
            self.ids, lengths = self.ids[keep], lengths[keep]
            self._row_offsets = np.concatenate(([0], np.cumsum(lengths)))
        offsets = self._row_offsets
        self.lengths, self.offsets = lengths, offsets
        # Statistics of each series' training part (before its validation targets, or its test
        # targets with refit); a series too short for that uses the points before its test.
        part = lengths - (H if self.refit else 2 * H)
        part = np.where(part < self.season + 1, lengths - H, part)
        self.loc, self.scale = self._scaling(y, offsets, part)
        self.raw = y  # float64, the file's units: what metrics and baselines read
        shift = np.repeat(self.loc, lengths)
        np.subtract(y, shift, out=shift)
        shift /= np.repeat(self.scale, lengths)
        columns = [shift.astype(np.float32)]
        del shift
        for setting, names in (("data.observed", self.observed), ("data.known", self.known)):
            for name in names:
                values = self._numeric(table[name], f"{setting}={name!r}", order)
                self._check_gaps(values, setting, name)
                mean = _part_sums(values, offsets[:-1], part).sum() / part.sum()
                std = np.sqrt(max(_part_sums(values**2, offsets[:-1], part).sum() / part.sum()
                                  - mean**2, 0.0))  # fmt: skip
                columns.append(((values - mean) / (std if std > 0 else 1.0)).astype(np.float32))
        # [P, 1 + observed + known]: the one table every window indexes into
        self.values = torch.from_numpy(np.stack(columns, axis=1) if len(columns) > 1
                                       else columns[0][:, None])  # fmt: skip
        del columns
        self.starts = torch.from_numpy(offsets[:-1].astype(np.int64))
        self.static_values, self.static_names = self._statics(table, order, lengths, offsets)
        self.splits = self._splits(lengths, offsets)
        # The time column is kept at the validation and test targets only (for forecasts.csv).
        ends = offsets[1:]
        last = ends[:, None] - 2 * H + np.arange(2 * H)
        self._target_time = self._time[np.maximum(last, offsets[:-1, None])]  # [S, 2H]
        self._time = None

    def _scaling(self, y, offsets, part) -> tuple[np.ndarray, np.ndarray]:
        """Per series ``(loc, scale)`` from its training part (module docstring)."""
        loc = _part_sums(y, offsets[:-1], part) / part
        if self.scaling == "none":
            return np.zeros_like(loc), np.ones_like(loc)
        if self.scaling == "std":
            spread = np.repeat(loc, np.diff(offsets))
            np.subtract(y, spread, out=spread)
            spread **= 2
            scale = np.sqrt(_part_sums(spread, offsets[:-1], part) / part)
            del spread
        else:  # naive: mean |y_t - y_{t-m}| over the part (lag 1 where the part is too short)
            lag = np.where(part > self.season, self.season, 1)
            scale = np.zeros(len(part))
            for m in np.unique(lag):
                chosen = (lag == m) & (part > m)
                if not chosen.any():
                    continue
                diff = np.abs(y[m:] - y[:-m])  # diff[i] = |y[i + m] - y[i]|
                terms = (part - m)[chosen]
                scale[chosen] = _part_sums(diff, offsets[:-1][chosen], terms) / terms
                del diff
        # a flat training part: its mean absolute value, else 1
        level = _part_sums(np.abs(y), offsets[:-1], part) / part
        scale = np.where(scale > 0, scale, np.where(level > 0, level, 1.0))
        return loc, scale

    def _check_gaps(self, values, setting, name) -> None:
        """Missing covariate values refused in one line; for a known column, those over a
        forecast horizon (the last ``horizon`` points of a series) say so."""
        missing = np.flatnonzero(~np.isfinite(values))
        if not len(missing):
            return
        ends = self._row_offsets[1:]
        end = ends[np.searchsorted(ends, missing, side="right")]  # the row's series' end
        ahead = missing[missing >= end - self.horizon]
        if setting == "data.known" and len(ahead):
            raise ValueError(
                f"data.known={name!r} is missing over the forecast horizon at {len(ahead)} "
                f"rows (first: {self._where(ahead[0])}): a known covariate must be given for "
                "every step forecast"
            )
        raise ValueError(
            f"{setting}={name!r} has {len(missing)} missing values (first: "
            f"{self._where(missing[0])}); fill them before training"
        )

    def _statics(self, table, order, lengths, offsets) -> tuple[Tensor, list[str]]:
        """``[S, Z]`` static features: numbers standardised over the series, text one-hot."""
        import pandas as pd

        features, names = [], []
        starts = offsets[:-1]
        for name in self.static:
            column = table[name].to_numpy() if order is None else table[name].to_numpy()[order]
            gaps = np.flatnonzero(pd.isna(column))
            if len(gaps):
                raise ValueError(
                    f"data.static={name!r} has {len(gaps)} missing values (first: "
                    f"{self._where(gaps[0])}); a static column holds one value per series"
                )
            first = column[starts]  # [S]
            varies = np.flatnonzero(column != np.repeat(first, lengths))
            if len(varies):
                raise ValueError(
                    f"data.static={name!r} varies within {self._series(varies[0])}: a static "
                    "column holds one value per series"
                )
            if pd.api.types.is_numeric_dtype(table[name].dtype):
                values = first.astype(np.float64)
                std = values.std()
                features.append((values - values.mean()) / (std if std > 0 else 1.0))
                names.append(name)
            else:
                levels = sorted({str(v) for v in first})
                text = np.array([str(v) for v in first], dtype=object)
                for level in levels:
                    features.append((text == level).astype(np.float64))
                    names.append(f"{name}={level}")
        if not features:
            return torch.zeros(len(starts), 0), []
        return torch.from_numpy(np.stack(features, axis=1)).float(), names

    def _splits(self, lengths: np.ndarray, offsets: np.ndarray) -> dict[str, PanelSplit]:
        """Monash splits: per series the test window (last H), the validation window (the H
        before) and the training windows (all targets before those)."""
        H, m = self.horizon, self.min_history
        starts = offsets[:-1]
        every = np.arange(len(lengths))
        held = 2 * H if self.refit else 3 * H  # a window's targets, then what it must not see
        counts = lengths - held - m + 1
        train = counts > 0
        if not train.any():
            raise ValueError(
                f"no series is long enough for a training window: with the held-out horizons off "
                f"its end it needs data.min_history + {held // H} × model.horizon = {m + held} "
                f"points, and the longest has {lengths.max()} (lower data.min_history or "
                "data.seq_len, or set data.refit=true)"
            )
        val = lengths - 2 * H >= m
        t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.int64))  # noqa: E731
        splits = {
            "train": PanelSplit("train", t(every[train]), t(starts[train] + m), t(counts[train]))
        }
        if val.any():
            first = starts[val] + lengths[val] - 2 * H
            splits["val"] = PanelSplit("val", t(every[val]), t(first), t(np.ones(val.sum())))
        first = starts + lengths - H
        splits["test"] = PanelSplit("test", t(every), t(first), t(np.ones(len(lengths))))
        return splits

    # ---------------------------------------------------------------- Lightning
    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        self.load()
        device = self.accelerator_device()
        self.datasets = {name: PanelWindows(self, s, device) for name, s in self.splits.items()}

    def train_size(self) -> int:
        self.load()
        train = self.splits["train"]
        return len(train.series) * self.windows_per_series if self.balance else train.n_windows

    def train_examples(self, n: int) -> tuple[Tensor, ...]:
        self.load()
        train = PanelWindows(self, self.splits["train"])
        return train[torch.arange(min(n, len(train)))]

    def train_dataloader(self) -> DataLoader:
        if not self.balance:
            return super().train_dataloader()
        dataset = self.datasets["train"]
        sampler = BalancedSampler(dataset.split, self.windows_per_series, self.batch_size,
                                  self.shuffle_seed, self.min_batches_per_epoch)  # fmt: skip
        return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=self.num_workers)

    def model_settings(self) -> dict[str, object]:
        """The backbone's input size and the model's series count, static size and columns."""
        self.load()
        features = self.values.shape[1] + int(self.pads)
        return {
            "backbone.input_size": features + len(self.static_names) + self.id_embedding,
            "n_series": len(self.ids),
            "n_static": len(self.static_names),
            "columns": self.model_columns(),
        }

    def model_columns(self) -> dict[str, list[str]]:
        """The names of the model's window columns (observed first), known and static ones."""
        return {
            "inputs": [self.target, *self.observed, *self.known]
            + (["padded"] if self.pads else []),
            "observed": [self.target, *self.observed],
            "targets": [self.target],
            "known": list(self.known),
            "static": list(self.static_names),
        }

    # ---------------------------------------------------------------- for reports
    def split_rows(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(series [N], origin row [N])`` of every window of an evaluation split."""
        split = self.splits[name]
        series, origin = split.locate(torch.arange(split.n_windows))
        return series.numpy(), origin.numpy()

    def model_inputs(self, name: str) -> tuple[Tensor, ...]:
        """``(x, future, static, ids)`` of every window of split ``name``."""
        return PanelWindows(self, self.splits[name]).model_inputs

    def actuals(self, name: str) -> np.ndarray:
        """``[N, H]`` float64: the targets of every window of ``name``, the file's units."""
        _, origin = self.split_rows(name)
        return self.raw[origin[:, None] + np.arange(self.horizon)]

    def target_times(self, name: str) -> np.ndarray:
        """``[N, H]``: the time column at every target of ``name`` (validation or test)."""
        series, _ = self.split_rows(name)
        return (
            self._target_time[series, self.horizon :]
            if name == "test"
            else (self._target_time[series, : self.horizon])
        )

    def history(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The in-sample points before each window of ``name`` (its series' start to its
        origin), file units: ``(values, offsets)``, series ``i`` is
        ``values[offsets[i]:offsets[i + 1]]``."""
        series, origin = self.split_rows(name)
        start = self.offsets[series]
        length = origin - start
        offsets = np.concatenate(([0], np.cumsum(length)))
        rows = np.repeat(start - offsets[:-1], length) + np.arange(offsets[-1])
        return self.raw[rows], offsets

    def to_file_units(self, values: np.ndarray | Tensor, series: np.ndarray) -> np.ndarray:
        """Model units ``[N, H]`` of ``series [N]`` -> the file's units, float64."""
        values = np.asarray(values, dtype=np.float64)
        return values * self.scale[series][:, None] + self.loc[series][:, None]
