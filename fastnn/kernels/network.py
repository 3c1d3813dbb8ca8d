"""The network engine's kernels: a whole layer stack forward, its loss, its backward and the fused training loop,
each one compiled call.

A network at one batch size n is one tuple of arrays, ``net``, in the order of fastnn.kernels.codes.NetArrays,
built once per batch size by fastnn.engine (``_Plan.net``) and passed whole (a plain tuple: numba dispatches it as
fast as the arrays one by one, a named tuple costs 0.75 us more per call); each kernel unpacks it in one line:

* ``table``: int64, one row per layer: its kind's code and the columns ``COL_*`` (both in fastnn.kernels.codes);
* ``fpar``: float64, one per layer: its scalar (batch-norm momentum, dropout ratio);
* ``arena``: the parameters, the layers' gradients, the returned gradients (with weight decay) and the batch-norm
  running statistics, one after another, in the network's dtype (fastnn.engine lays it out; the ``params`` dict
  holds views of it);
* ``scratch``: every layer's output (n rows) and the batch-norm intermediates (the layers' book attributes
  ``Sigmoid.out``, ``BatchNormalization.xc/xn/std``, ``SoftmaxWithLoss.y`` are views of it);
* ``bmask``: the boolean masks of the Relu and Dropout layers (``Relu.mask``, ``Dropout.mask``);
* ``y``: (n, classes) view of scratch, the softmax of the scores (``SoftmaxWithLoss.y``);
* ``ping``, ``pong``: n times the widest layer each, the backward pass's alternating gradient buffers;
* ``sigmoid``, ``tanh``, ``batchnorm``, ``dropout``: the kind markers (fastnn.kernels.codes.MARKERS), ``fpar``
  again when the net has a layer of that kind (``sigmoid`` for both sigmoid codes), else None.

Compile only what a net uses: numba removes an ``if a is not None:`` branch on an argument that is None before typing
it, so nothing inside it is compiled (it cannot decide the test for an argument that is an array: code for either of
two forms therefore sits under two tests, one on each form's argument). forward and backward take the kind markers as
arguments of their own (numba prunes on arguments only, not on the fields of a tuple), and a kind's code sits under
its marker's test; the loss compiles only the target form it is given (``onehot`` None: labels); weight decay only
when ``decay`` is a number; ``update`` only the rules its state buffers allow. So the first TwoLayerNet(784, 100, 10)
step compiles affine, ReLU, labels and SGD code only. The price is one more specialisation per kind of net used in one
process.

Compile cost grows with the number of separately compiled functions (about 0.05-0.1 s each, numba's fixed cost)
and with how often a callee's machine code is rebuilt: each compiled function links in and re-optimises the code
of everything it calls. train_steps therefore calls ``run`` (compiled once, shared with the Python calls) rather
than forward and backward itself.

Targets come as ``labels`` (intp, n) with ``onehot`` None, or ``onehot`` (n, classes, in the net's dtype) with
``labels`` None (exactly one of them is None). ``res`` (float64, 3) receives the loss, a status code (``OK``...) and
the weight-decay term.

Arithmetic follows the books' NumPy expressions in the same order and dtype, so float64 results match the book's
code to rounding; column sums run row by row in the array's dtype as NumPy's ``sum(axis=0)`` does.
"""
import math

import numpy as np

from .._constants import BN_EPS, CE_DELTA
from .._jit import kernel
from .activations import (relu_backward_scalar, relu_scalar, sigmoid_backward_scalar, sigmoid_scalar,
                          sigmoid_slope, tanh_backward_scalar, tanh_scalar)
from .affine import weight_gradient
from .arrays import copy_row
from .codes import (AFFINE, BATCHNORM, COL_CODE, COL_F0, COL_F1, COL_G0, COL_G1, COL_MASK, COL_OUT, COL_P0, COL_P1,
                    COL_RAND, COL_S0, COL_S1, COL_STD, COL_WIN, COL_WORK0, COL_WORK1, COL_WOUT, COL_XC, COL_XN, RELU,
                    SIGMOID, SIGMOID_CH4, TANH)
