"""The residual blocks each scan-trained cell's paper trains it in (``block: residual``).

    MinimalBlock  u += cell(RMSNorm(u)); u += MLP(RMSNorm(u))   minGRU, minLSTM (Feng et al. 2024)
    LRUBlock      u += GLU(GELU(LRU(LayerNorm(u))))              LRU (Orvieto et al. 2023, Fig. 1)

A block maps ``(u [B, L, H], h0, mode)`` to ``(u' [B, L, H], last state)`` like a bare layer,
so ``ScanBackbone`` stacks either form. The residual path keeps the signal and its gradient
through deep stacks; the MLP/GLU adds the position-wise nonlinearity a linear recurrence lacks.
Everything around the recurrence reads one time step at a time (normalisation over features),
so padding never reaches a real step and the parallel and sequential forms stay one function.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BLOCKS", "GLU", "FeedForward", "LRUBlock", "MinimalBlock"]

BLOCKS = ("residual", "bare")


def _dropout(p: float) -> nn.Module:
    return nn.Dropout(p) if p > 0 else nn.Identity()


class FeedForward(nn.Sequential):
    """``Linear(H, m·H) -> GELU -> Linear(m·H, H)``, the position-wise MLP of a pre-norm block."""

    def __init__(self, size: int, expansion: float) -> None:
        inner = max(1, int(size * expansion))
        super().__init__(nn.Linear(size, inner), nn.GELU(), nn.Linear(inner, size))


class GLU(nn.Module):
    """``W_v y ⊙ σ(W_g y)``, both halves from one ``Linear(H, 2H)``: the LRU block's output map."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(size, 2 * size)

    def forward(self, y: Tensor) -> Tensor:
        value, gate = self.linear(y).chunk(2, dim=-1)  # [B, L, 2H] -> 2 × [B, L, H]
        return value * torch.sigmoid(gate)


class MinimalBlock(nn.Module):
    """Pre-norm residual block around a minGRU/minLSTM layer, as lucidrains/minGRU-pytorch's
    language model stacks them: RMSNorm -> cell -> residual, RMSNorm -> MLP -> residual.

    ``dropout`` acts on each branch before its residual sum (the reference has none: 0).
    """

    def __init__(self, cell: nn.Module, size: int, expansion: float, dropout: float) -> None:
        super().__init__()
        self.norm = nn.RMSNorm(size)
        self.cell = cell
        self.mlp_norm = nn.RMSNorm(size)
        self.mlp = FeedForward(size, expansion)
        self.dropout = _dropout(dropout)

    def forward(self, u: Tensor, h0: Tensor | None, mode: str) -> tuple[Tensor, Tensor]:
        h, last = self.cell(self.norm(u), h0, mode)
        u = u + self.dropout(h)
        return u + self.dropout(self.mlp(self.mlp_norm(u))), last


class LRUBlock(nn.Module):
    """Pre-norm residual block around an LRU (Orvieto et al. 2023, Fig. 1 and their
    appendix code; NicolasZucchet/minimal-LRU's ``SequenceLayer`` with ``prenorm``):
    LayerNorm -> LRU -> GELU -> dropout -> GLU -> dropout -> residual.
    """

    def __init__(self, cell: nn.Module, size: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(size)
        self.cell = cell
        self.glu = GLU(size)
        self.dropout = _dropout(dropout)

    def forward(self, u: Tensor, h0: Tensor | None, mode: str) -> tuple[Tensor, Tensor]:
        y, last = self.cell(self.norm(u), h0, mode)
        y = self.dropout(F.gelu(y))
        return u + self.dropout(self.glu(y)), last
