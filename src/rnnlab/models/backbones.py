"""Recurrent backbones behind one contract.

Every backbone maps ``x [B, L, input_size]`` to the hidden sequence
``[B, L, output_size]`` (``output_size = hidden_size × directions``) and exposes
``output_size``. A new backbone is one class here (or anywhere importable) and one YAML
file in ``conf/backbone/``; nothing else needs to change.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["GRU", "LSTM", "RNN", "ElmanRNN", "TorchRecurrent"]


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

    @staticmethod
    def _recur(xw: Tensor, w_hh: Tensor) -> Tensor:
        """Run the recurrence over a pre-projected input ``xw [B, L, H]``."""
        h = torch.tanh(xw[:, 0])  # h_0 = 0, so the first step needs no h @ W_hh
        steps = [h]
        for t in range(1, xw.shape[1]):
            h = torch.tanh(torch.addmm(xw[:, t], h, w_hh))
            steps.append(h)
        return torch.stack(steps, dim=1)  # L × [B, H] -> [B, L, H]

    def forward(self, x: Tensor) -> Tensor:
        out = x
        for layer in range(self.num_layers):
            if layer > 0:
                out = self.dropout(out)
            per_direction = []
            for d in range(self.directions):
                k = layer * self.directions + d
                seq = out if d == 0 else out.flip(1)
                xw = torch.addmm(self.b_h[k], seq.flatten(0, 1), self.W_xh[k])  # [B*L, H]
                h = self._recur(xw.view(seq.shape[0], seq.shape[1], -1), self.W_hh[k])
                per_direction.append(h if d == 0 else h.flip(1))
            out = torch.cat(per_direction, dim=-1) if self.directions > 1 else per_direction[0]
        return out  # [B, L, H × directions]

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

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)  # [B, L, F] -> [B, L, H × directions]
        return out


class RNN(TorchRecurrent):
    """``nn.RNN`` (Elman, tanh), cuDNN-backed on a GPU."""

    module_class = nn.RNN


class LSTM(TorchRecurrent):
    """``nn.LSTM``: gated cell state for longer memory."""

    module_class = nn.LSTM


class GRU(TorchRecurrent):
    """``nn.GRU``: the LSTM's gating with fewer parameters."""

    module_class = nn.GRU
