"""``model.highway=p``: a linear autoregressive term beside the recurrent path.

As in LSTNet (Lai et al. 2018), the forecast is the recurrent model's output plus a linear
map of the window's last ``p`` steps (as the data gives them, before any per-window
normalisation). The linear part alone is the least-squares AR baseline the reports compare
against: with ``model.highway_init=ar`` it starts as that fit (made on the training windows
before the first step) while the recurrent path starts at zero, so the network begins where
the linear model ends and only learns what is not linear.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

INITS = ("zero", "ar")


class ARHighway(nn.Module):
    """``x [B, L, F] -> [B, n_outputs]``: a linear map of the last ``order`` steps.

    Zero-initialised, so building it draws no random numbers (the other layers are
    initialised as without it); ``fit`` sets it to a least-squares fit. Windows shorter than
    ``order`` are padded with zeros in front. Its outputs are the locations of the forecast
    (one per step and target); the likelihood's other parameters are the network's.
    """

    def __init__(self, order: int, n_features: int, n_outputs: int) -> None:
        super().__init__()
        self.order = int(order)
        self.linear = nn.Linear(self.order * n_features, n_outputs)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        # Whether ``fit`` ran: saved with the weights, so a resumed run does not refit.
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def lags(self, x: Tensor) -> Tensor:
        """The last ``order`` steps of each window, flattened: ``[B, order·F]``."""
        window = x[:, -self.order :]  # [B, L, F] -> [B, p, F]
        if window.shape[1] < self.order:
            window = F.pad(window, (0, 0, self.order - window.shape[1], 0))
        return window.flatten(1)  # [B, p, F] -> [B, p·F]

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.lags(x))  # [B, p·F] -> [B, n_outputs]

    @torch.no_grad()
    def fit(self, x: Tensor, targets: Tensor) -> None:
        """Set the map to the least squares of ``targets [N, n_outputs]`` on the lags of
        ``x [N, L, F]`` with an intercept."""
        lags = self.lags(x).double()
        design = torch.cat([lags, torch.ones(len(lags), 1, dtype=lags.dtype)], dim=1)
        # gelsd (SVD): the same digits in every process, and rank-deficient lags are fine
        coef = torch.linalg.lstsq(design, targets.double(), driver="gelsd").solution
        self.linear.weight.copy_(coef[:-1].T)  # [p·F + 1, outputs] -> [outputs, p·F]
        self.linear.bias.copy_(coef[-1])
        self.fitted.fill_(True)
