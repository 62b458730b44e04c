"""``callbacks.ema``: an exponential moving average of the weights, the same for every
``model.steps_per_execution`` (its own module: ``WeightAveraging`` needs Lightning 2.6)."""

from __future__ import annotations

from lightning.pytorch.callbacks import WeightAveraging
from torch.optim.swa_utils import get_ema_avg_fn


class EMA(WeightAveraging):
    """An exponential moving average of the weights (Lightning's ``WeightAveraging``),
    updated after every optimizer step.

    Validation and testing see the averaged weights; checkpoints hold them as ``state_dict``
    and the raw weights as ``current_model_state``, and a resumed run restores both.

    Args:
        decay: weight of the old average at each optimizer step (the average spans about
            ``1 / (1 - decay)`` steps).
        start_step: optimizer steps before averaging starts (0: from the first step).

    ``WeightAveraging`` updates in ``on_train_batch_end``, which the shared loop calls once
    per ``steps_per_execution`` optimizer steps; this callback also updates just before each
    optimizer step, with the weights the previous step left, so the average is the same for
    every ``steps_per_execution``.
    """

    def __init__(self, decay: float = 0.999, start_step: int = 0) -> None:
        super().__init__(avg_fn=get_ema_avg_fn(decay))
        self.decay = decay
        self.start_step = start_step

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        return step_idx is not None and step_idx >= self.start_step

    def setup(self, trainer, pl_module, stage: str) -> None:
        # The model is still on the CPU here; without a device the average would stay there
        # and every update would copy the weights off the accelerator.
        if self._device is None:
            self._device = trainer.strategy.root_device
        super().setup(trainer, pl_module, stage)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        # trainer.global_step still counts the previous step: the update it would have had
        # at its on_train_batch_end (skipped when that already ran)
        self.on_train_batch_end(trainer, pl_module, None, None, 0)

    def on_load_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        # Testing a checkpoint tests its state_dict, the averaged weights; WeightAveraging
        # would load the raw weights into the model whenever an average exists (after fit).
        if trainer.state.fn == "fit":
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
