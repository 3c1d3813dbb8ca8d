"""Trainer checkpoints and the optimizers' state_dict/load_state_dict.

The central property: train k iterations, save, build a *fresh* network and trainer (other initial weights, the
global RNG moved on), load, finish -- and get bit for bit what one uninterrupted run with the same seed gives:
parameters, recorded losses and accuracies, history, optimizer state, batch-norm statistics and the global random
state afterwards. A file that does not fit the trainer is refused with a ValueError naming the file and what
differs, and leaves the network, optimizer and random state untouched.
"""
import contextlib
import io as stdio
import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hostile import fed_fifo

from fastnn import callbacks as fc
from fastnn import io, nets
from fastnn import optimizer as fo
from fastnn import trainer as ft

OPTIMIZERS = {"SGD": 0.1, "Momentum": 0.05, "Nesterov": 0.05, "AdaGrad": 0.05, "RMSprop": 0.01, "Adam": 0.01}


def make_data(n, n_features=6, n_classes=3, seed=0):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, n_features))
    t = np.argmax(x @ r.normal(size=(n_features, n_classes)), axis=1)
    return x[:n - 10], t[:n - 10], x[n - 10:], t[n - 10:]


DATA = make_data(50)


def make_net(kind, init_seed):
    """A network whose initial weights depend on ``init_seed`` only (the global RNG is put back)."""
    state = np.random.get_state()
    np.random.seed(init_seed)
    try:
        if kind == "bn-dropout":  # batch-norm running statistics and dropout draws from the global RNG
            return nets.MultiLayerNetExtend(6, [7, 5], 3, use_batchnorm=True, use_dropout=True,
                                            dropout_ration=0.2, weight_decay_lambda=0.01)
        if kind == "float32":
            return nets.TwoLayerNet(6, 7, 3, weight_init_std=0.3, dtype=np.float32)
        return nets.TwoLayerNet(6, 7, 3, weight_init_std=0.3)
    finally:
        np.random.set_state(state)


def trainer_kwargs(optimizer="Adam", seed=None, validation=None, early_stopping=None, checkpoint=None, callbacks=(),
                   **extra):
    """The Trainer's arguments, with fresh callback objects for each trainer (they hold one run's state):
    ``validation=(x, t)``, ``early_stopping=patience``, ``checkpoint=(path, every)``."""
    callbacks = [callbacks] if callable(callbacks) else list(callbacks)
    if validation is not None:
        callbacks.append(fc.Validation(*validation))
    if early_stopping is not None:
        callbacks.append(fc.EarlyStopping(early_stopping))
    if checkpoint is not None:  # listed first: it runs last anyway (after what decides to stop, say)
        callbacks.insert(0, fc.Checkpoint(*checkpoint))
    kwargs = dict(epochs=4, mini_batch_size=8, optimizer=optimizer, optimizer_param={"lr": OPTIMIZERS[optimizer]},
                  verbose=False, seed=seed, callbacks=callbacks)
    kwargs.update(extra)
    return kwargs


def early_stopping_of(trainer):
    return next((cb for cb in trainer.callbacks if isinstance(cb, fc.EarlyStopping)), None)


def new_trainer(kind="plain", data=DATA, init_seed=0, **kwargs):
    return ft.Trainer(make_net(kind, init_seed), *data, **trainer_kwargs(**kwargs))


def outcome(trainer):
    """Everything a run produces, for exact comparison (epoch_time is wall-clock and left out)."""
    net = trainer.network
    bn = {name: (layer.running_mean, layer.running_var) for name, layer in io.batchnorm_layers(net).items()}
    early = early_stopping_of(trainer)
    history = {k: v for k, v in trainer.history.items() if k != "epoch_time"}
    return dict(params={k: v.copy() for k, v in net.params.items()}, bn=bn, history=history,
                lists=(list(trainer.train_loss_list), list(trainer.train_acc_list), list(trainer.test_acc_list)),
                counters=(trainer.current_iter, trainer.current_epoch, early and early.best_epoch),
                early=None if early is None else (early.best_loss, early.epochs_without_improvement,
                                                  {k: v.copy() for k, v in early.best_params.items()}),
                final=trainer.final_test_acc, optimizer=trainer.optimizer.state_dict(),
                global_rng=np.random.get_state(),
                generator=None if trainer._rng is None else trainer._rng.bit_generator.state)


