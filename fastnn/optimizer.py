"""The books' ``common/optimizer.py`` on compiled kernels: SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam.

Same names, defaults, attributes (``lr``, ``momentum``, ``decay_rate``, ``beta1``, ``beta2``, ``iter`` and the
state ``v``, ``h``, ``m``) and results (to rounding) as the books. ``update(params, grads)`` takes either protocol:

* first book: two dicts, ``params[key]`` updated for every key of ``params`` (state is a dict);
* second book: two lists (or tuples of arrays), entry ``i`` updated for every ``i`` (state is a list).

NumPy array parameters are updated in place, never rebound: the networks' layers hold the same arrays. Arrays that
are not C-contiguous are updated through a contiguous copy that is written back. Scalar parameters (the book's
optimizer comparison uses ``params['x'] = -7.0``) are replaced in their container by a NumPy scalar of the new
value, as the book's code does. A gradient in another dtype is cast to its parameter's dtype (float32 stays
float32).

Everything is checked before anything changes, so a bad call leaves parameters, state and ``Adam.iter`` as they
were. Hyper-parameters are checked at construction and again at each update (the books' trainers assign
``optimizer.lr`` directly).

As in the books, the state is created on the first update, shaped like that call's parameters; set it back to
``None`` (e.g. ``optimizer.v = None``) to start afresh with other parameters. ``state_dict()`` returns the
hyper-parameters and state as plain data (arrays copied) and ``load_state_dict(state)`` restores them, checked
first (the Trainer's checkpoints use them).
"""
import numbers
import operator
from collections.abc import Mapping, MutableMapping

import numpy as np

from . import _checks
from ._identity import IdentityCheck, entries_are
from ._constants import OPT_EPS as EPS
from ._dispatch import kernels_for, lazy_kernels

network_kernels, optim = map(lazy_kernels, ("network", "optim"))

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "np"]  # np: as the book's star import


# --- hyper-parameter checks -------------------------------------------------------------------------------------
def _learning_rate(lr, name="lr"):
    return _checks.real_number(lr, name, positive=True)


def _unit_interval(value, name):
    """A finite real number in [0, 1): momentum, decay rate, beta."""
    value = _checks.real_number(value, name)
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1); got {value}")
    return value


# --- params/grads checks ----------------------------------------------------------------------------------------
class _Entry:
    """One checked parameter: its key, the parameter as found, its dtype, and the gradient as a 1-D C-contiguous
    array in that dtype. ``kind`` says how the kernel reaches it: "view" (a C-contiguous array, updated straight
    through a ravelled view), "copy" (any other array: a contiguous copy, written back) or "scalar" (replaced in
    its container)."""

    __slots__ = ("key", "param", "dtype", "grad", "kind")

    def __init__(self, key, param, dtype, grad, kind):
        self.key, self.param, self.dtype, self.grad, self.kind = key, param, dtype, grad, kind

    def work(self):
        """The 1-D C-contiguous array the kernel updates. Copies are taken at the entry's turn, not when checking,
        so parameters that share memory are updated one after another as in the books."""
        if self.kind == "view":
            return self.param.reshape(-1)
        if self.kind == "copy":
            return np.ascontiguousarray(self.param).reshape(-1)
        return np.array([self.param], dtype=self.dtype)

    def finish(self, params, work):
        """Put the result where the caller sees it."""
        if self.kind == "copy":
            self.param[...] = work.reshape(self.param.shape)
        elif self.kind == "scalar":
            params[self.key] = work[0]


