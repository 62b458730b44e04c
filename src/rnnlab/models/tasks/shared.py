"""What the tasks on whole sequences share: reading the hidden sequence of right-padded
sequences, and training-epoch sums of a classification loss and accuracy.

For sequences of unequal lengths (batches ``(x, y, lengths)``) a task reads each sequence's
own last step, which is exact for a backbone that reads forwards: a padded step comes after
every real one. A backbone that also reads backwards must start its backward pass at the last
real step; it says it can by accepting ``lengths`` in ``forward`` (the shipped ones do).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import Tensor, nn

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
