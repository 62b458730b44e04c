"""Series with labelled anomalies, for ``task=anomaly``: injected into the noisy sine, or read
from the files of the field.

    python train.py data=sine_anomalies                       # five kinds, injected, labelled
    python train.py data=sine_anomalies data.kinds=flat       # one kind only
    python train.py data=ucr_anomaly                          # UCR 135 as aeon ships it
    python train.py data=ucr_anomaly data.root=DIR data.number=42   # the 250-file archive
    python train.py data=ucr_anomaly data.path=my_TEST.csv data.train_path=my_TRAIN.csv
    python train.py task=anomaly data=csv data.path=my.csv data.target=value \\
        data.label=is_anomaly data.train_end=1000

A labelled series has a *training part* (the points before ``train_end``) and a *test part*
(every point from ``train_end`` on, each one scored). The training part is cut into training
and validation windows (the last ``val_fraction`` of its windows validate); with
``train_on=normal`` (the default) windows that touch a labelled anomaly are left out of both,
so the model learns what normal looks like. Columns are standardised with the training
part's statistics (normal points only). Without ``train_end`` the usual chronological splits
apply and the test split is scored.

The files of the field:

* the TimeEval CSV layout (``timestamp, value..., is_anomaly``; several value columns make a
  multivariate series), which aeon uses for UCR 135 (``KDD-TSAD_135/..._TEST.csv``); a
  training file (``..._TRAIN.csv``) that starts the test file gives ``train_end``;
* the UCR anomaly archive's own files, named ``NNN_UCR_Anomaly_NAME_TRAINEND_BEGIN_END.txt``
  (one value per line, or all on one line): the training part is the first ``TRAINEND``
  points and the anomaly the points ``BEGIN .. END - 1`` (0-based, end exclusive: the
  labels TimeEval and aeon give file 135).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnlab.data.frame import SeriesFrame
from rnnlab.data.labelled import aeon_data_dir
from rnnlab.data.readers import read_columns, resolve_path
from rnnlab.data.series import WindowDataModule
from rnnlab.data.sine import sine_time
from rnnlab.data.windows import Columns, Split, WindowDataset

log = logging.getLogger(__name__)

KINDS = ("spike", "level_shift", "frequency", "noise", "flat")
TRAIN_ON = ("normal", "all")
UCR_NAME = re.compile(r"^(\d+)_UCR_Anomaly_(.+)_(\d+)_(\d+)_(\d+)\.txt$")
# UCR 135 as aeon ships it (TimeEval layout): the default of data=ucr_anomaly.
AEON_UCR_135 = ("KDD-TSAD_135", "135_UCR_Anomaly_InternalBleeding16")


# --------------------------------------------------------------------------- labels and splits
@dataclass(frozen=True)
class Anomaly:
    """One labelled anomaly: the series points ``start .. stop - 1`` and its kind ('' when
    the file does not say)."""

    start: int
    stop: int
    kind: str = ""


def label_ranges(labels: np.ndarray | Tensor) -> list[tuple[int, int]]:
    """The runs of ones of a 0/1 vector as ``(start, stop)`` pairs (stop exclusive)."""
    values = np.asarray(labels, dtype=np.int64)
    edges = np.diff(np.concatenate(([0], values, [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(),
                    strict=True))  # fmt: skip


def check_labels(values: np.ndarray, setting: str) -> np.ndarray:
    """A label column as int64 0/1, or a one-line error naming ``setting`` and the first
    value that is neither."""
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{setting} must hold 0 (normal) or 1 (anomaly) in every row; row {row} holds "
            f"{values[row]:g}"
        )
    return values.astype(np.int64)


def train_end_splits(
    n_points: int, seq_len: int, train_end: int, val_fraction: float, horizon: int = 1
) -> dict[str, Split]:
    """Training and validation windows inside the training part ``[0, train_end)`` (the
    last ``val_fraction`` of its windows validate), and a test split whose windows forecast
    every point from ``train_end`` on (their first inputs are the training part's last
    ``seq_len`` points)."""
    span = seq_len + horizon - 1
    if n_points < seq_len + horizon:
        raise ValueError(
            f"a series of {n_points} points is shorter than one window: data.seq_len={seq_len} "
            f"needs at least {seq_len + horizon} points"
        )
    if not seq_len + horizon <= train_end < n_points:
        raise ValueError(
            f"data.train_end={train_end} is invalid for a series of {n_points} points: it must "
            f"leave a window before it and a point after it ({seq_len + horizon} <= "
            f"data.train_end <= {n_points - 1})"
        )
    total = train_end - span
    n_val = round(val_fraction * total)
    if (val_fraction > 0 and n_val < 1) or total - n_val - span < 1:
        raise ValueError(
            f"data.train_end={train_end} is too short for data.seq_len={seq_len} with "
            f"data.val_fraction={val_fraction}: the training part gives {total} windows, "
            "too few for both training and validation"
        )
    val_start = train_end - n_val - span if n_val > 0 else train_end
    splits = {"train": Split("train", 0, val_start, seq_len, horizon)}
    if n_val > 0:
        splits["val"] = Split("val", val_start, train_end, seq_len, horizon)
    splits["test"] = Split("test", train_end - seq_len, n_points, seq_len, horizon)
    return splits


class SelectedWindows(WindowDataset):
    """The windows of a split whose positions are in ``keep`` (e.g. those of normal points)."""

    def __init__(self, series: Tensor, split: Split, columns: Columns, keep: Tensor) -> None:
        super().__init__(series, split, columns)
        self.keep = keep.to(self.windows.device)

    def __len__(self) -> int:
        return len(self.keep)

    def __getitem__(self, idx: Tensor) -> tuple[Tensor, ...]:
        return self._cut(self.windows[self.keep[idx.to(self.keep.device)]])

    @property
    def all(self) -> tuple[Tensor, ...]:
        return self._cut(self.windows[self.keep])


@dataclass(frozen=True)
class LabelledFrame:
    """A labelled series as the anomaly report reads it: the ``SeriesFrame``, the labels
    (``[N]`` int64, None when unlabelled), every labelled anomaly, and a name."""

    frame: SeriesFrame
    labels: Tensor | None
    anomalies: tuple[Anomaly, ...]
    name: str

    def points(self, split: str) -> Tensor:
        """Series index of every point a split scores: each after its first window."""
        s = self.frame.splits[split]
        return torch.arange(s.start + s.seq_len, s.stop)

    @property
    def scored(self) -> Tensor:
        """Series index of every scored point: the test split's (``points``)."""
        return self.points("test")

    @property
    def train_end(self) -> int:
        """The first point after the training and validation windows."""
        return self.frame.splits["test"].start + self.frame.seq_len

    @property
    def kinds(self) -> list[str]:
        """The named kinds among the anomalies of the scored points, in ``KINDS`` order."""
        first = int(self.scored[0])
        named = {a.kind for a in self.anomalies if a.kind and a.stop > first}
        return [k for k in KINDS if k in named] + sorted(named - set(KINDS))


