"""The second book's ``common/time_layers.py`` on compiled kernels: ``from fastnn.time_layers import *`` gives the
recurrent layers (RNN, TimeRNN, LSTM, TimeLSTM, GRU, TimeGRU, TimeBiLSTM; see fastnn._recurrent) and ``np``, as
the book's star import does."""
import numpy as np

from ._recurrent import GRU, LSTM, RNN, TimeBiLSTM, TimeGRU, TimeLSTM, TimeRNN

__all__ = ["RNN", "TimeRNN", "LSTM", "TimeLSTM", "GRU", "TimeGRU", "TimeBiLSTM",
           "np"]  # np: the book's star import of this module gives it too
