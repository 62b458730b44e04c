"""The LightningModule: a recurrent backbone, a linear head on the last step, MSE loss."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import lightning as L
from torch import Tensor, nn
from torch.optim import Optimizer
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, R2Score

from rnnlab.models.epoch_sums import EpochSums
from rnnlab.models.heads import build_head

CHECKPOINT_KEY = "rnnlab"  # marks our checkpoints and holds the run's plain-dict config


def _metrics(prefix: str) -> MetricCollection:
    return MetricCollection(
        {
            "mse": MeanSquaredError(),
            "rmse": MeanSquaredError(squared=False),
            "mae": MeanAbsoluteError(),
            "r2": R2Score(),
        },
        prefix=prefix,
    )


class Forecaster(L.LightningModule):
    """Predicts the next value of a series from a window of ``seq_len`` past values.

    Args:
        backbone: any module mapping ``[B, L, F]`` to ``[B, L, output_size]`` and exposing
            ``output_size`` (see ``rnnlab.models.backbones``).
        optimizer: a partial taking the parameters (``_partial_: true`` in the config).
        scheduler: optional partial taking the optimizer; if it accepts ``total_steps`` the
            number of scheduler steps in the run is filled in.
        scheduler_interval: ``step`` (every optimizer step) or ``epoch``.
        head: ``last`` (linear layer on the last hidden state) or ``attention`` (learned
            attention pooling over all hidden states); see ``rnnlab.models.heads``.

    Metrics (not the loss) are computed in the original units of the series: ``setup``
    reads ``loc``/``scale`` from the datamodule.

    Only plain values go into ``hparams``: modules and partials are excluded, so every
    checkpoint loads with ``torch.load(path, weights_only=True)``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        optimizer: Callable[..., Optimizer],
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "step",
        head: str = "last",
    ) -> None:
        super().__init__()
        if scheduler_interval not in ("step", "epoch"):
            raise ValueError(
                f"model.scheduler_interval={scheduler_interval!r}: use 'step' or 'epoch'"
            )
        # logger=False: train.py logs the whole flat config with the final metrics instead.
        self.save_hyperparameters(ignore=["backbone", "optimizer", "scheduler"], logger=False)
        self.backbone = backbone
        self.head = build_head(head, backbone.output_size)
        # model units -> original units for metrics; set from the datamodule in setup().
        self.target_loc, self.target_scale = 0.0, 1.0
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.loss_fn = nn.MSELoss()
        self.train_sums = EpochSums()  # per-step work kept to a few tensor ops (epoch_sums.py)
        self.val_metrics = _metrics("val/")
        self.test_metrics = _metrics("test/")
        # The composed run config (plain containers), stored in every checkpoint by train.py.
        self.run_config: dict[str, Any] | None = None

    def forward(self, x: Tensor) -> Tensor:
        hidden = self.backbone(x)  # [B, L, F] -> [B, L, H]
        return self.head(hidden)  # [B, L, H] -> [B, 1]

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        self.target_loc = float(getattr(dm, "loc", 0.0))
        self.target_scale = float(getattr(dm, "scale", 1.0))

    def _step(self, batch: tuple[Tensor, Tensor], metrics: MetricCollection, stage: str) -> Tensor:
        x, y = batch
        pred = self(x)
        loss = self.loss_fn(pred, y)
        loc, scale = self.target_loc, self.target_scale
        metrics.update(pred.detach() * scale + loc, y * scale + loc)
        # Accumulated on the device and reduced once per epoch: no host sync per step.
        # No sync_dist: a reduction here would be a collective that rank-0-only callbacks
        # (progress bar, history) trigger alone, deadlocking multi-process runs.
        self.log(f"{stage}/loss", loss.detach(), on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        pred = self(x)
        loss = self.loss_fn(pred, y)
        self.train_sums.update(pred.detach(), y, loss.detach())
        if self.trainer.is_last_batch:
            # Logged once per epoch, from its last step: the callbacks that run at train-epoch
            # end (history, progress lines, NaN guard) then already see this epoch's values.
            self.log_dict(self._train_epoch_metrics(), on_step=False, on_epoch=True, batch_size=1)
        return loss

    def _train_epoch_metrics(self) -> dict[str, Tensor]:
        # Processes add their sums once per epoch (on one device nothing is reduced).
        total = None
        if self.trainer.world_size > 1:
            total = lambda t: self.trainer.strategy.reduce(t, reduce_op="sum")  # noqa: E731
        return self.train_sums.compute("train/", self.target_scale, total)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, self.val_metrics, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, self.test_metrics, "test")

    def predict_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self(batch[0])

    def _log_epoch_metrics(self, metrics: MetricCollection) -> None:
        self.log_dict(metrics.compute())
        metrics.reset()

    def on_train_epoch_end(self) -> None:
        self.train_sums.reset()

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
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
