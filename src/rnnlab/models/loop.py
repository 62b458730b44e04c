"""The optimizer steps of one Lightning training step: ``steps_per_execution`` batches at a time.

Under manual optimization a Lightning training step reads up to K batches of the epoch's
seeded order (``"epoch"``: all of them) and takes one optimizer step per batch, as
Lightning's automatic loop would: forward, zero_grad, backward, gradient clipping,
``optimizer.step()``, a per-step scheduler step. Lightning's per-step machinery then runs
once per K optimizer steps, and the weights are bit-for-bit those of K = 1 on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from lightning.pytorch.plugins.precision import Precision
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch import Tensor, nn

if TYPE_CHECKING:
    from rnnlab.models.module import SequenceModel

WHOLE_EPOCH = "epoch"  # steps_per_execution: one training step per epoch
TRANSFER_HOOKS = ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer")
CLIPS = {"norm": nn.utils.clip_grad_norm_, "value": nn.utils.clip_grad_value_}


def steps_per_call(value: int | str) -> int | None:
    """Optimizer steps per Lightning training step; ``None`` for ``"epoch"`` (all batches)."""
    if value == WHOLE_EPOCH:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"steps_per_execution={value!r}: must be an integer >= 1 or '{WHOLE_EPOCH}'"
        )
    return value


@dataclass
class PlainSteps:
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
    def for_run(cls, module: SequenceModel) -> PlainSteps:
        """What the run of ``module``'s trainer allows (everything Lightning's, if in doubt)."""
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
        dm = trainer.datamodule
        transferred = any(is_overridden(h, module, L.LightningModule) for h in TRANSFER_HOOKS) or (
            dm is not None
            and any(is_overridden(h, dm, L.LightningDataModule) for h in TRANSFER_HOOKS)
        )
        optimizer = module.optimizers()
        return cls(
            backward=not observed,
            clip=CLIPS.get(module.gradient_clip_algorithm),
            # Lightning clips the optimizer's parameters (Precision.main_params)
            params=[p for group in optimizer.param_groups for p in group["params"]],
            transfer=not transferred,
        )


def batch_to_device(module: SequenceModel, batch: Any) -> Any:
    """What Lightning's own loop does to a batch before the step: precision conversion,
    the batch-transfer hooks (the datamodule's where it defines them), the device."""
    trainer = module.trainer
    batch = trainer.precision_plugin.convert_input(batch)
    dm = trainer.datamodule
    if dm is not None and is_overridden("on_before_batch_transfer", dm, L.LightningDataModule):
        batch = dm.on_before_batch_transfer(batch, 0)
    else:
        batch = module.on_before_batch_transfer(batch, 0)
    return trainer.strategy.batch_to_device(batch, dataloader_idx=0)


def take_steps(
    module: SequenceModel, dataloader_iter: Iterator, plain: PlainSteps, limit: int | None
) -> list[Tensor]:
    """Up to ``limit`` optimizer steps (None: to the end of the epoch) on the next batches
    of ``dataloader_iter``; returns each step's loss, detached and never read to the host."""
    optimizer = module.optimizers()
    scheduler = module.lr_schedulers()
    step_scheduler = scheduler if module.scheduler_interval == "step" else None
    max_steps = module.trainer.max_steps
    tracker = module.train_tracker
    losses: list[Tensor] = []
    while limit is None or len(losses) < limit:
        try:
            batch, _, _ = next(dataloader_iter)
        except StopIteration:
            break
        if not plain.on_device(batch, module.device):
            batch = batch_to_device(module, batch)
        loss, output, target = module.step(batch)
        optimizer.zero_grad()
        if plain.backward:
            loss.backward()
        else:
            module.manual_backward(loss)
        if module.gradient_clip_val:
            if plain.clip is not None:
                plain.clip(plain.params, module.gradient_clip_val)
            else:
                module.clip_gradients(
                    optimizer, module.gradient_clip_val, module.gradient_clip_algorithm
                )
        optimizer.step()
        if step_scheduler is not None:
            module.lr_scheduler_step(step_scheduler, None)
        loss = loss.detach()
        losses.append(loss)
        module.items_trained += len(target)
        if tracker is not None:
            tracker.update(output.detach(), target, loss)
        if 0 <= max_steps <= module.trainer.global_step:
            break
    return losses
