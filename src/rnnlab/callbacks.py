"""Small callbacks of the project's own."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.utilities import rank_zero_only


class EpochPrinter(L.Callback):
    """Prints one line of losses every ``every_n_epochs`` epochs, as the walk-through did.

    Reads values Lightning already reduced at the end of the epoch; adds no work per step.
    """

    def __init__(self, every_n_epochs: int = 10) -> None:
        self.every_n_epochs = every_n_epochs

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if trainer.sanity_checking or self.every_n_epochs <= 0 or epoch % self.every_n_epochs:
            return
        m = trainer.callback_metrics
        parts = [f"epoch {epoch:4d}/{trainer.max_epochs}"]
        for key in ("train/loss", "val/loss"):
            if key in m:
                parts.append(f"{key} {m[key].item():.5f}")
        if trainer.optimizers:
            parts.append(f"lr {trainer.optimizers[0].param_groups[0]['lr']:.2e}")
        print("  ".join(parts), flush=True)
