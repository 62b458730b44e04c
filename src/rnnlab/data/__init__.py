"""Datamodules: a series, its windows and a chronological split."""

from rnnlab.data.sine import SineDataModule
from rnnlab.data.windows import WindowDataModule

__all__ = ["SineDataModule", "WindowDataModule"]
