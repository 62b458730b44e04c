"""``model.highway=p``: a linear autoregressive term beside the recurrent path.

As in LSTNet (Lai et al. 2018), the forecast is the recurrent model's output plus a linear
map of the window's last ``p`` steps. The linear part alone is the least-squares AR baseline
the reports compare against, so a model with a highway can fall back on it where the
recurrent path overfits, and the recurrent path only has to learn what is not linear.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F


class ARHighway(nn.Module):
    """``x [B, L, F] -> [B, n_outputs]``: a linear map of the last ``order`` steps.

    Zero-initialised, so training starts from the recurrent model alone and building it
    draws no random numbers (the other layers are initialised as without it). Windows
    shorter than ``order`` are padded with zeros in front.
    """

    def __init__(self, order: int, n_features: int, n_outputs: int) -> None:
        super().__init__()
        self.order = int(order)
        self.linear = nn.Linear(self.order * n_features, n_outputs)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: Tensor) -> Tensor:
        window = x[:, -self.order :]  # [B, L, F] -> [B, p, F]
        if window.shape[1] < self.order:
            window = F.pad(window, (0, 0, self.order - window.shape[1], 0))
        return self.linear(window.flatten(1))  # [B, p, F] -> [B, p·F] -> [B, n_outputs]
