"""The Python half of the network engine: a layered net's compiled plan.

A net built by fastnn.nets hands its layers to an :class:`Engine`, which

* lays every parameter, the layers' gradient buffers, the returned gradients (weight decay) and the batch-norm
  running statistics out in one flat ``arena`` and rebinds ``net.params[...]`` and the layers' arrays to views of
  it (so ``net.params['W1'] is net.layers['Affine1'].W`` and an in-place update reaches the layers);
* keeps one :class:`_Plan` per batch size (the scratch buffers every layer writes, the layer table), and points the
  layers' book attributes (``Affine.x``, ``Relu.mask``, ``Sigmoid.out``, ``BatchNormalization.xc/xn/std``,
  ``Dropout.mask``, ``SoftmaxWithLoss.y``) at that plan's views, so after any call they show what the book's code
  would;
* checks x and t once at the door and runs the whole stack in one compiled call (fastnn.kernels.network).

When a parameter array is replaced (``net.params['W1'] = A``, ``layer.W = A``, a checkpoint setting
``running_mean``), the next call notices (identity checks, no function calls) and *adopts* it: its values are
copied into the arena and both places are pointed at the arena's view again. So a replacement takes effect, but
the replacing array itself is not updated by training afterwards (read ``net.params`` again).

This module is the only place that knows the kernels' long argument lists.
"""
import copy
import math
import weakref
from collections import OrderedDict

import numpy as np

from . import _checks
from ._identity import IdentityCheck, WeakAttributes
from .threads import _one_blas_thread
from ._dispatch import lazy_kernels

nk = lazy_kernels("network")

_MAX_PLANS = 4  # batch sizes kept (training batch, evaluation chunks, remainder)


class LayerSpec:
    """One layer as the engine sees it: its code, its layer object (None for nets without layer objects), its
    widths, the params keys of its two parameters (Affine W, b; batch norm gamma, beta) and its scalar (batch-norm
    momentum, dropout ratio)."""

    __slots__ = ("code", "layer", "w_in", "w_out", "keys", "scalar")

    def __init__(self, code, layer, w_in, w_out, keys=None, scalar=0.0):
        self.code, self.layer, self.w_in, self.w_out, self.keys, self.scalar = code, layer, w_in, w_out, keys, scalar


class _Slot:
    """A parameter's place: its params key, shape, offset of the parameter (P), the layer's gradient (G) and the
    returned gradient (F) in the arena."""

    __slots__ = ("key", "shape", "size", "p", "g", "f")

    def __init__(self, key, shape, p, g, f):
        self.key, self.shape, self.size, self.p, self.g, self.f = key, shape, int(np.prod(shape)), p, g, f


