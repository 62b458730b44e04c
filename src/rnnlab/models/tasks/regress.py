"""``task=regress``: one number per sequence (the adding problem, ``rnnlab.data.memory``); its
report is ``rnnlab.report.tasks.regress``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn
from torch.optim import Optimizer
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, R2Score

from rnnlab.models.epoch_sums import EpochSums
from rnnlab.models.heads import LastStepHead
from rnnlab.models.module import SequenceModel


class Regressor(SequenceModel):
    """``task=regress``: one number per sequence from the last hidden state, MSE.

    Args:
        backbone, optimizer, and the other keyword arguments: see ``SequenceModel``.
        out_features: numbers per sequence.
    """

    task = "regress"

    def __init__(
        self,
        backbone: nn.Module,
        optimizer: Callable[..., Optimizer],
        out_features: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(backbone, optimizer, **kwargs)
        self.save_plain_hyperparameters()
        self.head = LastStepHead(backbone.output_size, out_features)
        self.train_tracker = EpochSums()

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))  # [B, L, F] -> [B, L, H] -> [B, out]

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return nn.functional.mse_loss(output, target)

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