def _keys(params, grads):
    """The keys to update, in the books' order, after checking that ``params`` and ``grads`` are containers that
    go together (two dicts, ``grads`` with an entry for each key; two lists or tuples of one length): the one
    check of both update paths (TypeError/ValueError naming the argument)."""
    if isinstance(params, Mapping):
        if not isinstance(grads, Mapping):
            raise TypeError(f"grads must be a dict like params; got {type(grads).__name__}")
        keys = list(params.keys())
        missing = [key for key in keys if key not in grads]
        if missing:
            raise ValueError(f"grads has no entry for params key(s) {', '.join(map(repr, missing))}")
        return keys
    if isinstance(params, (list, tuple)):
        if not isinstance(grads, (list, tuple)):
            raise TypeError(f"grads must be a list like params; got {type(grads).__name__}")
        if len(grads) != len(params):
            raise ValueError(f"grads must hold one gradient per parameter; got {len(grads)} gradients for "
                             f"{len(params)} parameters")
        return list(range(len(params)))
    raise TypeError(f"params must be a dict (first book) or a list (second book) of arrays; "
                    f"got {type(params).__name__}")


def _is_scalar(p):
    return isinstance(p, (numbers.Real, np.number)) and not isinstance(p, (bool, np.bool_))


def _entry(params, key, grad):
    p = params[key]
    if (type(p) is np.ndarray and type(grad) is np.ndarray and p.dtype in _checks.FLOAT_DTYPES
            and grad.dtype == p.dtype and grad.shape == p.shape and grad.flags.c_contiguous and p.flags.writeable):
        # the usual call (a layer's parameter and its gradient buffer): nothing to cast or copy
        return _Entry(key, p, p.dtype, grad.reshape(-1), "view" if p.flags.c_contiguous else "copy")
    name = f"params[{key!r}]"
    if isinstance(p, np.ndarray):
        _checks.writable_float_array(p, name)
        dtype, shape = p.dtype, p.shape
    elif _is_scalar(p):
        if not isinstance(params, (MutableMapping, list)):
            raise TypeError(f"{name} is a scalar, so it is replaced in its container, but params is a "
                            f"{type(params).__name__}; pass a dict or a list")
        dtype, shape = _checks.float_dtype(np.asarray(p).dtype, name), ()
    else:
        raise TypeError(f"{name} must be a float32/float64 NumPy array or a real number; got {type(p).__name__}")

    gname = f"grads[{key!r}]"
    g = _checks.as_array(grad, gname)
    _checks.float_dtype(g.dtype, gname)  # refuses complex, object, strings
    if g.shape != shape:
        raise ValueError(f"{gname} must have the shape of {name}, {shape}; got {g.shape}")
    g = np.ascontiguousarray(g, dtype=dtype).reshape(-1)

    if not isinstance(p, np.ndarray):
        return _Entry(key, p, dtype, g, "scalar")
    return _Entry(key, p, dtype, g, "view" if p.flags.c_contiguous else "copy")


def _entries(params, grads):
    keys = _keys(params, grads)
    return [_entry(params, key, grads[key]) for key in keys]


def _has_key(state, key):
    if isinstance(state, Mapping):
        return key in state
    return isinstance(state, list) and isinstance(key, int) and key < len(state)


def _state_items(state):
    return state.items() if isinstance(state, Mapping) else enumerate(state)


def _copy_state(state, name):
    """A state (None, or a dict/list of float arrays) copied, checked to be something update can use."""
    if state is None:
        return None
    if not isinstance(state, (Mapping, list, tuple)):
        raise TypeError(f"{name} must be None or a dict/list of arrays; got {type(state).__name__}")
    copies = {}
    for key, value in _state_items(state):
        a = _checks.as_array(value, f"{name}[{key!r}]")
        if a.dtype not in _checks.FLOAT_DTYPES:
            raise TypeError(f"{name}[{key!r}] must be a float32 or float64 array; got dtype {a.dtype}")
        copies[key] = np.array(a, order="C")
    return copies if isinstance(state, Mapping) else list(copies.values())


# --- one compiled call for parameters that live in one flat buffer -----------------------------------------
def _flat_base(arrays, dtype):
    """The 1-D buffer that every array is a C-contiguous view of, and each array's offset in it; None if there is
    no such single buffer (then each parameter is updated on its own)."""
    base = None
    offsets = []
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype != dtype or not a.flags.c_contiguous or not a.flags.writeable:
            return None
        b = a.base
        if base is None:
            base = b
        if (b is None or b is not base or b.ndim != 1 or not b.flags.c_contiguous or b.dtype != dtype
                or not b.flags.writeable):
            return None
        offset, rest = divmod(a.ctypes.data - b.ctypes.data, dtype.itemsize)
        if rest or offset < 0 or offset + a.size > b.size:
            return None
        offsets.append(offset)
    return (base, offsets) if base is not None else None


