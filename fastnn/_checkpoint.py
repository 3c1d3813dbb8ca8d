"""The first book Trainer's checkpoint file: its schema (fastnn.io.save_checkpoint and load_checkpoint write and
read it; io keeps the atomic writer and the bounded .npz reader's entry points).

A checkpoint is a .npz file of stored (uncompressed) members: the arrays under names like ``params/0``,
``optimizer/m/1``, ``history/test_acc``, and one JSON ``meta`` entry that describes them (no pickle). Reading checks
every entry against the trainer that will load it before anything changes.
"""
import json
import math
import re
import reprlib
import zlib
from collections.abc import Mapping

import numpy as np

from . import _checks, _npz

# A trainer describes its state as a dict (see save_checkpoint); load_checkpoint checks a file against the state of
# the trainer that will load it and returns the saved values without changing anything.
CHECKPOINT_FORMAT = "fastnn.trainer.Trainer checkpoint"
CHECKPOINT_VERSION = 1
_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_BATCHNORM_STATS = ("running_mean", "running_var")
_STATE_KEYS = ("config", "data", "params", "counters", "lists", "callbacks", "optimizer", "batchnorm", "generator")
# The callbacks' states (their state_dict()) that a file holds, and where: History's lists as history/<key>;
# EarlyStopping's best_params as best/<i>, its other entries among the counters. A trainer without early stopping
# writes those of a fresh EarlyStopping.
_EARLY_COUNTERS = ("best_epoch", "best_loss", "epochs_without_improvement")
_NO_EARLY_STOPPING = {"best_epoch": None, "best_loss": math.inf, "epochs_without_improvement": 0, "best_params": {}}


def fingerprint(a):
    """Returns [shape, dtype, CRC-32 of the bytes] of an array: enough to tell that a resumed run got other
    data."""
    return [list(a.shape), str(a.dtype), zlib.crc32(np.ascontiguousarray(a).view(np.uint8).reshape(-1))]


def batchnorm_layers(network):
    """Returns {layer name: layer} of a network's layers that keep running statistics (BatchNormalization), in
    order."""
    layers = getattr(network, "layers", None)
    items = layers.items() if isinstance(layers, Mapping) else enumerate(layers) if isinstance(layers, list) else ()
    return {key: layer for key, layer in items if all(hasattr(layer, stat) for stat in _BATCHNORM_STATS)}


def _param_dict(params):
    """The network's parameters as {key: array}; a checkpoint stores arrays under str or int keys only."""
    out = {}
    for key, value in (params.items() if isinstance(params, Mapping) else enumerate(params)):
        if not isinstance(key, (str, int)) or not isinstance(value, np.ndarray):
            raise TypeError(f"network.params[{key!r}] must be a NumPy array under a str or int key to be saved "
                            f"in a checkpoint; got {type(value).__name__}")
        out[key] = value
    return out


def _trainer_state(state, name):
    """``state`` checked to be a trainer's state (a dict with the keys of _STATE_KEYS)."""
    if not isinstance(state, Mapping) or not set(_STATE_KEYS) <= set(state):
        raise TypeError(f"{name} must be a trainer state: a dict with the keys {', '.join(_STATE_KEYS)}")
    return state


def _json_default(value):
    """json.dumps hook for the few non-JSON values in a state: NumPy scalars and arrays (MT19937's key)."""
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store a {type(value).__name__} in a checkpoint")


# the dtypes _json_default writes (MT19937's key is uint32); others, e.g. "U500000000", would allocate from the file
_JSON_DTYPES = frozenset(f"{kind}{bits}" for kind in ("int", "uint") for bits in (8, 16, 32, 64)) | {"float32",
                                                                                                     "float64"}
_MAX_META_CHARS = 1 << 24  # a checkpoint's meta data is a few KB; this bounds what parsing it may take
_MAX_META_DEPTH = 32  # the format nests 6 deep; deeper JSON would exhaust the parser's recursion
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _short(value):
    """A value from the meta data, shortened for an error message."""
    return reprlib.repr(value)