def assert_identical(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_equal(a[key], b[key], err_msg=key)  # exact, NaN == NaN, nested dicts/lists


def uninterrupted(kind, global_seed=1, **kwargs):
    np.random.seed(global_seed)
    trainer = new_trainer(kind, **kwargs)
    trainer.train()
    return outcome(trainer)


def interrupted(kind, k, path, global_seed=1, **kwargs):
    """k train steps, save; then a fresh net (other weights) and trainer, the global RNG elsewhere: load, train."""
    np.random.seed(global_seed)
    first = new_trainer(kind, **kwargs)
    while first.current_iter < k and not first.stop_training:  # as train() would (early stopping may stop it)
        first.train_step()
    first.save_checkpoint(path)
    np.random.seed(12345)
    if isinstance(kwargs.get("seed"), np.random.Generator):  # a fresh generator, in another state
        kwargs["seed"] = np.random.Generator(type(kwargs["seed"].bit_generator)(99))
    resumed = ft.Trainer.resume(path, make_net(kind, init_seed=99), *DATA, **trainer_kwargs(**kwargs))
    resumed.train()
    return outcome(resumed)


# --- resuming gives the uninterrupted run, bit for bit --------------------------------------------------------------
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("seed", [None, 7], ids=["global-rng", "seeded"])
def test_resume_is_bit_identical_for_every_optimizer(tmp_path, optimizer, seed):
    expected = uninterrupted("plain", optimizer=optimizer, seed=seed)
    got = interrupted("plain", 9, tmp_path / "ck.npz", optimizer=optimizer, seed=seed)
    assert_identical(got, expected)


@settings(max_examples=10)
@given(k=st.integers(0, 20), kind=st.sampled_from(["bn-dropout", "float32"]), seed=st.sampled_from([None, 3]),
       early_stopping=st.sampled_from([None, 1]))
def test_resume_at_any_iteration_is_bit_identical(tmp_path_factory, k, kind, seed, early_stopping):
    """k covers 0 (before the first step), epoch boundaries, mid-epoch and the end of the run (20 iterations);
    with early_stopping=1 the run may stop early, before or after the checkpoint."""
    path = tmp_path_factory.mktemp("ck") / "ck.npz"
    expected = uninterrupted(kind, seed=seed, early_stopping=early_stopping)
    got = interrupted(kind, k, path, seed=seed, early_stopping=early_stopping)
    assert_identical(got, expected)


def test_resume_with_the_other_extras(tmp_path):
    """A validation set, early stopping on it, evaluation samples, the fused loss pass and a user's MT19937
    generator as ``seed`` (whose state holds an array)."""
    def extras():
        return dict(validation=(DATA[2][:5], DATA[3][:5]), early_stopping=3, evaluate_sample_num_per_epoch=7,
                    loss_after_update=False, seed=np.random.Generator(np.random.MT19937(3)))

    expected = uninterrupted("bn-dropout", **extras())
    got = interrupted("bn-dropout", 7, tmp_path / "ck.npz", **extras())
    assert_identical(got, expected)
    assert len(got["history"]["val_loss"]) == 4


def test_checkpoint_every_then_crash_then_resume(tmp_path):
    """Checkpoint(every=1) writes a file per epoch evaluation; a run that crashes in epoch 3 is resumed from the
    epoch-2 file and ends exactly as the run that never crashed."""
    pattern = str(tmp_path / "ck-{epoch}.npz")
    expected = uninterrupted("bn-dropout", checkpoint=(pattern, 1))
    assert sorted(os.listdir(tmp_path)) == [f"ck-{e}.npz" for e in range(1, 5)]

    class Crash(Exception):
        pass

    def crash_in_epoch_3(trainer, epoch, logs):
        if epoch == 3:
            raise Crash

    np.random.seed(1)
    with pytest.raises(Crash):
        new_trainer("bn-dropout", callbacks=crash_in_epoch_3, checkpoint=(tmp_path / "every2.npz", 2)).train()
    np.random.seed(5)
    resumed = ft.Trainer.resume(tmp_path / "every2.npz", make_net("bn-dropout", 42), *DATA,
                                **trainer_kwargs(checkpoint=(tmp_path / "every2.npz", 2)))
    assert resumed.current_epoch == 2
    resumed.train()
    assert_identical(outcome(resumed), expected)


def test_a_run_that_stopped_early_stays_stopped(tmp_path):
    """A checkpoint taken when early stopping fired: resuming only finishes (best weights back, final accuracy)."""
    def stop(trainer, epoch, logs):
        return epoch < 2  # False at epoch 2: stop there

    expected = uninterrupted("plain", callbacks=stop, checkpoint=(tmp_path / "ck.npz", 2))
    np.random.seed(3)
    resumed = ft.Trainer.resume(tmp_path / "ck.npz", make_net("plain", 5), *DATA, **trainer_kwargs(callbacks=stop))
    resumed.train()
    assert_identical(outcome(resumed), expected)


@pytest.mark.parametrize("stepwise", [False, True], ids=["compiled", "step by step"])
def test_divergence_in_the_first_span_after_resuming_restores_the_last_finite_weights(tmp_path, stepwise):
    """Resumed mid-epoch, the compiled loop's first span runs several steps; when the loss (taken before each
    update) turns non-finite in it, the weights before the last update come back, as step by step. (The old
    check said 'unchanged (no update had been made)' there and left the diverged weights.)"""
    cls = type("Sub", (nets.TwoLayerNet,), {}) if stepwise else nets.TwoLayerNet
    kwargs = dict(epochs=3, mini_batch_size=8, optimizer="SGD", optimizer_param={"lr": 0.1}, verbose=False,
                  loss_after_update=False)
    np.random.seed(1)
    net = cls(6, 7, 3, weight_init_std=1.0)
    first = ft.Trainer(net, *DATA, **kwargs)
    for _ in range(3):
        first.train_step()
    first.save_checkpoint(tmp_path / "ck.npz")
    saved = {k: v.copy() for k, v in net.params.items()}
    resumed = ft.Trainer.resume(tmp_path / "ck.npz", cls(6, 7, 3), *DATA, **kwargs)
    resumed.optimizer.lr = 1e300  # the update of iteration 3 overflows; iteration 4's loss is not finite
    with pytest.raises(FloatingPointError, match=r"iteration 4 .*the parameters were restored"):
        with pytest.warns(RuntimeWarning) if stepwise else contextlib.nullcontext():  # the net's own warning
            resumed.train()
    assert resumed.current_iter == 4
    for k, v in resumed.network.params.items():
        np.testing.assert_array_equal(v, saved[k])


def test_checkpoint_file_is_plain_npz_without_pickle(tmp_path):
    np.random.seed(0)
    trainer = new_trainer("bn-dropout", seed=4, early_stopping=10)
    trainer.train()
    trainer.save_checkpoint(tmp_path / "ck.npz")
    with np.load(tmp_path / "ck.npz", allow_pickle=False) as f:
        files = set(f.files)
        meta = json.loads(str(f["meta"]))
        assert all(f[name].dtype != object for name in files)
    assert meta["format"] == io.CHECKPOINT_FORMAT and meta["version"] == io.CHECKPOINT_VERSION
    assert meta["params"] == list(trainer.network.params) and meta["optimizer"]["type"] == "Adam"
    assert meta["counters"]["current_iter"] == trainer.current_iter == 20
    assert {"rng/global_key", "lists/train_loss_list", "history/test_acc", "batchnorm/0/running_mean",
            "optimizer/m/0", "params/0", "best/0"} <= files
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp")]  # the atomic write left nothing behind


def test_save_overwrites_atomically_and_load_round_trips_into_the_same_trainer(tmp_path):
    path = tmp_path / "ck.npz"
    np.random.seed(0)
    trainer = new_trainer("plain")
    trainer.save_checkpoint(path)
    for _ in range(5):
        trainer.train_step()
    trainer.save_checkpoint(path)  # replaces the first file
    saved = outcome(trainer)
    np.random.seed(0)
    trainer.train_step()  # move everything on, then go back
    trainer.load_checkpoint(path)
    assert_identical(outcome(trainer), saved)


# --- refusals: mismatching or damaged files ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "ck.npz"
    np.random.seed(0)
    trainer = new_trainer("plain", seed=1)
    for _ in range(6):
        trainer.train_step()
    trainer.save_checkpoint(path)
    return path


def _rewrite(src, dst, change):
    """Copy a checkpoint with ``change(arrays, meta)`` applied (through fastnn.io, so the file stays valid npz)."""
    arrays = io.load_arrays(src)
    original = arrays["meta"]
    meta = json.loads(str(original))
    change(arrays, meta)
    if arrays.get("meta") is original:  # the change was to the meta data (or to other arrays)
        arrays["meta"] = np.array(json.dumps(meta))
    io.save_arrays(dst, arrays)
    return dst


def _set(path, value):
    def change(arrays, meta):
        target = meta
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def _drop(key):
    return lambda arrays, meta: arrays.pop(key)


def _replace(key, value):
    return lambda arrays, meta: arrays.__setitem__(key, value)


def _meta_text(edit):
    """A change that writes the meta data as ``edit(json text)``: for JSON no Python object can be dumped to."""
    def change(arrays, meta):
        arrays["meta"] = np.array(edit(json.dumps(meta)))
    return change


DEEP = 100_000  # json.loads: RecursionError
GENERATOR_STATE = ["rng", "generator", "state", "state"]  # the saved PCG64's 128-bit state


DIFFERENT_TRAINERS = [  # (label, trainer arguments that differ from the saved run, text of the message)
    ("other hidden size", dict(net=lambda: nets.TwoLayerNet(6, 8, 3)), "params/0"),
    ("float32 network", dict(net=lambda: make_net("float32", 0)), "float32"),
    ("other network keys", dict(net=lambda: nets.MultiLayerNet(6, [7, 5], 3)), "parameters"),
    ("other optimizer", dict(optimizer="SGD"), "optimizer: checkpoint 'Adam', this trainer 'SGD'"),
    ("other epochs", dict(epochs=5), "epochs: checkpoint 4, this trainer 5"),
    ("other batch size", dict(mini_batch_size=4), "mini_batch_size"),
    ("not seeded", dict(seed=None), "seeded"),
    ("early stopping", dict(early_stopping=3), "early_stopping"),
    ("other training data", dict(data=make_data(50, seed=1)), "x_train, t_train, x_test, t_test"),
    ("other labels", dict(data=DATA[:1] + ((DATA[1] + 1) % 3,) + DATA[2:]), "t_train"),
    ("float32 data", dict(data=(DATA[0].astype(np.float32),) + DATA[1:]), "x_train"),
]

DAMAGED_FILES = [  # (label, change to the saved file, text of the message)
    ("no meta", _drop("meta"), "no 'meta' entry"),
    ("meta not JSON", _replace("meta", np.array("{not json")), "not valid JSON"),
    ("other format", _set(["format"], "something else"), "not a fastnn Trainer checkpoint"),
    ("newer version", _set(["version"], 2), "version 2"),
    ("missing parameter", _drop("params/3"), "'params/3' is missing"),
    ("parameter of another shape", _replace("params/0", np.zeros((6, 8))), "'params/0' has shape (6, 8)"),
    ("parameter of another dtype", _replace("params/0", np.zeros((6, 7), np.float32)), "float32"),
    ("unknown parameter key", _set(["params", 0], "W9"), "parameters"),
    ("optimizer state of another shape", _replace("optimizer/m/1", np.zeros(8)), "'optimizer/m/1'"),
    ("optimizer lr negative", _set(["optimizer", "lr"], -1.0), "lr must be > 0"),
    ("optimizer iter negative", _set(["optimizer", "iter"], -2), "iter must be >= 0"),
    ("optimizer key missing", lambda arrays, meta: meta["optimizer"].pop("beta1"), "keys"),
    ("negative counter", _set(["counters", "current_iter"], -1), "current_iter"),
    ("counter not an integer", _set(["counters", "current_epoch"], 1.5), "current_epoch"),
    ("target before current", _set(["counters", "target_iter"], 1), "target iteration"),
    ("stop flag not a bool", _set(["counters", "stop_training"], "no"), "stop_training"),
    ("missing loss list", _drop("lists/train_loss_list"), "'lists/train_loss_list' is missing"),
    ("2-D loss list", _replace("lists/train_loss_list", np.zeros((2, 3))), "must be 1-D"),
    ("missing history key", _drop("history/val_acc"), "history"),
    ("global RNG key wrong size", _replace("rng/global_key", np.zeros(5, np.uint32)), "MT19937"),
    ("global RNG position too large", _set(["rng", "global", "pos"], 10 ** 6), "MT19937"),
    ("unknown bit generator", _set(["rng", "generator", "bit_generator"], "Lehmer"), "Lehmer"),
    ("damaged generator state", _set(["rng", "generator", "state"], {"state": "x"}), "PCG64"),
    ("batch-norm layers where there are none", _set(["batchnorm"], [{"layer": "BatchNorm1"}]), "BatchNorm1"),
    # issue #25: crafted files that got past the checks
    ("string history", _replace("history/train_loss", np.array(["0.5", "x"])), "'history/train_loss' must hold "
                                                                               "real numbers"),
    ("string loss list", _replace("lists/train_loss_list", np.array(["a"] * 6)), "'lists/train_loss_list' must"),
    ("string accuracy list", _replace("lists/test_acc_list", np.array(["a", "b"])), "'lists/test_acc_list' must"),
    ("complex loss list", _replace("lists/train_loss_list", np.ones(6, complex)), "real numbers"),
    ("more losses than iterations", _replace("lists/train_loss_list", np.ones(7)), "at most 6"),
    ("more history than epochs", _replace("history/test_acc", np.ones(3)), "at most 2"),
    ("target far beyond the run", _set(["counters", "target_iter"], 10 ** 12), "more than one run (20 iterations"),
    ("epoch that does not fit the iterations", _set(["counters", "current_epoch"], 5), "epoch 5 after 6 iterations"),
    ("iterations that do not fit the epoch", _set(["counters", "current_iter"], 16), "that is epoch 4"),
    ("best epoch after the current one", _set(["counters", "best_epoch"], 3), "'counters/best_epoch' is 3"),
    ("deeply nested meta data", _meta_text(lambda text: text.replace('"config": {', '"config": {"deep": '
                                                                     + "[" * DEEP + "]" * DEEP + ", ")), "nests"),
    # arrays in the meta data (MT19937's key, as {'__ndarray__': [...], 'dtype': ...}) are read only in the
    # generator state, where the format has them; elsewhere such a dict is just a dict that does not fit
    ("unknown dtype in the generator state", _set(GENERATOR_STATE, {"__ndarray__": [1], "dtype": "bogus"}),
     "'bogus'"),
    ("huge str dtype in the generator state", _set(GENERATOR_STATE, {"__ndarray__": ["x"], "dtype": "U5000000"}),
     "'U5000000'"),
    ("object dtype in the generator state", _set(GENERATOR_STATE, {"__ndarray__": [1], "dtype": "O"}), "'O'"),
    ("ragged array in the generator state", _set(GENERATOR_STATE, {"__ndarray__": [[1], [1, 2]],
                                                                    "dtype": "int64"}), "not int64 numbers"),
    ("too large a number in the generator state", _set(GENERATOR_STATE, {"__ndarray__": [2 ** 80],
                                                                         "dtype": "uint32"}), "not uint32 numbers"),
    ("NaN in an integer array", _set(GENERATOR_STATE, {"__ndarray__": [float("nan")], "dtype": "uint64"}),
     "not uint64 numbers"),
    ("array where the config has a number", _set(["config", "epochs"], {"__ndarray__": [4], "dtype": "int64"}),
     "epochs: checkpoint {'__ndarray__': [4], 'dtype': 'int64'}"),
    ("config not a dict", _set(["config"], "x"), "meta entry 'config' must be a dict"),
    ("bit generator state out of range", _set(["rng", "generator", "state", "inc"], 2 ** 200), "PCG64"),
]


@pytest.mark.parametrize("label, changes, message", DIFFERENT_TRAINERS, ids=[c[0] for c in DIFFERENT_TRAINERS])
def test_checkpoint_of_another_run_is_refused(saved_checkpoint, label, changes, message):
    changes = dict(changes)
    net = changes.pop("net", lambda: make_net("plain", 3))()
    data = changes.pop("data", DATA)
    np.random.seed(8)
    trainer = ft.Trainer(net, *data, **trainer_kwargs(**dict(dict(seed=1), **changes)))
    before = {k: v.copy() for k, v in net.params.items()}
    global_state = np.random.get_state()[1].copy()
    with pytest.raises(ValueError, match="checkpoint file") as info:
        trainer.load_checkpoint(saved_checkpoint)
    assert message in str(info.value) and str(saved_checkpoint) in str(info.value)
    for k, v in net.params.items():  # nothing changed
        np.testing.assert_array_equal(v, before[k])
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)
    assert trainer.current_iter == 0 and trainer.train_loss_list == []
    assert trainer.optimizer.state_dict() == getattr(fo, type(trainer.optimizer).__name__)(
        lr=trainer.optimizer.lr).state_dict()  # still fresh