class LabelledSeries:
    """What a datamodule adds for ``task=anomaly`` (mixed into a ``WindowDataModule``).

    A subclass sets ``labels`` (``[N]`` int64 0/1, or None), ``anomalies`` and ``train_end``
    (None: the chronological splits) in ``build_series``; ``train_on`` chooses the training
    windows (``TRAIN_ON``). ``labelled_frame()`` is what the report reads.
    """

    labels: Tensor | None = None
    anomalies: tuple[Anomaly, ...] = ()
    train_end: int | None = None
    train_on: str = "normal"
    name: str = "series"
    keep: dict[str, Tensor] | None = None

    def make_splits(self, n_points: int) -> dict[str, Split]:
        if self.train_end is None:
            return super().make_splits(n_points)  # type: ignore[misc]
        return train_end_splits(n_points, self.seq_len, int(self.train_end), self.val_fraction,
                                self.horizon)  # fmt: skip

    def check_train_on(self) -> None:
        if self.train_on not in TRAIN_ON:
            raise ValueError(
                f"data.train_on={self.train_on!r} is invalid: one of {', '.join(TRAIN_ON)} "
                "(normal: windows that touch a labelled anomaly are left out of training)"
            )

    def load(self) -> None:
        """The series and splits (``WindowDataModule.load``), then the windows training and
        validation keep, with a warning for labelled anomalies inside the training part and
        one for a scored part without any."""
        if self.series is not None and self.splits and self.keep is not None:
            return
        super().load()  # type: ignore[misc]
        self.keep = {}
        if self.labels is None or not self.splits:  # unlabelled, or read for prediction
            return
        test_first = int(self.splits["test"].target_index[0])
        inside = int(self.labels[:test_first].sum())
        if inside:
            what = ("left out of training and validation" if self.train_on == "normal"
                    else "trained on (data.train_on=all)")  # fmt: skip
            log.warning("%d labelled anomalous points lie inside the training part; windows "
                        "touching them are %s", inside, what)  # fmt: skip
        if not int(self.labels[test_first:].sum()):
            log.warning("the scored part holds no labelled anomaly: PR-AUC, ROC-AUC and the "
                        "F1 scores are undefined there; the scores are still written")  # fmt: skip
        if self.train_on == "all":
            return
        for name in ("train", "val"):
            if name not in self.splits:
                continue
            split = self.splits[name]
            width = split.seq_len + split.horizon
            touched = self.labels[split.start : split.stop].unfold(0, width, 1).amax(dim=1)
            self.keep[name] = torch.nonzero(touched == 0)[:, 0]
            if name == "train" and len(self.keep[name]) == 0:
                raise ValueError(
                    "every training window touches a labelled anomaly: nothing normal is left "
                    "to train on (data.train_on=all trains on them anyway)"
                )

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        self.load()
        if not self.keep:  # every window: the plain module's datasets
            super().setup(stage)  # type: ignore[misc]
            return
        device = self.accelerator_device()
        series = self.series if device is None else self.series.to(device)
        self.datasets = {
            name: SelectedWindows(series, split, self.columns, self.keep[name])
            if name in self.keep
            else WindowDataset(series, split, self.columns)
            for name, split in self.splits.items()
        }

    def train_size(self) -> int:
        self.load()
        if "train" in self.keep:
            return len(self.keep["train"])
        return super().train_size()  # type: ignore[misc]

    def train_examples(self, n: int) -> tuple[Tensor, ...]:
        self.load()
        if "train" not in self.keep:
            return super().train_examples(n)  # type: ignore[misc]
        split = self.splits["train"]
        train = SelectedWindows(self.series, split, self.columns, self.keep["train"])
        return train[torch.arange(min(n, len(train)))]

    def labelled_frame(self) -> LabelledFrame:
        """The series, its labels and anomalies, as the anomaly report reads them."""
        frame = self.frame()
        return LabelledFrame(frame, self.labels, tuple(self.anomalies), self.name)


