"""Training-epoch regression metrics from running sums, for the hot loop.

``self.log`` and torchmetrics' ``update`` each cost Lightning/torchmetrics bookkeeping that,
on the small recurrent models of this project, is a sizeable fraction of one optimizer step
(``self.log`` alone moves its whole result record to the device on every call; see
``benchmarks/README.md``). Training steps therefore only add four numbers to a tensor that
stays on the device; the epoch's ``loss``/``mse``/``rmse``/``mae``/``r2`` are derived from
those sums once, at epoch end, with the same formulas torchmetrics uses.

When the loss is not the squared error of the predictions (a probabilistic loss, or several
targets whose errors are counted in their own units), ``loss_is_mse=False`` keeps the
squared error and the loss as separate sums.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


class EpochSums:
    """Running sums of one epoch: squared and absolute error, target and squared target.

    ``update`` never reads a value back to the host; ``compute`` is called once per epoch.
    ``scale`` maps model units to original units (errors scale by it, R² is unchanged).
    """

    def __init__(self, scale: float = 1.0, loss_is_mse: bool = True) -> None:
        self.sums: Tensor | None = None
        self.count = 0
        self.scale = scale
        self.loss_is_mse = loss_is_mse

    def reset(self) -> None:
        self.sums, self.count = None, 0

    @torch.no_grad()
    def update(self, pred: Tensor, target: Tensor, loss: Tensor) -> None:
        """Add one batch; ``loss`` is its mean squared error (already computed by the step)
        unless ``loss_is_mse`` is False."""
        err = pred - target
        n = target.numel()
        if self.loss_is_mse:
            batch = torch.stack((loss * n, err.abs().sum(), target.sum(), target.square().sum()))
        else:
            sums = (err.square().sum(), err.abs().sum(), target.sum(), target.square().sum())
            batch = torch.stack((*sums, loss * n))
        self.sums = batch if self.sums is None else self.sums.add_(batch)
        self.count += n

    def compute(
        self, prefix: str, total: Callable[[Tensor], Tensor] | None = None
    ) -> dict[str, Tensor]:
        """``{prefix}loss`` (model units) and mse/rmse/mae/r2 in original units.

        ``total`` adds a tensor over all processes (e.g. ``strategy.reduce`` with
        ``reduce_op="sum"``); it is called once per epoch, never per step.
        """
        if self.sums is None:
            return {}
        sums = torch.cat((self.sums, self.sums.new_tensor([self.count])))
        if total is not None:
            sums = total(sums)
        if self.loss_is_mse:
            sse, sae, sum_y, sum_y2, count = sums.unbind()
            loss = sse / count
        else:
            sse, sae, sum_y, sum_y2, sum_loss, count = sums.unbind()
            loss = sum_loss / count
        scale = self.scale
        mse = sse / count
        spread = sum_y2 - sum_y * sum_y / count  # Σ (y - ȳ)², as torchmetrics' R2Score
        return {
            f"{prefix}loss": loss,
            f"{prefix}mse": mse * scale**2,
            f"{prefix}rmse": mse.sqrt() * abs(scale),
            f"{prefix}mae": sae / count * abs(scale),
            f"{prefix}r2": 1.0 - sse / spread,
        }
