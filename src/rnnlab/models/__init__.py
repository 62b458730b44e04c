"""Backbones and the LightningModule that wraps them."""

from rnnlab.models.backbones import GRU, LSTM, RNN, ElmanRNN
from rnnlab.models.forecaster import Forecaster

__all__ = ["GRU", "LSTM", "RNN", "ElmanRNN", "Forecaster"]
