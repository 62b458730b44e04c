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


class MetricsHistory(L.Callback):
    """Keeps the per-epoch values of ``keys`` and writes them to ``path`` as CSV.

    Plots and the sweep comparison read this small file instead of parsing TensorBoard
    events. It is rewritten after every validation, so an interrupted run keeps its curve.
    """

    def __init__(self, path: str, keys: tuple[str, ...] = ("train/loss", "val/loss")) -> None:
        self.path = path
        self.keys = tuple(keys)
        self.rows: list[dict[str, float]] = []

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        m = trainer.callback_metrics
        row: dict[str, float] = {"epoch": trainer.current_epoch + 1}
        row.update({k: m[k].item() for k in self.keys if k in m})
        if trainer.optimizers:
            row["lr"] = trainer.optimizers[0].param_groups[0]["lr"]
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        self._write()

    def _write(self) -> None:
        import csv
        from pathlib import Path

        columns = ["epoch", *self.keys, "lr"]
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with Path(self.path).open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(self.rows)

    def state_dict(self) -> dict:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict) -> None:
        self.rows = list(state_dict.get("rows", []))
