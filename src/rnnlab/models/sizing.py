"""Equal-size comparisons: the hidden size that brings a model closest to a budget of
parameters or of training FLOPs per sequence.

    hidden, n_params = fit_hidden_size(lambda h: build_my_model(hidden_size=h), 10_000)
    hidden, flops = fit_hidden_size(build, 2_000_000, flops_of(batch))

``model.param_budget=N`` and ``model.flop_budget=N`` call this from
``rnnlab.run.build.build_model`` with a callable that builds the whole model (backbone and
head) at a given ``hidden_size``. Any backbone with a ``hidden_size`` argument works.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from rnnlab.models.compute import training_flops

__all__ = ["count_parameters", "fit_hidden_size", "flops_of"]

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


def flops_of(batch: Any) -> Callable[[Callable[[int], nn.Module], int], int]:
    """A counter for ``fit_hidden_size``: training FLOPs per sequence of the model built at a
    hidden size, measured on ``batch`` (the random generators are left as they were)."""

    def count(build: Callable[[int], nn.Module], hidden_size: int) -> int:
        with torch.random.fork_rng(devices=[]):
            model = build(hidden_size)
        return training_flops(model, batch)["total"]

    return count


def fit_hidden_size(
    build: Callable[[int], nn.Module],
    budget: int,
    measure: Callable[[Callable[[int], nn.Module], int], int] = count_parameters,
) -> tuple[int, int]:
    """``(hidden_size, size)`` with ``size = measure(build, hidden_size)`` (parameters by
    default) the closest to ``budget`` (ties: the smaller hidden size).

    Assumes the size grows with ``hidden_size`` (true of every backbone shipped): the
    largest size within the budget is found by doubling then bisection, and the size one
    above it is the only other candidate. Raises ``ValueError`` when the size does not
    depend on ``hidden_size``.
    """
    if budget < 1:
        raise ValueError(f"the budget {budget} is not a positive number of parameters")
    cache: dict[int, int] = {}

    def count(h: int) -> int:
        if h not in cache:
            cache[h] = measure(build, h)
        return cache[h]

    if count(1) >= budget:
        return 1, count(1)
    low, high = 1, 2  # count(low) < budget; grow high until count(high) >= budget
    while count(high) < budget:
        if high >= MAX_HIDDEN:
            raise ValueError(
                f"the size stays at {count(high)} up to hidden_size={high}; does the model use "
                "hidden_size?"
            )
        low, high = high, 2 * high
    while high - low > 1:  # invariant: count(low) < budget <= count(high)
        mid = (low + high) // 2
        low, high = (mid, high) if count(mid) < budget else (low, mid)
    best = min((low, high), key=lambda h: (abs(count(h) - budget), h))
    return best, count(best)
