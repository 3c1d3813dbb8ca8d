"""The one table of layer-kind and activation codes, read by every kernel module and by their Python callers, and
the network engine's layout: the columns of its layer table and its arrays by role.

A code names one operation wherever it appears: in a row of the network engine's layer table
(fastnn.kernels.network, laid out by fastnn.engine), as the hidden activation of the structure-aware numerical
gradient (fastnn.kernels.netgrad) and as a layer's activation in the scikit-learn MLP kernels
(fastnn.kernels.sk_mlp). Plain Python, no numba: importing this module compiles nothing.
"""
from collections import namedtuple

# the network engine's layer kinds (also the numerical gradient's hidden activations RELU, SIGMOID)
AFFINE = 0
RELU = 1  # the books' Relu layer: 0 where x <= 0 (its mask), else x
SIGMOID = 2  # the books' sigmoid, in fastnn's stable form (fastnn.kernels.activations.sigmoid_scalar)
BATCHNORM = 3
DROPOUT = 4  # the first book's (non-inverted) dropout
SIGMOID_CH4 = 5  # the sigmoid of chapter 4's TwoLayerNet, whose hand-written backward multiplies in another order
TANH = 6  # tanh, its backward from the output: dout * (1 - y ** 2)
# scikit-learn's activations (fastnn.kernels.sk_mlp), in scikit-learn's own formulas; its RELU and TANH are the
# codes above (its relu keeps -0.0 as np.maximum does)
IDENTITY = 7
LOGISTIC = 8  # scikit-learn's 1 / (1 + exp(-z))
SOFTMAX = 9
EXP = 10

# the network engine's layer table, one int64 row per layer: its code, the offset of its output (scratch), its input
# and output widths, the offsets of its two parameters (arena), of the layer's gradients of them (arena) and of the
# returned gradients (arena: the layer's own unless weight decay adds lambda * W), of its running statistics (arena:
# batch norm's mean and variance), of the batch-norm intermediates xc, xn (n x width) and std (width) that the
# book's layer keeps (scratch), of two per-column work vectors (scratch: the batch mean and variance in the forward
# pass, dvar and dmu in the backward), of its boolean mask (bmask) and of its uniform draws (rand)
(COL_CODE, COL_OUT, COL_WIN, COL_WOUT, COL_P0, COL_P1, COL_G0, COL_G1, COL_F0, COL_F1, COL_S0, COL_S1,
 COL_XC, COL_XN, COL_STD, COL_WORK0, COL_WORK1, COL_MASK, COL_RAND) = range(19)
N_COLS = 19

# the kind markers: a net's kinds whose kernel code compiles only for nets that have them (numba prunes a branch on
# an argument that is None before typing it); each of fastnn._layer_kinds' kinds names its marker, if any
MARKERS = ("sigmoid", "tanh", "batchnorm", "dropout")
# the network engine's arrays at one batch size, in the order its kernels take them as one tuple argument
# (fastnn.kernels.network describes each; fastnn.engine._Plan builds them), the markers last: fpar when the net has
# the kind, else None
NetArrays = namedtuple("NetArrays", ("table", "fpar", "arena", "scratch", "bmask", "y", "ping", "pong") + MARKERS)
