"""Backbones, and the LightningModules (one per task, ``rnnlab.models.tasks``) that put a head
on them."""

from rnnlab.models.backbones import GRU, LSTM, RNN, ElmanRNN
from rnnlab.models.module import SequenceModel
from rnnlab.models.tasks.forecast import Forecaster

__all__ = ["GRU", "LSTM", "RNN", "ElmanRNN", "Forecaster", "SequenceModel"]
