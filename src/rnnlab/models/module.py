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

The training loop runs under manual optimization: one Lightning training step takes
``steps_per_execution`` optimizer steps on that many consecutive batches of the epoch's
seeded order (``"epoch"``: all of them), so Lightning's per-step machinery (loops, hooks,
logging, progress bar) runs once per K optimizer steps. Each optimizer step does what
Lightning's automatic loop does: forward, zero_grad, backward, gradient clipping
(``gradient_clip_val``), ``optimizer.step()``, a per-step scheduler step; the final weights
are bit-for-bit the same for every K on the CPU. ``trainer.global_step`` counts optimizer
steps; ``on_before_backward``/``on_after_backward``/``on_before_optimizer_step`` fire every
optimizer step, ``on_train_batch_start``/``on_train_batch_end`` once per K (with the last
batch of the K and its index).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch import Tensor, nn
from torch.optim import Optimizer
from torchmetrics import MetricCollection

CHECKPOINT_KEY = "rnnlab"  # marks our checkpoints and holds the run's plain-dict config
SCHEDULER_INTERVALS = ("step", "epoch")
WHOLE_EPOCH = "epoch"  # steps_per_execution: one training step per epoch

# Lightning calls the `dataloader_iter` form of training_step experimental and warns that
# hooks then see the index of the step's last batch: both are what this loop is built on
# (tested: the same weights for every steps_per_execution), so these two notes are noise.
warnings.filterwarnings("ignore", message="You are using the `dataloader_iter` step flavor")
warnings.filterwarnings("ignore", message="Found `dataloader_iter` argument in the")


def steps_per_call(value: int | str) -> int | None:
    """Optimizer steps per Lightning training step; ``None`` for ``"epoch"`` (all batches)."""
    if value == WHOLE_EPOCH:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"steps_per_execution={value!r}: must be an integer >= 1 or '{WHOLE_EPOCH}'"
        )
    return value


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
        """Up to ``steps_per_execution`` optimizer steps on the next batches of the epoch.

        Returns ``loss`` (the last step's) and ``step_losses`` (``[k]``, every step's, for
        per-step checks such as ``NonFiniteGuard``); nothing is read back to the host.
        """
        optimizer = self.optimizers()
        scheduler = self.lr_schedulers()
        step_scheduler = scheduler if self.scheduler_interval == "step" else None
        max_steps = self.trainer.max_steps
        plain = getattr(self, "_plain_steps", None) or _PlainSteps()
        losses: list[Tensor] = []
        while self.steps_per_call is None or len(losses) < self.steps_per_call:
            try:
                batch, _, _ = next(dataloader_iter)
            except StopIteration:
                break
            if not plain.on_device(batch, self.device):
                batch = self._batch_to_device(batch)
            loss, output, target = self.step(batch)
            optimizer.zero_grad()
            if plain.backward:
                loss.backward()
            else:
                self.manual_backward(loss)
            if self.gradient_clip_val:
                if plain.clip is not None:
                    plain.clip(plain.params, self.gradient_clip_val)
                else:
                    self.clip_gradients(
                        optimizer, self.gradient_clip_val, self.gradient_clip_algorithm
                    )
            optimizer.step()
            if step_scheduler is not None:
                self.lr_scheduler_step(step_scheduler, None)
            loss = loss.detach()
            losses.append(loss)
            if self.train_tracker is not None:
                self.train_tracker.update(output.detach(), target, loss)
            if 0 <= max_steps <= self.trainer.global_step:
                break
        if self.train_tracker is None:
            self._epoch_losses.extend(losses)
        if dataloader_iter.done:  # the epoch's last batch was in this step
            if scheduler is not None and step_scheduler is None:
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
        self._plain_steps = _PlainSteps.for_run(self)

    def _batch_to_device(self, batch: Any) -> Any:
        """What Lightning's own loop does to a batch before the step: precision conversion,
        the batch-transfer hooks (the datamodule's where it defines them), the device."""
        trainer = self.trainer
        batch = trainer.precision_plugin.convert_input(batch)
        dm = trainer.datamodule
        if dm is not None and is_overridden("on_before_batch_transfer", dm, L.LightningDataModule):
            batch = dm.on_before_batch_transfer(batch, 0)
        else:
            batch = self.on_before_batch_transfer(batch, 0)
        return trainer.strategy.batch_to_device(batch, dataloader_idx=0)

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
        checkpoint[CHECKPOINT_KEY] = {"config": self.run_config}

    @property
    def n_params(self) -> int:
        """Trainable parameters: backbone and head."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


@dataclass
class _PlainSteps:
    """Which parts of an optimizer step may skip Lightning's wrappers in this run.

    Lightning's ``manual_backward``, ``clip_gradients`` and batch transfer call hooks and
    plugins around one torch call each (about a tenth of a small model's step). Where no
    callback, module or datamodule overrides those hooks, in one process at 32-bit
    precision, they do exactly the torch call, so the loop makes it directly: the same
    arithmetic, bit for bit. Anything else (DDP, mixed precision, a hook someone listens
    to) takes Lightning's path. ``optimizer.step()`` always goes through Lightning: it
    counts ``global_step`` and runs ``on_before_optimizer_step``.
    """

    backward: bool = False
    clip: Callable[..., Any] | None = None
    params: list[Tensor] = field(default_factory=list)
    transfer: bool = False

    def on_device(self, batch: Any, device: torch.device) -> bool:
        """True when the batch may go to the step as it is (no transfer hooks, on device)."""
        return (
            self.transfer
            and isinstance(batch, (tuple, list))
            and all(isinstance(t, Tensor) and t.device == device for t in batch)
        )

    @classmethod
    def for_run(cls, module: SequenceModel) -> _PlainSteps:
        from lightning.pytorch.plugins.precision import Precision
        from lightning.pytorch.strategies import SingleDeviceStrategy

        trainer = module.trainer
        plain = (
            type(trainer.precision_plugin) is Precision
            and isinstance(trainer.strategy, SingleDeviceStrategy)
            and trainer.world_size == 1
        )
        if not plain:
            return cls()
        listeners = [(c, L.Callback) for c in trainer.callbacks] + [(module, L.LightningModule)]
        observed = {
            hook
            for hook in ("on_before_backward", "on_after_backward", "backward")
            for obj, base in listeners
            if hasattr(base, hook) and is_overridden(hook, obj, base)
        }
        transfer_hooks = ("on_before_batch_transfer", "transfer_batch_to_device",
                          "on_after_batch_transfer")  # fmt: skip
        dm = trainer.datamodule
        transferred = any(is_overridden(h, module, L.LightningModule) for h in transfer_hooks) or (
            dm is not None
            and any(is_overridden(h, dm, L.LightningDataModule) for h in transfer_hooks)
        )
        optimizer = module.optimizers()
        clip = {"norm": nn.utils.clip_grad_norm_, "value": nn.utils.clip_grad_value_}
        return cls(
            backward=not observed,
            clip=clip.get(module.gradient_clip_algorithm),
            # Lightning clips the optimizer's parameters (Precision.main_params)
            params=[p for group in optimizer.param_groups for p in group["params"]],
            transfer=not transferred,
        )