@pytest.mark.parametrize("label, change, message", DAMAGED_FILES, ids=[c[0] for c in DAMAGED_FILES])
def test_damaged_checkpoint_is_refused_and_changes_nothing(saved_checkpoint, tmp_path, label, change, message):
    path = _rewrite(saved_checkpoint, tmp_path / "damaged.npz", change)
    np.random.seed(8)
    trainer = new_trainer("plain", init_seed=3, seed=1)
    for _ in range(2):
        trainer.train_step()
    before = outcome(trainer)
    with pytest.raises(ValueError) as info:
        trainer.load_checkpoint(path)
    assert message in str(info.value) and str(path) in str(info.value), str(info.value)
    assert_identical(outcome(trainer), before)


def _rezip(src, dst, members=(), compression=zipfile.ZIP_STORED):
    """Copy checkpoint ``src`` member by member to ``dst``, with the .npy bytes of ``members`` {name: bytes} instead
    of the saved ones, every member written with ``compression``."""
    with zipfile.ZipFile(src) as z:
        saved = {name: z.read(name) for name in z.namelist()}
    with zipfile.ZipFile(dst, "w", compression) as z:
        for name, data in dict(saved, **dict(members)).items():
            z.writestr(name, data)
    return dst


def _npy(shape, descr="<f8", data=b""):
    buf = stdio.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


