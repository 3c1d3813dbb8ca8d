"""The second book's ``common/time_layers.py``: ``from fastnn.time_layers import *`` gives what ``from
common.time_layers import *`` gives there. Every Time layer runs its forward and backward over all time steps in
one call; parameters, gradients and results are the book's (see fastnn._time_wise for the non-recurrent layers).
"""
import numpy as np

from ._time_wise import (Simple_TimeAffine, Simple_TimeSoftmaxWithLoss, TimeAffine, TimeDropout, TimeEmbedding,
                         TimeSigmoidWithLoss, TimeSoftmaxWithLoss)

__all__ = ["TimeEmbedding", "TimeAffine", "TimeSoftmaxWithLoss", "TimeSigmoidWithLoss", "TimeDropout",
           "Simple_TimeAffine", "Simple_TimeSoftmaxWithLoss",
           "np"]  # np: the book's star import of this module gives it too