class _FlatPlan:
    """Parameters and gradients that are views of one flat buffer each (fastnn's nets: their arena), with the
    optimizer's state kept as views of flat buffers at the parameters' offsets: one kernel call per update."""

    def __init__(self, optimizer, params, keys, param_views, grad_views, params_flat, grads_flat):
        self.keys, self.param_views, self.grad_views = keys, param_views, grad_views
        self.dtype = param_views[0].dtype
        (self.params_base, p_offsets), (self.grads_base, g_offsets) = params_flat, grads_flat
        self.segments = np.array([[po, go, p.size] for po, go, p in zip(p_offsets, g_offsets, param_views)],
                                 dtype=np.int64).reshape(-1, 3)
        self.code = optimizer._code()
        self.coef = np.zeros(4, dtype=self.dtype)
        self.dict_form = isinstance(params, Mapping)
        self.state_flat, self.state_objs, self.state_pairs = [], [], []
        for name in optimizer.state_names:
            self._adopt_state(optimizer, name)
        # the kernel's state buffers (a one-buffer rule's; Adam's two), None where the rule has none: the kernel
        # compiles only the rule whose buffers it gets (and SGD's)
        flat = self.state_flat
        self.states = (flat[0], None, None) if len(flat) == 1 else (None, *flat) if flat else (None, None, None)
        self._build_checks(optimizer)

    @classmethod
    def build(cls, optimizer, params, grads, keys):
        """The plan, or None when the parameters and gradients are not non-overlapping views of one flat buffer
        each (cheap structural checks first: this runs on every update of parameters that are not flat)."""
        if not keys or getattr(params[keys[0]], "base", None) is None:
            return None  # a parameter that owns its memory is no view of a flat buffer (the books' layers)
        param_views, grad_views = [params[k] for k in keys], [grads[k] for k in keys]
        dtype = getattr(param_views[0], "dtype", None)
        if dtype is None or any(type(g) is not np.ndarray or g.shape != np.shape(p)
                                for p, g in zip(param_views, grad_views)):
            return None
        params_flat, grads_flat = _flat_base(param_views, dtype), _flat_base(grad_views, dtype)
        if params_flat is None or grads_flat is None:
            return None
        spans = sorted(zip(params_flat[1], [p.size for p in param_views]))
        if any(start < prev_start + prev_size for (prev_start, prev_size), (start, _) in zip(spans, spans[1:])):
            return None  # overlapping parameters are updated one after another as in the books
        try:
            entries = _entries(params, grads)
            for name in optimizer.state_names:  # the state must fit these parameters
                optimizer._state(name, params, entries)
        except (TypeError, ValueError):
            return None  # the per-parameter path raises the error that says what is wrong
        return cls(optimizer, params, keys, param_views, grad_views, params_flat, grads_flat)

    def _adopt_state(self, optimizer, name):
        """The state ``name`` as views of a flat buffer (values kept when it exists, zeros when it is None)."""
        old = getattr(optimizer, name)
        flat = np.zeros(self.params_base.size, dtype=self.dtype)
        views = {}
        for k, p, (po, _, size) in zip(self.keys, self.param_views, self.segments):
            view = flat[po:po + size].reshape(p.shape)
            if old is not None:
                np.copyto(view, np.asarray(old[k]), casting="unsafe")
            views[k] = view
        state = views if self.dict_form else [views[k] for k in self.keys]
        setattr(optimizer, name, state)
        self.state_flat.append(flat)
        self.state_objs.append(state)
        self.state_pairs.append(list(views.items()))

    def matches(self, optimizer, params, grads):
        """Identity checks, and the parameters still writable (made read-only since the plan was built: the
        per-parameter path refuses them), all cheap: the same parameter and gradient arrays, the state still
        ours."""
        return (len(params) == len(self.keys) and entries_are(params, self.keys, self.param_views)
                and entries_are(grads, self.keys, self.grad_views) and self._state_unchanged.holds()
                and self._writable())

    def _writable(self):
        if not self.params_base.flags.writeable:
            return False
        for p in self.param_views:
            if not p.flags.writeable:
                return False
        return True

    def _build_checks(self, optimizer):
        attributes = [(optimizer, name, state) for name, state in zip(optimizer.state_names, self.state_objs)]
        items = [(state, k, view) for state, pairs in zip(self.state_objs, self.state_pairs) for k, view in pairs]
        self._state_unchanged = IdentityCheck(attributes, items)

    def run(self, coefficients):
        coef = self.coef
        for i, c in enumerate(coefficients):
            coef[i] = c
        network_kernels.update(self.code, self.params_base, self.grads_base, *self.states, self.segments, coef)