@pytest.mark.parametrize("label, members, compression, message", [
    ("list declaring 8 TB", {"lists/train_loss_list.npy": _npy((10 ** 12,), data=bytes(48))}, zipfile.ZIP_STORED,
     "declares shape (1000000000000,)"),
    ("meta declaring 2 GB", {"meta.npy": _npy((), "<U500000000", bytes(64))}, zipfile.ZIP_STORED,
     "declares shape () and dtype <U500000000"),
    ("compressed members", {}, zipfile.ZIP_DEFLATED, "only stored members are read"),
])
def test_hostile_zip_members_are_refused_before_reading(saved_checkpoint, tmp_path, label, members, compression,
                                                        message):
    """Declared sizes are checked against the bytes the file holds before anything is read. fastnn writes
    checkpoints uncompressed; a deflated member could declare 1032 times its size, so none is read."""
    path = _rezip(saved_checkpoint, tmp_path / "hostile.npz", members, compression)
    trainer = new_trainer("plain", init_seed=3, seed=1)
    before = outcome(trainer)
    with pytest.raises(ValueError) as info:
        trainer.load_checkpoint(path)
    assert message in str(info.value) and str(path) in str(info.value), str(info.value)
    assert_identical(outcome(trainer), before)


def test_a_fifo_is_refused_without_reading(saved_checkpoint, tmp_path):
    trainer = new_trainer("plain", seed=1)
    before = outcome(trainer)
    with fed_fifo(tmp_path / "ck.npz", saved_checkpoint.read_bytes()) as fifo:
        with pytest.raises(ValueError, match="is not a regular file") as info:
            trainer.load_checkpoint(fifo)
    assert str(fifo) in str(info.value)
    assert_identical(outcome(trainer), before)


