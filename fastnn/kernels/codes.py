"""The one table of layer-kind and activation codes, read by every kernel module and by their Python callers.

A code names one operation wherever it appears: in a row of the network engine's layer table
(fastnn.kernels.network, laid out by fastnn.engine), as the hidden activation of the structure-aware numerical
gradient (fastnn.kernels.netgrad) and as a layer's activation in the scikit-learn MLP kernels
(fastnn.kernels.sk_mlp). Plain integers, no numba: importing this module compiles nothing.
"""
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
