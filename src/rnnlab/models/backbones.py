"""Recurrent backbones behind one contract.

Every backbone maps ``x [B, L, input_size]`` to the hidden sequence
``[B, L, output_size]`` (``output_size = hidden_size × directions``) and exposes
``output_size``. A new backbone is one class here (or anywhere importable) and one YAML
file in ``conf/backbone/``; nothing else needs to change.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "ElmanRNN",
    "ElmanRecurrence",
    "TorchRecurrent",
    "time_reverser",
]


class ElmanRNN(nn.Module):
    """A from-scratch Elman network: ``h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)``.

    The parameters are held explicitly per layer and direction. The input projection of
    all time steps is one matmul; only the recurrence runs step by step. Weights are drawn
    like ``nn.RNN``'s (uniform in ±1/sqrt(hidden_size); ``b_h`` plays the role of
    ``bias_ih + bias_hh``), not from a std-1 normal that makes a 32-unit recurrence
    explode. ``load_from_torch`` copies an ``nn.RNN``'s weights so both give the same
    outputs.
    """

    def __init__(
        self,
        input_size: int = 1,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.directions = 2 if bidirectional else 1
        self.output_size = hidden_size * self.directions
        self.dropout = nn.Dropout(dropout) if dropout > 0 and num_layers > 1 else nn.Identity()
        self.W_xh = nn.ParameterList()
        self.W_hh = nn.ParameterList()
        self.b_h = nn.ParameterList()
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else self.output_size
            for _ in range(self.directions):
                self.W_xh.append(nn.Parameter(torch.empty(in_size, hidden_size)))
                self.W_hh.append(nn.Parameter(torch.empty(hidden_size, hidden_size)))
                self.b_h.append(nn.Parameter(torch.empty(hidden_size)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for w_xh, w_hh, b_h in zip(self.W_xh, self.W_hh, self.b_h, strict=True):
            nn.init.uniform_(w_xh, -bound, bound)
            nn.init.uniform_(w_hh, -bound, bound)
            with torch.no_grad():
                b_h.copy_(torch.empty_like(b_h).uniform_(-bound, bound))
                b_h.add_(torch.empty_like(b_h).uniform_(-bound, bound))

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``[B, L, F] -> [B, L, H × directions]``. With ``lengths`` (right-padded sequences)
        the backward direction starts at each sequence's own last step, so its outputs at the
        real steps equal those of the unpadded sequence."""
        out = x.transpose(0, 1)  # time-major [L, B, F]: every step reads a contiguous slice
        padded = lengths if self.directions == 2 else None
        reverse = time_reverser(padded, x.shape[1], time_dim=0, device=x.device)
        for layer in range(self.num_layers):
            if layer > 0:
                out = self.dropout(out)
            per_direction = []
            for d in range(self.directions):
                k = layer * self.directions + d
                seq = out if d == 0 else reverse(out)
                # One matmul projects the inputs of every step; only h @ W_hh stays in the loop.
                xw = torch.addmm(self.b_h[k], seq.reshape(-1, seq.shape[-1]), self.W_xh[k])
                h = ElmanRecurrence.apply(xw.view(seq.shape[0], seq.shape[1], -1), self.W_hh[k])
                per_direction.append(h if d == 0 else reverse(h))
            out = torch.cat(per_direction, dim=-1) if self.directions > 1 else per_direction[0]
        return out.transpose(0, 1)  # [B, L, H × directions]

    @torch.no_grad()
    def load_from_torch(self, rnn: nn.RNN) -> ElmanRNN:
        """Copy the weights of an ``nn.RNN`` (tanh, bias, batch_first) of the same shape."""
        for layer in range(self.num_layers):
            for d in range(self.directions):
                k, sfx = layer * self.directions + d, f"_l{layer}" + ("_reverse" if d else "")
                self.W_xh[k].copy_(getattr(rnn, f"weight_ih{sfx}").T)
                self.W_hh[k].copy_(getattr(rnn, f"weight_hh{sfx}").T)
                self.b_h[k].copy_(getattr(rnn, f"bias_ih{sfx}") + getattr(rnn, f"bias_hh{sfx}"))
        return self


