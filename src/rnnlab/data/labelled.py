"""Labelled sequences for classification (``task=classify``): the user's own long CSV file,
the shipped sets (digits, JapaneseVowels) in the same format, and UCR/UEA ``.ts`` files.

    python train.py data=sequences data.path=my_sequences.csv
    python train.py data=digits data.order=permuted   # pixel by pixel, in a fixed shuffled order
    python train.py data=ucr data.name=GunPoint       # needs rnnlab[ucr]

The files are read by ``rnnlab.data.readers`` (the format and its one-line errors are
described there). The split comes from the file, from separate files, or from a stratified
draw with ``data.seed``; sequences of different lengths are right-padded and carry their
lengths; every channel is standardised with training statistics only.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnlab.data.readers import Labelled, read_long_csv, read_ts
from rnnlab.data.sequences import SequenceDataModule, SequenceSet, stratified_split
from rnnlab.data.windows import SPLITS


def _sort_key(label: str) -> tuple:
    """Numeric labels in numeric order (2 before 10), then the others alphabetically."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


# --------------------------------------------------------------------------- datamodules


def _codes(labels: Sequence[str]) -> Tensor:
    """Labels as integers (their rank among the distinct labels), for stratified splits."""
    rank = {label: i for i, label in enumerate(sorted(set(labels), key=_sort_key))}
    return torch.tensor([rank[label] for label in labels])


def padded(sequences: Sequence[np.ndarray], length: int | None = None) -> tuple[Tensor, Tensor]:
    """Right-pad ``[L_i, F]`` arrays with zeros -> ``x [N, L, F]`` (float32) and ``lengths [N]``."""
    lengths = torch.tensor([len(s) for s in sequences])
    length = int(lengths.max()) if length is None else length
    x = torch.zeros(len(sequences), length, sequences[0].shape[1])
    for i, s in enumerate(sequences):
        x[i, : len(s)] = torch.from_numpy(s)
    return x, lengths


