"""The book's ``common/multi_layer_net_extend.py`` import line."""
from .nets import MultiLayerNetExtend  # noqa: F401