def standardised(raw: np.ndarray, train_end: int, labels: np.ndarray | None) -> tuple:
    """``(table, loc, scale)``: every column of ``raw [N, C]`` standardised with the mean and
    standard deviation of the training part's normal points."""
    part = raw[:train_end]
    if labels is not None and (labels[:train_end] == 0).sum() > 1:
        part = part[labels[:train_end] == 0]
    loc, scale = part.mean(axis=0), part.std(axis=0, ddof=1)
    if not np.all(scale > 0):
        raise ValueError("a value column is constant over the training part; it cannot be "
                         "standardised")  # fmt: skip
    return (raw - loc) / scale, loc, scale


# --------------------------------------------------------------------------- the injected sine
def speed_up(phase: np.ndarray, anomaly: Anomaly, ratio: float) -> np.ndarray:
    """The phase of the sine with its steps ``ratio`` times longer over the anomaly's points;
    afterwards it advances as before from where the faster phase left it, so the wave stays
    continuous at both ends (a copy)."""
    out = phase.copy()
    a, b = anomaly.start, anomaly.stop
    out[a:b] = phase[a - 1] + ratio * (phase[a:b] - phase[a - 1])
    out[b:] = phase[b:] + (out[b - 1] - phase[b - 1])
    return out


def inject(
    values: np.ndarray, anomaly: Anomaly, rng: np.random.Generator, magnitude: float
) -> None:
    """Put one anomaly of ``anomaly.kind`` (not ``frequency``: ``speed_up``) into ``values``
    over its points, in place."""
    a, b = anomaly.start, anomaly.stop
    if anomaly.kind in ("spike", "level_shift"):
        values[a:b] += rng.choice((-1.0, 1.0)) * magnitude
    elif anomaly.kind == "noise":
        values[a:b] += rng.normal(0.0, magnitude / 2, b - a)
    elif anomaly.kind == "flat":
        values[a:b] = values[a - 1]  # a stuck sensor: its last reading, held


