"""Heads: map the backbone's hidden sequence ``[B, L, H]`` to one prediction ``[B, 1]``.

- ``last``: a linear layer on the last hidden state (the walk-through's head).
- ``attention``: a linear layer on a weighted mean of *all* hidden states; the weights are
  a softmax over time of a learned score per state (additive attention with one query).

``model.head=attention`` picks the second; ``build_head`` is the registry.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["HEADS", "AttentionHead", "LastStepHead", "build_head"]


class LastStepHead(nn.Linear):
    """``y = W h_L + b``. A ``Linear`` subclass, so its parameters keep the names
    ``head.weight``/``head.bias`` that checkpoints written before heads existed use."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__(hidden_size, 1)

    def forward(self, hidden: Tensor) -> Tensor:
        return super().forward(hidden[:, -1])  # [B, L, H] -> [B, H] -> [B, 1]


class AttentionHead(nn.Module):
    """``y = W Σ_t a_t h_t + b`` with ``a = softmax_t(v · tanh(U h_t + c))``.

    ``weights(hidden)`` returns the attention weights ``[B, L]`` for plots.
    """

    def __init__(self, hidden_size: int, attention_size: int | None = None) -> None:
        super().__init__()
        attention_size = attention_size or hidden_size
        self.score = nn.Sequential(
            nn.Linear(hidden_size, attention_size), nn.Tanh(), nn.Linear(attention_size, 1)
        )
        self.out = nn.Linear(hidden_size, 1)

    def weights(self, hidden: Tensor) -> Tensor:
        """Attention weights over the time steps, ``[B, L]``, each row summing to one."""
        return torch.softmax(self.score(hidden)[..., 0], dim=1)  # [B, L, H] -> [B, L]

    def forward(self, hidden: Tensor) -> Tensor:
        pooled = torch.einsum("bl,blh->bh", self.weights(hidden), hidden)  # [B, H]
        return self.out(pooled)  # [B, 1]


HEADS: dict[str, type[nn.Module]] = {"last": LastStepHead, "attention": AttentionHead}


def build_head(name: str, hidden_size: int) -> nn.Module:
    """The head called ``name`` (``model.head``) on hidden states of ``hidden_size``."""
    if name not in HEADS:
        raise ValueError(f"model.head={name!r}: use one of {', '.join(HEADS)}")
    return HEADS[name](hidden_size)


def attention_weights(model: nn.Module, x: Tensor) -> Tensor:
    """Attention weights ``[B, L]`` of a Forecaster with ``head=attention`` for windows ``x``."""
    if not isinstance(model.head, AttentionHead):
        raise ValueError("attention weights need a model trained with model.head=attention")
    with torch.no_grad():
        return model.head.weights(model.backbone(x))


def plot_attention(model: nn.Module, dm, path, window: int = 0) -> None:
    """Draw one test window (in original units) above its attention weights; save to ``path``.

    ``dm`` is the run's datamodule (after ``setup``); ``window`` indexes the test windows.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    test = dm.datasets["test"]
    x = test.inputs[window : window + 1].to(model.device)
    weights = attention_weights(model, x)[0].cpu().tolist()
    with torch.no_grad():
        pred = dm.to_original_units(model(x).cpu())[0, 0].item()
    start = test.split.start + window
    # plain lists: matplotlib's unit conversion trips over tensors
    time = dm.time[start : start + test.seq_len + 1].double().tolist()
    values = dm.to_original_units(test.windows[window].cpu().double()).tolist()

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True, height_ratios=[2, 1])
    top.plot(time[:-1], values[:-1], "o-", color="tab:blue", label="input window")
    top.plot(time[-1:], values[-1:], "o", color="black", label="target")
    top.plot(time[-1:], [pred], "x", color="tab:red", markersize=10, label="prediction")
    top.set_ylabel("value")
    top.set_title(f"Attention over test window {window}")
    top.legend(loc="best")
    bottom.bar(time[:-1], weights, width=0.8 * (time[1] - time[0]), color="tab:orange")
    bottom.axhline(1.0 / len(weights), color="grey", linestyle="--", label="uniform")
    bottom.set_xlabel("time")
    bottom.set_ylabel("attention weight")
    bottom.legend(loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
