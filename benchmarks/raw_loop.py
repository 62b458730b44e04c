"""The hand-written PyTorch loop that ``ratio_fit_vs_raw`` compares the real fit against.

It does what the project's fit does, step for step, without any framework: the same
batches (the sampler's per-epoch permutation), Adam, gradient-norm clipping, the per-step
learning-rate schedule, a validation pass after every epoch, and the epoch losses a
researcher would print. Run on a copy of the same initial model it ends on the same
weights as ``trainer.fit`` (the bench checks this), so the ratio compares equal work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn


def epoch_order(n: int, seed: int, epoch: int, passes: int = 1) -> Tensor:
    """The training order of one epoch of ``passes`` whole passes, seeded like
    ``BatchIndexSampler``."""
    base = seed * 100_003 + epoch
    seeds = [base] + [base * 1_000_003 + p for p in range(1, passes)]
    return torch.cat([torch.randperm(n, generator=torch.Generator().manual_seed(s)) for s in seeds])


def raw_fit(
    model: nn.Module,
    train_windows: Tensor,
    val_windows: Tensor,
    *,
    seq_len: int,
    epochs: int,
    batch_size: int,
    eval_batch_size: int,
    shuffle_seed: int,
    min_batches: int = 1,
    make_optimizer: Callable[[Any], torch.optim.Optimizer],
    make_scheduler: Callable[[torch.optim.Optimizer, int], Any] | None,
    clip_norm: float | None,
) -> list[tuple[float, float]]:
    """Train ``model`` in place; return ``(train_loss, val_loss)`` per epoch.

    ``*_windows`` are ``[N, seq_len + 1]`` rows (inputs then target), as the datasets hold.
    """
    loss_fn = nn.MSELoss()
    optimizer = make_optimizer(model.parameters())
    n_train = train_windows.shape[0]
    per_pass = -(-n_train // batch_size)
    passes = -(-min_batches // per_pass)  # an epoch: the fewest whole passes giving min_batches
    steps_per_epoch = per_pass * passes
    scheduler = make_scheduler(optimizer, epochs * steps_per_epoch) if make_scheduler else None
    history = []

    def validate() -> float:
        model.eval()
        val_total = torch.zeros(())
        with torch.no_grad():
            for rows in val_windows.split(eval_batch_size):
                x, y = rows[:, :seq_len, None], rows[:, seq_len:]
                val_total += loss_fn(model(x), y) * len(rows)
        return val_total.item() / val_windows.shape[0]

    best = validate()  # the start competes for the best weights, as in the real fit
    for epoch in range(epochs):
        model.train()
        total = torch.zeros(())
        order = epoch_order(n_train, shuffle_seed, epoch, passes)
        for p in range(passes):  # each pass ends in a smaller batch, as the sampler's do
            for idx in order[p * n_train : (p + 1) * n_train].split(batch_size):
                rows = train_windows[idx]
                x, y = rows[:, :seq_len, None], rows[:, seq_len:]
                loss = loss_fn(model(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if clip_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                total += loss.detach() * len(idx)
        val = validate()
        best = min(best, val)
        history.append((total.item() / (n_train * passes), val))
    return history
