"""minLSTM (Feng et al. 2024): an LSTM whose gates read the input only, normalised to sum to one.

    f_t = σ(Linear_f(x_t)),  i_t = σ(Linear_i(x_t)),  h̃_t = g(Linear_h(x_t))
    f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)
    h_t = f'_t ⊙ h_{t−1} + i'_t ⊙ h̃_t

The normalisation makes the state a weighted mean of candidates, independent of the
time scale, and (with ``g`` as in minGRU) positive. Trained like minGRU (``rnnlab.models.scan``)
and, like it, by default in the paper's residual block (RMSNorm, cell, MLP; ``block: bare`` for
the cells alone). ``python train.py backbone=minlstm``
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab.models.mingru import MinGRU, MinimalLayer, g, log_g, softplus

__all__ = ["MinLSTM"]


class MinLSTMLayer(MinimalLayer):
    """One minLSTM layer: ``Linear(input_size, 3·hidden_size)`` gives ``f``, ``i`` and ``h̃``."""

    def __init__(self, input_size: int, hidden_size: int, **scan_args) -> None:
        super().__init__(**scan_args)
        self.linear = nn.Linear(input_size, 3 * hidden_size)

    def coefficients(self, u: Tensor) -> tuple[Tensor, Tensor]:
        kf, ki, v = self.linear(u).chunk(3, dim=-1)  # [B, L, F] -> 3 × [B, L, H]
        f, i = torch.sigmoid(kf), torch.sigmoid(ki)
        total = f + i
        return f / total, (i / total) * g(v)

    def log_coefficients(self, u: Tensor) -> tuple[Tensor, Tensor]:
        kf, ki, v = self.linear(u).chunk(3, dim=-1)
        # log σ(k) = −softplus(−k), so diff = log i − log f; then
        # log f' = log f − log(f + i) = −softplus(diff) and log i' = −softplus(−diff).
        diff = softplus(-kf) - softplus(-ki)
        return -softplus(diff), -softplus(-diff) + log_g(v)


class MinLSTM(MinGRU):
    """Stacked minLSTM layers, each in its residual block or bare; arguments as for ``MinGRU``."""

    layer_class = MinLSTMLayer
