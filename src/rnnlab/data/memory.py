"""The standard memory tests of recurrent networks, generated on the fly from ``data.seed``.

    python train.py data=adding data.seq_len=100      # Arjovsky et al. 2016: add two marked values
    python train.py data=copy data.seq_len=50         # copy memory: repeat symbols after T blanks
    python train.py data=selective_copy               # Gu & Dao 2023: symbols at random positions

Tokens are one-hot inputs: symbols ``0 .. n_symbols-1``, then blank, then delimiter; the
output classes are the symbols plus blank (blank last). Each split has its own generator
(``split_generator``), so the validation and test sets stay the same whatever ``n_train``.
Each generator's docstring says what a model without memory scores.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnlab.data.sequences import SequenceDataModule, SequenceSet, split_generator

# The target of a step no loss or metric reads: torch's cross-entropy default (-100).
IGNORE = torch.nn.CrossEntropyLoss().ignore_index


def adding_problem(n: int, seq_len: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``n`` sequences ``x [n, T, 2]`` (value, marker) and their targets ``y [n, 1]``.

    Values are U(0, 1); the markers are 0 but for one 1 in each half; the target is the sum
    of the two marked values. Predicting 1, the expectation, scores MSE 1/6 (memoryless); a
    run counts as solved below 0.01."""
    if seq_len < 2:
        raise ValueError(f"data.seq_len={seq_len} is too short for the adding problem: "
                         "it needs one marker in each half, so data.seq_len >= 2")  # fmt: skip
    values = torch.rand(n, seq_len, generator=generator)
    half = seq_len // 2
    first = torch.randint(0, half, (n,), generator=generator)
    second = torch.randint(half, seq_len, (n,), generator=generator)
    markers = torch.zeros(n, seq_len)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    target = values[rows, first] + values[rows, second]
    return torch.stack((values, markers), dim=-1), target[:, None]  # [n, T, 2], [n, 1]


def copy_memory(
    n: int, seq_len: int, generator: torch.Generator, n_symbols: int = 8, n_recall: int = 10
) -> tuple[Tensor, Tensor]:
    """Token ids ``x [n, T + 2·n_recall]`` and per-step targets ``y`` of the same shape.

    ``n_recall`` symbols, ``T - 1`` blanks, a delimiter, ``n_recall`` blanks; the target is
    blank but at the last ``n_recall`` steps, which repeat the symbols. Without memory the
    best cross-entropy over all steps is ``n_recall·ln(n_symbols) / (T + 2·n_recall)``."""
    if seq_len < 1:
        raise ValueError(f"data.seq_len={seq_len} is invalid for the copy task: it must be >= 1")
    blank, delimiter = n_symbols, n_symbols + 1
    length = seq_len + 2 * n_recall
    symbols = torch.randint(0, n_symbols, (n, n_recall), generator=generator)
    x = torch.full((n, length), blank, dtype=torch.long)
    x[:, :n_recall] = symbols
    x[:, n_recall + seq_len - 1] = delimiter
    y = torch.full((n, length), blank, dtype=torch.long)
    y[:, -n_recall:] = symbols
    return x, y


def selective_copy(
    n: int, seq_len: int, generator: torch.Generator, n_symbols: int = 8, n_recall: int = 16
) -> tuple[Tensor, Tensor]:
    """Token ids ``x [n, T + n_recall]`` and targets ``y`` (``IGNORE`` but at the last
    ``n_recall`` steps, which hold the symbols in the order they appeared).

    The symbols sit at random positions among ``T`` blanks, so a fixed delay line cannot
    solve it; without memory the recall accuracy is about ``1 / n_symbols``."""
    if seq_len < n_recall:
        raise ValueError(
            f"data.seq_len={seq_len} is too short for data.n_recall={n_recall}: the symbols "
            f"are placed among seq_len steps, so data.seq_len >= {n_recall}"
        )
    blank, delimiter = n_symbols, n_symbols + 1
    symbols = torch.randint(0, n_symbols, (n, n_recall), generator=generator)
    # n_recall distinct positions per sequence, in increasing order: the order of recall.
    scores = torch.rand(n, seq_len, generator=generator)
    positions = torch.sort(torch.topk(scores, n_recall, dim=1).indices, dim=1).values
    x = torch.full((n, seq_len + n_recall), blank, dtype=torch.long)
    x.scatter_(1, positions, symbols)
    x[:, seq_len:] = delimiter
    y = torch.full_like(x, IGNORE)
    y[:, seq_len:] = symbols
    return x, y


