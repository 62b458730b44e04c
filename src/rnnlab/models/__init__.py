"""Backbones, and the LightningModules (one per task) that put a head on them."""

from rnnlab.models.backbones import GRU, LSTM, RNN, ElmanRNN
from rnnlab.models.forecaster import Forecaster
from rnnlab.models.module import SequenceModel

__all__ = ["GRU", "LSTM", "RNN", "ElmanRNN", "Forecaster", "SequenceModel"]
