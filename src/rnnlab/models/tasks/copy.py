"""``task=copy``: a symbol per step, the copy-memory test (``rnnlab.data.memory``); its report
is ``rnnlab.report.tasks.copy``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn
from torch.optim import Optimizer
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from rnnlab.models.module import SequenceModel
from rnnlab.models.tasks.shared import IGNORE, ClassSums, required_classes


class CopyModel(SequenceModel):
    """``task=copy``: a symbol per step from every hidden state, per-step cross-entropy over
    every step with a target; accuracy over the recalled symbols (targets other than blank,
    the last class).

    Args:
        backbone, optimizer, and the other keyword arguments: see ``SequenceModel``.
        num_classes: the symbols and blank, filled in from the data.
    """

    task = "copy"

    def __init__(
        self,
        backbone: nn.Module,
        optimizer: Callable[..., Optimizer],
        num_classes: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(backbone, optimizer, **kwargs)
        self.save_plain_hyperparameters()
        self.num_classes = required_classes(num_classes)
        self.blank = num_classes - 1
        self.head = nn.Linear(backbone.output_size, num_classes)
        self.train_tracker = ClassSums(skip=self.blank)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))  # [B, L, F] -> [B, L, H] -> [B, L, classes]

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        # [B, L, C] -> [B·L, C]; steps whose target is IGNORE add nothing
        return nn.functional.cross_entropy(output.flatten(0, 1), target.flatten())

    def make_metrics(self, prefix: str) -> MetricCollection:
        return MetricCollection(
            {
                "accuracy": MulticlassAccuracy(
                    self.num_classes, average="micro", ignore_index=IGNORE
                )
            },
            prefix=prefix,
        )

    def metric_inputs(self, output: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        recalled = target.masked_fill(target == self.blank, IGNORE)  # blanks are not recall
        return output.flatten(0, 1), recalled.flatten()  # [B·L, C], [B·L]
