"""Datamodules: a series, its windows and a chronological split."""

from rnnlab.data.series import WindowDataModule
from rnnlab.data.sine import SineDataModule

__all__ = ["SineDataModule", "WindowDataModule"]