from .optim import adagrad, adam, momentum, nesterov, rmsprop, sgd
from .softmax import (softmax_cross_entropy_backward_labels, softmax_cross_entropy_backward_onehot,
                      softmax_cross_entropy_labels, softmax_cross_entropy_onehot)

# run modes
PREDICT, LOSS, GRADIENT, BACKWARD = 0, 1, 2, 3
# optimizer codes (fastnn.optimizer gives the coefficients)
OPT_SGD, OPT_MOMENTUM, OPT_NESTEROV, OPT_ADAGRAD, OPT_RMSPROP, OPT_ADAM = 0, 1, 2, 3, 4, 5
# status codes in res[1]
OK, BAD_LABEL, NONFINITE_LOSS, NONFINITE_PARAMS = 0, 1, 2, 3


@kernel(internal=True)
def _mat(buf, off, rows, cols):
    """The (rows, cols) view of the flat ``buf`` starting at ``off``."""
    return buf[off:off + rows * cols].reshape((rows, cols))


@kernel(internal=True)
def _layer_input(table, scratch, x, k, n):
    """Layer k's input: x (n rows) for the first layer, else the previous layer's output in scratch."""
    if k == 0:
        return x
    return _mat(scratch, table[k - 1, COL_OUT], n, table[k, COL_WIN])


# --- forward ----------------------------------------------------------------------------------------------------
@kernel(internal=True)
def _affine_forward(arena, row, inp, out):
    """out = inp @ W + b, W and b in the arena at the offsets of the layer's table ``row``."""
    W = _mat(arena, row[COL_P0], row[COL_WIN], row[COL_WOUT])
    b = arena[row[COL_P1]:row[COL_P1] + row[COL_WOUT]]
    np.dot(inp, W, out)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] += b[j]


@kernel(internal=True)
def _batchnorm_rows_forward(arena, scratch, row, momentum, inp, out, train):
    """The book's batch normalisation of inp into out: in training (``train``) with the batch's statistics, keeping
    xc, xn, std in scratch and moving the running statistics by ``momentum``; else with the running statistics."""
    n, w = inp.shape

    def vec(buf, column):  # the layer's block of w values at a table column (a closure: numba inlines it)
        return buf[row[column]:row[column] + w]

    gamma, beta = vec(arena, COL_P0), vec(arena, COL_P1)
    running_mean, running_var = vec(arena, COL_S0), vec(arena, COL_S1)
    xc, xn = _mat(scratch, row[COL_XC], n, w), _mat(scratch, row[COL_XN], n, w)
    std, mu, var = vec(scratch, COL_STD), vec(scratch, COL_WORK0), vec(scratch, COL_WORK1)
    eps = inp.dtype.type(BN_EPS)
    if train:
        mu[:] = 0
        for i in range(n):
            for j in range(w):
                mu[j] += inp[i, j]
        nf = inp.dtype.type(n)
        for j in range(w):
            mu[j] = mu[j] / nf
        var[:] = 0
        for i in range(n):
            for j in range(w):
                c = inp[i, j] - mu[j]
                xc[i, j] = c
                var[j] += c * c
        keep = inp.dtype.type(momentum)
        move = inp.dtype.type(1 - momentum)
        for j in range(w):
            var[j] = var[j] / nf
            std[j] = np.sqrt(var[j] + eps)
            running_mean[j] = keep * running_mean[j] + move * mu[j]
            running_var[j] = keep * running_var[j] + move * var[j]
        for i in range(n):
            for j in range(w):
                z = xc[i, j] / std[j]
                xn[i, j] = z
                out[i, j] = gamma[j] * z + beta[j]
    else:  # test mode: running statistics; the book leaves xc, xn, std as the last training batch's
        for i in range(n):
            for j in range(w):
                z = (inp[i, j] - running_mean[j]) / np.sqrt(running_var[j] + eps)
                out[i, j] = gamma[j] * z + beta[j]


