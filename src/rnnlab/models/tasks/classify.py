"""``task=classify``: one label per sequence (``rnnlab.data.labelled``); its report is
``rnnlab.report.tasks.classify``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn
from torch.optim import Optimizer
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from rnnlab.models.module import SequenceModel
from rnnlab.models.tasks.shared import ClassSums, backbone_outputs, pool, required_classes


class Classifier(SequenceModel):
    """``task=classify``: one label per sequence, cross-entropy, accuracy and macro-F1.

    Args:
        backbone, optimizer, and the other keyword arguments: see ``SequenceModel``.
        num_classes: filled in from the data (``model_settings`` of the datamodule).
        pool: ``last`` (the state at each sequence's last real step) or ``mean`` (the mean
            state over its real steps: reads both directions of a bidirectional backbone
            fully).
    """

    task = "classify"

    def __init__(
        self,
        backbone: nn.Module,
        optimizer: Callable[..., Optimizer],
        num_classes: int | None = None,
        pool: str = "last",
        **kwargs: Any,
    ) -> None:
        super().__init__(backbone, optimizer, **kwargs)
        self.save_plain_hyperparameters()
        self.num_classes = required_classes(num_classes)
        self.pool = pool
        self.head = nn.Linear(backbone.output_size, num_classes)
        self.train_tracker = ClassSums()

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        hidden = backbone_outputs(self.backbone, x, lengths)  # [B, L, F] -> [B, L, H]
        return self.head(pool(hidden, lengths, self.pool))  # [B, H] -> [B, classes]

    def step(self, batch: Any) -> tuple[Tensor, Tensor, Tensor]:
        x, y = batch[0], batch[1]
        output = self(x, batch[2] if len(batch) > 2 else None)
        return self.loss(output, y), output, y

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self(batch[0], batch[2] if len(batch) > 2 else None)

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return nn.functional.cross_entropy(output, target)

    def make_metrics(self, prefix: str) -> MetricCollection:
        c = self.num_classes
        return MetricCollection(
            {
                "accuracy": MulticlassAccuracy(c, average="micro"),
                "f1_macro": MulticlassF1Score(c, average="macro"),
            },
            prefix=prefix,
        )