# --- separate parameter arrays (the books' layers): the last update's checks, reused -----------------------------
class _ArraysPlan:
    """The kernel arguments of an update whose parameters are separate C-contiguous arrays with gradients of their
    own dtype and shape (the books' layers), kept for the next update while the very same parameter, gradient
    and state arrays come back (identity checks and the parameters still writable): the per-array checks of
    every step are then a loop of ``is`` tests."""

    __slots__ = ("keys", "param_arrays", "grad_arrays", "calls", "dtype", "size", "_state_unchanged")

    def __init__(self, optimizer, params, grads, keys, states):
        self.keys = keys
        self.param_arrays = [params[k] for k in keys]
        self.grad_arrays = [grads[k] for k in keys]
        self.dtype = self.param_arrays[0].dtype
        self.size = sum(p.size for p in self.param_arrays)
        # (param, grad, *state) as 1-D views: the kernel updates parameters and state in place
        self.calls = [(p.reshape(-1), g.reshape(-1), *[state[k].reshape(-1) for state in states])
                      for k, p, g in zip(keys, self.param_arrays, self.grad_arrays)]
        attributes = [(optimizer, name, state) for name, state in zip(optimizer.state_names, states)]
        items = [(state, k, state[k]) for state in states for k in keys]
        self._state_unchanged = IdentityCheck(attributes, items)

    @classmethod
    def build(cls, optimizer, params, grads, entries, states):
        """The plan for these checked entries, or None when one of them needs a cast, a copy or a write-back."""
        if not entries or not all(e.kind == "view" and e.dtype is entries[0].dtype and _uncast(grads[e.key], e)
                                  for e in entries):
            return None
        return cls(optimizer, params, grads, [e.key for e in entries], states)

    def matches(self, params, grads):
        """The same arrays as when the plan was built (cheap identity checks), the parameters still writable."""
        if len(params) != len(self.keys) or not entries_are(params, self.keys, self.param_arrays):
            return False
        if not entries_are(grads, self.keys, self.grad_arrays) or not self._state_unchanged.holds():
            return False
        for p in self.param_arrays:
            if not p.flags.writeable:
                return False
        return True

    def run(self, optimizer, coefficients):
        """One step of ``optimizer``'s rule with these scalar ``coefficients``."""
        kernel = getattr(kernels_for(self.size, optim), optimizer._kernel_name)
        scalars = [self.dtype.type(c) for c in coefficients]
        for args in self.calls:
            kernel(*args, *scalars)


def _uncast(grad, entry):
    """True when the entry's gradient is a view of ``grad`` itself (no cast or copy was needed)."""
    return (type(grad) is np.ndarray and grad.dtype is entry.dtype and grad.flags.c_contiguous
            and grad.shape == entry.param.shape)