@kernel(internal=True)
def forward(net, x, rand, train, sigmoid, tanh, batchnorm, dropout):
    """Every layer's forward pass over x (n, features) in training (``train``: dropout draws from ``rand``, batch
    statistics) or test behaviour; returns the last layer's output (a view of scratch). ``sigmoid`` ... ``dropout``:
    the net's kind markers (see the module); a kind whose marker is None is not compiled."""
    table, fpar, arena, scratch, bmask = net[:5]  # (codes.NetArrays order)
    n = x.shape[0]
    out = x
    for k in range(table.shape[0]):
        row = table[k]
        code = row[COL_CODE]
        inp = _layer_input(table, scratch, x, k, n)
        out = _mat(scratch, row[COL_OUT], n, row[COL_WOUT])
        if code == AFFINE:
            _affine_forward(arena, row, inp, out)
        elif code == RELU:
            mask = _mat(bmask, row[COL_MASK], n, row[COL_WOUT])
            for i in range(n):
                for j in range(out.shape[1]):
                    v = inp[i, j]
                    mask[i, j] = v <= 0
                    out[i, j] = relu_scalar(v)
        elif code == SIGMOID or code == SIGMOID_CH4:
            if sigmoid is not None:
                for i in range(n):
                    for j in range(out.shape[1]):
                        out[i, j] = sigmoid_scalar(inp[i, j])
        elif code == TANH:
            if tanh is not None:
                for i in range(n):
                    for j in range(out.shape[1]):
                        out[i, j] = tanh_scalar(inp[i, j])
        elif code == BATCHNORM:
            if batchnorm is not None:
                _batchnorm_rows_forward(arena, scratch, row, fpar[k], inp, out, train)
        elif dropout is not None:  # DROPOUT: the first book's non-inverted dropout
            ratio = fpar[k]
            if train:
                mask = _mat(bmask, row[COL_MASK], n, row[COL_WOUT])
                r = _mat(rand, row[COL_RAND], n, row[COL_WOUT])
                for i in range(n):
                    for j in range(out.shape[1]):
                        m = r[i, j] > ratio
                        mask[i, j] = m
                        out[i, j] = inp[i, j] * (1 if m else 0)
            else:
                keep = inp.dtype.type(1.0 - ratio)
                for i in range(n):
                    for j in range(out.shape[1]):
                        out[i, j] = inp[i, j] * keep
    return out


@kernel(internal=True)
def _targets_fit(labels, onehot, n, n_classes):
    """True when the targets fit n rows of n_classes scores: n labels in [0, n_classes), or one-hot rows (n,
    n_classes). Compiled for the form given only (``onehot`` None: labels)."""
    if onehot is not None:
        return onehot.shape == (n, n_classes)
    if labels is not None:
        if labels.size != n:
            return False
        for i in range(n):
            if labels[i] < 0 or labels[i] >= n_classes:
                return False
    return True


@kernel(internal=True)
def _weight_decay(table, arena, decay):
    """The book's 0.5 * lambda * sum(W**2), summed over the Affine layers."""
    total = 0.0
    for k in range(table.shape[0]):
        row = table[k]
        if row[COL_CODE] == AFFINE:
            W = arena[row[COL_P0]:row[COL_P0] + row[COL_WIN] * row[COL_WOUT]]
            s = 0.0
            for i in range(W.size):
                s += W[i] * W[i]
            total += 0.5 * decay * s
    return total


# --- backward ---------------------------------------------------------------------------------------------------
@kernel(internal=True)
def _colsum(d, out):
    """out = the column sums of d, row by row (NumPy's sum(axis=0))."""
    out[:] = 0
    for i in range(d.shape[0]):
        for j in range(d.shape[1]):
            out[j] += d[i, j]


