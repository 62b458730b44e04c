"""The Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks for
Long Sequences"): a complex diagonal linear recurrence inside a nonlinear residual block.

    x_t = λ ⊙ x_{t−1} + γ ⊙ (B u_t),   y_t = Re(C x_t) + D ⊙ u_t

λ = exp(−exp(ν_log) + i·exp(θ_log)) (|λ| < 1 always) is drawn on the ring ``r_min ≤ |λ| ≤
r_max``; γ = sqrt(1 − |λ|²) keeps the state's scale. The LRU is linear, so the paper puts the
nonlinearity around it: a linear encoder, then per layer LayerNorm, LRU, GELU, GLU and a skip
connection (``block: residual``, ``rnnlab.models.blocks``). ``block: bare`` encodes by
``GELU(Linear)`` and puts GELU between layers instead (without a nonlinearity a one-layer LRU
could not form products such as the adding task's marker × value).
``python train.py backbone=lru [model.backbone.block=bare]``
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.models.blocks import LRUBlock
from rnnlab.models.scan import ScanBackbone, scan_chunked, scan_sequential

__all__ = ["LRU", "LRULayer"]


def _uniform_open_zero(n: int) -> Tensor:
    """U(0, 1] samples: the ring formula takes a logarithm of them."""
    return 1.0 - torch.rand(n)


class LRULayer(nn.Module):
    """One LRU: ``u [B, L, H] -> y [B, L, H]`` through a complex state ``x [B, L, N]``.

    Args:
        size: H, the width of ``u`` and ``y``.
        state_size: N, complex state units.
        r_min, r_max: the ring |λ| is drawn on (``0 ≤ r_min ≤ r_max < 1``).
        max_phase: largest initial phase of λ (radians).
        chunk: chunk length of the parallel scan; ``None`` is about ``sqrt(L)``.
    """

    def __init__(
        self,
        size: int,
        state_size: int,
        r_min: float = 0.9,
        r_max: float = 0.999,
        max_phase: float = math.pi / 10,
        chunk: int | None = None,
    ) -> None:
        super().__init__()
        self.chunk = chunk
        # |λ|² uniform on [r_min², r_max²] is |λ| uniform over the ring's area.
        radius_sq = _uniform_open_zero(state_size) * (r_max**2 - r_min**2) + r_min**2
        nu = -0.5 * torch.log(radius_sq)  # |λ| = exp(−ν)
        self.nu_log = nn.Parameter(torch.log(nu))
        self.theta_log = nn.Parameter(torch.log(max_phase * _uniform_open_zero(state_size)))
        self.gamma_log = nn.Parameter(0.5 * torch.log1p(-radius_sq))  # log sqrt(1 − |λ|²)
        self.B_re = nn.Parameter(torch.randn(state_size, size) / math.sqrt(2 * size))
        self.B_im = nn.Parameter(torch.randn(state_size, size) / math.sqrt(2 * size))
        self.C_re = nn.Parameter(torch.randn(size, state_size) / math.sqrt(state_size))
        self.C_im = nn.Parameter(torch.randn(size, state_size) / math.sqrt(state_size))
        self.D = nn.Parameter(torch.randn(size))

    def log_lambda(self) -> Tensor:
        """``log λ = −exp(ν_log) + i·exp(θ_log)``, ``[N]`` complex."""
        return torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log))

    def forward(self, u: Tensor, h0: Tensor | None, mode: str) -> tuple[Tensor, Tensor]:
        batch, length, _ = u.shape
        n = self.nu_log.shape[0]
        # B u as one real matmul: rows interleave (Re, Im) so the result views as complex.
        w_in = torch.stack([self.B_re, self.B_im], dim=1).reshape(2 * n, -1)  # [2N, H]
        bu = torch.view_as_complex((u @ w_in.T).view(batch, length, n, 2))  # [B, L, N] complex
        bu = bu * torch.exp(self.gamma_log)
        lam = torch.exp(self.log_lambda()).view(1, 1, n)  # time-invariant coefficient
        if mode == "parallel":
            x = scan_chunked(lam, bu, h0, self.chunk)
        else:
            x = scan_sequential(lam, bu, h0)
        # Re(C x) = C_re x_re − C_im x_im, as one matmul on x viewed as interleaved reals.
        w_out = torch.stack([self.C_re, -self.C_im], dim=-1).reshape(-1, 2 * n)  # [H, 2N]
        y = torch.view_as_real(x).reshape(batch, length, 2 * n) @ w_out.T + self.D * u
        return y, x[:, -1]


class LRU(ScanBackbone):
    """Stacked LRU layers after a linear input encoder, each in its residual block or bare.

    Args:
        input_size, hidden_size, num_layers, dropout, bidirectional: as for the other
            backbones (``hidden_size`` is H, the width between layers; ``bidirectional``
            runs a second stack backwards, see ``ScanBackbone``). ``dropout`` acts inside
            every block (after the GELU and after the GLU) or, bare, between layers.
        mode: ``auto`` | ``parallel`` | ``sequential`` (see ``rnnlab.models.scan``).
        state_size: N, complex state units per layer; ``null`` is ``hidden_size``.
        r_min, r_max, max_phase: λ's initial ring and phase (see the module docstring).
        chunk: chunk length of the parallel scan; ``null`` is about ``sqrt(L)``.
        block: ``residual`` (the config's default): ``Linear`` encoder, then per layer
            ``u += GLU(GELU(LRU(LayerNorm(u))))`` (the paper's Fig. 1); ``bare``:
            ``GELU(Linear)`` encoder, the LRUs stacked with GELU and dropout between them (the
            class's default, so that a checkpoint written before blocks existed loads as it was).
    """

    def __init__(
        self,
        input_size: int = 1,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
        mode: str = "auto",
        state_size: int | None = None,
        r_min: float = 0.9,
        r_max: float = 0.999,
        max_phase: float = math.pi / 10,
        chunk: int | None = None,
        block: str = "bare",
    ) -> None:
        if r_min > r_max:
            raise ValueError(
                f"model.backbone.r_min={r_min} with model.backbone.r_max={r_max} is invalid: "
                "the ring needs r_min <= r_max"
            )
        super().__init__(input_size, hidden_size, num_layers, dropout, bidirectional, mode, block)
        self.state_size = state_size or hidden_size
        self.ring = {"r_min": r_min, "r_max": r_max, "max_phase": max_phase, "chunk": chunk}
        self.build_stacks()

    def state_numbers(self) -> int:
        return 2 * self.state_size  # complex

    def encodes_input(self) -> bool:
        return True  # both forms: the paper's linear encoder (bare: followed by GELU)

    def make_cell(self, index: int) -> nn.Module:
        return LRULayer(self.hidden_size, self.state_size, **self.ring)

    def make_block(self, cell: nn.Module) -> nn.Module:
        return LRUBlock(cell, self.hidden_size, self.block_dropout)

    def encode(self, x: Tensor, direction: int) -> Tensor:
        u = self.encoders[direction](x)  # [B, L, F] -> [B, L, H]
        return F.gelu(u) if self.block == "bare" else u

    def between(self, u: Tensor) -> Tensor:
        return self.dropout(F.gelu(u)) if self.block == "bare" else u
