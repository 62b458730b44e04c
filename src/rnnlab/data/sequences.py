"""Whole labelled sequences (not windows of one series): the base of the memory tasks and of
sequence classification.

A datamodule here holds, per split, a ``SequenceSet``: inputs ``[N, L, F]``, targets (one per
sequence, or one per step) and, for sets of unequal lengths, the true length of each sequence.
Shorter sequences are right-padded with zeros after their last step; models read the length
(``rnnlab.models.classifier``) and never look at a padded step, so nothing is truncated.

Batches are ``(x, y)``, or ``(x, y, lengths)`` when the lengths differ. As with the windows of
a series, a batch is one fancy-index of tensors held in memory, and the batch order of epoch
``e`` depends only on ``(shuffle_seed, e)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from rnnlab.data.windows import SPLITS, BatchLoaders


@dataclass
class SequenceSet:
    """One split: ``inputs [N, L, F]``, ``targets [N, ...]``, and ``lengths [N]`` or None
    (every sequence has all ``L`` steps).

    With ``vocab`` set, ``inputs`` are token ids ``[N, L]`` and batches are their one-hot
    vectors ``[B, L, vocab]``: the full one-hot tensor of a long set is never held.
    """

    inputs: Tensor
    targets: Tensor
    lengths: Tensor | None = None
    vocab: int | None = None

    def __len__(self) -> int:
        return self.inputs.shape[0]

    @property
    def n_features(self) -> int:
        return self.vocab if self.vocab is not None else int(self.inputs.shape[-1])

    def features(self, idx: Tensor | slice = slice(None)) -> Tensor:
        """Model inputs ``[B, L, F]`` of the sequences ``idx`` (all by default)."""
        x = self.inputs[idx]
        if self.vocab is None:
            return x
        return torch.nn.functional.one_hot(x.long(), self.vocab).float()  # [B, L] -> [B, L, V]

    def to(self, device: Any) -> SequenceSet:
        lengths = None if self.lengths is None else self.lengths.to(device)
        return SequenceSet(self.inputs.to(device), self.targets.to(device), lengths, self.vocab)


class SequenceDataset(Dataset):
    """A ``SequenceSet`` indexed a whole batch at a time: ``dataset[idx]`` with a 1-D index
    tensor returns ``(x, y)`` or ``(x, y, lengths)``."""

    def __init__(self, data: SequenceSet) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, idx: Tensor) -> tuple[Tensor, ...]:
        d = self.data
        if d.lengths is None:
            return d.features(idx), d.targets[idx]
        return d.features(idx), d.targets[idx], d.lengths[idx]

    @property
    def inputs(self) -> Tensor:
        """Every model input of the split, ``[N, L, F]``."""
        return self.data.features()

    @property
    def targets(self) -> Tensor:
        return self.data.targets

    @property
    def lengths(self) -> Tensor | None:
        return self.data.lengths

    @property
    def model_inputs(self) -> tuple[Tensor, ...]:
        """What the model is called with for every sequence: ``(x,)`` or ``(x, lengths)``."""
        return (self.inputs,) if self.lengths is None else (self.inputs, self.lengths)


class SequenceDataModule(BatchLoaders):
    """Base for datamodules of whole sequences: subclasses return the splits from ``build``.

    Class attributes a subclass sets:
        tasks: the ``task=`` names it serves (``run.validation`` refuses any other).
        recall: True for tasks that measure memory of the past: a backbone that also reads
            backwards is refused.

    ``model_settings()`` says what the model must match (features per step, classes); the
    run fills those into the model config before building it.
    """

    tasks: tuple[str, ...] = ()
    recall = False

    def __init__(
        self,
        batch_size: int = 64,
        eval_batch_size: int = 4096,
        shuffle_seed: int = 0,
        num_workers: int = 0,
        min_batches_per_epoch: int = 1,
    ) -> None:
        super().__init__(
            batch_size, eval_batch_size, shuffle_seed, num_workers, min_batches_per_epoch
        )
        self.sets: dict[str, SequenceSet] = {}
        self.datasets: dict[str, SequenceDataset] = {}

    def build(self) -> dict[str, SequenceSet]:  # pragma: no cover - abstract
        """The ``train``, ``val`` and ``test`` sets (one-line ``ValueError`` for bad data)."""
        raise NotImplementedError

    def load(self) -> None:
        """Build the splits once."""
        if not self.sets:
            self.sets = self.build()

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        self.load()
        device = self.accelerator_device()
        sets = self.sets if device is None else {k: v.to(device) for k, v in self.sets.items()}
        self.datasets = {name: SequenceDataset(sets[name]) for name in SPLITS if name in sets}

    def train_size(self) -> int:
        self.load()
        return len(self.sets["train"])

    def train_examples(self, n: int) -> tuple[Tensor, ...]:
        self.load()
        dataset = SequenceDataset(self.sets["train"])
        return dataset[torch.arange(min(n, len(dataset)))]

    @property
    def n_features(self) -> int:
        """Inputs per time step (the backbone's ``input_size``)."""
        self.load()
        return self.sets["train"].n_features

    def model_settings(self) -> dict[str, Any]:
        """Model settings the data decides, as paths under ``model`` (e.g.
        ``backbone.input_size``)."""
        return {"backbone.input_size": self.n_features}


def split_generator(seed: int, split: str) -> torch.Generator:
    """A generator per (seed, split): each split's draws depend on the seed and on nothing
    else (a larger training set leaves the validation and test sets unchanged)."""
    return torch.Generator().manual_seed(int(seed) * len(SPLITS) + SPLITS.index(split))


def stratified_split(
    labels: Tensor, fraction: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Indices ``(kept, taken)``: ``taken`` holds ``round(fraction × n_c)`` random members of
    every class ``c`` (at least one when the class has two or more), ``kept`` the rest."""
    kept, taken = [], []
    for c in torch.unique(labels):
        members = torch.nonzero(labels == c)[:, 0]
        members = members[torch.randperm(len(members), generator=generator)]
        n = round(fraction * len(members))
        if n == 0 and len(members) > 1 and fraction > 0:
            n = 1
        taken.append(members[:n])
        kept.append(members[n:])
    return torch.sort(torch.cat(kept)).values, torch.sort(torch.cat(taken)).values