@kernel(internal=True)
def _batchnorm_rows_backward(arena, scratch, row, d, dx):
    """The book's batch-norm backward of d into dx from the training forward's xc, xn, std; dgamma and dbeta into
    the arena."""
    n, w = d.shape

    def vec(buf, column):  # the layer's block of w values at a table column (a closure: numba inlines it)
        return buf[row[column]:row[column] + w]

    gamma = vec(arena, COL_P0)
    dgamma, dbeta = vec(arena, COL_G0), vec(arena, COL_G1)
    xc, xn = _mat(scratch, row[COL_XC], n, w), _mat(scratch, row[COL_XN], n, w)
    std, dstd, dmu = vec(scratch, COL_STD), vec(scratch, COL_WORK0), vec(scratch, COL_WORK1)
    _colsum(d, dbeta)
    dgamma[:] = 0
    dstd[:] = 0
    for i in range(n):
        for j in range(w):
            dgamma[j] += xn[i, j] * d[i, j]
            dstd[j] += (gamma[j] * d[i, j] * xc[i, j]) / (std[j] * std[j])
    two_over_n = d.dtype.type(2.0 / n)
    half = d.dtype.type(0.5)
    for j in range(w):
        dstd[j] = half * -dstd[j] / std[j]  # now dvar
    dmu[:] = 0
    for i in range(n):
        for j in range(w):
            c = (gamma[j] * d[i, j]) / std[j] + two_over_n * xc[i, j] * dstd[j]
            dx[i, j] = c
            dmu[j] += c
    nf = d.dtype.type(n)
    for i in range(n):
        for j in range(w):
            dx[i, j] = dx[i, j] - dmu[j] / nf


@kernel(internal=True)
def backward(net, x, dy, need_dx, sigmoid, tanh, batchnorm):
    """Every layer's backward pass from dy (the loss layer's dx, a view of ping) after a forward of x; writes the
    layers' gradients into the arena. Returns the input gradient (a view of ping or pong) when need_dx, else the
    first layer's output gradient. ``sigmoid``, ``tanh``, ``batchnorm``: the net's kind markers (see forward; the
    dropout backward is one multiplication, compiled always)."""
    table, _, arena, scratch, bmask, _, ping, pong = net[:8]  # (codes.NetArrays order)
    n = x.shape[0]
    d = dy
    for k in range(table.shape[0] - 1, -1, -1):
        row = table[k]
        code = row[COL_CODE]
        w_in, w_out = row[COL_WIN], row[COL_WOUT]
        other = (pong if d.ctypes.data == ping.ctypes.data else ping)[:n * w_in].reshape((n, w_in))
        if code == AFFINE:
            inp = _layer_input(table, scratch, x, k, n)
            weight_gradient(inp, d, _mat(arena, row[COL_G0], w_in, w_out))
            _colsum(d, arena[row[COL_G1]:row[COL_G1] + w_out])
            if k == 0 and not need_dx:
                return d
            np.dot(d, _mat(arena, row[COL_P0], w_in, w_out).T, other)
            d = other
        elif code == RELU:
            mask = _mat(bmask, row[COL_MASK], n, w_out)
            for i in range(n):
                for j in range(w_out):
                    d[i, j] = relu_backward_scalar(d[i, j], mask[i, j])
        elif code == SIGMOID:
            if sigmoid is not None:
                y = _mat(scratch, row[COL_OUT], n, w_out)
                for i in range(n):
                    for j in range(w_out):
                        d[i, j] = sigmoid_backward_scalar(d[i, j], y[i, j])
        elif code == SIGMOID_CH4:  # chapter 4: sigmoid_grad(a1) * (dy @ W2.T)
            if sigmoid is not None:
                y = _mat(scratch, row[COL_OUT], n, w_out)
                for i in range(n):
                    for j in range(w_out):
                        d[i, j] = sigmoid_slope(y[i, j]) * d[i, j]
        elif code == TANH:
            if tanh is not None:
                y = _mat(scratch, row[COL_OUT], n, w_out)
                for i in range(n):
                    for j in range(w_out):
                        d[i, j] = tanh_backward_scalar(d[i, j], y[i, j])
        elif code == BATCHNORM:
            if batchnorm is not None:
                _batchnorm_rows_backward(arena, scratch, row, d, other)
                d = other
        else:  # DROPOUT
            mask = _mat(bmask, row[COL_MASK], n, w_out)
            for i in range(n):
                for j in range(w_out):
                    d[i, j] = d[i, j] * (1 if mask[i, j] else 0)
    return d