def place(
    rng: np.random.Generator,
    lo: int,
    hi: int,
    kinds: Sequence[str],
    count: int,
    length: int,
    gap: int,
) -> list[Anomaly]:
    """``count`` anomalies of each kind at random places of ``[lo, hi)``, at least ``gap``
    points apart: each sits in a slot of its own (kinds in random order), at a random offset.
    """  # fmt: skip
    order = [k for k in kinds for _ in range(count)]
    rng.shuffle(order)
    n = len(order)
    slot = (hi - lo) // max(n, 1)
    if n and slot < length + gap:
        raise ValueError(
            f"{n} anomalies of length {length} do not fit {hi - lo} points with {gap} normal "
            "points between them: lower data.count or data.length, or raise data.sample_size"
        )
    anomalies = []
    for i, kind in enumerate(order):
        size = 1 if kind == "spike" else length
        start = lo + i * slot + gap // 2 + int(rng.integers(0, slot - gap - size + 1))
        anomalies.append(Anomaly(start, start + size, kind))
    return anomalies


class SineAnomaliesDataModule(LabelledSeries, WindowDataModule):
    """``data=sine_anomalies``: the walk-through's noisy sine with labelled, injected
    anomalies of named kinds (``conf/data/sine_anomalies.yaml``).

    Kinds (``KINDS``): ``spike`` (one point moved by ``magnitude``), ``level_shift`` (a
    segment moved by ``magnitude``), ``noise`` (a burst of extra noise, standard deviation
    ``magnitude / 2``), ``frequency`` (the wave runs ``ratio`` times faster over a segment)
    and ``flat`` (the last reading held over a segment). The last two keep every value
    inside the normal range: only context reveals them.

    Args:
        sample_size, t_max, freq, noise_std: the sine (``rnnlab.data.sine``).
        seed: the noise and where the anomalies go.
        kinds: the kinds injected (a name or a list).
        count: anomalies of each kind in the test part (and, with ``contaminate``, in the
            training part).
        length: points of every anomaly but a spike (one point).
        magnitude: size of spikes and shifts, in the sine's units (its amplitude is 1).
        ratio: speed-up of ``frequency``.
        train_fraction: the share of the series that is the training part.
        contaminate: also inject anomalies into the training part (labelled).
        train_on: ``normal`` (windows touching a labelled anomaly are left out) or ``all``.
    """

    tasks = ("anomaly",)
    length_key = "data.sample_size"

    def __init__(
        self,
        sample_size: int = 6000,
        t_max: float = 600.0,
        freq: float = 1.0,
        noise_std: float = 0.1,
        seed: int = 0,
        kinds: str | Sequence[str] = KINDS,
        count: int = 2,
        length: int = 40,
        magnitude: float = 1.0,
        ratio: float = 2.0,
        train_fraction: float = 0.4,
        contaminate: bool = False,
        train_on: str = "normal",
        **window_kwargs: Any,
    ) -> None:
        super().__init__(**window_kwargs)
        self.sample_size, self.t_max, self.freq = sample_size, t_max, freq
        self.noise_std, self.seed = noise_std, seed
        self.kinds = [kinds] if isinstance(kinds, str) else [str(k) for k in kinds]
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown or not self.kinds:
            raise ValueError(
                f"data.kinds={self.kinds} is invalid: each must be one of {', '.join(KINDS)}"
            )
        self.count, self.length, self.magnitude, self.ratio = count, length, magnitude, ratio
        self.train_fraction, self.contaminate = train_fraction, contaminate
        self.train_on = train_on
        self.check_train_on()
        self.name = "sine_" + "+".join(self.kinds)

    def build_series(self) -> None:
        t = sine_time(self.sample_size, self.t_max)
        self.train_end = round(self.train_fraction * self.sample_size)
        train_end_splits(self.sample_size, self.seq_len, self.train_end, self.val_fraction)
        # The noise is the sine's (data=sine with the same seed draws the same numbers); the
        # anomalies' places and draws come from a stream of their own.
        noise = np.random.RandomState(self.seed).normal(0.0, self.noise_std, self.sample_size)
        rng = np.random.default_rng([self.seed, 23])
        gap = 2 * self.seq_len  # normal points before and after every anomaly
        anomalies = place(rng, self.train_end, self.sample_size, self.kinds, self.count,
                          self.length, gap)  # fmt: skip
        if self.contaminate:
            anomalies = place(rng, self.seq_len, self.train_end, self.kinds, self.count,
                              self.length, gap) + anomalies  # fmt: skip
        anomalies.sort(key=lambda an: an.start)
        phase = self.freq * t
        for anomaly in anomalies:
            if anomaly.kind == "frequency":
                phase = speed_up(phase, anomaly, self.ratio)
        values = np.sin(phase) + noise
        labels = np.zeros(self.sample_size, dtype=np.int64)
        for anomaly in anomalies:
            inject(values, anomaly, rng, self.magnitude)
            labels[anomaly.start : anomaly.stop] = 1
        # Amplitude 1 and mean 0 by construction: the series stays in its own units.
        self.series = torch.from_numpy(values).float()
        self.time = torch.from_numpy(t).float()
        self.labels = torch.from_numpy(labels)
        self.anomalies = tuple(anomalies)


