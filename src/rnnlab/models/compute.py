"""What one training step costs: floating-point operations per sequence, forward and backward.

    flops = training_flops(model, batch)   # {"matmul": ..., "elementwise": ..., "total": ...}

Counted with ``torch.utils.flop_counter.FlopCounterMode`` on one real batch of the run: its
matrix products (2·m·n·k each, torch's own rules) and, added here, the element-wise
arithmetic of the recurrences (1 per output element; ``addcmul`` 2), which is most of the
work of the scan cells' state updates. Both are divided by the batch's sequences. The fused
CPU kernels of ``nn.LSTM``/``nn.GRU`` are counted through their decomposed form (oneDNN off
while counting). ``model.flop_budget`` sizes a backbone to equal total FLOPs.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten

# Element-wise ops counted at one operation per output element (two for a fused
# multiply-add); copies, views, reductions and comparisons are not arithmetic here.
ONE = ("add", "sub", "mul", "div", "neg", "rsub", "tanh", "sigmoid", "exp", "log", "log1p",
       "sqrt", "rsqrt", "pow", "relu", "gelu", "softplus", "tanh_backward", "sigmoid_backward",
       "gelu_backward", "softplus_backward", "threshold_backward", "clamp", "where", "maximum",
       "minimum", "abs", "sin", "cos", "reciprocal")  # fmt: skip
TWO = ("addcmul", "addcdiv", "lerp")  # a multiply and an add per element


def _ops(names: tuple[str, ...]) -> list[Any]:
    """The ops and their in-place forms (``tanh_``, ``mul_``...) that this torch has."""
    return [getattr(aten, n) for name in names for n in (name, f"{name}_") if hasattr(aten, n)]


ELEMENTWISE_COST = {**dict.fromkeys(_ops(ONE), 1), **dict.fromkeys(_ops(TWO), 2)}


def _elementwise(cost: int):
    def count(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        if out_shape is None:
            return 0
        if (
            isinstance(out_shape, (list, tuple))
            and out_shape
            and isinstance(out_shape[0], (list, tuple, torch.Size))
        ):
            out_shape = out_shape[0]  # ops returning several tensors: the first
        return cost * math.prod(out_shape)

    return count


def flop_counter() -> FlopCounterMode:
    """torch's counter with the element-wise ops of ``ELEMENTWISE_COST`` added."""
    mapping = {op: _elementwise(cost) for op, cost in ELEMENTWISE_COST.items()}
    return FlopCounterMode(display=False, custom_mapping=mapping)


def _batch_size(batch: Any) -> int:
    return int(batch[1].shape[0])


def training_flops(model: nn.Module, batch: Any) -> dict[str, int]:
    """FLOPs per sequence of one training step of ``model`` (``model.step(batch)`` and the
    backward of its loss), split into matrix products and element-wise arithmetic.

    Nothing of the model or the random number generators changes: no gradient is stored,
    and the generators' state is restored (dropout draws numbers).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    counter = flop_counter()
    was_training = model.training
    model.train()
    try:
        with warnings.catch_warnings():  # switching oneDNN off notes an Intel-GPU setting
            warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
            with (
                torch.random.fork_rng(devices=[]),
                torch.backends.mkldnn.flags(enabled=False),
                counter,
            ):
                loss = model.step(batch)[0]
                torch.autograd.grad(loss, params, allow_unused=True)
    finally:
        model.train(was_training)
    counts = counter.get_flop_counts()["Global"]
    elementwise = sum(v for op, v in counts.items() if op in ELEMENTWISE_COST)
    n = _batch_size(batch)
    total = counter.get_total_flops()
    return {"matmul": (total - elementwise) // n, "elementwise": elementwise // n,
            "total": total // n}  # fmt: skip