@kernel(internal=True)
def _returned_gradients(table, arena, decay):
    """With weight decay the returned gradients are the book's dW + lambda * W (the layers keep dW); b, gamma and
    beta are copied. Without it the returned gradients are the layers' own buffers (same offsets)."""
    for k in range(table.shape[0]):
        row = table[k]
        code = row[COL_CODE]
        if code != AFFINE and code != BATCHNORM:
            continue
        if row[COL_F0] == row[COL_G0]:
            continue
        g0, f0, p0 = row[COL_G0], row[COL_F0], row[COL_P0]
        if code == AFFINE:
            lam = arena.dtype.type(decay)
            for i in range(row[COL_WIN] * row[COL_WOUT]):
                arena[f0 + i] = arena[g0 + i] + lam * arena[p0 + i]
        else:
            for i in range(row[COL_WOUT]):
                arena[f0 + i] = arena[g0 + i]
        for i in range(row[COL_WOUT]):
            arena[row[COL_F1] + i] = arena[row[COL_G1] + i]


# --- one call ---------------------------------------------------------------------------------------------------
@kernel
def run(net, x, labels, onehot, rand, mode, train, decay, dout, need_dx, res):
    """One network call on x (n, features) with the targets (see the module), ``rand`` the dropout draws of a training
    forward. mode PREDICT: forward only (returns the scores; the targets are placeholders, of the form last used);
    LOSS: forward + loss; GRADIENT: forward + loss + backward; BACKWARD: backward from the state of the last forward
    (the second book's ``backward(dout)``). ``train``: training behaviour of the forward; ``decay``: the weight-decay
    lambda, None without weight decay (none of its code compiled then); ``dout``: the loss's upstream gradient;
    ``need_dx``: compute the input gradient. res[0] = the loss layer's loss, res[1] = status, res[2] = the
    weight-decay term. Returns the scores, or the input gradient."""
    table, _, arena, _, _, y, ping, _, sigmoid, tanh, batchnorm, dropout = net  # (codes.NetArrays order)
    res[1] = OK
    if mode != PREDICT and not _targets_fit(labels, onehot, x.shape[0], y.shape[1]):
        res[1] = BAD_LABEL  # the caller's checks make a misfit shape unreachable; it guards the indexing below
        return y
    if mode != BACKWARD:
        scores = forward(net, x, rand, train, sigmoid, tanh, batchnorm, dropout)
        if mode == PREDICT:
            return scores
        delta = y.dtype.type(CE_DELTA)
        if onehot is not None:
            res[0] = softmax_cross_entropy_onehot(scores, onehot, delta, y)
        if labels is not None:
            res[0] = softmax_cross_entropy_labels(scores, labels, delta, y)
        res[2] = 0.0
        if decay is not None:
            res[2] = _weight_decay(table, arena, decay)
        if mode == LOSS:
            return scores
    dy = ping[:y.size].reshape(y.shape)
    if onehot is not None:
        softmax_cross_entropy_backward_onehot(y, onehot, dout, dy)
    if labels is not None:
        softmax_cross_entropy_backward_labels(y, labels, dout, dy)
    dx = backward(net, x, dy, need_dx, sigmoid, tanh, batchnorm)
    if decay is not None:
        _returned_gradients(table, arena, decay)
    return dx


# --- optimizer updates over flat buffers ------------------------------------------------------------------------
@kernel
def update(opt, params, grads, state, m, v, segments, coef):
    """One optimizer step over every parameter: segments[s] = (parameter offset in params, gradient offset in
    grads, size); the state buffers share the parameters' offsets: ``state`` a one-buffer rule's (Momentum,
    Nesterov, AdaGrad, RMSprop), ``m`` and ``v`` Adam's, None where the rule has none (numba then prunes the other
    rules before typing them; SGD has no buffer). coef: the optimizer's scalars for this step (fastnn.optimizer),
    in the parameters' dtype."""
    for s in range(segments.shape[0]):
        po, go, size = segments[s, 0], segments[s, 1], segments[s, 2]
        p, g = params[po:po + size], grads[go:go + size]
        if state is not None:
            _one_state_update(opt, p, g, state[po:po + size], coef)
        elif m is not None:
            adam(p, g, m[po:po + size], v[po:po + size], coef[0], coef[1], coef[2], coef[3])
        else:
            sgd(p, g, coef[0])


