"""The book's ``common/multi_layer_net.py`` import line: ``from fastnn.multi_layer_net import MultiLayerNet``."""
from .nets import MultiLayerNet  # noqa: F401