class ClassificationDataModule(SequenceDataModule):
    """Labelled sequences of any length, standardised, for ``task=classify``.

    A subclass reads its files in ``read`` (``{"train": ..., "test": ..., maybe "val"}``, or
    ``{None: ...}`` for one set to split at random). This class splits, checks the labels,
    standardises and pads.

    Args:
        val_fraction: share of the training sequences (per class) that become the validation
            split when the data has none.
        test_fraction: share of all sequences (per class) for testing, when the data has no
            split at all.
        seed: the seed of those random splits (``data.seed``).
        standardize: scale every channel by the training mean and standard deviation.
    """

    tasks = ("classify",)

    def __init__(
        self,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        seed: int = 0,
        standardize: bool = True,
        **loader_kwargs,
    ) -> None:
        super().__init__(**loader_kwargs)
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.seed = seed
        self.standardize = standardize
        self.class_names: list[str] = []
        self.channel_loc = np.zeros(0)
        self.channel_scale = np.ones(0)

    def read(self) -> dict[str | None, Labelled]:  # pragma: no cover - abstract
        raise NotImplementedError

    def transform(self, sequence: np.ndarray) -> np.ndarray:
        """A subclass's reshaping of one raw ``[L, F]`` sequence (identity here)."""
        return sequence

    def _split(self, parts: dict[str | None, Labelled]) -> dict[str, Labelled]:
        generator = torch.Generator().manual_seed(int(self.seed))
        if None in parts and len(parts) > 1:
            raise ValueError("some sequences have a split and others none")
        if None in parts:
            everything = parts[None]
            kept, taken = stratified_split(_codes(everything.labels), self.test_fraction, generator)
            parts = {
                "train": everything.take(kept.tolist()),
                "test": everything.take(taken.tolist()),
            }
        for name in ("train", "test"):
            if not parts.get(name) or not parts[name].sequences:
                raise ValueError(f"the data has no {name} sequences")
        if "val" not in parts:
            train = parts["train"]
            kept, taken = stratified_split(_codes(train.labels), self.val_fraction, generator)
            if len(taken) == 0 or len(kept) == 0:
                raise ValueError(
                    f"data.val_fraction={self.val_fraction} leaves no validation or no training "
                    f"sequences (of {len(train.labels)})"
                )
            parts["val"] = train.take(taken.tolist())
            parts["train"] = train.take(kept.tolist())
        return {name: parts[name] for name in SPLITS}

    def build(self) -> dict[str, SequenceSet]:
        parts = self._split(self.read())
        self.class_names = sorted(set(parts["train"].labels), key=_sort_key)
        index = {name: i for i, name in enumerate(self.class_names)}
        for split in ("val", "test"):
            for label, where in zip(parts[split].labels, parts[split].names, strict=True):
                if label not in index:
                    raise ValueError(
                        f"label {label!r} of the {split} split never occurs in training ({where}); "
                        f"training labels: {', '.join(self.class_names)}"
                    )
        raw = {s: [self.transform(x) for x in parts[s].sequences] for s in SPLITS}
        if len({x.shape[1] for s in SPLITS for x in raw[s]}) != 1:
            raise ValueError("the sequences have different numbers of channels")
        steps = np.concatenate(raw["train"])  # every valid training step, [ΣL, F]
        if self.standardize:
            self.channel_loc = steps.mean(0)
            std = steps.std(0)
            self.channel_scale = np.where(std > 0, std, 1.0)  # a constant channel is only centred
        else:
            self.channel_loc, self.channel_scale = np.zeros(steps.shape[1]), np.ones(steps.shape[1])
        length = max(len(x) for s in SPLITS for x in raw[s])
        sets = {}
        for s in SPLITS:
            x, lengths = padded(
                [(x - self.channel_loc) / self.channel_scale for x in raw[s]], length
            )
            y = torch.tensor([index[label] for label in parts[s].labels])
            sets[s] = SequenceSet(x, y, lengths)
        if all(bool((v.lengths == length).all()) for v in sets.values()):
            for v in sets.values():
                v.lengths = None  # all of one length: nothing to mask
        return sets

    @property
    def n_classes(self) -> int:
        self.load()
        return len(self.class_names)

    def model_settings(self) -> dict[str, Any]:
        return {**super().model_settings(), "num_classes": self.n_classes}

    def baselines(self) -> dict[str, float]:
        """Test accuracy of the majority class of training and of the 1-nearest-neighbour
        (Euclidean) classifier on the same standardised, zero-padded inputs the network
        reads, with the training split as the reference set."""
        self.load()
        train, test = self.sets["train"], self.sets["test"]
        majority = int(torch.bincount(train.targets).argmax())
        flat_train = train.inputs.flatten(1).double()  # [N, L, F] -> [N, L·F]
        nearest = torch.cat(
            [torch.cdist(chunk.flatten(1).double(), flat_train).argmin(1)
             for chunk in test.inputs.split(1024)]
        )  # fmt: skip
        return {
            "majority": (test.targets == majority).double().mean().item(),
            "nn1": (train.targets[nearest] == test.targets).double().mean().item(),
        }