@kernel(internal=True)
def _one_state_update(opt, p, g, state, coef):
    """One step of a rule with one state buffer (Momentum, Nesterov, AdaGrad, RMSprop) on one parameter."""
    if opt == OPT_MOMENTUM:
        momentum(p, g, state, coef[0], coef[1])
    elif opt == OPT_NESTEROV:
        nesterov(p, g, state, coef[0], coef[1], coef[2], coef[3])
    elif opt == OPT_ADAGRAD:
        adagrad(p, g, state, coef[0], coef[1])
    else:
        rmsprop(p, g, state, coef[0], coef[1], coef[2], coef[3])


@kernel(internal=True)
def _all_finite(a):
    """True when no entry of a is inf or NaN."""
    # x - x is 0 for a finite x and NaN for inf or NaN; OR-ing the comparisons vectorises (an early exit would not)
    bad = False
    for i in range(a.size):
        bad |= (a[i] - a[i]) != 0
    return not bad


# --- the fused training loop ------------------------------------------------------------------------------------
@kernel(internal=True)
def _gather(x_train, t_train, onehot_train, idx, xb, labels, onehot):
    """The rows ``idx`` of the training set into the batch buffers xb and labels (or onehot: compiled for the
    form given, ``onehot_train`` None for labels)."""
    for i in range(idx.size):
        r = idx[i]
        for j in range(xb.shape[1]):
            xb[i, j] = x_train[r, j]
        if onehot_train is not None:
            for j in range(onehot.shape[1]):
                onehot[i, j] = onehot_train[r, j]
        if t_train is not None:
            labels[i] = t_train[r]


@kernel
def train_steps(net, data, batch, optimizer, batches, rands, coefs, decay, loss_after_update, check_finite, backup,
                losses, res):
    """Steps of the first book's Trainer, one per row of ``batches`` (the rows' indices drawn by the caller as the book
    draws them; ``rands[s]`` the dropout draws of step s): gradient, optimizer update, and the recorded loss (the
    book's after-update loss on the same batch, else the gradient pass's), into ``losses[s]``. Each pass is a call of
    ``run``, so the loop shares run's compiled code with the Python calls.

    ``net``: the plan's arrays at the batch size (see the module); ``data``: the training set, (x_train (N, features),
    labels (intp, N) or None, one-hot rows (N, classes) or None); ``batch``: the gathered batch's buffers (x, labels,
    one-hot rows; None where data has None) and run's result buffer (float64, 3); ``optimizer``: (its code OPT_*, its
    three state buffers, its segments; see update), ``coefs[s]`` its scalars at step s; ``decay``: the weight-decay
    lambda or None (see run). With check_finite, ``backup`` (as long as the parameters at the arena's start) holds the
    parameters before each update, and the loop stops at a non-finite loss or parameter (the caller restores). res[0]
    = steps done, res[1] = status."""
    arena = net[2]  # (codes.NetArrays order)
    x_train, t_train, onehot_train = data
    xb, labels, onehot, pass_res = batch
    opt, state, m, v, segments = optimizer
    res[1] = OK
    params = arena[:backup.size]
    last = 2 if loss_after_update else 1
    recorded = 2 if loss_after_update else 0  # the pass whose loss the step records
    for s in range(batches.shape[0]):
        res[0] = s
        _gather(x_train, t_train, onehot_train, batches[s], xb, labels, onehot)
        loss = 0.0
        # pass 0: forward and loss in training mode; 1: backward and update; 2: the book's loss after the update.
        # One call site of run: LLVM builds run's code again at each call site
        for p in range(last + 1):
            run(net, xb, labels, onehot, rands[s], BACKWARD if p == 1 else LOSS, p == 0, decay, 1.0, False, pass_res)
            if pass_res[1] != OK:
                res[1] = pass_res[1]
                return
            if p == 1:
                if check_finite:
                    copy_row(backup, params)
                update(opt, arena, arena, state, m, v, segments, coefs[s])
                if check_finite and not _all_finite(params):
                    res[1] = NONFINITE_PARAMS
                    return
                continue
            loss = pass_res[0] + pass_res[2]
            if check_finite and p == recorded and not math.isfinite(loss):
                losses[s] = loss
                res[1] = NONFINITE_LOSS
                return
        losses[s] = loss
    res[0] = batches.shape[0]