# --- optimizers -------------------------------------------------------------------------------------------------
class _Optimizer:
    """Shared update loop. Subclasses name their hyper-parameters and state attributes, check the
    hyper-parameters and give the kernel's scalar arguments for one step."""

    _hyper_names = ("lr",)
    _counter_names = ()  # integer state (Adam's iter)
    state_names = ()  # public: its per-parameter state attributes (the state_dict entries that hold arrays)
    _kernel_name = None  # the update kernel in fastnn.kernels.optim (and its twin in fastnn._numpy_twins)
    _hypers = operator.attrgetter("lr")  # reads the hyper-parameters and counters at once (set per subclass)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._hypers = operator.attrgetter(*(cls._hyper_names + cls._counter_names))

    def _code(self):
        """The engine's code for this update rule (its one-call update over a flat buffer)."""
        return getattr(network_kernels, "OPT_" + self._kernel_name.upper())

    def _check(self):
        """Validate the hyper-parameters (raise ValueError/TypeError naming the bad one)."""
        raise NotImplementedError

    def _coefficients(self):
        """The kernel's scalar arguments for this step, as Python floats combined as the book combines them."""
        raise NotImplementedError

    # -- saving and restoring (checkpoints) ---------------------------------------------------------------------
    def state_dict(self):
        """Everything the next updates depend on, as plain data (arrays copied): ``{'type': class name,
        hyper-parameter: float, ..., state name: None or a dict/list of arrays}`` (Adam adds ``'iter'``)."""
        self._check()
        out = {"type": type(self).__name__}
        out.update((name, float(getattr(self, name))) for name in self._hyper_names)
        out.update((name, int(getattr(self, name))) for name in self._counter_names)
        out.update((name, _copy_state(getattr(self, name), name)) for name in self.state_names)
        return out

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned (hyper-parameters included). Everything is checked first; on
        an error nothing changes."""
        checked = self.checked_state_dict(state)
        for name, value in checked.items():
            setattr(self, name, value)

    def checked_state_dict(self, state):
        """Returns ``state`` (a :meth:`state_dict`) validated and copied, as {attribute: value}, without loading
        it; TypeError/ValueError naming the entry that does not fit."""
        cls = type(self).__name__
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a dict from {cls}.state_dict(); got {type(state).__name__}")
        expected = {"type", *self._hyper_names, *self._counter_names, *self.state_names}
        if set(state) != expected:
            raise ValueError(f"state must hold exactly the keys {sorted(expected)} of a {cls}; got {sorted(state)}")
        if state["type"] != cls:
            raise ValueError(f"state['type'] is {state['type']!r}: the state of another optimizer cannot be loaded "
                             f"into a {cls}")
        trial = object.__new__(type(self))  # run the class's own hyper-parameter checks on the loaded values
        for name in self._hyper_names:
            setattr(trial, name, state[name])
        for name in self._counter_names:
            setattr(trial, name, state[name])
        trial._check()
        checked = {name: getattr(trial, name) for name in self._hyper_names + self._counter_names}
        layout = None  # (container type, keys, shapes, dtypes) shared by every state entry
        for name in self.state_names:
            value = _copy_state(state[name], f"state[{name!r}]")
            checked[name] = value
            if value is None:
                continue
            this = (type(value), *zip(*[(k, a.shape, a.dtype) for k, a in _state_items(value)]))
            if layout is not None and this != layout:
                raise ValueError(f"state[{name!r}] must hold arrays for the same keys, shapes and dtypes as the "
                                 f"other state entries of the {cls}")
            layout = this
        return checked

    # -- the seam for a compiled training loop (fastnn.trainer) ---------------------------------------------------
    def step_coefficients(self, k, dtype=np.float64):
        """Returns the scalar arguments of the next ``k`` updates as a (k, n) array of ``dtype`` (row s for update
        s; the kernels' arguments, combined as the book combines them), after checking the hyper-parameters, and
        counts the k updates as made (Adam's ``iter`` advances by k). A caller that makes fewer of them (a compiled
        loop that stopped at a NaN) gives the rest back with :meth:`unstep`, so the counter, and a checkpoint saved
        afterwards, count only the updates made."""
        k = _checks.integer(k, "k", minimum=1)
        self._checked()
        rows = [self._coefficients() for _ in range(k)]
        self._steps_counted = k
        return np.array(rows, dtype=dtype).reshape(k, -1)

    def unstep(self, n):
        """Take back ``n`` of the updates the latest :meth:`step_coefficients` call counted but that were not made
        (0 <= n <= its k): the step counter (Adam's ``iter``) goes back by n; returns None."""
        n = _checks.integer(n, "n", minimum=0)
        counted = getattr(self, "_steps_counted", 0)
        if n > counted:
            raise ValueError(f"n must be at most {counted}, the updates the latest step_coefficients call counted "
                             f"and that were not given back; got {n}")
        self._steps_counted = counted - n
        for name in self._counter_names:
            setattr(self, name, getattr(self, name) - n)

    def update(self, params, grads):
        """One step for every parameter: ``params`` updated in place from ``grads`` (dicts or lists)."""
        self._checked()
        self._steps_counted = 0  # an update made since: nothing left to give back
        plan = getattr(self, "_arrays", None)
        if plan is not None and plan.matches(params, grads):
            plan.run(self, self._coefficients())
            return
        plan = self.flat_plan(params, grads)
        if plan is not None:
            plan.run(self._coefficients())
            return
        entries = _entries(params, grads)
        states = [self._state(name, params, entries) for name in self.state_names]
        self._arrays = _ArraysPlan.build(self, params, grads, entries, states)
        coefficients = self._coefficients()
        kernels = kernels_for(sum(e.grad.size for e in entries), optim)
        kernel = getattr(kernels, self._kernel_name)
        scalars = {dtype: [dtype.type(c) for c in coefficients] for dtype in {e.dtype for e in entries}}
        for entry in entries:
            work = entry.work()
            buffers = [state[entry.key].reshape(-1) for state in states]  # views: the kernel updates the state
            kernel(work, entry.grad, *buffers, *scalars[entry.dtype])
            entry.finish(params, work)

    def _checked(self):
        """_check, skipped while the hyper-parameters are the ones last checked."""
        hypers = (self._hypers(self),)  # a tuple: a first value of None must not look already checked
        if hypers != getattr(self, "_checked_hypers", None):
            self._check()
            self._checked_hypers = hypers

    def flat_plan(self, params, grads):
        """Returns the one-call plan of this optimizer for ``params`` and ``grads`` that are views of one flat
        buffer each (a fastnn net's arena), whose ``code``, ``states`` and ``segments`` a compiled training loop
        passes to its kernel; or None when they do not live in flat buffers (then use :meth:`update`). Containers
        that do not go together (a dict and a list, a missing gradient) raise the TypeError/ValueError of update.
        The plan is cached and rebuilt when an array or the optimizer's state was replaced; building it creates
        the state (e.g. ``v``) as update would."""
        plan = getattr(self, "_flat", None)
        if plan is not None and plan.matches(self, params, grads):
            return plan
        self._flat = None
        keys = _keys(params, grads)  # containers that do not go together: the error update raises too
        self._flat = _FlatPlan.build(self, params, grads, keys)
        return self._flat

    def _state(self, name, params, entries):
        """The state ``name`` (e.g. ``v``), created on the first update like the books (a dict for dict params,
        a list for list params), checked against this call's parameters."""
        state = getattr(self, name)
        if state is None:
            zeros = {e.key: np.zeros(np.shape(e.param), dtype=e.dtype) for e in entries}
            state = zeros if isinstance(params, Mapping) else [zeros[e.key] for e in entries]
            setattr(self, name, state)
            return state
        for e in entries:
            if not _has_key(state, e.key):
                raise ValueError(f"{name} has no state for params key {e.key!r} (it was created on the first "
                                 f"update for other parameters); set the optimizer's {name} to None to restart")
            s = np.asarray(state[e.key])
            if s.dtype.kind not in "biuf":  # a cast would drop an imaginary part or fail on objects
                raise TypeError(f"{name}[{e.key!r}] must be a float array (optimizer state); got dtype {s.dtype}; "
                                f"set the optimizer's {name} to None to restart")
            if s.shape != np.shape(e.param):
                raise ValueError(f"{name}[{e.key!r}] has shape {s.shape} but params[{e.key!r}] has shape "
                                 f"{np.shape(e.param)}; set the optimizer's {name} to None to restart")
            if s.dtype != e.dtype or not s.flags.c_contiguous or not s.flags.writeable:
                state[e.key] = np.array(s, dtype=e.dtype, order="C")  # state is ours to rebind
        return state


class SGD(_Optimizer):
    """Stochastic gradient descent: ``params -= lr * grads``."""

    _kernel_name = "sgd"

    def __init__(self, lr=0.01):
        self.lr = lr
        self._check()

    def _check(self):
        _learning_rate(self.lr)

    def _coefficients(self):
        return (self.lr,)


class Momentum(_Optimizer):
    """Momentum SGD: ``v = momentum * v - lr * grads; params += v``."""

    _hyper_names = ("lr", "momentum")
    state_names = ("v",)
    _kernel_name = "momentum"

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None
        self._check()

    def _check(self):
        _learning_rate(self.lr)
        _unit_interval(self.momentum, "momentum")

    def _coefficients(self):
        return (self.momentum, self.lr)


class Nesterov(_Optimizer):
    """Nesterov's accelerated gradient (arXiv:1212.0901) in the books' form::

        v *= momentum; v -= lr * grads
        params += momentum * momentum * v; params -= (1 + momentum) * lr * grads

    The first and the second book use exactly this formula (their ``common/optimizer.py`` differ only in taking
    dicts or lists), so there is one variant. Note that it is not the textbook reformulation
    ``params += -momentum * v_old + (1 + momentum) * v_new``: the books scale the *new* v by ``momentum**2``.
    fastnn keeps the books' formula so results match them.
    """

    _hyper_names = ("lr", "momentum")
    state_names = ("v",)
    _kernel_name = "nesterov"

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None
        self._check()

    def _check(self):
        _learning_rate(self.lr)
        _unit_interval(self.momentum, "momentum")

    def _coefficients(self):
        mu, lr = self.momentum, self.lr
        return (mu, lr, mu * mu, (1 + mu) * lr)


class AdaGrad(_Optimizer):
    """AdaGrad: ``h += grads * grads; params -= lr * grads / (sqrt(h) + 1e-7)``."""

    state_names = ("h",)
    _kernel_name = "adagrad"

    def __init__(self, lr=0.01):
        self.lr = lr
        self.h = None
        self._check()

    def _check(self):
        _learning_rate(self.lr)

    def _coefficients(self):
        return (self.lr, EPS)


class RMSprop(_Optimizer):
    """RMSprop: ``h = decay_rate * h + (1 - decay_rate) * grads**2; params -= lr * grads / (sqrt(h) + 1e-7)``."""

    _hyper_names = ("lr", "decay_rate")
    state_names = ("h",)
    _kernel_name = "rmsprop"

    def __init__(self, lr=0.01, decay_rate=0.99):
        self.lr = lr
        self.decay_rate = decay_rate
        self.h = None
        self._check()

    def _check(self):
        _learning_rate(self.lr)
        _unit_interval(self.decay_rate, "decay_rate")

    def _coefficients(self):
        return (self.decay_rate, 1 - self.decay_rate, self.lr, EPS)


class Adam(_Optimizer):
    """Adam (arXiv:1412.6980) in the books' form: bias correction folded into the step size,
    ``lr_t = lr * sqrt(1 - beta2**iter) / (1 - beta1**iter)``, and ``params -= lr_t * m / (sqrt(v) + 1e-7)``.
    ``iter`` counts the updates made."""

    _hyper_names = ("lr", "beta1", "beta2")
    _counter_names = ("iter",)
    state_names = ("m", "v")
    _kernel_name = "adam"

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.iter = 0
        self.m = None
        self.v = None
        self._check()

    def _check(self):
        _learning_rate(self.lr)
        _unit_interval(self.beta1, "beta1")
        _unit_interval(self.beta2, "beta2")
        _checks.integer(self.iter, "iter", minimum=0)

    def _coefficients(self):
        # called once per update, after every check has passed
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        return (1 - self.beta1, 1 - self.beta2, float(lr_t), EPS)
