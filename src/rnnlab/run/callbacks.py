"""Small callbacks of the project's own."""

from __future__ import annotations

import csv
import io
import math
import random
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn

from rnnlab.errors import NonFiniteLossError
from rnnlab.report.figures import log_figures, read_history, save_figures
from rnnlab.report.task import TaskReport
from rnnlab.rundir import write_atomic


class EpochPrinter(L.Callback):
    """Prints one line of losses every ``every_n_epochs`` epochs, as the walk-through did.

    Reads values Lightning already reduced at the end of the epoch; adds no work per step.
    """

    def __init__(self, every_n_epochs: int = 10) -> None:
        self.every_n_epochs = every_n_epochs

    # on_train_epoch_end, not on_validation_epoch_end: validation runs inside the training
    # epoch, before this epoch's train/loss is reduced; here both are this epoch's values.
    @rank_zero_only
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
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
    events. It is rewritten after every epoch, so an interrupted run keeps its curve.
    """

    def __init__(self, path: str, keys: tuple[str, ...] = ("train/loss", "val/loss")) -> None:
        self.path = path
        self.keys = tuple(keys)
        self.rows: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # (see EpochPrinter: here train/loss and val/loss both belong to this epoch)
        if not trainer.is_global_zero:
            return
        m = trainer.callback_metrics
        row: dict[str, float] = {"epoch": trainer.current_epoch + 1}
        row.update({k: m[k].item() for k in self.keys if k in m})
        if trainer.optimizers:
            row["lr"] = trainer.optimizers[0].param_groups[0]["lr"]
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        self._write()

    def _write(self) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=["epoch", *self.keys, "lr"], restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        write_atomic(self.path, text.getvalue())  # a kill mid-write keeps the last epoch's

    def state_dict(self) -> dict:
        # One tensor, not a list of dicts: last.ckpt is written every epoch, and pickling
        # hundreds of small dicts doubled the cost of each save by the end of a run.
        columns = ["epoch", *self.keys, "lr"]
        values = [[row.get(c, math.nan) for c in columns] for row in self.rows]
        return {"columns": columns, "rows": torch.tensor(values, dtype=torch.float64)}

    def load_state_dict(self, state_dict: dict) -> None:
        rows = state_dict.get("rows")
        if rows is None or len(rows) == 0:
            self.rows = []
            return
        columns = state_dict["columns"]
        self.rows = [
            {
                c: (int(v) if c == "epoch" else v)
                for c, v in zip(columns, r, strict=True)
                if not math.isnan(v)
            }
            for r in rows.tolist()
        ]


class NonFiniteGuard(L.Callback):
    """Stops training at the first NaN/inf loss, keeping the last good ``last.ckpt``.

    Where the check runs, and why it costs (almost) nothing:

    * loss on the CPU, one process: every training step, reading one float that is
      already in host memory (a few microseconds against a millisecond-scale step), so the
      run stops at the very step that went wrong;
    * loss on an accelerator, or several processes: reading it each step would make the
      host wait for the device every step, so instead the check runs once per epoch on
      values Lightning reduces anyway (``train/loss`` as an epoch mean: a NaN or inf in any
      step makes it non-finite; ``val/loss``) plus one finiteness test of the weights: a
      NaN is then seen at most one epoch late.

    The end-of-epoch checks run before the checkpoint callbacks (Lightning calls callbacks
    that monitor metrics last), so non-finite weights are never written; raising leaves the
    checkpoints of the previous epoch in place.
    """

    def __init__(self, check_every_step: bool = True) -> None:
        self.check_every_step = check_every_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # With several processes a rank whose own loss went NaN would stop alone and leave
        # the others waiting in the next all-reduce; the epoch-end checks see synced values.
        if not self.check_every_step or trainer.world_size > 1:
            return
        # The shared loop takes several optimizer steps per training step and returns each
        # one's loss (step_losses); batch_idx is then the index of the last of them.
        losses = outputs.get("step_losses", outputs.get("loss")) if isinstance(outputs, dict) \
            else outputs  # fmt: skip
        if losses is None or losses.device.type != "cpu":
            return
        losses = losses.reshape(-1)
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            first = int(bad[0])
            step = batch_idx + 1 - (len(losses) - 1 - first)
            self._stop(trainer, f"train/loss is {float(losses[first])} at step {step} of epoch "
                       f"{trainer.current_epoch + 1}")  # fmt: skip

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._check_epoch(trainer, pl_module, ("val/loss",))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._check_epoch(trainer, pl_module, ("train/loss", "val/loss"))

    def _check_epoch(self, trainer, pl_module, keys: tuple[str, ...]) -> None:
        metrics = trainer.callback_metrics
        for key in keys:
            if key in metrics and not math.isfinite(float(metrics[key])):
                self._stop(trainer, f"{key} is {float(metrics[key])} in epoch "
                           f"{trainer.current_epoch + 1}")  # fmt: skip
        params = [p.detach() for p in pl_module.parameters()]
        if params and not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
            self._stop(trainer, f"the weights hold NaN/inf after epoch {trainer.current_epoch + 1}")

    @staticmethod
    def _stop(trainer, what: str) -> None:
        saved = {
            Path(cb.best_model_path)
            for cb in trainer.checkpoint_callbacks
            if getattr(cb, "best_model_path", "") and Path(cb.best_model_path).is_file()
        }
        # last.ckpt is written every few epochs, best.ckpt when validation improves: name the
        # newest (last.ckpt on a tie), with the epoch it holds
        epochs = {
            path: torch.load(path, map_location="cpu", weights_only=True, mmap=True)["epoch"] + 1
            for path in saved
        }
        newest = max(epochs, key=lambda p: (epochs[p], p.name == "last.ckpt"), default=None)
        kept = (
            f"the last good checkpoint is {newest} (after epoch {epochs[newest]})"
            if newest is not None
            else "no checkpoint was written before it"
        )
        raise NonFiniteLossError(
            f"training stopped: {what}; {kept}; try a lower model.optimizer.lr "
            "(model.gradient_clip_val is the gradient-norm clip)"
        )


class LastCheckpoint(ModelCheckpoint):
    """``last.ckpt``: the point to resume from, and the final weights.

    Written every ``every_n_epochs`` epochs, or sooner once ``every_n_seconds`` have passed
    since the last write, and always at the end of training (the last epoch, early
    stopping, ``max_steps``). A save costs about as much as a few optimizer steps of the
    small default model, so writing it every epoch cost several per cent of the fit.
    Resuming stays exact: a run continues from the last write and repeats the epochs after
    it, which give the same numbers (batch order and random draws follow ``(seed, epoch)``).
    Other arguments are ``ModelCheckpoint``'s.
    """

    def __init__(
        self, *, every_n_epochs: int = 1, every_n_seconds: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.period = every_n_epochs
        self.every_n_seconds = every_n_seconds
        self._saved_at = (0, 0.0)  # (epochs done, monotonic time) at the last write
        self._decided = (-1, False)  # (epoch, whether it writes): asked twice per epoch

    def _due(self, trainer: L.Trainer) -> bool:
        """Whether this epoch's end writes last.ckpt (decided once per epoch)."""
        epoch = trainer.current_epoch + 1
        if self._decided[0] == epoch:
            return self._decided[1]
        now = time.monotonic()
        last_epoch, last_time = self._saved_at
        seconds = self.every_n_seconds
        due = (
            epoch - last_epoch >= self.period
            or (seconds is not None and now - last_time >= seconds)
            or epoch >= (trainer.max_epochs or 0) > 0
            or trainer.should_stop
            or 0 <= trainer.max_steps <= trainer.global_step
        )
        if due:
            self._saved_at = (epoch, now)
        self._decided = (epoch, due)
        return due

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._saved_at = (trainer.current_epoch, time.monotonic())  # also after a resume

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._due(trainer):
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and self._due(trainer):
            super().on_validation_end(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        # A stop decided after this epoch's write was skipped (e.g. early stopping checked
        # at train-epoch end): the final weights still go to last.ckpt.
        if self._saved_at[0] != trainer.current_epoch and self.dirpath:
            trainer.save_checkpoint(self.format_checkpoint_name({}))


class StartCandidate(L.Callback):
    """The weights training starts from compete for ``best.ckpt``: they are validated before
    the first step and saved as the best so far, so training must beat them on validation
    to replace them. With ``model.highway_init=ar`` the start is the least-squares AR fit,
    and a run whose training never beats it on validation tests that fit.

    Lightning validates only after training steps; this fills the checkpoint callback's
    public record (``best_model_score``, ``best_model_path``, ``best_k_models``) as its own
    first save would. A resumed run keeps the record its checkpoint restored.
    """

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        best = next((cb for cb in trainer.checkpoint_callbacks if cb.monitor), None)
        dm = trainer.datamodule
        if trainer.global_step > 0 or best is None or not best.dirpath or dm is None:
            return
        loader = dm.val_dataloader()
        if not loader:
            return
        score = pl_module.score(loader).get(best.monitor)
        if score is None or not math.isfinite(score):
            return
        path = best.format_checkpoint_name({})
        value = torch.tensor(score)
        # the record first: the checkpoint holds the callback's state, and testing it
        # (test_ckpt=best) restores that state
        best.best_model_score, best.best_model_path = value, path
        best.best_k_models, best.kth_best_model_path, best.kth_value = {path: value}, path, value
        trainer.save_checkpoint(path)


class SeedEachEpoch(L.Callback):
    """Reseeds the random generators (torch CPU and CUDA, NumPy, Python) at the first batch
    of every training epoch from ``(seed, epoch)``, so the dropout masks of an epoch do not
    depend on what ran before it, and a run resumed from any epoch draws what an
    uninterrupted run draws (the batch order already follows ``(seed, epoch)``).

    Saving the generators' states in the checkpoint is not enough: when a run resumes,
    Lightning creates the training dataloader's iterator (which draws a random number)
    before the first epoch starts, while an uninterrupted run does so after; reseeding at
    the first batch comes after both. It costs one reseed per epoch.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._seeded_epoch: int | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self._seeded_epoch = None  # a second fit with this callback reseeds its first epoch too

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # The first training step of each epoch (not batch_idx == 0: when one training step
        # takes several batches, Lightning reports the index of the step's last batch).
        if self._seeded_epoch == trainer.current_epoch:
            return
        self._seeded_epoch = trainer.current_epoch
        # Distinct per epoch; 2**32 bounds what NumPy's legacy generator accepts.
        seed = (self.seed * 1_000_003 + trainer.current_epoch) % 2**32
        torch.manual_seed(seed)  # also every CUDA device
        np.random.seed(seed)  # noqa: NPY002 - user code may draw from the legacy global one
        random.seed(seed)


class RunFigures(L.Callback):
    """Makes the run's figures once testing ends: PNGs in ``output_dir``, images in TensorBoard.

    Args:
        report: the task's report (``rnnlab.report.task.TaskReport``), which draws them.
        output_dir: where the PNGs go (``${paths.output_dir}/plots`` in the config).
        dpi: resolution of the PNGs and of the TensorBoard images.
        window: which test window (or sequence) the hidden-state figure follows.
        max_panels: hidden sizes up to this get one panel per unit, larger ones a heat-map.
        history_path: ``history.csv`` to read the loss curves from when no ``MetricsHistory``
            callback runs alongside.

    Works with any logger set-up: without a TensorBoard logger only the PNGs are written.
    """

    def __init__(
        self,
        report: TaskReport,
        output_dir: str,
        dpi: int = 100,
        window: int = 0,
        max_panels: int = 8,
        history_path: str | None = None,
    ) -> None:
        self.report = report
        self.output_dir = output_dir
        self.dpi = dpi
        self.window = window
        self.max_panels = max_panels
        self.history_path = history_path
        self.paths: dict[str, Path] = {}

    def _history(self, trainer: L.Trainer) -> list[dict[str, Any]] | None:
        for cb in trainer.callbacks:
            if isinstance(cb, MetricsHistory) and cb.rows:
                return cb.rows
        if self.history_path and Path(self.history_path).is_file():
            return read_history(self.history_path)
        return None

    @rank_zero_only
    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm = trainer.datamodule
        if dm is None:
            rank_zero_warn("RunFigures: no datamodule attached to the trainer; no figures")
            return
        history = self._history(trainer)
        if history is None:
            rank_zero_warn("RunFigures: no MetricsHistory rows or history.csv; no loss figure")
        figures = self.report.figures(
            pl_module, dm, history, window=self.window, max_panels=self.max_panels
        )
        self.paths = save_figures(figures, self.output_dir, self.dpi)
        log_figures(trainer.loggers, figures, trainer.global_step, self.dpi)
