"""Equal-size comparisons: the hidden size that brings a model closest to a parameter budget.

    hidden, n_params = fit_hidden_size(lambda h: build_my_model(hidden_size=h), 10_000)

``model.param_budget=N`` calls this from ``rnnlab.run.build.build_model`` with a callable
that builds the whole model (backbone and head) at a given ``hidden_size``, so
``python train.py -m backbone=rnn,lstm,gru,mingru,minlstm,lru model.param_budget=10000``
compares the cells at (nearly) the same number of trainable parameters. Any backbone
with a ``hidden_size`` argument works, a user's own included.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["count_parameters", "fit_hidden_size"]

MAX_HIDDEN = 1 << 20  # a search that reaches this is a count that does not grow with hidden_size


def count_parameters(build: Callable[[int], nn.Module], hidden_size: int) -> int:
    """Trainable parameters of ``build(hidden_size)``.

    The model is built on the ``meta`` device (shapes only, no memory, no random numbers);
    a model that cannot be built there is built normally, with the random number
    generators' state restored afterwards, so searching never changes a later
    initialisation.
    """
    try:
        with torch.device("meta"):
            model = build(hidden_size)
    except Exception:  # e.g. a user's constructor that reads a tensor's value
        with torch.random.fork_rng(devices=[]):
            model = build(hidden_size)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def fit_hidden_size(build: Callable[[int], nn.Module], budget: int) -> tuple[int, int]:
    """``(hidden_size, n_params)`` with ``n_params`` the closest to ``budget`` (ties: smaller).

    Assumes the count grows with ``hidden_size`` (true of every backbone shipped): the
    largest size within the budget is found by doubling then bisection, and the size one
    above it is the only other candidate. Raises ``ValueError`` when the count does not
    depend on ``hidden_size``.
    """
    if budget < 1:
        raise ValueError(f"the budget {budget} is not a positive number of parameters")
    cache: dict[int, int] = {}

    def count(h: int) -> int:
        if h not in cache:
            cache[h] = count_parameters(build, h)
        return cache[h]

    if count(1) >= budget:
        return 1, count(1)
    low, high = 1, 2  # count(low) < budget; grow high until count(high) >= budget
    while count(high) < budget:
        if high >= MAX_HIDDEN:
            raise ValueError(
                f"the parameter count stays at {count(high)} up to hidden_size={high}; does "
                "the model use hidden_size?"
            )
        low, high = high, 2 * high
    while high - low > 1:  # invariant: count(low) < budget <= count(high)
        mid = (low + high) // 2
        low, high = (mid, high) if count(mid) < budget else (low, mid)
    best = min((low, high), key=lambda h: (abs(count(h) - budget), h))
    return best, count(best)
