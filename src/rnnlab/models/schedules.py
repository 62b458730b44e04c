"""Learning-rate schedules that need the length of the run.

``Forecaster.configure_optimizers`` fills in ``total_steps`` (scheduler steps in the whole
run: optimizer steps for ``interval: step``, epochs for ``interval: epoch``) for any
scheduler factory that takes it, so configs never hard-code the number of batches.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine(
    optimizer: Optimizer, total_steps: int, warmup_steps: int = 0, min_lr_ratio: float = 0.0
) -> LambdaLR:
    """Linear warm-up, then cosine decay to ``min_lr_ratio × lr`` at ``total_steps``."""
    total_steps = max(1, int(total_steps))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