def _json_array(obj, ck):
    """{'__ndarray__': [numbers], 'dtype': name}, as _json_default writes an array, as that array (checked before
    NumPy sees it: numbers of the dtype's range only)."""
    values, name = obj.get("__ndarray__"), obj.get("dtype")
    if set(obj) != {"__ndarray__", "dtype"} or name not in _JSON_DTYPES or not isinstance(values, list):
        ck.fail(f"an array in its generator state must be {{'__ndarray__': [numbers], 'dtype': one of "
                f"{sorted(_JSON_DTYPES)}}}; got {_short(obj)}")
    dtype = np.dtype(name)
    if dtype.kind == "f":
        fits = all(type(v) in (int, float) and abs(v) <= np.finfo(dtype).max for v in values)
    else:
        fits = all(type(v) is int and np.iinfo(dtype).min <= v <= np.iinfo(dtype).max for v in values)
    if not fits:
        ck.fail(f"an array in its generator state holds values that are not {dtype} numbers: {_short(values)}")
    return np.array(values, dtype=dtype)


def _with_arrays(value, ck):
    """A generator state from the meta data with its arrays (MT19937's key, ...) made ndarrays."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return _json_array(value, ck)
        return {key: _with_arrays(item, ck) for key, item in value.items()}
    return value


def _json_depth(text):
    """The deepest nesting of JSON arrays and objects in ``text`` (brackets inside strings not counted), counted
    without recursion."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).encode("ascii")
    steps = np.frombuffer(brackets, np.uint8)
    depth = np.cumsum(np.where((steps == ord("[")) | (steps == ord("{")), 1, -1))
    return int(depth.max(initial=0))


def _parse_meta(text):
    """The checkpoint's meta data: JSON, checked to be shallow first; ValueError if not. Arrays stay in their JSON
    form here (_with_arrays makes them where the format has them)."""
    depth = _json_depth(text)
    if depth > _MAX_META_DEPTH:
        raise ValueError(f"its meta data nests {depth} deep (the format needs far less than {_MAX_META_DEPTH})")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # (too many digits in an integer is a ValueError too)
        raise ValueError(f"its meta data is not valid JSON ({type(exc).__name__}: {exc})") from None


def _store(arrays, prefix, items):
    """Put a dict (or list) of arrays into ``arrays`` as prefix/0, prefix/1, ...; returns the keys in order."""
    keys = list(items.keys()) if isinstance(items, Mapping) else list(range(len(items)))
    for i, key in enumerate(keys):
        arrays[f"{prefix}/{i}"] = np.asarray(items[key])
    return keys