# --------------------------------------------------------------------------- files
def parse_ucr_name(name: str) -> tuple[int, str, int, int, int]:
    """``NNN_UCR_Anomaly_NAME_TRAINEND_BEGIN_END.txt`` -> ``(number, NAME, train_end, begin,
    end)``: the training part is points ``0 .. TRAINEND - 1``, the anomaly ``BEGIN ..
    END - 1`` (0-based), as TimeEval and aeon label file 135."""
    match = UCR_NAME.match(Path(name).name)
    if match is None:
        raise ValueError(
            f"{Path(name).name!r} is not named as the UCR anomaly archive names its files "
            "(NNN_UCR_Anomaly_NAME_TRAINEND_BEGIN_END.txt)"
        )
    number, title, train_end, begin, end = match.groups()
    train_end, begin, end = int(train_end), int(begin), int(end)
    if not 0 < train_end <= begin < end:
        raise ValueError(
            f"{Path(name).name!r}: the anomaly ({begin}..{end}) must lie after the training "
            f"part (0..{train_end})"
        )
    return int(number), title, train_end, begin, end


def read_ucr_txt(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """``(values [N, 1], labels [N], train_end)`` of a UCR archive file (values one per line
    or whitespace-separated on one line; labels from the name)."""
    _, _, train_end, begin, end = parse_ucr_name(path.name)
    text = path.read_text().replace(",", " ").split()
    try:
        values = np.array([float(v) for v in text], dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"data.path={str(path)!r}: {exc}") from None
    if end > len(values):
        raise ValueError(
            f"data.path={str(path)!r}: its name puts the anomaly at {begin}..{end}, past the "
            f"{len(values)} values it holds"
        )
    labels = np.zeros(len(values), dtype=np.int64)
    labels[begin:end] = 1
    return values[:, None], labels, train_end


def read_timeeval(path: Path, label: str, time_column: str) -> tuple[np.ndarray, np.ndarray | None,
                                                                      list[str]]:  # fmt: skip
    """``(values [N, C], labels [N] or None, value names)`` of a TimeEval CSV (``timestamp,
    value..., is_anomaly``): every column but the time and label columns is a value."""
    import pandas as pd

    header = pd.read_csv(path, nrows=0, skipinitialspace=True)
    names = [str(c) for c in header.columns if str(c) not in (label, time_column)]
    if not names:
        raise ValueError(f"data.path={str(path)!r} holds no value column besides "
                         f"{time_column!r} and {label!r}")  # fmt: skip
    has_label = label in [str(c) for c in header.columns]
    columns = {"data.path (value)": names}
    if has_label:
        columns["data.label"] = [label]
    frame, _ = read_columns(path, columns)
    labels = check_labels(frame[label].to_numpy(), f"data.label={label!r}") if has_label else None
    return frame[names].to_numpy(dtype=np.float64), labels, names


class AnomalyFileDataModule(LabelledSeries, WindowDataModule):
    """``data=ucr_anomaly``: one labelled series from a file of the field
    (``conf/data/ucr_anomaly.yaml``; the module docstring has the layouts).

    Args:
        path: a UCR archive ``.txt`` file or a TimeEval ``.csv`` file; None: the file
            ``root`` and ``number`` find, else UCR 135 as aeon ships it.
        root, number: a folder of UCR archive files and the number of one (``number=135``
            finds ``135_UCR_Anomaly_*.txt``), so a multirun sweeps ``data.number``.
        train_path: a TimeEval training file; when it is the start of ``path`` its length is
            ``train_end``, else its rows come before ``path``'s as the training part.
        train_end: the first point of the test part (a UCR file's name gives it).
        label, time_column: the TimeEval label and time columns.
        train_on: ``normal`` (windows touching a labelled anomaly are left out) or ``all``.
    """

    tasks = ("anomaly",)

    def __init__(
        self,
        path: str | None = None,
        root: str | None = None,
        number: int | None = None,
        train_path: str | None = None,
        train_end: int | None = None,
        label: str = "is_anomaly",
        time_column: str = "timestamp",
        train_on: str = "normal",
        **window_kwargs: Any,
    ) -> None:
        super().__init__(**window_kwargs)
        self.path, self.root, self.number = path, root, number
        self.train_path, self.given_train_end = train_path, train_end
        self.label, self.time_column, self.train_on = label, time_column, train_on
        self.check_train_on()

    def find(self) -> tuple[Path, Path | None]:
        """The series file and the TimeEval training file (or None)."""
        if self.path is not None:
            file = resolve_path(self.path)
            if not file.is_file():
                raise FileNotFoundError(f"data.path={self.path!r}: no such file")
            train = resolve_path(self.train_path) if self.train_path else None
            if train is not None and not train.is_file():
                raise FileNotFoundError(f"data.train_path={self.train_path!r}: no such file")
            return file, train
        if self.root is not None:
            folder = Path(self.root).expanduser()
            if self.number is None:
                raise ValueError("data.root needs data.number: which file of the archive")
            found = sorted(folder.glob(f"{int(self.number):03d}_UCR_Anomaly_*.txt"))
            if len(found) != 1:
                raise FileNotFoundError(
                    f"data.number={self.number}: {len(found)} files named "
                    f"{int(self.number):03d}_UCR_Anomaly_*.txt under data.root={self.root!r}"
                )
            return found[0], None
        root = aeon_data_dir()
        folder = root / AEON_UCR_135[0] if root is not None else None
        if folder is None or not (folder / f"{AEON_UCR_135[1]}_TEST.csv").is_file():
            raise FileNotFoundError(
                "data=ucr_anomaly reads UCR 135 from aeon's files: pip install "
                "'rnnlab[anomaly]', or give data.path=FILE (or data.root=DIR data.number=N)"
            )
        return folder / f"{AEON_UCR_135[1]}_TEST.csv", folder / f"{AEON_UCR_135[1]}_TRAIN.csv"

    def build_series(self) -> None:
        file, train_file = self.find()
        names = ["value"]
        if file.suffix == ".txt":
            raw, labels, train_end = read_ucr_txt(file)
            self.name = file.stem
        else:
            raw, labels, names = read_timeeval(file, self.label, self.time_column)
            self.name = file.stem.removesuffix("_TEST")
            train_end = None
            if train_file is not None:
                train_raw, train_labels, train_names = read_timeeval(
                    train_file, self.label, self.time_column
                )
                if train_names != names:
                    raise ValueError(f"data.train_path={str(train_file)!r} has the columns "
                                     f"{train_names}, data.path {names}")  # fmt: skip
                n = len(train_raw)
                if not (n < len(raw) and np.allclose(raw[:n], train_raw, equal_nan=True)):
                    raw = np.concatenate([train_raw, raw])
                    labels = None if labels is None else np.concatenate(
                        [train_labels if train_labels is not None else np.zeros(n, np.int64),
                         labels])  # fmt: skip
                train_end = n
        if self.given_train_end is not None:
            train_end = int(self.given_train_end)
        self.train_end = train_end
        n = len(raw)
        if n < self.seq_len + self.horizon:
            raise ValueError(
                f"{file.name} holds {n} points, shorter than one window of data.seq_len="
                f"{self.seq_len} (and a target)"
            )
        cut = train_end if train_end is not None else self.make_splits(n)["test"].start
        table, loc, scale = standardised(raw, cut, labels)
        self.columns = Columns(tuple(names), tuple(range(len(names))), tuple(range(len(names))))
        if len(names) == 1:
            self.loc, self.scale = float(loc[0]), float(scale[0])
            self.series = torch.from_numpy(table[:, 0]).float()
        else:
            self.loc, self.scale = torch.from_numpy(loc), torch.from_numpy(scale)
            self.series = torch.from_numpy(table).float()
        self.time = torch.arange(n, dtype=torch.float64)
        if labels is not None:
            self.labels = torch.from_numpy(labels)
            self.anomalies = tuple(Anomaly(a, b) for a, b in label_ranges(labels))


def labelled_csv(module: Any, label: str | None, frame: Any) -> None:
    """``data=csv data.label=COLUMN``: the label column of the CSV as the datamodule's labels
    and anomalies (``rnnlab.data.csv``)."""
    if label is None:
        return
    labels = check_labels(frame[label].to_numpy(), f"data.label={label!r}")
    module.name = Path(str(module.path)).stem
    module.labels = torch.from_numpy(labels)
    module.anomalies = tuple(Anomaly(a, b) for a, b in label_ranges(labels))


__all__ = [
    "KINDS",
    "AnomalyFileDataModule",
    "LabelledFrame",
    "LabelledSeries",
    "SineAnomaliesDataModule",
    "parse_ucr_name",
]
