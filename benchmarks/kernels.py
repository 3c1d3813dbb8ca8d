"""Kernel paths: public functions (validation included) and the layer kernels on preallocated outputs."""
from ._paired import _Paired


class Sigmoid(_Paired):
    case = "sigmoid"


class Relu(_Paired):
    case = "relu"


class Softmax(_Paired):
    case = "softmax"


class CrossEntropyError(_Paired):
    case = "cross_entropy_error"


class SoftmaxLoss(_Paired):
    case = "softmax_loss"


class SoftmaxCrossEntropyForwardBackward(_Paired):
    """The SoftmaxWithLoss layer: fused kernels vs the book's softmax, cross_entropy_error and (y - t) / N."""
    case = "softmax_ce_fwd_bwd"


class AffineForward(_Paired):
    case = "affine_forward"


class AffineBackward(_Paired):
    case = "affine_backward"


class NumericalGradient(_Paired):
    """Both loops call the same jitted f = sum(x**2); x has batch * width elements, 2 calls of f each."""
    case = "numerical_gradient"
    params = ((1, 10), (10, 100), ("float32", "float64"))
