"""Heads: map the backbone's hidden sequence ``[B, L, H]`` to one output per window ``[B, out]``.

- ``last``: a linear layer on the last hidden state (the walk-through's head).
- ``attention``: a linear layer on a weighted mean of *all* hidden states; the weights are
  a softmax over time of a learned score per state (additive attention with one query).

``model.head=attention`` picks the second; ``HEADS`` is the registry.

A forecaster with ``model.decoder=seq2seq`` puts a ``Seq2SeqDecoder`` after the head: the
head then summarises the window into the decoder's first state, and a small GRU unrolls one
step per forecast step, reading the step's position and its known-future features.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["HEADS", "AttentionHead", "LastStepHead", "Seq2SeqDecoder", "attention_weights"]


class LastStepHead(nn.Linear):
    """``y = W h_L + b``. A ``Linear`` subclass, so its parameters are plainly
    ``head.weight``/``head.bias``."""

    def __init__(self, hidden_size: int, out_features: int = 1) -> None:
        super().__init__(hidden_size, out_features)

    def forward(self, hidden: Tensor) -> Tensor:
        return super().forward(hidden[:, -1])  # [B, L, H] -> [B, H] -> [B, out]


class AttentionHead(nn.Module):
    """``y = W Σ_t a_t h_t + b`` with ``a = softmax_t(v · tanh(U h_t + c))``.

    ``weights(hidden)`` returns the attention weights ``[B, L]`` for plots.
    """

    def __init__(
        self, hidden_size: int, out_features: int = 1, attention_size: int | None = None
    ) -> None:
        super().__init__()
        attention_size = attention_size or hidden_size
        self.score = nn.Sequential(
            nn.Linear(hidden_size, attention_size), nn.Tanh(), nn.Linear(attention_size, 1)
        )
        self.out = nn.Linear(hidden_size, out_features)

    def weights(self, hidden: Tensor) -> Tensor:
        """Attention weights over the time steps, ``[B, L]``, each row summing to one."""
        return torch.softmax(self.score(hidden)[..., 0], dim=1)  # [B, L, H] -> [B, L]

    def forward(self, hidden: Tensor) -> Tensor:
        pooled = torch.einsum("bl,blh->bh", self.weights(hidden), hidden)  # [B, H]
        return self.out(pooled)  # [B, H] -> [B, out]


HEADS: dict[str, type[nn.Module]] = {"last": LastStepHead, "attention": AttentionHead}


class Seq2SeqDecoder(nn.Module):
    """``H`` forecast steps from a summary of the window: a GRU over the steps whose input is
    the step's one-hot position and its known-future features, started from
    ``tanh(summary)``; a linear layer reads ``out_per_step`` numbers off every step.
    """

    def __init__(self, hidden_size: int, horizon: int, known: int, out_per_step: int) -> None:
        super().__init__()
        self.horizon, self.known = horizon, known
        self.rnn = nn.GRU(horizon + known, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, out_per_step)

    def forward(self, summary: Tensor, future: Tensor | None = None) -> Tensor:
        batch = summary.shape[0]
        steps = torch.eye(self.horizon, device=summary.device, dtype=summary.dtype)
        inputs = steps.expand(batch, -1, -1)  # [H, H] -> [B, H, H]
        if self.known:
            inputs = torch.cat((inputs, future), dim=-1)  # [B, H, H + K]
        states, _ = self.rnn(inputs, torch.tanh(summary)[None].contiguous())  # [B, H, D]
        return self.out(states).flatten(1)  # [B, H, out] -> [B, H·out]


def attention_weights(model: nn.Module, x: Tensor) -> Tensor:
    """Attention weights ``[B, L]`` of a Forecaster with ``head=attention`` for windows ``x``."""
    if not isinstance(model.head, AttentionHead):
        raise ValueError("attention weights need a model trained with model.head=attention")
    with torch.no_grad():
        return model.head.weights(model.backbone(x))