class Engine:
    """The compiled plan of one net. ``stack`` is a list of LayerSpec, ``loss_layer`` the SoftmaxWithLoss object
    (or None), ``decay`` True when the net has weight decay (its returned gradients are dW + lambda W)."""

    def __init__(self, net, stack, loss_layer, dtype, *, decay=False, grads_list=None):
        # the net owns its engine: a weak reference back, so that a dropped net frees its buffers at once (a
        # cycle waited for the cyclic collector: 32 nets of chapter 6's batch_norm_test held ~400 MB)
        self._net = weakref.ref(net)
        self.stack, self.loss_layer, self.dtype = stack, loss_layer, np.dtype(dtype)
        self._scalar = self.dtype.type
        self.decay = decay
        self.grads_list = grads_list  # the second book's net.grads list, kept in step with the layers
        self.n_in, self.n_out = stack[0].w_in, stack[-1].w_out
        self.row_work = max(spec.w_in * spec.w_out for spec in stack)  # the widest product's work per row
        self._layout()
        self.adopt()
        self._plans = OrderedDict()
        self._active = None
        self._last = None  # (plan, x, labels, onehot, use_onehot, x shape) of the last call with targets

    # -- layout ---------------------------------------------------------------------------------------------------
    def _layout(self):
        """Offsets of every parameter, gradient and statistic in the arena, and the arena itself."""
        shapes = []
        for spec in self.stack:
            if spec.code == nk.AFFINE:
                shapes += [(spec.keys[0], (spec.w_in, spec.w_out)), (spec.keys[1], (spec.w_out,))]
            elif spec.code == nk.BATCHNORM:
                shapes += [(spec.keys[0], (spec.w_out,)), (spec.keys[1], (spec.w_out,))]
        order = self._params_order([key for key, _ in shapes])
        shapes.sort(key=lambda item: order[item[0]])
        n_params = sum(int(np.prod(shape)) for _, shape in shapes)
        g_base, f_base = n_params, 2 * n_params
        stats_base = (3 if self.decay else 2) * n_params
        self.slots, offset = {}, 0
        for key, shape in shapes:
            f = f_base + offset if self.decay else g_base + offset
            self.slots[key] = _Slot(key, shape, offset, g_base + offset, f)
            offset += int(np.prod(shape))
        self.n_params = n_params
        self.stats = {}  # batch-norm layer index -> (running_mean offset, running_var offset)
        for k, spec in enumerate(self.stack):
            if spec.code == nk.BATCHNORM:
                self.stats[k] = (stats_base, stats_base + spec.w_out)
                stats_base += 2 * spec.w_out
        self.arena = np.zeros(stats_base, dtype=self.dtype)

    def _params_order(self, keys):
        """The position of each key in net.params (the arena follows the book's params order)."""
        params = self.net.params
        if isinstance(params, dict):
            positions = {key: i for i, key in enumerate(params)}
            return {key: positions.get(key, len(positions) + i) for i, key in enumerate(keys)}
        return {key: key for key in keys}

    def view(self, offset, shape):
        """Returns the arena's view of ``shape`` starting at ``offset``."""
        return self.arena[offset:offset + int(np.prod(shape))].reshape(shape)

    # -- keeping the net's arrays and the arena one ------------------------------------------------------------
    def adopt(self):
        """Copy every parameter and statistic that is not (any more) a view of the arena into it, and point the
        net's params and the layers at the arena's views again. Raises ValueError for an array of another shape."""
        params = self.net.params
        views, gviews = getattr(self, "_views", {}), getattr(self, "_gviews", {})
        first = not views
        for spec in self.stack:
            if spec.code not in (nk.AFFINE, nk.BATCHNORM):
                continue
            for i, key in enumerate(spec.keys):
                slot = self.slots[key]
                view = views.get(key)
                if view is None:  # the views keep their identity from one adoption to the next
                    view = views[key] = self.view(slot.p, slot.shape)
                    gviews[key] = self.view(slot.g, slot.shape)
                given = params[key] if _has(params, key) else None
                current = _param_of(spec, i)
                if first or given is not view:  # the params entry wins: it is what the optimizer updates
                    new = given if given is not None else current
                else:
                    new = current
                if new is not view:
                    _copy_into(view, new, key)
                params[key] = view
                _set_param(spec, i, view)
                _set_grad(spec, i, gviews[key])
        self._views, self._gviews = views, gviews
        for k, (mean_off, var_off) in self.stats.items():
            layer = self.stack[k].layer
            for name, off in (("running_mean", mean_off), ("running_var", var_off)):
                view = self.view(off, (self.stack[k].w_out,))
                value = getattr(layer, name, None)
                if value is None:
                    view[:] = 0
                elif value is not view:
                    _copy_into(view, value, name)
                setattr(layer, name, view)
        if self.grads_list is not None:
            self.grads_list[:] = [self._gviews[key] for key in self._keys()]
        self._build_checks()

    @property
    def net(self):
        """The net this engine runs."""
        return self._net()

    def copy_for(self, net, memo):
        """A new engine for ``net``, a deep copy (``memo``) of this engine's net: the same structure over the copied
        layers, with the copied parameters and statistics moved into buffers of its own."""
        return Engine(net, copy.deepcopy(self.stack, memo), copy.deepcopy(self.loss_layer, memo), self.dtype,
                      decay=self.decay, grads_list=copy.deepcopy(self.grads_list, memo))

    def _keys(self):
        params = self.net.params
        return list(params) if isinstance(params, dict) else list(range(len(params)))

    def _build_checks(self):
        """What in_sync compares by identity, and the gradient dicts that gradient() returns."""
        params = self.net.params
        attributes, items = [], [(WeakAttributes(self.net), "params", params)]
        items += [(params, key, self._views[key]) for key in self._keys()]
        for spec in self.stack:
            layer = spec.layer
            if layer is None:
                continue
            if spec.code == nk.AFFINE:
                attributes += [(layer, "params", layer.params), (layer, "grads", layer.grads)]
                items += [(layer.params, i, layer.params[i]) for i in (0, 1)]
                items += [(layer.grads, i, layer.grads[i]) for i in (0, 1)]
            elif spec.code == nk.BATCHNORM:
                attributes += [(layer, name, getattr(layer, name))
                               for name in ("gamma", "beta", "running_mean", "running_var", "dgamma")]
        self._n_entries = len(params)
        self._unchanged = IdentityCheck(attributes, items)
        keys = self._grad_keys()
        self.grads = {key: self._gviews[key] for key in keys}
        self.decayed_grads = {key: self.view(self.slots[key].f, self.slots[key].shape) for key in keys}
        self._grads_unchanged = IdentityCheck(items=[(self.grads, key, view) for key, view in self.grads.items()])
        self._decayed_unchanged = IdentityCheck(items=[(self.decayed_grads, key, view)
                                                       for key, view in self.decayed_grads.items()])
        self._grad_pairs = list(self.grads.items())
        self._decayed_pairs = list(self.decayed_grads.items())

    def _grad_keys(self):
        """The book's gradient order: per hidden layer W, b then its batch norm's gamma, beta."""
        keys = []
        for spec in self.stack:
            if spec.code in (nk.AFFINE, nk.BATCHNORM):
                keys += list(spec.keys)
        return keys

    def in_sync(self):
        """True when every parameter, gradient buffer and statistic is still the arena's view (identity checks
        in one loop, no function call per entry: the Python call count per step does not grow with depth)."""
        return len(self.net.params) == self._n_entries and self._unchanged.holds()

    def sync(self):
        """Adopts replaced arrays (see adopt) when in_sync says something changed; returns nothing."""
        if not self.in_sync():
            self.adopt()
            self._active = None

    # -- plans ----------------------------------------------------------------------------------------------------
    def plan(self, n):
        """Returns the plan for batches of n rows (built on first use; the oldest of _MAX_PLANS is dropped)."""
        plan = self._plans.get(n)
        if plan is None:
            if len(self._plans) >= _MAX_PLANS:
                self._plans.popitem(last=False)
            plan = self._plans[n] = _Plan(self, n)
        return plan

    def activate(self, plan):
        """Point the layers' book attributes at this plan's buffers."""
        if self._active is not plan:
            for obj, name, value in plan.attributes:
                setattr(obj, name, value)
            self._active = plan

    # -- the door -------------------------------------------------------------------------------------------------
    def inputs(self, x):
        """(x as a C-contiguous (N, D) batch in the net's dtype, its original shape, the plan for N)."""
        if type(x) is np.ndarray and x.ndim == 2 and x.dtype == self.dtype and x.flags.c_contiguous:
            n, d = x.shape
            if d == self.n_in and n > 0:
                return x, x.shape, self.plan(n)
        a = _checks.float_array(x, "x", min_ndim=2, allow_empty=False)
        shape = a.shape
        a2 = a.reshape(shape[0], -1)
        if a2.shape[1] != self.n_in:
            raise ValueError(f"x must have {self.n_in} features per row to match the first layer's weights of "
                             f"shape ({self.n_in}, {self.stack[0].w_out}); got input of shape {shape}")
        plan = self.plan(shape[0])
        if a2.dtype != self.dtype:
            np.copyto(plan.xbuf, a2)
            a2 = plan.xbuf
        return a2, shape, plan

    def targets(self, t, plan):
        """(labels, onehot, use_onehot): integer labels (intp) or one-hot rows (the net's dtype), the book's rule
        (same size as the scores: one-hot)."""
        n, c = plan.n, self.n_out
        if type(t) is np.ndarray:
            if t.ndim == 1 and t.shape[0] == n and t.dtype.kind in "iu" and (c != 1 or n == 0):
                if t.dtype == np.intp and t.flags.c_contiguous:
                    return t, plan.no_onehot, False
                np.copyto(plan.labels, t, casting="unsafe")  # out-of-range values are caught by the kernel
                return plan.labels, plan.no_onehot, False
            if t.ndim == 2 and t.shape == (n, c) and t.dtype == self.dtype and t.flags.c_contiguous:
                _checks.finite_onehot(t, "t")
                return plan.no_labels, t, True
        kind, checked = _checks.labels_or_onehot(t, plan.y, "t")
        if kind == "onehot":
            return plan.no_labels, checked, True
        return checked, plan.no_onehot, False

    # -- calls ----------------------------------------------------------------------------------------------------
    def run(self, x, t, mode, train, decay=0.0, dout=1.0, need_dx=False):
        """One compiled call (see fastnn.kernels.network.run); returns (plan, result array, x shape)."""
        self.sync()
        x2, shape, plan = self.inputs(x)
        if mode == nk.PREDICT:
            labels, onehot, use_onehot = plan.no_labels, plan.no_onehot, False
        else:
            labels, onehot, use_onehot = self.targets(t, plan)
        self.activate(plan)
        rand = plan.no_rand
        if train and plan.rand_size and mode != nk.BACKWARD:
            rand = plan.draw()
        self._note_inputs(x2, shape, t, plan, mode)
        with _one_blas_thread(x2.shape[0], self.row_work):
            out = nk.run(plan.table, plan.fpar, self.arena, plan.scratch, plan.bmask, x2, labels, onehot,
                         use_onehot, rand, plan.y, plan.ping, plan.pong, mode, train, decay, dout, need_dx, plan.res)
        if plan.res[1] != nk.OK:
            _checks.class_labels(t, plan.n, self.n_out, "t")  # raises the ValueError that says what is wrong
            raise ValueError(f"t must hold {plan.n} labels in [0, {self.n_out}) or one-hot rows of shape "
                             f"({plan.n}, {self.n_out})")
        if mode != nk.PREDICT:
            self._last = (plan, x2, labels, onehot, use_onehot, shape)
        return plan, out, shape

    def backward(self, dout):
        """The second book's ``backward(dout)`` after ``forward(x, t)``: layer gradients in place; returns dx in
        x's shape (a fresh array)."""
        if self._last is None:
            raise RuntimeError("backward called before forward")
        self.sync()
        plan, x2, labels, onehot, use_onehot, shape = self._last
        self.activate(plan)
        with _one_blas_thread(x2.shape[0], self.row_work):
            dx = nk.run(plan.table, plan.fpar, self.arena, plan.scratch, plan.bmask, x2, labels, onehot,
                        use_onehot, plan.no_rand, plan.y, plan.ping, plan.pong, nk.BACKWARD, True, 0.0, dout, True,
                        plan.res)
        return dx.copy().reshape(shape)

    def _note_inputs(self, x2, shape, t, plan, mode):
        """The per-call book attributes: the first layer's input, the loss layer's targets."""
        first = self.stack[0].layer
        if first is not None:
            first.x, first.original_x_shape = x2, shape
        if self.loss_layer is not None and mode != nk.PREDICT:
            self.loss_layer.t = t

    def finish_loss(self, plan):
        """The loss layer's book attributes after a loss; returns (cross-entropy in the net's dtype, weight-decay
        term as a float)."""
        ce, _, wd = plan.res.tolist()
        loss = self._scalar(ce)
        if self.loss_layer is not None:
            self.loss_layer.loss = loss
        if not -math.inf < ce + wd < math.inf:  # comparisons only: nothing added to the hot path
            _checks.warn_non_finite(ce + wd)
        return loss, wd

    def grads_for(self, decay):
        """The returned gradient dict (rebuilt if a caller changed its entries)."""
        if decay:
            grads, pairs, unchanged = self.decayed_grads, self._decayed_pairs, self._decayed_unchanged
        else:
            grads, pairs, unchanged = self.grads, self._grad_pairs, self._grads_unchanged
        if len(grads) != len(pairs) or not unchanged.holds():
            grads.clear()
            grads.update(pairs)
        return grads


