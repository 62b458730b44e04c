"""The tasks beside forecasting: a label per sequence (``task=classify``), a symbol per step
(the copy tasks, ``task=copy`` and ``task=selective_copy``), and last-step regression
(``task=regress``).

Every task reads the same backbone contract (``[B, L, F] -> [B, L, H]``). For sequences of
unequal lengths (right-padded, batches ``(x, y, lengths)``) the classifier reads the hidden
state of each sequence's own last step, which is exact for a backbone that reads forwards: a
padded step comes after every real one. A backbone that also reads backwards must start its
backward pass at the last real step; it says it can by accepting ``lengths`` in ``forward``
(``rnnlab.models.backbones`` does), and then receives them.

The memory tasks' data is ``rnnlab.data.memory``; the labelled sequences' ``rnnlab.data.labelled``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, R2Score
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from rnnlab.models.epoch_sums import EpochSums
from rnnlab.models.heads import LastStepHead
from rnnlab.models.module import SequenceModel

IGNORE = nn.CrossEntropyLoss().ignore_index  # a target no loss or metric reads (-100)
POOLS = ("last", "mean")


def takes_lengths(backbone: nn.Module) -> bool:
    """Whether ``backbone.forward`` accepts a ``lengths`` argument."""
    try:
        return "lengths" in inspect.signature(backbone.forward).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False


def reads_backwards(backbone: nn.Module) -> bool:
    """Whether a backbone also reads its input backwards (``bidirectional=true``)."""
    rnn = getattr(backbone, "rnn", None)
    return getattr(backbone, "directions", 1) == 2 or bool(getattr(rnn, "bidirectional", False))


def backbone_outputs(backbone: nn.Module, x: Tensor, lengths: Tensor | None = None) -> Tensor:
    """The hidden sequence ``[B, L, H]``, handing ``lengths`` to a backbone that takes them.

    A backbone that reads backwards but takes no lengths would start its backward pass on the
    padding of the shorter sequences: that raises a ``ValueError`` instead.
    """
    if lengths is None:
        return backbone(x)
    if takes_lengths(backbone):
        return backbone(x, lengths=lengths)
    if reads_backwards(backbone):
        raise ValueError(
            f"{type(backbone).__name__} reads backwards but its forward() takes no lengths, so "
            "padded sequences would change its outputs: use model.backbone.bidirectional=false, "
            "or give its forward a `lengths` argument (rnnlab.models.backbones.reversed_order)"
        )
    return backbone(x)  # forwards only: the padding comes after every real step


def pool(hidden: Tensor, lengths: Tensor | None, how: str = "last") -> Tensor:
    """``[B, L, H] -> [B, H]``: the state at each sequence's last real step (``last``) or the
    mean over its real steps (``mean``)."""
    if how == "mean":
        if lengths is None:
            return hidden.mean(1)
        steps = torch.arange(hidden.shape[1], device=hidden.device)
        mask = (steps[None, :] < lengths[:, None]).to(hidden.dtype)  # [B, L]
        return torch.einsum("bl,blh->bh", mask, hidden) / lengths[:, None].to(hidden.dtype)
    if lengths is None:
        return hidden[:, -1]
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, lengths.to(hidden.device) - 1]


class ClassSums:
    """Training-epoch loss and accuracy from running sums (no host sync per step), as
    ``EpochSums`` does for regression. Targets equal to ``IGNORE`` or to ``skip`` are not
    counted in the accuracy."""

    def __init__(self, skip: int | None = None) -> None:
        self.skip = skip
        self.sums: Tensor | None = None

    def reset(self) -> None:
        self.sums = None

    @torch.no_grad()
    def update(self, logits: Tensor, target: Tensor, loss: Tensor) -> None:
        scored = target != IGNORE
        if self.skip is not None:
            scored &= target != self.skip
        correct = ((logits.argmax(-1) == target) & scored).sum()
        n = target.shape[0]  # the loss is a batch mean: weight it by the batch's sequences
        batch = torch.stack((loss * n, loss.new_tensor(n), correct.to(loss), scored.sum().to(loss)))
        self.sums = batch if self.sums is None else self.sums.add_(batch)

    def compute(
        self, prefix: str, total: Callable[[Tensor], Tensor] | None = None
    ) -> dict[str, Tensor]:
        if self.sums is None:
            return {}
        sums = total(self.sums.clone()) if total is not None else self.sums
        loss_sum, n, correct, scored = sums.unbind()
        return {f"{prefix}loss": loss_sum / n, f"{prefix}accuracy": correct / scored.clamp(min=1)}


def required_classes(num_classes: int | None) -> int:
    """``num_classes``, which the data fills in (``model_settings``); unset is a bug in the
    data's settings, not a user error."""
    if num_classes is None:
        raise ValueError("model.num_classes is unset: the data's model_settings() fill it in")
    return num_classes


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


class SelectiveCopyModel(CopyModel):
    """``task=selective_copy``: as ``task=copy``; the data scores only the recall steps."""

    task = "selective_copy"


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
