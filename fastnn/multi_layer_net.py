"""The book's ``common/multi_layer_net.py`` import line: ``from fastnn.multi_layer_net import MultiLayerNet``."""
import numpy as np  # noqa: F401  (the book's star import of this module gives np too)

from .nets import MultiLayerNet  # noqa: F401

__all__ = ["MultiLayerNet", "np"]