class TrainingData:
    """A Trainer's training set as the fused loop reads it: x as (N, D) float32/float64 rows, t as intp labels
    or one-hot rows in the net's dtype (checked once)."""

    def __init__(self, engine, x, t):
        x = np.asarray(x)
        x2 = x.reshape(x.shape[0], -1)
        if x2.shape[1] != engine.n_in:
            raise ValueError(f"x_train must have {engine.n_in} features per row to match the network; got shape "
                             f"{x.shape}")
        if x2.dtype not in _checks.FLOAT_DTYPES or not x2.flags.c_contiguous:
            x2 = np.ascontiguousarray(x2, dtype=engine.dtype if x2.dtype not in _checks.FLOAT_DTYPES else x2.dtype)
        self.x = x2
        kind, checked = _checks.labels_or_onehot_for(t, x2.shape[0], engine.n_out, "t_train", engine.dtype)
        self.use_onehot = kind == "onehot"
        self.labels = np.zeros(1, np.intp) if self.use_onehot else checked
        self.onehot = checked if self.use_onehot else np.zeros((1, 1), engine.dtype)


class TrainingLoop:
    """The state of a Trainer's fused loop: the plan of its batch size, the optimizer's flat plan, the buffers
    the kernel writes (gathered batch, losses, parameter backup)."""

    def __init__(self, engine, data, batch_size, flat):
        self.engine, self.data, self.flat = engine, data, flat
        self.plan = engine.plan(batch_size)
        self.xb = np.zeros((batch_size, engine.n_in), dtype=engine.dtype)
        self.labels = np.zeros(batch_size, dtype=np.intp)
        self.onehot = np.zeros((batch_size, engine.n_out), dtype=engine.dtype)
        self.backup = np.zeros(engine.n_params, dtype=engine.dtype)
        self.res = np.zeros(3, dtype=np.float64)

    def run(self, batches, rands, coefs, decay, loss_after_update, check_finite):
        """Steps for the rows of ``batches``; returns (losses of the steps done, status)."""
        engine, plan, flat, data = self.engine, self.plan, self.flat, self.data
        engine.activate(plan)
        losses = np.zeros(len(batches), dtype=np.float64)
        with _one_blas_thread(self.xb.shape[0], engine.row_work):
            nk.train_steps(plan.table, plan.fpar, engine.arena, plan.scratch, plan.bmask, data.x, data.labels,
                           data.onehot, data.use_onehot, batches, rands, self.xb, self.labels, self.onehot, plan.y,
                           plan.ping, plan.pong, decay, flat.code, *flat.states, flat.segments, coefs,
                           loss_after_update, check_finite, self.backup, engine.n_params, losses, self.res)
        done = int(self.res[0])
        first = engine.stack[0].layer
        if first is not None:
            first.x, first.original_x_shape = self.xb, self.xb.shape
        if engine.loss_layer is not None:
            engine.loss_layer.t = (self.onehot if data.use_onehot else self.labels).copy()
        return losses[:done + (self.res[1] == nk.NONFINITE_LOSS)], int(self.res[1])

    def restore(self):
        """Put back the parameters from before the last update."""
        self.engine.arena[:self.engine.n_params] = self.backup


