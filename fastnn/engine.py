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

This module is the only place that knows the kernels' long argument lists, with fastnn/_training_loop.py for the
Trainer's compiled loop (its state: the training set as the loop reads it, the loop's buffers).
"""
import copy
import math
import weakref
from collections import OrderedDict

import numpy as np

from . import _checks
from ._identity import IdentityCheck, WeakAttributes
from ._layer_kinds import KINDS
from .kernels import codes
from .threads import _one_blas_thread
from ._dispatch import lazy_kernels

nk = lazy_kernels("network")

_MAX_PLANS = 4  # batch sizes kept (training batch, evaluation chunks, remainder)
# the table columns of a layer's parameters (offsets of the parameter, its gradient, its returned gradient) and of
# its running statistics, in the order of its kind's param_names and stats
_PARAM_COLUMNS = ((codes.COL_P0, codes.COL_G0, codes.COL_F0), (codes.COL_P1, codes.COL_G1, codes.COL_F1))
_STAT_COLUMNS = (codes.COL_S0, codes.COL_S1)


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
        self._last = None  # (plan, x, labels, onehot, x shape) of the last call with targets
        # a predict passes placeholder targets of the form last used, so that it runs the kernel already compiled
        # for that form (the kernel compiles for labels and for one-hot rows separately)
        self._onehot_used = False

    # -- layout ---------------------------------------------------------------------------------------------------
    def _layout(self):
        """Offsets of every parameter, gradient and statistic in the arena, and the arena itself."""
        shapes = []
        for spec in self.stack:
            shapes += zip(spec.keys or (), KINDS[spec.code].param_shapes(spec))
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
        self.stats = {}  # layer index -> offsets of its running statistics (batch norm: mean, variance)
        for k, spec in enumerate(self.stack):
            count = len(KINDS[spec.code].stats)
            if count:
                self.stats[k] = tuple(stats_base + i * spec.w_out for i in range(count))
                stats_base += count * spec.w_out
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
            kind = KINDS[spec.code]
            for i, key in enumerate(spec.keys or ()):
                slot = self.slots[key]
                view = views.get(key)
                if view is None:  # the views keep their identity from one adoption to the next
                    view = views[key] = self.view(slot.p, slot.shape)
                    gviews[key] = self.view(slot.g, slot.shape)
                given = params[key] if _has(params, key) else None
                current = kind.param_of(spec.layer, i)
                if first or given is not view:  # the params entry wins: it is what the optimizer updates
                    new = given if given is not None else current
                else:
                    new = current
                if new is not view:
                    _copy_into(view, new, key)
                params[key] = view
                kind.bind_param(spec.layer, i, view)
                kind.bind_grad(spec.layer, i, gviews[key])
        self._views, self._gviews = views, gviews
        for k, offsets in self.stats.items():
            spec = self.stack[k]
            layer = spec.layer
            for name, off in zip(KINDS[spec.code].stats, offsets):
                view = self.view(off, (spec.w_out,))
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

    def blueprint(self):
        """The constructor's arguments after the net (stack, loss_layer, dtype, {decay, grads_list}): what builds
        this engine again over a copy of its net (a deep copy, an unpickled net). A new engine lays out buffers of its
        own."""
        return self.stack, self.loss_layer, self.dtype, {"decay": self.decay, "grads_list": self.grads_list}

    def copy_for(self, net, memo):
        """A new engine for ``net``, a deep copy (``memo``) of this engine's net: the same structure over the copied
        layers, with the copied parameters and statistics moved into buffers of its own."""
        *args, options = copy.deepcopy(self.blueprint(), memo)
        return Engine(net, *args, **options)

    def _keys(self):
        params = self.net.params
        return list(params) if isinstance(params, dict) else list(range(len(params)))

    def _build_checks(self):
        """What in_sync compares by identity, and the gradient dicts that gradient() returns."""
        params = self.net.params
        attributes, items = [], [(WeakAttributes(self.net), "params", params)]
        items += [(params, key, self._views[key]) for key in self._keys()]
        for spec in self.stack:
            layer, kind = spec.layer, KINDS[spec.code]
            if layer is None:
                continue
            attributes += [(layer, name, getattr(layer, name)) for name in kind.watched]
            for name in kind.watched_lists:
                entries = getattr(layer, name)
                items += [(entries, i, entries[i]) for i in range(len(kind.param_names))]
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
            keys += list(spec.keys or ())
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
        """(labels, onehot): integer labels (intp) and None, or None and one-hot rows (the net's dtype), the book's
        rule (same size as the scores: one-hot)."""
        n, c = plan.n, self.n_out
        if type(t) is np.ndarray:
            if t.ndim == 1 and t.shape[0] == n and t.dtype.kind in "iu" and (c != 1 or n == 0):
                if t.dtype == np.intp and t.flags.c_contiguous:
                    return t, None
                np.copyto(plan.labels, t, casting="unsafe")  # out-of-range values are caught by the kernel
                return plan.labels, None
            if t.ndim == 2 and t.shape == (n, c) and t.dtype == self.dtype and t.flags.c_contiguous:
                _checks.finite_onehot(t, "t")
                self._onehot_used = True
                return None, t
        kind, checked = _checks.labels_or_onehot(t, plan.y, "t")
        if kind == "onehot":
            self._onehot_used = True
            return None, checked
        return checked, None

    # -- calls ----------------------------------------------------------------------------------------------------
    def run(self, x, t, mode, train, decay=0.0, dout=1.0, need_dx=False):
        """One compiled call (see fastnn.kernels.network.run); returns (plan, result array, x shape)."""
        self.sync()
        x2, shape, plan = self.inputs(x)
        if mode == nk.PREDICT:
            labels, onehot = (None, plan.no_onehot) if self._onehot_used else (plan.no_labels, None)
        else:
            labels, onehot = self.targets(t, plan)
        self.activate(plan)
        rand = plan.no_rand
        if train and plan.rand_size and mode != nk.BACKWARD:
            rand = plan.draw()
        self._note_inputs(x2, shape, t, plan, mode)
        out = self._call(plan, x2, labels, onehot, rand, mode, train, decay, dout, need_dx)
        if plan.res[1] != nk.OK:
            _checks.class_labels(t, plan.n, self.n_out, "t")  # raises the ValueError that says what is wrong
            raise ValueError(f"t must hold {plan.n} labels in [0, {self.n_out}) or one-hot rows of shape "
                             f"({plan.n}, {self.n_out})")
        if mode != nk.PREDICT:
            self._last = (plan, x2, labels, onehot, shape)
        return plan, out, shape

    def backward(self, dout):
        """The second book's ``backward(dout)`` after ``forward(x, t)``: layer gradients in place; returns dx in
        x's shape (a fresh array)."""
        if self._last is None:
            raise RuntimeError("backward called before forward")
        self.sync()
        plan, x2, labels, onehot, shape = self._last
        self.activate(plan)
        dx = self._call(plan, x2, labels, onehot, plan.no_rand, nk.BACKWARD, True, 0.0, dout, True)
        return dx.copy().reshape(shape)

    def _call(self, plan, x2, labels, onehot, rand, mode, train, decay, dout, need_dx):
        """The compiled call of run and backward (fastnn.kernels.network.run, its arguments described there) on
        the plan's arrays, BLAS at one thread for small batches; returns the kernel's result."""
        with _one_blas_thread(x2.shape[0], self.row_work):
            # decay None without weight decay: the kernel then compiles none of its code
            return nk.run(plan.net, x2, labels, onehot, rand, mode, train, decay or None, dout, need_dx, plan.res)

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

        table = np.zeros((len(stack), codes.N_COLS), dtype=np.int64)
        fpar = np.zeros(len(stack), dtype=np.float64)
        for k, spec in enumerate(stack):
            kind, row, w = KINDS[spec.code], table[k], spec.w_out
            row[codes.COL_CODE], row[codes.COL_WIN], row[codes.COL_WOUT] = spec.code, spec.w_in, w
            row[codes.COL_OUT] = take("scratch", n * w)
            fpar[k] = spec.scalar
            for columns, key in zip(_PARAM_COLUMNS, spec.keys or ()):
                slot = engine.slots[key]
                row[list(columns)] = slot.p, slot.g, slot.f
            for column, offset in zip(_STAT_COLUMNS, engine.stats.get(k, ())):
                row[column] = offset
            for column, per_row in kind.scratch:
                row[column] = take("scratch", (n if per_row else 1) * w)
            if kind.mask:
                row[codes.COL_MASK] = take("mask", n * w)
            if kind.rand:
                row[codes.COL_RAND] = take("rand", n * w)
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
        # the kernels' net argument: a plain tuple (a named tuple would cost 0.75 us more per compiled call)
        present = {KINDS[spec.code].marker for spec in stack}
        markers = [fpar if name in present else None for name in codes.MARKERS]
        self.net = tuple(codes.NetArrays(table, fpar, engine.arena, self.scratch, self.bmask, self.y, self.ping,
                                         self.pong, *markers))
        self.attributes = self._attributes(engine)

    def region(self, buffer, offset, shape):
        """The view of ``buffer`` (scratch or bmask) that the kernels use at ``offset`` with ``shape``."""
        return buffer[offset:offset + int(np.prod(shape))].reshape(shape)

    def out(self, k, width):
        """Layer k's output (n, width), a view of scratch."""
        return self.block(k, codes.COL_OUT, (self.n, width))

    def block(self, k, column, shape):
        """The view of scratch that layer k's table ``column`` points at, with ``shape``."""
        return self.region(self.scratch, self.table[k, column], shape)

    def mask(self, k, width):
        """Layer k's boolean mask (n, width), a view of bmask."""
        return self.region(self.bmask, self.table[k, codes.COL_MASK], (self.n, width))

    def _attributes(self, engine):
        """(object, attribute, value) of every book attribute that is a view of this plan's buffers."""
        attrs = []
        for k, spec in enumerate(engine.stack):
            if spec.layer is not None:
                attrs += [(spec.layer, name, value)
                          for name, value in KINDS[spec.code].book_attributes(self, k, spec)]
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
