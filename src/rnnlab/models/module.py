"""The LightningModule every task shares: a backbone, a task's head and loss, one training loop.

A task is a subclass (``rnnlab.models.tasks``) that sets ``task`` and defines ``forward``,
``loss`` and ``make_metrics`` (``step`` and ``metric_inputs`` where its batches or metrics
need more); its report lives in ``rnnlab.report.tasks``. The backbone contract is the same
for every task (``[B, L, F] -> [B, L, H]``), so every backbone runs every task unchanged.
Only plain values go into ``hparams``, so every checkpoint loads with
``torch.load(path, weights_only=True)``. The optimizer steps are taken by
``rnnlab.models.loop``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torchmetrics import MetricCollection

from rnnlab.models.loop import PlainSteps, steps_per_call, take_steps

CHECKPOINT_KEY = "rnnlab"  # marks our checkpoints and holds the run's plain-dict config
SCHEDULER_INTERVALS = ("step", "epoch")


class SequenceModel(L.LightningModule):
    """A recurrent backbone under a task's head, trained by one shared loop.

    Args:
        backbone: any module mapping ``[B, L, F]`` to ``[B, L, output_size]`` and exposing
            ``output_size`` (see ``rnnlab.models.backbones``).
        optimizer: a partial taking the parameters (``_partial_: true`` in the config).
        scheduler: optional partial taking the optimizer; if it accepts ``total_steps`` the
            number of scheduler steps in the run is filled in.
        scheduler_interval: ``step`` (every optimizer step) or ``epoch``.
        steps_per_execution: optimizer steps (batches) per Lightning training step, or
            ``"epoch"`` for one training step per epoch (see the module docstring).
        gradient_clip_val: clip the gradients to this norm before every optimizer step
            (``None`` or 0: no clipping); ``gradient_clip_algorithm``: ``norm`` or ``value``.

    A subclass sets ``task`` (its name in reports) and defines ``forward``, ``loss`` and
    ``make_metrics``; ``step`` and ``metric_inputs`` when its batches or metrics need more.
    The training epoch's numbers come from ``train_tracker`` (``update`` per step without
    reading anything back to the host, ``compute`` once per epoch); without one only the
    mean loss is logged.
    """

    task = "sequence"

    def __init__(
        self,
        backbone: nn.Module,
        optimizer: Callable[..., Optimizer],
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "step",
        steps_per_execution: int | str = 1,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str = "norm",
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        # Lightning's automatic loop would run its per-batch machinery around every step.
        self.automatic_optimization = False
        self.steps_per_call = steps_per_call(steps_per_execution)
        self.gradient_clip_val = gradient_clip_val
        self.gradient_clip_algorithm = gradient_clip_algorithm
        self.train_tracker: Any = None
        self._epoch_losses: list[Tensor] = []  # the epoch's step losses, without a tracker
        self.items_trained = 0  # sequences (windows) the optimizer steps have read
        # The composed run config (plain containers), stored in every checkpoint by train.py.
        self.run_config: dict[str, Any] | None = None

    def save_plain_hyperparameters(self) -> None:
        """``hparams`` of the subclass's plain arguments (modules and partials excluded).

        Call it from the subclass's ``__init__`` (``save_hyperparameters`` reads the
        caller's arguments). ``logger=False``: train.py logs the whole flat config instead.
        """
        caller = inspect.currentframe().f_back  # the subclass's __init__
        self.save_hyperparameters(
            ignore=["backbone", "optimizer", "scheduler"], logger=False, frame=caller
        )

    # ---------------------------------------------------------------- what a task defines
    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        """The training objective of one batch."""
        raise NotImplementedError

    def make_metrics(self, prefix: str) -> MetricCollection:
        """The validation and test metrics, keys prefixed with ``prefix`` (``val/``, ``test/``)."""
        raise NotImplementedError

    def metric_inputs(self, output: Tensor, target: Tensor) -> tuple[Tensor, ...]:
        """What ``make_metrics``' collection is updated with (e.g. values in original units)."""
        return output, target

    def step(self, batch: Any) -> tuple[Tensor, Tensor, Tensor]:
        """``(loss, output, target)`` of one batch ``(x, y)``."""
        x, y = batch[0], batch[1]
        output = self(x)
        return self.loss(output, y), output, y

    # ---------------------------------------------------------------- the shared loop
    def setup(self, stage: str) -> None:
        # Built here, not in __init__, so a subclass's head exists first (and a module
        # loaded from a checkpoint gets fresh metric state).
        if not hasattr(self, "val_metrics"):
            self.val_metrics = self.make_metrics("val/")
            self.test_metrics = self.make_metrics("test/")

    def training_step(self, dataloader_iter: Iterator) -> dict[str, Tensor] | None:
        """Up to ``steps_per_execution`` optimizer steps on the next batches of the epoch
        (``rnnlab.models.loop``).

        Returns ``loss`` (the last step's) and ``step_losses`` (``[k]``, every step's, for
        per-step checks such as ``NonFiniteGuard``); nothing is read back to the host.
        """
        plain = getattr(self, "_plain_steps", None) or PlainSteps()
        losses = take_steps(self, dataloader_iter, plain, self.steps_per_call)
        if self.train_tracker is None:
            self._epoch_losses.extend(losses)
        if dataloader_iter.done:  # the epoch's last batch was in this step
            scheduler = self.lr_schedulers()
            if scheduler is not None and self.scheduler_interval != "step":
                self.lr_scheduler_step(scheduler, None)
            self._log_train_epoch()
        if not losses:
            return None
        return {"loss": losses[-1], "step_losses": torch.stack(losses)}

    def _log_train_epoch(self) -> None:
        """The training epoch's numbers, once, from its last step (so the callbacks that run
        at train-epoch end, history, progress lines and NaN guard, see this epoch's values).

        Only ``train/loss`` goes through ``self.log`` (callbacks read it, and each
        ``self.log`` costs Lightning about half a millisecond); the other ``train/*`` numbers
        and the learning rate go straight to the loggers. ``step`` is logged too: loggers then
        plot against optimizer steps (``global_step``) for every ``steps_per_execution``.
        """
        metrics = self.train_epoch_metrics()
        if self.train_tracker is None and self._epoch_losses:
            metrics = {"train/loss": torch.stack(self._epoch_losses).mean()}
        step = self.trainer.global_step
        loss = metrics.pop("train/loss", None)
        logged = (
            {"step": float(step)} if loss is None else {"train/loss": loss, "step": float(step)}
        )
        self.log_dict(logged, on_step=False, on_epoch=True, batch_size=1)
        if not self.loggers or not self.trainer.is_global_zero:
            return
        optimizer = self.optimizers()
        optimizer = getattr(optimizer, "optimizer", optimizer)  # the torch optimizer inside
        values = {name: float(value) for name, value in metrics.items()}
        values[f"lr-{type(optimizer).__name__}"] = optimizer.param_groups[0]["lr"]
        for logger in self.loggers:
            logger.log_metrics(values, step=step)

    def on_train_start(self) -> None:
        self._plain_steps = PlainSteps.for_run(self)

    def train_epoch_metrics(self) -> dict[str, Tensor]:
        """The training epoch's ``train/*`` numbers, summed over processes once per epoch."""
        if self.train_tracker is None:
            return {}
        total = None
        if self.trainer.world_size > 1:
            total = lambda t: self.trainer.strategy.reduce(t, reduce_op="sum")  # noqa: E731
        return self.train_tracker.compute("train/", total)

    def on_train_epoch_end(self) -> None:
        if self.train_tracker is not None:
            self.train_tracker.reset()
        self._epoch_losses = []

    def _eval_step(self, batch: Any, metrics: MetricCollection, stage: str) -> None:
        loss, output, target = self.step(batch)
        metrics.update(*self.metric_inputs(output.detach(), target))
        # Accumulated on the device and reduced once per epoch: no host sync per step.
        # No sync_dist: a reduction here would be a collective that rank-0-only callbacks
        # (progress bar, history) trigger alone, deadlocking multi-process runs.
        self.log(f"{stage}/loss", loss.detach(), on_step=False, on_epoch=True,
                 batch_size=len(target))  # fmt: skip

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, self.val_metrics, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._eval_step(batch, self.test_metrics, "test")

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self(batch[0])

    def _log_epoch_metrics(self, metrics: MetricCollection) -> None:
        self.log_dict(metrics.compute())
        metrics.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_epoch_metrics(self.val_metrics)
        if not self.trainer.sanity_checking:
            self.log("step", float(self.trainer.global_step))  # loggers' x: optimizer steps

    def on_test_epoch_end(self) -> None:
        self._log_epoch_metrics(self.test_metrics)

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        kwargs = {}
        factory = getattr(self.scheduler_factory, "func", self.scheduler_factory)
        if "total_steps" in inspect.signature(factory).parameters:
            if self.scheduler_interval == "step":
                kwargs["total_steps"] = int(self.trainer.estimated_stepping_batches)
            else:
                kwargs["total_steps"] = int(self.trainer.max_epochs)
        scheduler = self.scheduler_factory(optimizer, **kwargs)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval},
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = {
            "config": self.run_config,
            "items_trained": self.items_trained,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.items_trained = int(checkpoint.get(CHECKPOINT_KEY, {}).get("items_trained", 0))

    @torch.no_grad()
    def score(self, loader: Any, prefix: str = "val/") -> dict[str, float]:
        """The loss and metrics of the current weights over every batch of ``loader``, as
        a validation epoch logs them (the loss a mean weighted by batch size)."""
        metrics = self.make_metrics(prefix).to(self.device)
        was_training = self.training
        self.eval()
        total, count = 0.0, 0
        try:
            for batch in loader:
                batch = [t.to(self.device) for t in batch]
                loss, output, target = self.step(batch)
                metrics.update(*self.metric_inputs(output, target))
                total += float(loss) * len(target)
                count += len(target)
        finally:
            self.train(was_training)
        scores = {key: float(value) for key, value in metrics.compute().items()}
        return {f"{prefix}loss": total / max(count, 1), **scores}

    @property
    def n_params(self) -> int:
        """Trainable parameters: backbone and head."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