def _meta_paths(value, prefix=()):
    """Every path into the meta data (keys of dicts, indices of short lists)."""
    paths = [prefix] if prefix else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    if isinstance(value, list) and len(value) > 8:  # the MT19937 key's 624 numbers: a few will do
        items = list(items)[:3]
    for key, item in items:
        paths += _meta_paths(item, prefix + (key,))
    return paths


_JSON_LEAVES = (st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats() | st.text(max_size=6)
                | st.sampled_from([0, 1, -1, 2 ** 63, "Adam", "PCG64", "MT19937", "W1", "params/0"]))
_JSON = st.recursive(_JSON_LEAVES, lambda children: st.lists(children, max_size=3)
                     | st.dictionaries(st.text(max_size=6), children, max_size=3)
                     | st.fixed_dictionaries({"__ndarray__": st.lists(children, max_size=3),
                                              "dtype": st.sampled_from(["uint32", "int64", "float64", "U3", "x"])}),
                     max_leaves=6)


@settings(max_examples=60, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_change_to_the_meta_data_loads_or_is_refused_naming_the_file(saved_checkpoint, tmp_path_factory, data):
    """Every error a crafted meta entry raises is a ValueError naming the file (not a TypeError, KeyError,
    OverflowError... from deep inside), and a refused file changes nothing."""
    meta = json.loads(str(io.load_arrays(saved_checkpoint)["meta"]))
    where = data.draw(st.sampled_from(_meta_paths(meta)), label="where")
    value = data.draw(_JSON | st.just("<delete>"), label="value")

    def change(arrays, meta):
        target = meta
        for key in where[:-1]:
            target = target[key]
        if value == "<delete>":
            del target[where[-1]]
        else:
            target[where[-1]] = value

    path = _rewrite(saved_checkpoint, tmp_path_factory.mktemp("fuzz") / "ck.npz", change)
    np.random.seed(8)
    trainer = new_trainer("plain", init_seed=3, seed=1)
    before = outcome(trainer)
    try:
        trainer.load_checkpoint(path)
    except ValueError as exc:
        assert str(path) in str(exc), str(exc)
        assert_identical(outcome(trainer), before)


@pytest.mark.parametrize("content, message", [
    (b"", "not a readable"), (b"PK\x03\x04 truncated zip", "not a readable"), (b"\x93NUMPY garbage", "not a readable"),
])
def test_unreadable_files_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        new_trainer().load_checkpoint(path)


def test_pickled_and_parameter_only_files_are_refused(tmp_path):
    np.savez(tmp_path / "pickled.npz", meta=np.array([{"format": io.CHECKPOINT_FORMAT}], dtype=object))
    with pytest.raises(ValueError, match="not a readable"):  # allow_pickle=False: never unpickled
        new_trainer().load_checkpoint(tmp_path / "pickled.npz")
    trainer = new_trainer()
    trainer.network.save_params(tmp_path / "params.npz")  # a save_params file is not a checkpoint
    with pytest.raises(ValueError, match="no 'meta' entry"):
        trainer.load_checkpoint(tmp_path / "params.npz")
    with pytest.raises(FileNotFoundError):
        trainer.load_checkpoint(tmp_path / "missing.npz")


def test_read_only_network_parameters_are_refused_before_anything_changes(saved_checkpoint):
    trainer = new_trainer("plain", seed=1)
    trainer.network.params["b2"].flags.writeable = False
    with pytest.raises(ValueError, match=r"network.params\['b2'\] is read-only"):
        trainer.load_checkpoint(saved_checkpoint)
    assert trainer.current_iter == 0 and trainer.optimizer.m is None


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(path="x.npz", every=0), ValueError, "every must be >= 1"),
    (dict(path="x.npz", every=1.5), TypeError, "every must be an integer"),
    (dict(path=3), TypeError, "path must be a path"),
    (dict(path="/nonexistent/dir/x.npz"), ValueError, "does not exist"),
])
def test_bad_checkpoint_arguments(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        fc.Checkpoint(**kwargs)


def test_save_checkpoint_to_a_missing_directory_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        new_trainer().save_checkpoint(tmp_path / "no" / "ck.npz")
    assert not list(tmp_path.iterdir())


# --- optimizers: state_dict / load_state_dict ---------------------------------------------------------------------
def _problem(protocol, dtype, seed=0):
    r = np.random.default_rng(seed)
    arrays = [r.normal(size=(3, 4)).astype(dtype), r.normal(size=4).astype(dtype)]
    grads = [[r.normal(size=a.shape).astype(dtype) for a in arrays] for _ in range(6)]
    if protocol == "dict":
        return dict(zip(("W", "b"), arrays)), [dict(zip(("W", "b"), g)) for g in grads]
    return arrays, grads


@pytest.mark.parametrize("protocol", ["dict", "list"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_dict_round_trip_continues_exactly(name, dtype, protocol):
    params, grads = _problem(protocol, dtype)
    opt = getattr(fo, name)(lr=0.05)
    for g in grads[:3]:
        opt.update(params, g)
    state = opt.state_dict()
    copy = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in
            (params.items() if protocol == "dict" else enumerate(params))}
    params_b = copy if protocol == "dict" else [copy[i] for i in range(len(params))]
    other = getattr(fo, name)(lr=0.9)  # other hyper-parameters: the loaded ones win
    other.load_state_dict(state)
    for g in grads[3:]:
        opt.update(params, g)
        other.update(params_b, g)
    for a, b in zip(params.values() if protocol == "dict" else params,
                    params_b.values() if protocol == "dict" else params_b):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_equal(opt.state_dict(), other.state_dict())


def test_state_dict_is_a_copy():
    opt = fo.Momentum()
    params = {"W": np.ones(3)}
    opt.update(params, {"W": np.ones(3)})
    state = opt.state_dict()
    state["v"]["W"][...] = 7
    assert not np.any(opt.v["W"] == 7)
    opt.load_state_dict(state)
    state["v"]["W"][...] = 9
    assert np.all(opt.v["W"] == 7)


def test_fresh_optimizer_state_round_trips():
    for name in OPTIMIZERS:
        opt = getattr(fo, name)()
        other = getattr(fo, name)(lr=0.5)
        other.load_state_dict(opt.state_dict())
        assert other.state_dict() == opt.state_dict()


def _adam_state(**changes):
    opt = fo.Adam()
    opt.update({"W": np.ones(3), "b": np.ones(2)}, {"W": np.ones(3), "b": np.ones(2)})
    state = opt.state_dict()
    state.update(changes)
    return state


@pytest.mark.parametrize("state, exc, message", [
    ([1, 2], TypeError, "state must be a dict"),
    (dict(_adam_state(), type="SGD"), ValueError, r"state\['type'\] is 'SGD'"),
    ({k: v for k, v in _adam_state().items() if k != "v"}, ValueError, "keys"),
    (dict(_adam_state(), extra=1), ValueError, "keys"),
    (_adam_state(lr=0.0), ValueError, "lr must be > 0"),
    (_adam_state(lr="0.1"), TypeError, "lr must be a real number"),
    (_adam_state(beta1=1.0), ValueError, r"beta1 must be in \[0, 1\)"),
    (_adam_state(iter=-1), ValueError, "iter must be >= 0"),
    (_adam_state(iter=1.5), TypeError, "iter must be an integer"),
    (_adam_state(m="zeros"), TypeError, r"state\['m'\] must be None or a dict/list"),
    (_adam_state(m={"W": np.ones(3, complex), "b": np.ones(2)}), TypeError, r"state\['m'\]\['W'\]"),
    (_adam_state(m={"W": np.ones(3, int), "b": np.ones(2)}), TypeError, "float32 or float64"),
    (_adam_state(m={"W": np.ones(4), "b": np.ones(2)}), ValueError, "same keys, shapes and dtypes"),
    (_adam_state(m={"W": np.ones(3)}), ValueError, "same keys, shapes and dtypes"),
    (_adam_state(m=[np.ones(3), np.ones(2)]), ValueError, "same keys, shapes and dtypes"),
    (_adam_state(m={"W": [[1.0], [2.0, 3.0]], "b": np.ones(2)}), ValueError, r"state\['m'\]\['W'\]"),
])
def test_bad_state_dict_is_refused_and_changes_nothing(state, exc, message):
    opt = fo.Adam(lr=0.02)
    opt.update({"W": np.ones(3), "b": np.ones(2)}, {"W": np.full(3, 0.5), "b": np.ones(2)})
    before = opt.state_dict()
    with pytest.raises(exc, match=message):
        opt.load_state_dict(state)
    np.testing.assert_equal(opt.state_dict(), before)


# --- callbacks: state_dict / load_state_dict (checkpoints save them through these) ---------------------------------
def test_callback_states_round_trip_into_fresh_callbacks():
    np.random.seed(0)
    trainer = new_trainer("plain", validation=DATA[2:], early_stopping=2)
    trainer.train()
    early = early_stopping_of(trainer)
    history = next(cb for cb in trainer.callbacks if isinstance(cb, fc.History))
    fresh_early, fresh_history = fc.EarlyStopping(2), fc.History()
    lists = fresh_history.history["val_loss"]
    fresh_early.load_state_dict(early.state_dict())
    fresh_history.load_state_dict(history.state_dict())
    assert fresh_history.history["val_loss"] is lists and len(lists) == len(trainer.history["val_loss"]) > 0
    np.testing.assert_equal(fresh_history.state_dict(), history.state_dict())
    np.testing.assert_equal(fresh_early.state_dict(), early.state_dict())
    assert early.best_epoch is not None and fresh_early.best_params.keys() == trainer.network.params.keys()
    state = early.state_dict()
    state["best_params"]["W1"][...] = 7  # a copy, both ways
    assert not np.any(early.best_params["W1"] == 7) and not np.any(fresh_early.best_params["W1"] == 7)


@pytest.mark.parametrize("cls, change, exc, message", [
    (fc.EarlyStopping, lambda s: [1, 2], TypeError, "state must be a dict"),
    (fc.EarlyStopping, lambda s: dict(s, extra=1), ValueError, "keys"),
    (fc.EarlyStopping, lambda s: dict(s, best_epoch=-1), ValueError, "best_epoch"),
    (fc.EarlyStopping, lambda s: dict(s, best_epoch=1.5), TypeError, "best_epoch"),
    (fc.EarlyStopping, lambda s: dict(s, best_loss="0.5"), TypeError, "best_loss"),
    (fc.EarlyStopping, lambda s: dict(s, epochs_without_improvement=-2), ValueError, "epochs_without_improvement"),
    (fc.EarlyStopping, lambda s: dict(s, best_params=[np.ones(2)]), TypeError, "best_params"),
    (fc.History, lambda s: {k: v for k, v in s.items() if k != "val_acc"}, ValueError, "keys"),
    (fc.History, lambda s: dict(s, train_acc=["x"]), TypeError, "train_acc"),
    (fc.History, lambda s: dict(s, train_acc=[True]), TypeError, "train_acc"),
])
def test_bad_callback_states_are_refused_and_change_nothing(cls, change, exc, message):
    callback = cls(3) if cls is fc.EarlyStopping else cls()
    before = callback.state_dict()
    with pytest.raises(exc, match=message):
        callback.load_state_dict(change(callback.state_dict()))
    np.testing.assert_equal(callback.state_dict(), before)
