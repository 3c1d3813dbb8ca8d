"""The book's ``common/multi_layer_net_extend.py`` import line."""
import numpy as np  # noqa: F401  (the book's star import of this module gives np too)

from .nets import MultiLayerNetExtend  # noqa: F401

__all__ = ["MultiLayerNetExtend", "np"]
