"""``ratio_scratch_vs_rnn``: forward + backward of the from-scratch cell against ``nn.RNN``."""

from __future__ import annotations

import time

import torch
from common import median
from torch import nn

SHAPES = ((32, 20, 64), (128, 100, 64))  # (hidden, seq_len, batch)


def _step_time(net: nn.Module, x: torch.Tensor, iters: int) -> float:
    """Seconds per forward + backward of ``net`` on ``x`` (last step, as the head reads it)."""
    start = time.perf_counter()
    for _ in range(iters):
        out = net(x)
        out = out[0] if isinstance(out, tuple) else out
        out[:, -1].sum().backward()
    return (time.perf_counter() - start) / iters


def measure_scratch(
    shapes: tuple[tuple[int, int, int], ...] = SHAPES,
    repeats: int = 7,
    budget_s: float = 0.2,
    device: str = "cpu",
) -> dict:
    """Per shape: median seconds per batch of both, interleaved, and their ratio."""
    from rnnlab.models.backbones import ElmanRNN

    results = {}
    for hidden, seq_len, batch in shapes:
        torch.manual_seed(0)
        ref = nn.RNN(1, hidden, batch_first=True).to(device)
        mine = ElmanRNN(1, hidden).load_from_torch(ref).to(device)
        x = torch.randn(batch, seq_len, 1, device=device)
        # Size each timing block to about budget_s so small shapes are not all overhead.
        _step_time(ref, x, 3)
        _step_time(mine, x, 3)
        iters = max(3, int(budget_s / max(_step_time(ref, x, 5), 1e-6)))
        t_mine, t_ref = [], []
        for i in range(repeats):
            pair = [(mine, t_mine), (ref, t_ref)]
            for net, out in pair if i % 2 == 0 else pair[::-1]:
                if device != "cpu":
                    torch.cuda.synchronize()
                out.append(_step_time(net, x, iters))
                if device != "cpu":
                    torch.cuda.synchronize()
        key = f"h{hidden}_L{seq_len}_B{batch}"
        results[key] = {
            "ratio": median(t_mine) / median(t_ref),
            "scratch_ms": 1e3 * median(t_mine),
            "nn_rnn_ms": 1e3 * median(t_ref),
        }
    return results


if __name__ == "__main__":
    import json

    torch.set_num_threads(1)
    print(json.dumps(measure_scratch(), indent=1))
