"""Export forms of the backbones: the same functions, written with plain tensor operations.

Training runs some recurrences through hand-written autograd functions (the scratch Elman
cell, the scans of minGRU, minLSTM and the LRU) and the LRU in complex numbers. Neither
TorchScript nor ONNX takes those, so ``exportable(backbone)`` returns a copy whose
recurrences are step loops of ordinary operations on the same weights, the LRU in real
arithmetic (real and imaginary parts carried apart)::

    x_t = λ ⊙ x_{t−1} + γ ⊙ B u_t,  λ = r (cos θ + i sin θ)
    Re x_t = r cos θ ⊙ Re x_{t−1} − r sin θ ⊙ Im x_{t−1} + γ ⊙ B_re u_t
    Im x_t = r cos θ ⊙ Im x_{t−1} + r sin θ ⊙ Re x_{t−1} + γ ⊙ B_im u_t
    y_t = C_re Re x_t − C_im Im x_t + D ⊙ u_t

The loops run over the window length the model was trained on, so an exported graph takes
windows of that length (and any batch size). ``torch``'s own ``nn.RNN``, ``nn.LSTM`` and
``nn.GRU`` export as they are; when the head reads the last step alone (``last_only``), a
forward-only one hands on its final state instead of its whole output sequence, which spares
the graph the reshaping of that sequence (about a third of its nodes for an LSTM-32).
``tests/test_export.py`` checks every form against its source.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from rnnlab.models.backbones import ElmanRNN, TorchRecurrent
from rnnlab.models.lru import LRULayer
from rnnlab.models.mingru import MinimalLayer
from rnnlab.models.scan import ScanBackbone


def step_loop(a: Tensor, b: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``h_t = a_t ⊙ h_{t−1} + b_t`` one step at a time: ``(every state [B, L, H], the
    last)``; ``a`` may broadcast (``[1, 1, H]``)."""
    h = torch.zeros_like(b[:, 0]) if h0 is None else h0
    states = []
    for t in range(b.shape[1]):
        h = a[:, min(t, a.shape[1] - 1)] * h + b[:, t]
        states.append(h)
    return torch.stack(states, dim=1), h  # L × [B, H] -> [B, L, H]


class MinimalLoop(nn.Module):
    """A minGRU/minLSTM layer as a step loop over its coefficients (any ``mode``)."""

    def __init__(self, layer: MinimalLayer) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, u: Tensor, h0: Tensor | None, mode: str) -> tuple[Tensor, Tensor]:
        return step_loop(*self.layer.coefficients(u), h0)


class RealLRU(nn.Module):
    """An LRU layer in real arithmetic (module docstring); its last state is returned as
    ``[B, 2N]`` (real parts, then imaginary parts)."""

    def __init__(self, layer: LRULayer) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, u: Tensor, h0: Tensor | None, mode: str) -> tuple[Tensor, Tensor]:
        lru = self.layer
        radius = torch.exp(-torch.exp(lru.nu_log))  # |λ|, [N]
        phase = torch.exp(lru.theta_log)
        lam_re, lam_im = radius * torch.cos(phase), radius * torch.sin(phase)
        gamma = torch.exp(lru.gamma_log)
        bu_re = (u @ lru.B_re.T) * gamma  # [B, L, H] -> [B, L, N]
        bu_im = (u @ lru.B_im.T) * gamma
        if h0 is None:
            x_re, x_im = torch.zeros_like(bu_re[:, 0]), torch.zeros_like(bu_im[:, 0])
        else:
            x_re, x_im = h0.real, h0.imag
        re_states, im_states = [], []
        for t in range(u.shape[1]):
            x_re, x_im = (
                lam_re * x_re - lam_im * x_im + bu_re[:, t],
                lam_re * x_im + lam_im * x_re + bu_im[:, t],
            )
            re_states.append(x_re)
            im_states.append(x_im)
        re, im = torch.stack(re_states, dim=1), torch.stack(im_states, dim=1)  # [B, L, N]
        y = re @ lru.C_re.T - im @ lru.C_im.T + lru.D * u  # [B, L, N] -> [B, L, H]
        return y, torch.cat([x_re, x_im], dim=-1)


class ElmanLoop(nn.Module):
    """The scratch Elman network (``ElmanRNN``) as a step loop of plain operations on its
    weights; forward windows only (no ``lengths``)."""

    def __init__(self, rnn: ElmanRNN) -> None:
        super().__init__()
        self.rnn = rnn
        self.output_size = rnn.output_size

    def forward(self, x: Tensor) -> Tensor:
        rnn = self.rnn
        out = x
        for layer in range(rnn.num_layers):
            per_direction = []
            for d in range(rnn.directions):
                k = layer * rnn.directions + d
                seq = out if d == 0 else out.flip(1)
                xw = seq @ rnn.W_xh[k] + rnn.b_h[k]  # [B, L, F] -> [B, L, H]
                h = torch.tanh(xw[:, 0])
                states = [h]
                for t in range(1, xw.shape[1]):
                    h = torch.tanh(xw[:, t] + h @ rnn.W_hh[k])
                    states.append(h)
                h_all = torch.stack(states, dim=1)  # [B, L, H]
                per_direction.append(h_all if d == 0 else h_all.flip(1))
            out = torch.cat(per_direction, dim=-1) if rnn.directions > 1 else per_direction[0]
        return out


class LastState(nn.Module):
    """A forward-only ``TorchRecurrent`` that returns its last layer's final state as a
    sequence of one step, ``[B, 1, H]``: the same as its output at the last step."""

    def __init__(self, recurrent: TorchRecurrent) -> None:
        super().__init__()
        self.rnn = recurrent.rnn
        self.output_size = recurrent.output_size

    def forward(self, x: Tensor) -> Tensor:
        _, state = self.rnn(x)
        h = state[0] if isinstance(state, tuple) else state  # an LSTM's (h, c)
        return h[-1].unsqueeze(1)  # [layers, B, H] -> [B, 1, H]


def _loop_of(cell: nn.Module) -> nn.Module:
    if isinstance(cell, LRULayer):
        return RealLRU(cell)
    if isinstance(cell, MinimalLayer):
        return MinimalLoop(cell)
    return cell


def exportable(backbone: nn.Module, last_only: bool = False) -> nn.Module:
    """A copy of ``backbone`` in its export form (module docstring); a backbone that needs
    none (``nn.LSTM`` and the other torch modules, a user's own) comes back as a copy.
    ``last_only``: what reads the outputs reads their last step alone."""
    if isinstance(backbone, ElmanRNN):
        return ElmanLoop(copy.deepcopy(backbone))
    backbone = copy.deepcopy(backbone)
    if last_only and isinstance(backbone, TorchRecurrent) and not backbone.rnn.bidirectional:
        return LastState(backbone)
    if isinstance(backbone, ScanBackbone):
        backbone.mode = "sequential"  # no choice by batch size inside the graph
        for stack in backbone.stacks:
            for i, layer in enumerate(stack):
                if hasattr(layer, "cell"):  # a residual block
                    layer.cell = _loop_of(layer.cell)
                else:
                    stack[i] = _loop_of(layer)
    return backbone