class _Plan:
    """Buffers and table for one batch size."""

    def __init__(self, engine, n):
        self.n = n
        dt, stack = engine.dtype, engine.stack
        c = engine.n_out
        offsets = {"scratch": 0, "mask": 0, "rand": 0}

        def take(kind, size):
            start = offsets[kind]
            offsets[kind] += size
            return start

        table = np.zeros((len(stack), nk.N_COLS), dtype=np.int64)
        fpar = np.zeros(len(stack), dtype=np.float64)
        for k, spec in enumerate(stack):
            row = table[k]
            row[nk.COL_CODE], row[nk.COL_WIN], row[nk.COL_WOUT] = spec.code, spec.w_in, spec.w_out
            row[nk.COL_OUT] = take("scratch", n * spec.w_out)
            fpar[k] = spec.scalar
            if spec.code in (nk.AFFINE, nk.BATCHNORM):
                s0, s1 = engine.slots[spec.keys[0]], engine.slots[spec.keys[1]]
                row[nk.COL_P0], row[nk.COL_P1] = s0.p, s1.p
                row[nk.COL_G0], row[nk.COL_G1] = s0.g, s1.g
                row[nk.COL_F0], row[nk.COL_F1] = s0.f, s1.f
            if spec.code == nk.BATCHNORM:
                row[nk.COL_S0], row[nk.COL_S1] = engine.stats[k]
                row[nk.COL_XC] = take("scratch", n * spec.w_out)
                row[nk.COL_XN] = take("scratch", n * spec.w_out)
                for col in (nk.COL_STD, nk.COL_WORK0, nk.COL_WORK1):
                    row[col] = take("scratch", spec.w_out)
            if spec.code in (nk.RELU, nk.DROPOUT):
                row[nk.COL_MASK] = take("mask", n * spec.w_out)
            if spec.code == nk.DROPOUT:
                row[nk.COL_RAND] = take("rand", n * spec.w_out)
        y_off = take("scratch", n * c)
        width = max([c] + [max(s.w_in, s.w_out) for s in stack])
        self.table, self.fpar = table, fpar
        self.scratch = np.zeros(offsets["scratch"], dtype=dt)
        self.bmask = np.zeros(max(offsets["mask"], 1), dtype=np.bool_)
        self.rand_size = offsets["rand"]
        self.ping, self.pong = np.zeros(n * width, dtype=dt), np.zeros(n * width, dtype=dt)
        self.y = self.region(self.scratch, y_off, (n, c))
        self.xbuf = np.zeros((n, engine.n_in), dtype=dt)
        self.labels = np.zeros(n, dtype=np.intp)
        self.onehot = np.zeros((n, c), dtype=dt)
        self.no_labels = np.zeros(1, dtype=np.intp)
        self.no_onehot = np.zeros((1, 1), dtype=dt)
        self.no_rand = np.zeros(1, dtype=np.float64)
        self.res = np.zeros(3, dtype=np.float64)
        self.attributes = self._attributes(engine)

    def region(self, buffer, offset, shape):
        """The view of ``buffer`` (scratch or bmask) that the kernels use at ``offset`` with ``shape``."""
        return buffer[offset:offset + int(np.prod(shape))].reshape(shape)

    def out(self, k, width):
        return self.region(self.scratch, self.table[k, nk.COL_OUT], (self.n, width))

    def _attributes(self, engine):
        """(object, attribute, value) of every book attribute that is a view of this plan's buffers."""
        n, attrs = self.n, []
        for k, spec in enumerate(engine.stack):
            layer, row = spec.layer, self.table[k]
            if layer is None:
                continue
            w = spec.w_out
            if spec.code == nk.AFFINE and k > 0:
                prev = self.out(k - 1, spec.w_in)
                attrs += [(layer, "x", prev), (layer, "original_x_shape", prev.shape)]
            elif spec.code == nk.RELU or spec.code == nk.DROPOUT:
                attrs.append((layer, "mask", self.region(self.bmask, row[nk.COL_MASK], (n, w))))
            elif spec.code in (nk.SIGMOID, nk.SIGMOID_CH4):
                attrs.append((layer, "out", self.out(k, w)))
            elif spec.code == nk.BATCHNORM:
                xc = self.region(self.scratch, row[nk.COL_XC], (n, w))
                xn = self.region(self.scratch, row[nk.COL_XN], (n, w))
                std = self.region(self.scratch, row[nk.COL_STD], (w,))
                attrs += [(layer, "xc", xc), (layer, "xn", xn), (layer, "std", std), (layer, "batch_size", n),
                          (layer, "input_shape", (n, w))]
        if engine.loss_layer is not None:
            attrs.append((engine.loss_layer, "y", self.y))
        return attrs

    def draw(self):
        """The dropout masks' uniform draws for one training forward, in the book's order (one
        ``np.random.rand(*x.shape)`` per Dropout layer, front to back: the same stream as one draw of their total
        size)."""
        return np.random.rand(self.rand_size)