class TorchRecurrent(nn.Module):
    """Wraps one of torch's recurrent modules (``nn.RNN``, ``nn.LSTM``, ``nn.GRU``)."""

    module_class: type[nn.RNNBase] = nn.RNN

    def __init__(
        self,
        input_size: int = 1,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        self.rnn = self.module_class(
            input_size,
            hidden_size,
            num_layers=num_layers,
            # torch warns (and does nothing) when dropout is set on a single layer.
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
            batch_first=True,
        )
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``[B, L, F] -> [B, L, H × directions]``. With ``lengths`` (right-padded sequences)
        a bidirectional module reads packed sequences, so its backward direction starts at
        each sequence's own last step (a forward-only one needs nothing: padding comes last)."""
        if lengths is not None and self.rnn.bidirectional:
            packed = nn.utils.rnn.pack_padded_sequence(
                x, lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            out, _ = self.rnn(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(
                out, batch_first=True, total_length=x.shape[1]
            )
            return out
        out, _ = self.rnn(x)  # [B, L, F] -> [B, L, H × directions]
        return out


class RNN(TorchRecurrent):
    """``nn.RNN`` (Elman, tanh), cuDNN-backed on a GPU."""

    module_class = nn.RNN


class LSTM(TorchRecurrent):
    """``nn.LSTM``: gated cell state for longer memory.

    ``forget_bias`` (None: torch's initialisation) sets the forget gate's bias, e.g. 1.0 as
    recommended by Gers et al. (2000) and Jozefowicz et al. (2015): the cell then starts out
    keeping most of its state, which long delays (the adding problem) need.
    """

    module_class = nn.LSTM

    def __init__(self, *args: Any, forget_bias: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if forget_bias is None:
            return
        h = self.hidden_size
        with torch.no_grad():  # gate order in torch's LSTM weights: input, forget, cell, output
            for name, param in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    param[h : 2 * h].fill_(forget_bias)
                elif name.startswith("bias_hh"):
                    param[h : 2 * h].zero_()


class GRU(TorchRecurrent):
    """``nn.GRU``: the LSTM's gating with fewer parameters."""

    module_class = nn.GRU


def reversed_order(lengths: Tensor, steps: int) -> Tensor:
    """Time indices ``[steps, B]`` that reverse each sequence's first ``lengths[b]`` steps
    and leave its padding in place (applying them twice restores the order)."""
    t = torch.arange(steps, device=lengths.device)[:, None]  # [L, 1]
    return torch.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)  # [L, B]


def time_reverser(
    lengths: Tensor | None, steps: int, time_dim: int = 1, device: torch.device | None = None
) -> Callable[[Tensor], Tensor]:
    """A function reversing time (dimension ``time_dim``: 1 for ``[B, L, ·]``, 0 for
    ``[L, B, ·]``): every step, or with ``lengths`` (right-padded sequences) each sequence's
    real steps only, its padding left in place. It is its own inverse."""
    if lengths is None:
        return lambda t: t.flip(time_dim)
    order = reversed_order(lengths.to(device), steps)  # [L, B]
    if time_dim == 1:
        order = order.T  # [B, L]
    return lambda t: t.gather(time_dim, order.unsqueeze(-1).expand_as(t))


class ElmanRecurrence(torch.autograd.Function):
    """``h_t = tanh(xw_t + h_{t-1} W_hh)`` over time-major ``xw [L, B, H]`` (``h_{-1} = 0``).

    Autograd would record two nodes per step and replay them one by one; here the forward
    runs without recording, writing each step into one preallocated buffer, and the backward
    is the BPTT recursion written out: ``dz_t = (g_t + dz_{t+1} W_hhᵀ) ⊙ (1 - h_t²)``, then
    ``∂W_hh = Σ_t h_{t-1}ᵀ dz_t`` as a single matmul and ``∂xw = dz``. Two kernels per step
    each way, no allocation inside the loops; works on any device.
    """

    @staticmethod
    def forward(ctx, xw: Tensor, w_hh: Tensor) -> Tensor:
        h = torch.empty_like(xw)
        torch.tanh(xw[0], out=h[0])
        for t in range(1, xw.shape[0]):
            torch.addmm(xw[t], h[t - 1], w_hh, out=h[t])
            h[t].tanh_()
        ctx.save_for_backward(h, w_hh)
        return h

    @staticmethod
    def backward(ctx, grad_h: Tensor) -> tuple[Tensor, Tensor]:
        h, w_hh = ctx.saved_tensors
        slope = 1.0 - h * h  # tanh'(z_t) for every step at once
        dz = torch.empty_like(h)
        w_hh_t = w_hh.t()
        last = h.shape[0] - 1
        torch.mul(grad_h[last], slope[last], out=dz[last])
        for t in range(last - 1, -1, -1):
            torch.addmm(grad_h[t], dz[t + 1], w_hh_t, out=dz[t])
            dz[t].mul_(slope[t])
        grad_w = h[:-1].reshape(-1, h.shape[-1]).t() @ dz[1:].reshape(-1, h.shape[-1])
        return dz, grad_w