def arrays_of(state):
    """The arrays of the checkpoint file of a trainer's ``state`` (fastnn.io.save_checkpoint describes it), its
    ``meta`` entry (JSON) among them."""
    state = _trainer_state(state, "state")
    arrays = {}
    early = state["callbacks"]["EarlyStopping"] or _NO_EARLY_STOPPING
    counters = dict(state["counters"], **{name: early[name] for name in _EARLY_COUNTERS})
    meta = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": state["config"],
            "data": state["data"], "params": _store(arrays, "params", _param_dict(state["params"])),
            "best": _store(arrays, "best", early["best_params"]), "counters": counters}
    for name, values in state["lists"].items():
        arrays[f"lists/{name}"] = np.asarray(values)
    for key, values in state["callbacks"]["History"].items():
        arrays[f"history/{key}"] = np.asarray(values, dtype=np.float64)
    optimizer, meta["optimizer"] = state["optimizer"], {}
    for name, value in optimizer.state_dict().items():
        if name in optimizer.state_names and value is not None:
            value = {"kind": "dict" if isinstance(value, Mapping) else "list",
                     "keys": _store(arrays, f"optimizer/{name}", value)}
        meta["optimizer"][name] = value
    meta["batchnorm"] = []
    for i, (name, layer) in enumerate(state["batchnorm"].items()):
        entry = {"layer": name}
        for stat in _BATCHNORM_STATS:
            value = getattr(layer, stat)
            entry[stat] = value is not None
            if value is not None:
                arrays[f"batchnorm/{i}/{stat}"] = np.asarray(value)
        meta["batchnorm"].append(entry)
    _, key, pos, has_gauss, cached = np.random.get_state(legacy=True)  # ('MT19937', key, pos, ...)
    arrays["rng/global_key"] = key
    generator = state["generator"]
    meta["rng"] = {"global": {"pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
                   "generator": None if generator is None else generator.bit_generator.state}
    arrays["meta"] = np.array(json.dumps(meta, default=_json_default))
    return arrays


def read(path, like):
    """The saved values of the checkpoint file at ``path`` (a checked path), checked against ``like`` (see
    fastnn.io.load_checkpoint)."""
    like = _trainer_state(like, "like")
    with _CheckpointFile(path) as ck:
        return _read_checkpoint(ck, like)


def _read_checkpoint(ck, like):
    """load_checkpoint's values from the open file ``ck``."""
    saved = ck.get("config")
    if not isinstance(saved, dict):
        ck.fail(f"meta entry 'config' must be a dict; got {_short(saved)}")
    diffs = [f"{k}: checkpoint {_short(saved.get(k))}, this trainer {v!r}" for k, v in like["config"].items()
             if k not in saved or saved[k] != v]
    if diffs:
        ck.fail(f"it was saved by a trainer with other settings ({'; '.join(diffs)}); build the trainer with "
                f"the same arguments to resume")
    data = ck.get("data")
    diffs = [name for name, fp in like["data"].items() if not isinstance(data, dict) or data.get(name) != fp]
    if diffs or set(data) != set(like["data"]):
        ck.fail(f"it was saved while training on other data (differs: {', '.join(diffs) or 'the data sets'}): "
                f"resume with the same data")
    params = _param_dict(like["params"])
    values = {"params": ck.arrays_for("params", ck.get("params"), params, every=True)}
    for key, p in params.items():
        if not p.flags.writeable:
            raise ValueError(f"network.params[{key!r}] is read-only, but loading a checkpoint writes into it")
    best = ck.arrays_for("best", ck.get("best"), params)
    values["counters"] = c = _read_counters(ck, like["config"])
    early = dict({name: c.pop(name) for name in _EARLY_COUNTERS}, best_params=best)
    # at most one entry per iteration (losses) or per epoch evaluation (history), of real numbers
    values["lists"] = {name: ck.array(f"lists/{name}", ndim=1, kinds="iuf", longest=c["current_iter"])
                       for name in like["lists"]}
    expected = like["callbacks"]["History"]
    stored = {key[len("history/"):] for key in ck.keys if key.startswith("history/")}
    if stored != set(expected):
        ck.fail(f"its history holds {sorted(stored)}; expected {sorted(expected)}")
    history = {key: ck.array(f"history/{key}", ndim=1, kinds="iuf", longest=c["current_epoch"]).tolist()
               for key in expected}
    values["callbacks"] = {"History": history, "EarlyStopping": early}
    values["optimizer"] = _read_optimizer(ck, like["optimizer"], params)
    values["batchnorm"] = _read_batchnorm(ck, like["batchnorm"])
    values["global_rng"] = _read_global_rng(ck)
    values["generator"] = _read_generator(ck, like["generator"])
    return values


class _CheckpointFile:
    """An open checkpoint file: its parsed meta data, and accessors that read an array only after its header fits
    what is expected there, and that refuse what does not fit. A context manager (closes the file)."""

    def __init__(self, path):
        self.path = path
        f = _checks.open_regular_file(path, "path")
        try:
            # stored members only (save_arrays writes no others): an entry's size is then bytes the file holds
            self._npz = _npz.Npz(f, f"path {path!r} is not a readable fastnn checkpoint (.npz)", stored_only=True)
            self.keys = self._npz.keys
            self.meta = self._read_meta()
        except BaseException:
            f.close()
            raise
        self._file = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._npz.close()
        self._file.close()

    def _read_meta(self):
        m = self._npz.member("meta") if "meta" in self.keys else None
        if m is None or m.shape != () or m.dtype.kind != "U":
            self.fail("it has no 'meta' entry: not a fastnn Trainer checkpoint")
        if m.dtype.itemsize > 4 * _MAX_META_CHARS:
            self.fail(f"its meta data has {m.dtype.itemsize // 4} characters (at most {_MAX_META_CHARS})")
        try:
            meta = _parse_meta(str(self._npz.read("meta")))
        except ValueError as exc:
            self.fail(str(exc))
        if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
            self.fail("not a fastnn Trainer checkpoint")
        if meta.get("version") != CHECKPOINT_VERSION:
            self.fail(f"checkpoint format version {_short(meta.get('version'))}; this fastnn reads version "
                      f"{CHECKPOINT_VERSION}")
        return meta

    def fail(self, why):
        """Raise the ValueError that names this file and ``why``."""
        raise ValueError(f"checkpoint file {self.path!r}: {why}")

    def get(self, *keys):
        """meta[keys[0]][keys[1]]..., or a ValueError naming the missing entry."""
        value = self.meta
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                self.fail(f"meta data has no entry {'/'.join(keys)!r}")
            value = value[key]
        return value

    def array(self, key, like=None, ndim=None, kinds=None, longest=None):
        """Entry ``key``, read once its header fits: with ``like``, its shape and dtype; ``ndim`` dimensions, a
        dtype kind in ``kinds``, at most ``longest`` entries."""
        if key not in self.keys:
            self.fail(f"entry {key!r} is missing")
        m = self._npz.member(key)
        if like is not None and (m.shape != like.shape or m.dtype != like.dtype):
            self.fail(f"entry {key!r} has shape {m.shape} and dtype {m.dtype}, but this trainer's network "
                      f"needs {like.shape} {like.dtype} there")
        if ndim is not None and len(m.shape) != ndim:
            self.fail(f"entry {key!r} must be {ndim}-D; got shape {m.shape}")
        if kinds is not None and m.dtype.kind not in kinds:
            self.fail(f"entry {key!r} must hold real numbers; got dtype {m.dtype}")
        if longest is not None and m.shape[0] > longest:
            self.fail(f"entry {key!r} holds {m.shape[0]} values; its counters allow at most {longest}")
        return self._npz.read(key)

    def integer(self, *keys, optional=False):
        """The meta entry as an int >= 0 (None allowed when ``optional``)."""
        value = self.get(*keys)
        if optional and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.fail(f"meta entry {'/'.join(keys)!r} must be an integer >= 0; got {_short(value)}")
        return value

    def number(self, *keys):
        """The meta entry as a float."""
        value = self.get(*keys)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(f"meta entry {'/'.join(keys)!r} must be a number; got {_short(value)}")
        return float(value)

    def arrays_for(self, prefix, keys, like, *, every=False):
        """{key: entry prefix/i} for the listed keys (all keys of ``like`` when ``every``), each checked against
        like[key]."""
        if not isinstance(keys, list):
            self.fail(f"meta entry {prefix!r} must list parameter keys; got {_short(keys)}")
        unknown = [k for k in keys if isinstance(k, bool) or not isinstance(k, (str, int)) or k not in like]
        if unknown or len(set(keys)) != len(keys) or (every and len(keys) != len(like)):
            self.fail(f"it holds {prefix} for the parameters {_short(keys)}, but this trainer's network has "
                      f"{list(like)}")
        return {key: self.array(f"{prefix}/{i}", like[key]) for i, key in enumerate(keys)}


def _schedule(config):
    """(iterations per epoch, iterations per train() call) of the first book's Trainer with ``config``."""
    per_epoch = max(config["train_size"] / config["mini_batch_size"], 1)  # as Trainer.__init__ computes them
    return per_epoch, int(config["epochs"] * per_epoch)


def _evaluations(iterations, per_epoch):
    """How many epoch evaluations the Trainer has made after ``iterations`` iterations: one after each iteration i
    with i % per_epoch == 0, i.e. (per_epoch a float: p / 2**k in lowest terms) each multiple of p."""
    step = per_epoch.as_integer_ratio()[0]
    return -(-iterations // step)


def _read_counters(ck, config):
    """The counters, checked against each other and the trainer's settings (a resumed train() runs at most the
    iterations one train() call runs)."""
    c = {name: ck.integer("counters", name) for name in ("current_iter", "current_epoch", "target_iter",
                                                          "epochs_without_improvement")}
    c["best_epoch"] = ck.integer("counters", "best_epoch", optional=True)
    c["best_loss"] = ck.number("counters", "best_loss")
    c["stop_training"] = ck.get("counters", "stop_training")
    if not isinstance(c["stop_training"], bool):
        ck.fail(f"meta entry 'counters/stop_training' must be true or false; got {_short(c['stop_training'])}")
    if c["target_iter"] < c["current_iter"]:
        ck.fail(f"its target iteration {c['target_iter']} is before its current one {c['current_iter']}")
    per_epoch, run = _schedule(config)
    if c["target_iter"] - c["current_iter"] > run:
        ck.fail(f"its target iteration {c['target_iter']} is more than one run ({run} iterations: epochs x "
                f"iterations per epoch) after its current one {c['current_iter']}")
    evaluations = _evaluations(c["current_iter"], per_epoch)
    if c["current_epoch"] != evaluations:
        ck.fail(f"its counters say epoch {c['current_epoch']} after {c['current_iter']} iterations; with "
                f"{per_epoch:g} iterations per epoch that is epoch {evaluations}")
    for name in ("best_epoch", "epochs_without_improvement"):
        if (c[name] or 0) > evaluations:
            ck.fail(f"meta entry 'counters/{name}' is {c[name]}, after only {evaluations} epochs")
    return c


def _read_optimizer(ck, optimizer, params):
    saved = ck.get("optimizer")
    if not isinstance(saved, dict):
        ck.fail(f"meta entry 'optimizer' must be a dict; got {_short(saved)}")
    state = {}
    for name, value in saved.items():
        if name in optimizer.state_names and value is not None:
            if not isinstance(value, dict) or value.get("kind") not in ("dict", "list"):
                ck.fail(f"meta entry 'optimizer/{name}' must describe a dict or list of arrays; got {_short(value)}")
            value = ck.arrays_for(f"optimizer/{name}", value.get("keys"), params, every=True)
            if saved[name]["kind"] == "list":
                value = list(value.values())
        state[name] = value
    try:
        optimizer.checked_state_dict(state)
    except (TypeError, ValueError) as exc:
        ck.fail(f"its optimizer state does not fit this trainer's {type(optimizer).__name__}: {exc}")
    return state


def _read_batchnorm(ck, layers):
    """[(layer, {stat: array or None})] for the network's batch-norm layers."""
    saved = ck.get("batchnorm")
    if not isinstance(saved, list) or not all(isinstance(entry, dict) for entry in saved):
        ck.fail(f"meta entry 'batchnorm' must be a list of layer entries; got {_short(saved)}")
    names = [entry.get("layer") for entry in saved]
    if names != list(layers):
        ck.fail(f"it holds running statistics for the layers {names}, but this trainer's network has batch-norm "
                f"layers {list(layers)}")
    out = []
    for i, (entry, layer) in enumerate(zip(saved, layers.values())):
        size = np.size(layer.gamma) if hasattr(layer, "gamma") else None
        stats = {}
        for stat in _BATCHNORM_STATS:
            if entry.get(stat) is not True:
                stats[stat] = None
                continue
            a = ck.array(f"batchnorm/{i}/{stat}", ndim=1)
            if a.dtype not in _checks.FLOAT_DTYPES or (size is not None and a.shape != (size,)):
                ck.fail(f"entry 'batchnorm/{i}/{stat}' must be a float array of shape ({size},); got "
                        f"{a.dtype} {a.shape}")
            stats[stat] = a.copy()
        out.append((layer, stats))
    return out


def _read_global_rng(ck):
    key = ck.array("rng/global_key")
    pos, has_gauss = ck.integer("rng", "global", "pos"), ck.integer("rng", "global", "has_gauss")
    if key.shape != (624,) or key.dtype != np.uint32 or pos > 624 or has_gauss > 1:
        ck.fail(f"its global random state is not a valid MT19937 state (key {key.dtype} {key.shape}, "
                f"pos {pos}, has_gauss {has_gauss})")
    return "MT19937", key, pos, has_gauss, ck.number("rng", "global", "cached_gaussian")


def _read_generator(ck, generator):
    """(generator, saved state) for a trainer with a ``seed`` generator (that one, or a new one of the saved bit
    generator's type), None for a trainer without."""
    state = ck.get("rng", "generator")
    if (state is None) != (generator is None):
        ck.fail("seed: the checkpoint and this trainer disagree on whether batches come from a seeded generator")
    if state is None:
        return None
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _GENERATORS:
        ck.fail(f"its generator state names bit generator {_short(name)}; expected one of {_GENERATORS}")
    state = _with_arrays(state, ck)
    try:
        getattr(np.random, name)().state = state  # NumPy's own checks, on a throwaway bit generator
    except (TypeError, ValueError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        ck.fail(f"its generator state is not a valid {name} state: {exc}")
    if type(generator.bit_generator).__name__ != name:
        generator = np.random.Generator(getattr(np.random, name)())
    return generator, state