# --- helpers for adopt() ------------------------------------------------------------------------------------------
def _has(params, key):
    return key in params if isinstance(params, dict) else 0 <= key < len(params)


def _param_of(spec, i):
    layer = spec.layer
    if layer is None:
        return None
    if spec.code == nk.AFFINE:
        return layer.params[i]
    return layer.gamma if i == 0 else layer.beta


def _set_param(spec, i, view):
    _set_pair(spec, i, view, "params", ("gamma", "beta"))


def _set_grad(spec, i, view):
    _set_pair(spec, i, view, "grads", ("dgamma", "dbeta"))


def _set_pair(spec, i, view, listname, bn_names):
    """Point entry i of the layer's params/grads list (and a batch-norm layer's named attribute) at view."""
    layer = spec.layer
    if layer is None:
        return
    getattr(layer, listname)[i] = view
    if spec.code == nk.BATCHNORM:
        setattr(layer, bn_names[i], view)


def _copy_into(view, value, name):
    """value's numbers into the arena's view (cast to the net's dtype), or a ValueError naming the entry."""
    if value is None:
        raise ValueError(f"{name} is None: the network needs an array of shape {view.shape}")
    a = _checks.as_array(value, name)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers; got dtype {a.dtype}")
    if a.shape != view.shape:
        raise ValueError(f"{name} must have shape {view.shape} to fit the network; got {a.shape}")
    np.copyto(view, a, casting="unsafe")
