"""The second book's ``common/time_layers.py``: ``from fastnn.time_layers import *`` gives what ``from
common.time_layers import *`` gives there: the recurrent layers (RNN, TimeRNN, LSTM, TimeLSTM, GRU, TimeGRU,
TimeBiLSTM; fastnn._recurrent), the other Time layers (fastnn._time_wise), and, as the book's module star-imports
them, the second book's layers, ``softmax``, ``sigmoid`` and ``np``. Every Time layer runs its forward and its
backward over all time steps in one compiled call; parameters, gradients and results are the book's.
"""
import numpy as np

from ._recurrent import GRU, LSTM, RNN, TimeBiLSTM, TimeGRU, TimeLSTM, TimeRNN
from ._time_wise import (Simple_TimeAffine, Simple_TimeSoftmaxWithLoss, TimeAffine, TimeDropout, TimeEmbedding,
                         TimeSigmoidWithLoss, TimeSoftmaxWithLoss)
from .functions import sigmoid, softmax
from .layers import Affine, Dropout, Embedding, MatMul, Sigmoid, SigmoidWithLoss, Softmax, SoftmaxWithLoss

__all__ = ["RNN", "TimeRNN", "LSTM", "TimeLSTM", "GRU", "TimeGRU", "TimeBiLSTM",
           "TimeEmbedding", "TimeAffine", "TimeSoftmaxWithLoss", "TimeSigmoidWithLoss", "TimeDropout",
           "Simple_TimeAffine", "Simple_TimeSoftmaxWithLoss",
           # what the book's module star-imports from common.layers and common.functions
           "MatMul", "Affine", "Softmax", "SoftmaxWithLoss", "Sigmoid", "SigmoidWithLoss", "Dropout", "Embedding",
           "softmax", "sigmoid", "np"]
