"""The LightningModule every task shares: a backbone, a task's head and loss, one training loop.

A *task* (``conf/task/``) is a subclass of ``SequenceModel``: it decides the head on the
backbone's hidden sequence, the loss, and the metrics. The backbone contract is the same
for every task (``[B, L, F] -> [B, L, H]``), so every backbone runs every task unchanged.

    class MyTask(SequenceModel):
        task = "my_task"

        def __init__(self, backbone, optimizer, **kwargs):
            super().__init__(backbone, optimizer, **kwargs)
            self.head = nn.Linear(backbone.output_size, 3)

        def forward(self, x):
            return self.head(self.backbone(x)[:, -1])  # [B, L, F] -> [B, H] -> [B, 3]

        def loss(self, output, target):
            return nn.functional.cross_entropy(output, target)

        def make_metrics(self, prefix):
            return MetricCollection({"acc": MulticlassAccuracy(3)}, prefix=prefix)

Only plain values go into ``hparams``: modules and partials are excluded, so every
checkpoint loads with ``torch.load(path, weights_only=True)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import lightning as L
from torch import Tensor, nn
from torch.optim import Optimizer
from torchmetrics import MetricCollection

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
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.train_tracker: Any = None
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

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss, output, target = self.step(batch)
        if self.train_tracker is not None:
            self.train_tracker.update(output.detach(), target, loss.detach())
        if self.trainer.is_last_batch:
            # Logged once per epoch, from its last step: the callbacks that run at train-epoch
            # end (history, progress lines, NaN guard) then already see this epoch's values.
            self.log_dict(self.train_epoch_metrics(), on_step=False, on_epoch=True, batch_size=1)
        return loss

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
        checkpoint[CHECKPOINT_KEY] = {"config": self.run_config}

    @property
    def n_params(self) -> int:
        """Trainable parameters: backbone and head."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
