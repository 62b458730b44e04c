"""The base of every series datamodule: a series, its chronological splits, its windows.

A subclass builds the series in ``build_series``; this class cuts the splits, serves the
windows in batches, says what the model must match (``model_settings``) and hands the whole
series to inference and reports as one ``SeriesFrame`` (``frame``). ``statistics`` are the
file statistics a trained model keeps; ``history(statistics)`` reads the series again for a
forecast beyond its end, scaled by the statistics given, without any split.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab.data.frame import SeriesFrame
from rnnlab.data.windows import (
    UNIVARIATE,
    BatchLoaders,
    Columns,
    Split,
    WindowDataset,
    chronological_splits,
)


class WindowDataModule(BatchLoaders):
    """Base for every series datamodule: subclasses provide the series in ``build_series``.

    Subclasses set ``self.series`` (float32, in the units the model trains on: ``[N]`` for one
    column, or ``[N, C]`` with ``self.columns`` naming the roles) and ``self.time`` (``[N]``,
    for plot axes), and may set ``self.clean`` (the noise-free signal, when known) and
    ``self.loc``/``self.scale`` (model units -> original units of the targets: floats for one
    target, ``[T]`` tensors for several). A subclass that scales several columns sets
    ``self.column_statistics`` (``{name: (loc, scale)}``) and, for ``history``, uses
    ``self.given_statistics`` instead of fitting its own when they are set.

    Args:
        seq_len: input window length.
        horizon: target steps per window (``${model.horizon}`` in the data configs).
        val_fraction, test_fraction: shares of the windows for validation and test.
        batch_size, eval_batch_size: windows per training / evaluation batch.
        shuffle_seed: seed of the training batch order.
        num_workers: DataLoader worker processes.
        season: steps per seasonal cycle, for the seasonal-naive baseline (None: no season).
        min_batches_per_epoch: see ``BatchLoaders``.
    """

    tasks: tuple[str, ...] = ("forecast",)  # the task= names this data serves
    # Class-level defaults so a subclass may compute them on demand as properties.
    time: Tensor | None = None
    clean: Tensor | None = None
    time_is_date = False  # True when ``time`` holds matplotlib date numbers (days since 1970)
    column_statistics: dict[str, tuple[float, float]] | None = None
    given_statistics: dict[str, tuple[float, float]] | None = None
    history_only = False  # set by ``history``: the series without splits

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
        min_batches_per_epoch: int = 1,
    ) -> None:
        super().__init__(
            batch_size, eval_batch_size, shuffle_seed, num_workers, min_batches_per_epoch
        )
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
        if self.series is not None and (self.splits or self.history_only):
            return
        self.build_series()
        assert self.series is not None
        self.splits = self.make_splits(len(self.series))

    def make_splits(self, n_points: int) -> dict[str, Split]:
        """The chronological splits of a series of ``n_points`` with this module's settings."""
        return chronological_splits(
            n_points, self.seq_len, self.val_fraction, self.test_fraction, self.horizon,
            self.length_key,
        )  # fmt: skip

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        self.load()
        device = self.accelerator_device()
        series = self.series if device is None else self.series.to(device)
        self.datasets = {
            name: WindowDataset(series, s, self.columns) for name, s in self.splits.items()
        }

    length_key: str | None = None  # the setting the series length comes from, for messages

    def model_settings(self) -> dict[str, object]:
        """Model settings that follow from the data (filled in by ``build_model``): the
        backbone's input features and the names of the model's columns."""
        self.load()
        return {
            "backbone.input_size": len(self.columns.features),
            "columns": self.columns.model_columns(),
        }

    def statistics(self) -> dict[str, tuple[float, float]]:
        """Per observed column (inputs and targets, by name), the ``(loc, scale)`` that map
        model units to the file's (``file = model · scale + loc``): what a trained model keeps.
        Empty when this data cannot say (several columns without ``column_statistics``)."""
        self.load()
        if self.column_statistics is not None:
            return dict(self.column_statistics)
        observed = list(dict.fromkeys(self.columns.inputs + self.columns.targets))
        if len(observed) == 1 and not isinstance(self.scale, Tensor):
            return {self.columns.names[observed[0]]: (float(self.loc), float(self.scale))}
        return {}

    def history(self, statistics: dict[str, tuple[float, float]] | None = None) -> SeriesFrame:
        """The whole series as a frame without splits, for a forecast beyond its end: it may
        be shorter than training needs (one window is enough). With ``statistics`` (a trained
        model's, see ``statistics``), a subclass that scales its columns uses those rather
        than fitting its own."""
        self.given_statistics = statistics
        self.history_only = True
        self.series, self.splits = None, {}
        self.build_series()
        return self.frame()

    def future_known(self, times: Tensor) -> Tensor | None:
        """The known columns at ``times`` (beyond the data), ``[len(times), K]``, or None
        when there are none; subclasses with calendar features compute them."""
        return None

    def train_size(self) -> int:
        self.load()
        return self.splits["train"].n_windows

    def train_examples(self, n: int) -> tuple[Tensor, ...]:
        windows = self.frame().windows("train")
        return windows[torch.arange(min(n, len(windows)))]

    def frame(self) -> SeriesFrame:
        """The series as inference and reports read it (``rnnlab.data.frame``)."""
        self.load()
        return SeriesFrame(
            series=self.series.cpu(),
            columns=self.columns,
            time=self.time.cpu(),
            time_is_date=self.time_is_date,
            splits=self.splits,
            seq_len=self.seq_len,
            horizon=self.horizon,
            season=self.season,
            loc=self.loc,
            scale=self.scale,
            clean=self.clean,
            calendar=self.future_known,
            batch_size=self.eval_batch_size,
        )
