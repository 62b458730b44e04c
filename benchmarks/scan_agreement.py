"""How closely the scan cells' parallel and sequential forms agree, in float64.

    python benchmarks/scan_agreement.py            # T = 129 and 1000, a few seconds

For minGRU and minLSTM in each parallel form (chunked, log) and the LRU: the largest absolute
difference between the two modes in the outputs and final states, and in the gradients of a
loss reading both (with respect to the input, every parameter and a given initial state);
two layers, both directions, batch 4. ``tests/test_cells.py`` asserts 1e-10 on shorter
sequences; this prints the margins, and where the log-space form's gradients exceed it.
"""

from __future__ import annotations

import torch

from rnnlab.models.lru import LRU
from rnnlab.models.mingru import MinGRU
from rnnlab.models.minlstm import MinLSTM

CELLS = {
    "minGRU, chunked": lambda: MinGRU(2, 8, num_layers=2, bidirectional=True, scan="chunked"),
    "minGRU, log": lambda: MinGRU(2, 8, num_layers=2, bidirectional=True, scan="log"),
    "minLSTM, chunked": lambda: MinLSTM(2, 8, num_layers=2, bidirectional=True, scan="chunked"),
    "minLSTM, log": lambda: MinLSTM(2, 8, num_layers=2, bidirectional=True, scan="log"),
    "LRU, chunked": lambda: LRU(2, 8, num_layers=2, bidirectional=True),
}


def agreement(make, length: int, batch: int = 4) -> tuple[float, float, float]:
    """(max |Δ| of outputs and states, max |Δ| of gradients, that over max |gradient|)."""
    torch.manual_seed(0)
    net = make().double()
    x = torch.randn(batch, length, 2, dtype=torch.float64, requires_grad=True)
    size = getattr(net, "state_size", net.hidden_size)
    h0 = torch.randn(net.num_layers * net.directions, batch, size, dtype=torch.float64)
    if isinstance(net, LRU):
        h0 = torch.complex(h0, torch.randn_like(h0))
    h0.requires_grad_()
    runs = []
    for mode in ("parallel", "sequential"):
        net.mode = mode
        out, h_n = net.forward_with_state(x, h0)
        loss = out.sin().sum() + h_n.abs().pow(2).sum()
        runs.append([out, h_n, *torch.autograd.grad(loss, [x, *net.parameters(), h0])])
    diffs = [(a - b).abs().max().item() for a, b in zip(*runs, strict=True)]
    scale = max(t.abs().max().item() for t in runs[1][2:])
    return max(diffs[:2]), max(diffs[2:]), max(diffs[2:]) / scale


def main() -> None:
    print("| cell and parallel form | T | outputs and states | gradients | gradients, relative |")
    print("| --- | --: | --: | --: | --: |")
    for name, make in CELLS.items():
        for length in (129, 1000):
            values, grads, relative = agreement(make, length)
            print(f"| {name} | {length} | {values:.1e} | {grads:.1e} | {relative:.0e} |")


if __name__ == "__main__":
    main()
