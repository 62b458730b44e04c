"""``task=panel``: one global forecaster over many series (``data=panel``, ``data=tsf``,
``data=m1_yearly``); its report is ``rnnlab.report.tasks.panel``.

The model is ``normalize -> [window, static, series embedding] -> backbone -> head -> un-normalize``
over windows of every series at once. Each series arrives scaled by its own training
statistics (``rnnlab.data.panel``), and ``model.normalize`` then maps each window to its own
level as ``task=forecast`` does (the same ``WindowNormalizer``). The static features and, with
``model.id_embedding=E``, a learned E-vector per series are appended to every step of the
window, so they shape the recurrent dynamics, not only the output. The head emits all
``model.horizon`` steps at once (``decoder=seq2seq``: through the forecaster's GRU decoder);
the known covariates at those steps enter through a linear map of them (or the decoder's
inputs). ``model.objective`` is ``mae`` (with ``data.scaling=naive`` the mean absolute error
in model units is the MASE of the window) or ``mse``. ``model(x, future, static, ids)`` is the
point forecast ``[B, H]`` in model units; the datamodule maps it to the file's units.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.optim import Optimizer
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection

from rnnlab.models.heads import HEADS, Seq2SeqDecoder
from rnnlab.models.highway import INITS, ARHighway
from rnnlab.models.module import SequenceModel
from rnnlab.models.tasks.forecast import DECODERS, NORMALIZE, WindowNormalizer

OBJECTIVES = {"mae": F.l1_loss, "mse": F.mse_loss}
AR_FIT_WINDOWS = 100_000  # training windows the highway's least-squares start reads at most


class PanelForecaster(SequenceModel):
    """A backbone and a direct multi-step head shared by every series of a panel.

    Args:
        backbone, optimizer, scheduler, scheduler_interval: see ``SequenceModel``; further
            settings of the shared training loop pass through to it.
        head: ``last`` or ``attention`` (``rnnlab.models.heads``).
        horizon: steps forecast at once.
        decoder: ``linear`` (one layer emits every step) or ``seq2seq`` (a GRU decoder).
        objective: ``mae`` or ``mse``, in model units.
        normalize: ``none``, ``level``, ``window`` or ``difference`` (``task=forecast``'s).
        n_series: series in the data (filled in from it); sizes the embedding.
        id_embedding: size of the learned series embedding (0: none).
        n_static: static features per series (filled in from the data).
        columns: ``{"inputs", "observed", "targets", "known", "static"}`` names (filled in).
        highway: ``p`` adds a linear map of the window's last ``p`` steps to the forecast;
            None: none. ``highway_init``: ``zero`` or ``ar`` (its least-squares fit on the
            training windows, the recurrent path's outputs starting at zero).
    """

    task = "panel"

    def __init__(
        self,
        backbone: nn.Module,
        optimizer: Callable[..., Optimizer],
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "step",
        head: str = "last",
        horizon: int = 1,
        decoder: str = "linear",
        objective: str = "mae",
        normalize: str = "level",
        n_series: int = 1,
        id_embedding: int = 0,
        n_static: int = 0,
        columns: dict[str, list[str]] | None = None,
        highway: int | None = None,
        highway_init: str = "zero",
        **loop_settings: Any,
    ) -> None:
        # Plain containers only: checkpoints load with torch.load(weights_only=True).
        columns = {str(k): [str(n) for n in v] for k, v in columns.items()} if columns else None
        super().__init__(backbone, optimizer, scheduler, scheduler_interval, **loop_settings)
        self.save_plain_hyperparameters()
        for name, value, allowed in (("objective", objective, tuple(OBJECTIVES)),
                                     ("decoder", decoder, DECODERS),
                                     ("normalize", normalize, NORMALIZE),
                                     ("highway_init", highway_init, INITS)):  # fmt: skip
            if value not in allowed:
                raise ValueError(f"model.{name}={value!r} is invalid: one of {', '.join(allowed)}")
        columns = columns or {}
        inputs = list(columns.get("inputs") or ["y"])
        observed = list(columns.get("observed") or inputs[:1])
        self.known_names = list(columns.get("known") or [])
        self.horizon, self.n_known, self.n_static = horizon, len(self.known_names), n_static
        self.objective = OBJECTIVES[objective]
        hidden = backbone.output_size
        if decoder == "seq2seq":
            self.head = HEADS[head](hidden, hidden)
            self.decoder = Seq2SeqDecoder(hidden, horizon, self.n_known, 1)
        else:
            self.head = HEADS[head](hidden, horizon)
            self.decoder = None
            if self.n_known:
                self.future_head = nn.Linear(horizon * self.n_known, horizon)
        self.embedding = nn.Embedding(n_series, id_embedding) if id_embedding else None
        self.normalizer = WindowNormalizer(normalize, len(observed), [0], horizon)
        # Built last and drawing no random numbers: the other layers start as without it.
        self.highway = ARHighway(highway, len(inputs), horizon) if highway else None
        self.highway_init = highway_init

    # ---------------------------------------------------------------- the network
    def _network(self, x: Tensor, future: Tensor, static: Tensor, ids: Tensor) -> Tensor:
        """The forecast of the recurrent path (no highway), model units ``[B, H]``."""
        seen, shift, scale = self.normalizer.encode(x)
        steps = seen.shape[1]
        parts = [seen]
        if self.n_static:
            parts.append(static[:, None].expand(-1, steps, -1))  # [B, Z] -> [B, L, Z]
        if self.embedding is not None:
            parts.append(self.embedding(ids)[:, None].expand(-1, steps, -1))  # [B, L, E]
        hidden = self.backbone(torch.cat(parts, dim=-1))  # [B, L, F + Z + E] -> [B, L, D]
        if self.decoder is not None:
            out = self.decoder(self.head(hidden), future)  # [B, D] -> [B, H]
        else:
            out = self.head(hidden)  # [B, L, D] -> [B, H]
            if self.n_known:
                out = out + self.future_head(future.flatten(1))  # [B, H, K] -> [B, H·K]
        if scale is not None:
            out = out * scale
        return out if shift is None else out + shift

    def forward(self, x: Tensor, future: Tensor, static: Tensor, ids: Tensor) -> Tensor:
        """The point forecast ``[B, H]`` of windows ``x [B, L, F]`` with the known columns at
        the target steps ``future [B, H, K]``, static features ``[B, Z]`` and series ``ids``."""
        out = self._network(x, future, static, ids)
        if self.highway is not None:
            out = out + self.highway(x)  # [B, L, F] -> [B, H]
        return out

    def step(self, batch: Any) -> tuple[Tensor, Tensor, Tensor]:
        """``(loss, forecast, target)`` of a batch ``(x, y, future, static, ids)``."""
        x, y, future, static, ids = batch
        output = self(x, future, static, ids)
        return self.loss(output, y), output, y

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, _, future, static, ids = batch
        return self(x, future, static, ids)

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return self.objective(output, target)

    def make_metrics(self, prefix: str) -> MetricCollection:
        """Errors in model units (``scaled_mae`` is the mean MASE over the split's windows
        when the data scales by the naive error, ``data.scaling=naive``)."""
        return MetricCollection(
            {"scaled_mae": MeanAbsoluteError(), "scaled_mse": MeanSquaredError()}, prefix=prefix
        )

    # ---------------------------------------------------------------- the start
    def on_fit_start(self) -> None:
        """With ``highway_init=ar``, start from the least-squares fit of (up to
        ``AR_FIT_WINDOWS``) training windows, once: a resumed run keeps its weights."""
        if self.highway is None or self.highway_init != "ar" or bool(self.highway.fitted):
            return
        train = self.trainer.datamodule.datasets["train"]
        n = len(train)
        gen = torch.Generator().manual_seed(0)
        idx = torch.randperm(n, generator=gen)[:AR_FIT_WINDOWS] if n > AR_FIT_WINDOWS else None
        batch = train[idx if idx is not None else torch.arange(n)]
        self.start_from_ar(*(t.to(self.device) for t in batch))

    @torch.no_grad()
    def start_from_ar(
        self, x: Tensor, y: Tensor, future: Tensor, static: Tensor, ids: Tensor
    ) -> None:
        """Zero the recurrent path's output layers and fit the highway to what the rest of
        the model (the window's level) then misses of ``y``."""
        last = (
            self.decoder.out if self.decoder is not None else getattr(self.head, "out", self.head)
        )
        for layer in (last, getattr(self, "future_head", None)):
            if layer is not None:
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        was_training = self.training
        self.eval()
        rest = self._network(x, future, static, ids)
        self.train(was_training)
        self.highway.fit(x, y - rest)
