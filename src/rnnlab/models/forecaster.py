"""``task=forecast``: predict the next value of a series from a window of past values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn
from torch.optim import Optimizer
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, R2Score

from rnnlab.models.epoch_sums import EpochSums
from rnnlab.models.heads import HEADS
from rnnlab.models.module import SequenceModel


class Forecaster(SequenceModel):
    """A backbone and a head on its hidden sequence, trained with MSE on the next value.

    Args:
        backbone, optimizer, scheduler, scheduler_interval: see ``SequenceModel``; further
            settings of the shared training loop (``loop_settings``) pass through to it.
        head: ``last`` (linear layer on the last hidden state) or ``attention`` (learned
            attention pooling over all hidden states); see ``rnnlab.models.heads``.

    Metrics (not the loss) are computed in the original units of the series: ``setup``
    reads ``loc``/``scale`` from the datamodule.
    """

    task = "forecast"

    def __init__(
        self,
        backbone: nn.Module,
        optimizer: Callable[..., Optimizer],
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "step",
        head: str = "last",
        **loop_settings: Any,
    ) -> None:
        super().__init__(backbone, optimizer, scheduler, scheduler_interval, **loop_settings)
        self.save_plain_hyperparameters()
        self.head = HEADS[head](backbone.output_size)
        # model units -> original units for metrics; set from the datamodule in setup().
        self.target_loc, self.target_scale = 0.0, 1.0
        self.loss_fn = nn.MSELoss()
        self.train_tracker = EpochSums()  # per-step work kept to a few tensor ops

    def forward(self, x: Tensor) -> Tensor:
        hidden = self.backbone(x)  # [B, L, F] -> [B, L, H]
        return self.head(hidden)  # [B, L, H] -> [B, 1]

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return self.loss_fn(output, target)

    def make_metrics(self, prefix: str) -> MetricCollection:
        return MetricCollection(
            {
                "mse": MeanSquaredError(),
                "rmse": MeanSquaredError(squared=False),
                "mae": MeanAbsoluteError(),
                "r2": R2Score(),
            },
            prefix=prefix,
        )

    def metric_inputs(self, output: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        loc, scale = self.target_loc, self.target_scale
        return output * scale + loc, target * scale + loc

    def setup(self, stage: str) -> None:
        super().setup(stage)
        dm = getattr(self.trainer, "datamodule", None)
        self.target_loc = float(getattr(dm, "loc", 0.0))
        self.target_scale = float(getattr(dm, "scale", 1.0))
        self.train_tracker.scale = self.target_scale
