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


def epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    """The training order of one epoch, seeded like ``BatchIndexSampler``."""
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=gen)


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
    steps_per_epoch = -(-n_train // batch_size)
    scheduler = make_scheduler(optimizer, epochs * steps_per_epoch) if make_scheduler else None
    history = []
    for epoch in range(epochs):
        model.train()
        total = torch.zeros(())
        for idx in epoch_order(n_train, shuffle_seed, epoch).split(batch_size):
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
        model.eval()
        val_total = torch.zeros(())
        with torch.no_grad():
            for rows in val_windows.split(eval_batch_size):
                x, y = rows[:, :seq_len, None], rows[:, seq_len:]
                val_total += loss_fn(model(x), y) * len(rows)
        history.append((total.item() / n_train, val_total.item() / val_windows.shape[0]))
    return history