class LabelledCsvDataModule(ClassificationDataModule):
    """``data=sequences``: the user's labelled sequences in the long CSV format above.

    Args:
        path: one file holding every split (or the training split when ``test_path`` is set).
        train_path, val_path, test_path: separate files per split instead of a split column.
        id_column, step_column, label_column, split_column: the format's column names.
        channels: the input columns (default: every other column).
    """

    def __init__(
        self,
        path: str | None = None,
        train_path: str | None = None,
        val_path: str | None = None,
        test_path: str | None = None,
        id_column: str = "sequence",
        step_column: str = "step",
        label_column: str = "label",
        split_column: str | None = "split",
        channels: list[str] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.path, self.train_path, self.val_path, self.test_path = (
            path, train_path, val_path, test_path,
        )  # fmt: skip
        self.columns = dict(id_column=id_column, step_column=step_column,
                            label_column=label_column)  # fmt: skip
        self.split_column = split_column
        self.channels = list(channels) if channels is not None else None
        self.channel_names: list[str] = []

    def _read(self, path: str, setting: str, split_column: str | None) -> dict:
        parts, names = read_long_csv(
            path, **self.columns, channels=self.channels, split_column=split_column,
            setting=setting,
        )  # fmt: skip
        if self.channel_names and names != self.channel_names:
            raise ValueError(
                f"{setting}={path!r} has other channels than the training file: "
                f"{', '.join(names)} against {', '.join(self.channel_names)}"
            )
        self.channel_names = names
        return parts

    def read(self) -> dict[str | None, Labelled]:
        files = {"train": self.train_path or (self.path if self.test_path else None),
                 "val": self.val_path, "test": self.test_path}  # fmt: skip
        if files["test"] is None:
            if not self.path:
                raise ValueError("data.path is required (or data.train_path and data.test_path)")
            return self._read(self.path, "data.path", self.split_column)
        if files["train"] is None:
            raise ValueError("data.test_path is set: give data.train_path (or data.path) too")
        parts: dict[str | None, Labelled] = {}
        for split, path in files.items():
            if path is None:
                continue
            key = "data.path" if path == self.path else f"data.{split}_path"
            read = self._read(path, key, None)
            parts[split] = read[None]
        return parts


class DigitsDataModule(LabelledCsvDataModule):
    """``data=digits``: the 8×8 handwritten digits (UCI, as shipped by scikit-learn) read as
    sequences: ``order=rows`` (8 steps of 8 pixels), ``pixels`` (64 steps of 1 pixel) or
    ``permuted`` (64 pixels in one fixed random order, ``permutation_seed``: the harder
    variant, as permuted MNIST).
    """

    def __init__(self, order: str = "rows", permutation_seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.order = order
        self.permutation = torch.randperm(
            64, generator=torch.Generator().manual_seed(int(permutation_seed))
        ).numpy()

    def transform(self, sequence: np.ndarray) -> np.ndarray:
        if self.order == "rows":
            return sequence
        if sequence.shape != (8, 8):
            raise ValueError(f"data.order={self.order!r} needs 8×8 images (8 rows of 8 pixels)")
        pixels = sequence.reshape(64, 1)  # [8, 8] -> [64, 1], row after row
        return pixels[self.permutation] if self.order == "permuted" else pixels


def aeon_data_dir() -> Path | None:
    """Where the installed aeon package keeps its example datasets (not imported: aeon's
    import is slow and only its files are needed)."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


class UcrDataModule(ClassificationDataModule):
    """``data=ucr``: a problem of the UCR/UEA archives from its ``NAME_TRAIN.ts`` and
    ``NAME_TEST.ts`` files, found under ``root/NAME/``. By default ``root`` is the copy of
    the archives' small problems that the aeon package ships (``pip install 'rnnlab[ucr]'``):
    ItalyPowerDemand, GunPoint, JapaneseVowels, BasicMotions, ArrowHead and more.
    """

    def __init__(self, name: str = "ItalyPowerDemand", root: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.root = root

    def read(self) -> dict[str | None, Labelled]:
        root = Path(self.root).expanduser() if self.root else aeon_data_dir()
        if root is None:
            raise FileNotFoundError(
                f"data.name={self.name!r} needs the UCR/UEA files: pip install 'rnnlab[ucr]' "
                "(aeon ships them), or data.root=DIR holding NAME/NAME_TRAIN.ts and NAME_TEST.ts"
            )
        folder = root / self.name
        if not (folder / f"{self.name}_TRAIN.ts").is_file():
            known = sorted(p.name for p in root.iterdir() if (p / f"{p.name}_TRAIN.ts").is_file())
            raise FileNotFoundError(
                f"data.name={self.name!r}: no {self.name}_TRAIN.ts under {root}; "
                f"problems there: {', '.join(known) or '(none)'}"
            )
        return {s: read_ts(folder / f"{self.name}_{s.upper()}.ts") for s in ("train", "test")}