def memoryless_distribution(targets: Tensor, n_classes: int, smoothing: float = 1e-3) -> Tensor:
    """Per-step class frequencies of training targets ``[N, L]`` -> ``[L, n_classes]``: the
    best a model that never looks at its inputs can output (steps without targets: uniform)."""
    valid = targets != IGNORE
    one_hot = torch.nn.functional.one_hot(targets.clamp(min=0), n_classes).double()
    counts = (one_hot * valid[..., None]).sum(0) + smoothing  # [L, C]
    return counts / counts.sum(-1, keepdim=True)


class MemoryDataModule(SequenceDataModule):
    """Shared settings of the memory tasks.

    Args:
        seq_len: ``T``, the delay (adding: the sequence length).
        n_train, n_val, n_test: sequences per split.
        seed: the data's own seed (``data.seed``), independent of the training seed.
        batch_size, eval_batch_size, shuffle_seed, num_workers: see ``SequenceDataModule``.
    """

    def __init__(
        self,
        seq_len: int = 50,
        n_train: int = 10000,
        n_val: int = 1000,
        n_test: int = 1000,
        seed: int = 0,
        **loader_kwargs,
    ) -> None:
        super().__init__(**loader_kwargs)
        self.seq_len = seq_len
        self.n_train, self.n_val, self.n_test = n_train, n_val, n_test
        self.seed = seed

    def sizes(self) -> dict[str, int]:
        return {"train": self.n_train, "val": self.n_val, "test": self.n_test}

    def make(self, n: int, generator: torch.Generator) -> SequenceSet:  # pragma: no cover
        raise NotImplementedError

    def build(self) -> dict[str, SequenceSet]:
        return {s: self.make(n, split_generator(self.seed, s)) for s, n in self.sizes().items()}


class AddingDataModule(MemoryDataModule):
    """``data=adding``: the adding problem (``task=regress``)."""

    tasks = ("regress",)
    solved_mse = 0.01  # the usual threshold for "solved"

    def make(self, n: int, generator: torch.Generator) -> SequenceSet:
        x, y = adding_problem(n, self.seq_len, generator)
        return SequenceSet(x, y)

    def baselines(self) -> dict[str, float]:
        """Test MSE of predicting 1 (the expected sum: the best guess without memory)."""
        self.load()
        return {"memoryless": torch.mean((self.sets["test"].targets - 1.0) ** 2).item()}


class TokenDataModule(MemoryDataModule):
    """Copy tasks: one-hot tokens in, a class per step out (symbols, then blank)."""

    recall = True

    def __init__(self, n_symbols: int = 8, n_recall: int = 10, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n_symbols = n_symbols
        self.n_recall = n_recall

    @property
    def n_classes(self) -> int:
        return self.n_symbols + 1  # the symbols and blank

    def model_settings(self) -> dict[str, int]:
        return {**super().model_settings(), "num_classes": self.n_classes}

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        raise NotImplementedError  # pragma: no cover

    def make(self, n: int, generator: torch.Generator) -> SequenceSet:
        x, y = self.generate(n, generator)
        # int8 ids: a quarter of the memory of int64 for the long sequences
        return SequenceSet(x.to(torch.int8), y, vocab=self.n_symbols + 2)

    def memoryless(self) -> Tensor:
        """The memoryless model's output distribution per step, ``[L, n_classes]``."""
        self.load()
        return memoryless_distribution(self.sets["train"].targets, self.n_classes)

    def memoryless_scores(self) -> dict[str, float]:
        """Test cross-entropy (over every step with a target) and recall accuracy of the
        memoryless model."""
        self.load()
        q = self.memoryless()  # [L, C]
        y = self.sets["test"].targets  # [N, L]
        valid = y != IGNORE
        steps = torch.arange(y.shape[1]).expand_as(y)
        nll = -torch.log(q[steps[valid], y[valid]])
        recalled = valid & (y < self.n_symbols)
        guess = q[:, : self.n_symbols].argmax(-1)  # [L]
        correct = (guess[steps[recalled]] == y[recalled]).double()
        return {"ce": nll.mean().item(), "accuracy": correct.mean().item()}


class CopyDataModule(TokenDataModule):
    """``data=copy``: copy memory (``task=copy``)."""

    tasks = ("copy",)

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return copy_memory(n, self.seq_len, generator, self.n_symbols, self.n_recall)

    def formula_ce(self) -> float:
        """``n_recall·ln(n_symbols) / (T + 2·n_recall)``: the memoryless cross-entropy."""
        return self.n_recall * math.log(self.n_symbols) / (self.seq_len + 2 * self.n_recall)


class SelectiveCopyDataModule(TokenDataModule):
    """``data=selective_copy``: selective copying (``task=selective_copy``)."""

    tasks = ("selective_copy",)

    def __init__(self, n_recall: int = 16, **kwargs) -> None:
        super().__init__(n_recall=n_recall, **kwargs)

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return selective_copy(n, self.seq_len, generator, self.n_symbols, self.n_recall)
