"""fastnn.bench (``fastnn bench``: fastnn against its reference) and the comparison harness in benchmarks/ (cases.py,
competitors.py, compare.py: ``python -m benchmarks.compare``): every registered case's fastnn and reference
callables do the same work with the same results (pure cases element-wise over random shapes, the network and
training cases case by case), the PyTorch, JAX and scikit-learn columns compute the same thing when those libraries
are installed, both command lines run end to end in --quick mode (the comparison writing valid JSON and Markdown),
and the asv suite covers every case and skips what an older fastnn or a machine without the data cannot run. No
timing is asserted: only that figures are there and consistent.
"""
import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from naive import tol

from fastnn import bench, cli, optimizer

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the harness is not part of the installed package: import it from the checkout
    sys.path.insert(0, str(ROOT))
from benchmarks import cases, compare, competitors  # noqa: E402  (side-effect free, unlike the asv modules)

SUBPROCESS_ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
# results with a sum over batch or width rows: BLAS libraries (numpy's, SciPy's for numba) add in other orders
SUMMED = {"affine_forward", "affine_backward"}
CASES = cases.CASES  # fastnn.bench's cases and the comparison's
PURE = sorted(name for name, c in CASES.items() if c.pure)
SMALL_INPUT = 12  # input width of the small networks the training tests build (784 in the benchmarks)


def _as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


def _numpy(a):
    """A torch tensor or anything array-like as a NumPy array."""
    return a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)


def _predict_scale(rows, width, dtype, input_size=bench.PIXELS):
    """The largest sum of absolute products in the predict case's two matrix products: the cancellation bound for
    results that BLAS libraries sum in different orders."""
    x, _ = bench.pixels(rows, input_size, dtype)
    W1, b1, W2, b2 = (p.astype(np.float64) for p in bench.net_params(bench.nets_pair(input_size, width, dtype)[0]))
    hidden = np.abs(x) @ np.abs(W1) + np.abs(b1)
    return float(np.max(hidden @ np.abs(W2) + np.abs(b2)))


def _scale(name, batch, width, dtype, want):
    if name in SUMMED:
        return max(batch, width) * max(1.0, float(np.abs(want).max()))
    if name == "predict":
        return _predict_scale(batch, width, dtype)
    return 0.0


# --- fastnn bench: what stays in the package --------------------------------------------------------------------
PACKAGE_CASES = ["sigmoid", "relu", "softmax", "cross_entropy_error", "softmax_loss", "train_step",
                 "simple_convnet_step", "deep_convnet_step", "sklearn_mlp_digits", "sklearn_mlp_fashion_mnist",
                 "sklearn_mlp_sparse"]


def test_package_cases_are_fastnns_against_its_reference():
    """fastnn bench times the public functions and a training step; the comparison holds the same Case objects
    (fastnn.bench's definitions) and adds its own after them."""
    assert list(bench.CASES) == PACKAGE_CASES
    assert list(CASES)[:len(PACKAGE_CASES)] == PACKAGE_CASES
    assert all(CASES[name] is bench.CASES[name] for name in PACKAGE_CASES)
    assert not set(cases.EXTRA) & set(bench.CASES)
    assert {(100, 10), (10000, 100), (100000, 10)} == set(bench.CASES["softmax"].shapes)


def test_package_bench_compiles_nothing_itself():
    """fastnn/bench.py times the package: no numba.njit of its own (the user-style jitted f lives in benchmarks/),
    and it stays a small module."""
    source = (ROOT / "fastnn" / "bench.py").read_text()
    assert "import numba" not in source and "njit" not in source
    code = [line for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert len(code) <= 300  # (the convolutional steps added ~45 lines)


def test_fastnn_bench_command_prints_the_table(capsys, monkeypatch):
    monkeypatch.setattr(bench, "MAX_ROWS", 300)  # FASTNN_BENCH_MAX_ROWS=300: the fits take 300 rows, not 60000
    argv = ["--quick", "--shape", "5x4", "--repeat", "1", "--dtype", "float32"]
    assert cli.main(["bench", *argv]) == 0  # fastnn bench: the CLI subcommand
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("threads: 1 (numba and BLAS); BLAS: ")
    assert out.splitlines()[1] == "real data sets cut to their first 300 rows (FASTNN_BENCH_MAX_ROWS): a smoke run"
    lines = [line.split() for line in out.splitlines() if line.split() and line.split()[0] in PACKAGE_CASES]
    assert [line[0] for line in lines] == [name for name in PACKAGE_CASES if "float32" in bench.CASES[name].dtypes]
    for line in lines:
        assert line[1:3] == ["5x4", "float32"] and line[-1].endswith("x")
    assert bench.main(["--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == PACKAGE_CASES


def test_max_rows_caps_only_a_smoke_run(monkeypatch):
    rows = np.arange(10)
    monkeypatch.setattr(bench, "MAX_ROWS", 4)
    first, second = bench.capped(rows, rows[::-1])
    np.testing.assert_array_equal(first, [0, 1, 2, 3])
    np.testing.assert_array_equal(second, [9, 8, 7, 6])
    monkeypatch.setattr(bench, "MAX_ROWS", None)
    assert [len(a) for a in bench.capped(rows, rows)] == [10, 10]


def test_fastnn_bench_runs_as_a_module_and_pins_threads():
    proc = subprocess.run([sys.executable, "-m", "fastnn.bench", "--case", "relu", "--shape", "3x2", "--repeat", "1",
                           "--threads", "2"], check=False, capture_output=True, text=True, env=SUBPROCESS_ENV,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[0]
    assert header.startswith("threads: 2 (numba and BLAS); BLAS: ")
    assert set(re.findall(r"\): (\d+)", header)) == {"2"}  # every BLAS library at 2 threads while timing
    assert "relu" in proc.stdout and "3x2" in proc.stdout


def test_run_case_row_and_extra_callables():
    calls = []
    c = bench.Case("probe", "two callables", ((1, 1),), lambda b, w, d: (lambda: calls.append("f"),
                                                                         lambda: calls.append("r")))
    row = bench.run_case(c, 1, 1, "float32", repeat=2, min_time=0.0,
                         extra={"other": lambda b, w, d: (lambda: calls.append("o"))})
    assert calls[:3] == ["f", "r", "o"]  # a warm-up call each, then interleaved samples
    assert set(row) == {"case", "batch", "width", "dtype", "fastnn_s", "reference_s", "ratio", "other_s"}
    assert row["dtype"] == "float32" and row["ratio"] == pytest.approx(row["reference_s"] / row["fastnn_s"])


def test_text_table_marks_scaled_reference_times():
    rows = [{"case": "a", "batch": 3, "width": 4, "dtype": "float64", "fastnn_s": 2e-6, "reference_s": 3e-3,
             "ratio": 1500.0, "reference_note": "scaled"}]
    header, lines, notes = bench.table(rows)
    assert header == ["case", "shape", "dtype", "fastnn", "reference", "ref/fastnn"]
    assert lines == [["a", "3x4", "float64", "2 us", "3 ms*", "1500.00x"]]
    assert notes == {"a": "scaled"}
    text = bench.format_text(header, lines).splitlines()
    assert len(text) == 3 and text[2].endswith("1500.00x") and set(text[1]) <= {"-", " "}


# --- the registry -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", bench.DTYPES)
@pytest.mark.parametrize("name", PURE)
@given(batch=st.integers(1, 16), width=st.integers(2, 12))
def test_case_fastnn_equals_reference(name, dtype, batch, width):
    # (width >= 2: with one class, labels are as many as scores, and the book's rule reads them as one-hot)
    fast, ref = CASES[name].make(batch, width, np.dtype(dtype))
    got, want = _as_tuple(fast()), _as_tuple(ref())
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape
        if w.ndim:  # arrays keep the input dtype on both sides (scalars: compared by value)
            assert g.dtype == w.dtype == np.dtype(dtype)
        np.testing.assert_allclose(g, w, **tol(dtype, _scale(name, batch, width, dtype, w)))


def test_case_repeated_calls_agree():
    """The preallocated outputs are reused: a second call gives the same result as the first."""
    fast, _ = CASES["softmax_ce_fwd_bwd"].make(7, 5, np.dtype("float64"))
    loss1, dx1 = fast()
    dx1 = dx1.copy()
    loss2, dx2 = fast()
    assert loss1 == loss2
    np.testing.assert_array_equal(dx1, dx2)


def test_fused_case_has_the_acceptance_shapes():
    assert {(100, 10), (10000, 100), (100000, 10)} <= set(CASES["softmax_ce_fwd_bwd"].shapes)


def test_training_cases_have_the_asked_shapes():
    assert {(100, 100), (1, 50)} <= set(CASES["train_step"].shapes)
    assert {(10000, 100), (100000, 100)} <= set(CASES["predict"].shapes)
    for name, batch, width in cases.STEP_ROWS.values():  # the step table's rows are shapes of their cases
        assert (batch, width) in CASES[name].shapes


def test_step_table_rows_are_the_asked_nets():
    assert cases.STEP_ROWS == {"784-50-10 b1": ("train_step", 1, 50), "64-100-10 b32": ("train_step_digits", 32, 100),
                               "784-100x5-10 b100": ("train_step_deep", 100, 100),
                               "784-100-10 b100": ("train_step", 100, 100)}
    for depth, input_size, widths in ((1, 784, [(784, 100), (100, 10)]), (1, 64, [(64, 100), (100, 10)]),
                                      (cases.DEEP, 784, [(784, 100)] + [(100, 100)] * 4 + [(100, 10)])):
        for net in bench.nets_pair(input_size, 100, "float32", depth):
            assert [W.shape for W in bench.net_params(net)[::2]] == widths


NETGRAD_CASES = {"numerical_gradient_net", "numerical_gradient_training"}


def test_numerical_gradient_cases_are_registered_exactly_when_netgrad_exists():
    present = importlib.util.find_spec("fastnn.netgrad") is not None
    for name in NETGRAD_CASES:
        assert (name in CASES) == present
        if present:
            assert CASES[name].dtypes == ("float64",)


ASV_MODULES = ("kernels.py", "training.py", "steps.py", "latency.py")


def _asv_cases():
    found = set()
    for name in ASV_MODULES:
        found |= set(re.findall(r'^\s+case = "(\w+)"', (ROOT / "benchmarks" / name).read_text(), flags=re.MULTILINE))
    return found | {name for name, *_ in cases.STEP_ROWS.values()}  # steps.py's classes run every row


def test_asv_suite_covers_every_case():
    asv = _asv_cases()
    assert set(CASES) <= asv
    assert asv - set(CASES) <= NETGRAD_CASES  # registered only where fastnn.netgrad exists


# --- training cases: fastnn and the reference do the same steps ---------------------------------------------------
def _assert_same(got, want, dtype, rtol=None):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = _numpy(g), _numpy(w)
        assert g.shape == w.shape
        kw = tol(dtype, scale=1.0)  # parameters and losses of order 1: an absolute bound at the dtype's rounding
        np.testing.assert_allclose(g, w, **(kw if rtol is None else {"rtol": rtol, "atol": rtol}))


STEP_CASES = ["train_step", "train_step_digits", "train_step_deep"]  # the step table's cases
DEPTH = {"train_step_deep": cases.DEEP}  # hidden layers (1 elsewhere)


def _initial_net(name, dtype, width=5):
    """fastnn's net of a step case as the case builds it (the same seeded draws), and its batch."""
    net, _ = bench.nets_pair(SMALL_INPUT, width, dtype, DEPTH.get(name, 1))
    return net, bench.pixels(7, SMALL_INPUT, dtype)


@pytest.mark.parametrize("dtype", bench.DTYPES)
@pytest.mark.parametrize("name", [*STEP_CASES, "train_step_book"])
def test_train_step_matches_reference(name, dtype):
    fast, ref = CASES[name].make(7, 5, np.dtype(dtype), input_size=SMALL_INPUT)
    initial = bench.net_params(_initial_net(name, dtype)[0])
    for _ in range(2):  # each call is one more step on both sides
        got, want = fast(), ref()
    n = len(initial)
    for p in (*got[-n:], *want[-n:]):
        assert p.dtype == np.dtype(dtype)  # the float32 reference works in float32 too
    _assert_same(got, want, dtype)
    assert not np.array_equal(initial[0], got[-n])  # the steps moved W1
    if name == "train_step_book":
        fast_net, (x, t) = _initial_net(name, dtype)  # the loss is that of the updated parameters
        for key, p in zip(bench.param_keys(fast_net), got[1:]):
            fast_net.params[key][...] = p
        np.testing.assert_allclose(got[0], fast_net.loss(x, t), **tol(dtype, 1.0))


@pytest.mark.parametrize("depth", [1, cases.DEEP])
def test_float32_reference_holds_its_parameters_in_its_layers(depth):
    """The reference is built as the book builds it (float64), then given float32 arrays: its params entries and
    its Affine layers' W and b are the same float32 arrays, so the book's code updates what it computes with."""
    fast, ref = bench.nets_pair(SMALL_INPUT, 5, "float32", depth)
    affines = [layer for key, layer in ref.layers.items() if key.startswith("Affine")]
    assert len(affines) == depth + 1
    for i, layer in enumerate(affines, 1):
        assert layer.W is ref.params[f"W{i}"] and layer.b is ref.params[f"b{i}"]
        assert layer.W.dtype == layer.b.dtype == np.float32
        np.testing.assert_array_equal(layer.W, fast.params[f"W{i}"])
        assert layer.W is not fast.params[f"W{i}"]  # copies: stepping one net leaves the other alone


@pytest.mark.parametrize("dtype", bench.DTYPES)
def test_products_are_the_steps_two_large_products(dtype):
    products = competitors.PRODUCTS["train_step"](6, 5, np.dtype(dtype), input_size=SMALL_INPUT)
    a, dW = products()
    x, _ = bench.pixels(6, SMALL_INPUT, dtype)
    W1 = bench.net_params(bench.nets_pair(SMALL_INPUT, 5, dtype)[0])[0]
    assert a.dtype == dW.dtype == np.dtype(dtype)
    np.testing.assert_allclose(a, x @ W1, **tol(dtype, SMALL_INPUT))
    assert dW.shape == (SMALL_INPUT, 5)


@pytest.mark.parametrize("name", STEP_CASES)
def test_step_cases_run_and_return_finite_timings(name):
    c = CASES[name]
    for dtype in c.dtypes:
        row = compare.run_case(c, 3, 4, dtype, repeat=2, min_time=0.0)
        figures = [row["fastnn_s"], row["reference_s"], row["ratio"]]
        if name == "train_step":  # the bound is timed in the same run
            figures += [row["products_s"], row["products_ratio"]]
            assert row["products_ratio"] == pytest.approx(row["fastnn_s"] / row["products_s"])
        assert all(np.isfinite(f) and f > 0 for f in figures)
        torch, jax = competitors.torch_module(), _jax_or_none()
        if torch is not None:
            compare.add_torch(row, 2, 0.0, torch)
            assert np.isfinite(row["torch_s"]) and row["torch_s"] > 0
        if jax is not None:
            compare.add_jax(row, 2, 0.0, jax)
            assert np.isfinite(row["jax_s"]) and row["jax_s"] > 0
            assert row["jax_ratio"] == pytest.approx(row["jax_s"] / row["fastnn_s"])


def _epoch_pair(name, dtype, batch=100, width=5):
    fast, ref = CASES[name].make(batch, width, np.dtype(dtype))
    return fast(), ref()


@pytest.mark.parametrize("dtype", bench.DTYPES)
@pytest.mark.parametrize("name", ["epoch_digits", "epoch_digits_no_after_loss"])
def test_digits_epoch_matches_reference(name, dtype):
    """The same batches, updates and recorded losses over the epoch's 14 steps."""
    got, want = _epoch_pair(name, dtype)
    _assert_same(got, want, dtype, rtol=1e-4 if dtype == "float32" else 1e-10)


def test_no_after_loss_epoch_records_the_forward_loss():
    """Without the after-update pass the recorded loss is that of the step's forward pass, so it differs from
    the book's (which the after-update loss of the same step is)."""
    book, _ = _epoch_pair("epoch_digits", "float64")
    lean, _ = _epoch_pair("epoch_digits_no_after_loss", "float64")
    _assert_same(book[:4], lean[:4], "float64")  # the same training
    assert book[4] != lean[4]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["epoch_fashion_mnist", "epoch_fashion_mnist_no_after_loss"])
def test_fashion_mnist_epoch_matches_reference(name):
    reason = CASES[name].unavailable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Fashion-MNIST is required in CI: {reason}")
        pytest.skip(reason)
    got, want = _epoch_pair(name, "float64", batch=1000, width=3)  # 60 steps
    _assert_same(got, want, "float64", rtol=1e-10)


def test_fashion_mnist_cases_skip_without_the_data(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("FASTNN_FASHION_MNIST_DIR", str(tmp_path))
    for name in ("epoch_fashion_mnist", "epoch_fashion_mnist_no_after_loss"):
        assert "dataset-fashion-mnist" in CASES[name].unavailable()
    assert compare.main(["--case", "epoch_fashion_mnist", "--no-torch", "--no-sklearn", "--quick"]) == 0
    assert "epoch_fashion_mnist: skipped (Fashion-MNIST is not installed" in capfd.readouterr().err
    assert CASES["epoch_digits"].unavailable() is None


@pytest.mark.parametrize("dtype", bench.DTYPES)
def test_accuracy_case_agrees_up_to_near_ties(dtype):
    """fastnn and the reference may pick different classes only where two scores tie to rounding."""
    rows, width = 300, 6
    fast, ref = CASES["accuracy"].make(rows, width, np.dtype(dtype))
    scores = np.sort(CASES["predict"].make(rows, width, np.dtype(dtype))[1](), axis=1)
    near_ties = np.sum(scores[:, -1] - scores[:, -2] <= 1e3 * np.finfo(dtype).eps * np.abs(scores[:, -1]))
    assert abs(fast() - ref()) <= near_ties / rows


def test_numerical_gradient_net_case():
    if "numerical_gradient_net" not in CASES:
        pytest.skip("fastnn.netgrad is not in this tree (the case registers where it is)")
    fast, ref = CASES["numerical_gradient_net"].make(5, 3, np.dtype("float64"), input_size=6)
    grads, part = fast(), ref()
    n_params = 6 * 3 + 3 + 3 * 10 + 10
    assert sum(g.size for g in grads.values()) == n_params
    assert part.size == min(cases.NETGRAD_REFERENCE_ELEMENTS, 18)
    assert ref.scale == pytest.approx(n_params / part.size)
    assert f"{part.size} of {n_params} parameters" in ref.note
    np.testing.assert_allclose(grads["W1"].reshape(-1)[:part.size], part, rtol=0, atol=1e-9)


def test_numerical_gradient_training_case_is_chapter_4s_iteration():
    if "numerical_gradient_training" not in CASES:
        pytest.skip("fastnn.netgrad is not in this tree (the case registers where it is)")
    fast, ref = CASES["numerical_gradient_training"].make(5, 3, np.dtype("float64"), input_size=6)
    part = ref()  # the book's gradient on the slice, at the initial parameters
    grads = fast()  # the same gradient, then the update
    np.testing.assert_allclose(grads["W1"].reshape(-1)[:part.size], part, rtol=0, atol=1e-9)
    moved = fast()  # the second iteration's gradient: at the updated parameters
    assert not np.allclose(moved["W1"], grads["W1"], rtol=0, atol=1e-12)
    assert fast.iterations == cases.CH4_ITERATIONS
    row = compare.run_case(CASES["numerical_gradient_training"], 5, 3, "float64", repeat=1, min_time=0.0)
    assert f"{cases.CH4_ITERATIONS} iterations projected: fastnn " in row["projection_note"]
    _, _, notes = compare._table([row], with_torch=False)
    assert notes == [f"* numerical_gradient_training: {row['reference_note']}; {row['projection_note']}"]


# --- competitors (optional libraries) ------------------------------------------------------------------------------
TORCH_NO_GUARD = {"softmax_loss", "softmax_ce_fwd_bwd"}  # torch's cross_entropy has no +1e-7 inside the log


@pytest.mark.parametrize("dtype", bench.DTYPES)
@pytest.mark.parametrize("name", sorted(n for n in PURE if n in competitors.TORCH))
def test_torch_column_computes_the_same(name, dtype):
    pytest.importorskip("torch")  # PyTorch is an optional comparison, never a dependency
    c = CASES[name]
    got = _as_tuple(competitors.TORCH[name](13, 7, np.dtype(dtype))())
    want = _as_tuple(c.make(13, 7, np.dtype(dtype))[1]())
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = g.detach().numpy(), np.asarray(w)
        if name in TORCH_NO_GUARD and w.ndim == 0:
            continue
        assert g.shape == w.shape and g.dtype == w.dtype
        scale = _predict_scale(13, 7, dtype) if name == "predict" else 7 * max(1.0, float(np.abs(w).max()))
        np.testing.assert_allclose(g, w, **tol(dtype, scale))  # torch sums in its own order


@pytest.mark.parametrize("dtype", bench.DTYPES)
@pytest.mark.parametrize("name", [*STEP_CASES, "train_step_book"])
def test_torch_train_step_matches_reference(name, dtype):
    pytest.importorskip("torch")
    c = CASES[name]
    got = competitors.TORCH[name](7, 5, np.dtype(dtype), input_size=SMALL_INPUT)()
    want = c.make(7, 5, np.dtype(dtype), input_size=SMALL_INPUT)[1]()
    for g in got:
        assert _numpy(g).dtype == np.dtype(dtype)
    n = len(want) - (name == "train_step_book")
    assert len(got) == len(want)
    _assert_same(got[-n:], want[-n:], dtype, rtol=1e-5 if dtype == "float32" else 1e-12)
    if name == "train_step_book":  # the loss after the update; torch's has no 1e-7 guard inside the log
        assert float(got[0]) == pytest.approx(float(want[0]), abs=1e-5)


def _jax_or_none():
    return competitors.jax_module() if importlib.util.find_spec("jax") is not None else None


@pytest.fixture(scope="module")
def jax():
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed (pip install jax): the JAX column is an optional comparison")
    return competitors.jax_module()


STEP_TOL = {"float32": 1e-5, "float64": 1e-10}


@pytest.mark.parametrize("dtype", bench.DTYPES)
@pytest.mark.parametrize("name", STEP_CASES)
def test_jax_step_computes_fastnns_loss_and_update(name, dtype, jax):
    """The jitted step returns the book's loss of its forward pass and the updated parameters: fastnn's, on the
    same data from the same initial parameters, twice in a row."""
    c = CASES[name]
    fast, _ = c.make(7, 5, np.dtype(dtype), input_size=SMALL_INPUT)
    net, (x, t) = _initial_net(name, dtype)
    with competitors.jax_x64(jax, dtype):
        step = competitors.JAX[name](7, 5, np.dtype(dtype), input_size=SMALL_INPUT)
        for _ in range(2):
            want_loss = net.loss(x, t)  # the loss at the parameters the step starts from
            optimizer.SGD(lr=bench.LR).update(net.params, net.gradient(x, t))
            loss, *params = step()
            got = fast()
            np.testing.assert_allclose(float(loss), want_loss, rtol=STEP_TOL[dtype], atol=STEP_TOL[dtype])
            assert len(params) == len(got)
            for p, w, v in zip(params, got, bench.net_params(net)):
                p = np.asarray(p)
                assert p.dtype == np.dtype(dtype)
                np.testing.assert_allclose(p, w, rtol=STEP_TOL[dtype], atol=STEP_TOL[dtype])
                np.testing.assert_allclose(p, v, rtol=STEP_TOL[dtype], atol=STEP_TOL[dtype])


def test_jax_float64_mode_stays_inside_its_context(jax):
    """64-bit mode is on only inside jax_x64(float64): a float32 step built after a float64 one stays float32,
    and a float64 step outside the context is refused rather than silently computed in float32."""
    with competitors.jax_x64(jax, "float64"):
        loss, *_ = competitors.JAX["train_step"](3, 4, np.dtype("float64"), input_size=SMALL_INPUT)()
        assert np.asarray(loss).dtype == np.float64
    assert not jax.config.jax_enable_x64
    loss, *params = competitors.JAX["train_step"](3, 4, np.dtype("float32"), input_size=SMALL_INPUT)()
    assert {np.asarray(a).dtype for a in (loss, *params)} == {np.dtype(np.float32)}
    with pytest.raises(RuntimeError, match="jax_x64"):
        competitors.JAX["train_step"](3, 4, np.dtype("float64"), input_size=SMALL_INPUT)


@pytest.mark.parametrize("dtype", bench.DTYPES)
def test_torch_epoch_trains_on_the_same_batches(dtype):
    pytest.importorskip("torch")
    name = "epoch_digits_no_after_loss"
    got = competitors.TORCH[name](100, 5, np.dtype(dtype))()
    _, want = _epoch_pair(name, dtype)
    _assert_same(got[:4], want[:4], dtype, rtol=1e-4 if dtype == "float32" else 1e-10)
    assert got[4] == pytest.approx(float(want[4]), abs=1e-5)


@pytest.mark.parametrize("dtype", bench.DTYPES)
def test_sklearn_epoch_fits_the_same_network_for_the_same_steps(dtype):
    pytest.importorskip("sklearn")
    clf = competitors.SKLEARN["epoch_digits_no_after_loss"](100, 5, np.dtype(dtype))()
    assert [w.shape for w in clf.coefs_] == [(64, 5), (5, 10)]
    assert {w.dtype for w in clf.coefs_ + clf.intercepts_} == {np.dtype(dtype)}
    assert clf.n_iter_ == 1
    assert clf.t_ == cases.epoch_steps(1437, 100) * 100  # samples seen: 14 batches of 100, like the Trainer


@pytest.mark.parametrize("dtype", bench.DTYPES)
def test_accuracy_comparison(dtype):
    torch = competitors.torch_module()
    with_sklearn = competitors.sklearn_module() is not None
    row = compare.accuracy_comparison("digits", dtype, torch=torch, sklearn=with_sklearn, epochs=2, hidden=8)
    assert row["dataset"] == "digits" and row["dtype"] == dtype and row["epochs"] == 2
    n_test = 360
    # the same initial parameters and batches: fastnn and the reference classify alike (a near tie may flip one)
    assert abs(row["fastnn"] - row["reference"]) <= 1 / n_test
    if torch is not None:
        assert abs(row["torch"] - row["reference"]) <= 1 / n_test
    if with_sklearn:
        assert 0 <= row["sklearn"] <= 1 and row["sklearn_s"] > 0
    assert row["fastnn_s"] > 0 and row["reference_s"] > 0

    header, lines = compare._accuracy_table([row])
    assert header[:4] == ["dataset", "dtype", "epochs", "fastnn"]
    assert lines[0][3].startswith(f"{100 * row['fastnn']:.2f}%")


# --- the command line ---------------------------------------------------------------------------------------------
PARSERS = {"fastnn bench": lambda: bench.parser(bench.CASES), "compare": compare._parser}


@pytest.mark.parametrize("which", PARSERS)
@pytest.mark.parametrize("text", ["10", "ax3", "0x5", "3x-1", "2x3x4"])
def test_bad_shape_is_refused(text, which, capsys):
    with pytest.raises(SystemExit) as exc:
        PARSERS[which]().parse_args(["--shape", text])
    assert exc.value.code == 2
    assert "--shape" in capsys.readouterr().err


def test_case_option_offers_each_commands_cases(capsys):
    assert set(compare._parser().parse_args(["--case", "epoch_digits"]).case) == {"epoch_digits"}
    with pytest.raises(SystemExit):  # fastnn bench times only the package's cases
        bench.parser(bench.CASES).parse_args(["--case", "epoch_digits"])
    assert "invalid choice" in capsys.readouterr().err


def test_steps_option_plans_the_step_table():
    args = bench.parse(compare._parser(), ["--steps", "--quick"])
    assert compare._plan(args) == [(name, [(batch, width)]) for name, batch, width in cases.STEP_ROWS.values()]
    assert (args.repeat, args.min_time) == (3, 2e-4)  # --quick's samples
    args = bench.parse(compare._parser(), ["--case", "relu", "--case", "softmax"])
    assert bench.plan(args, CASES) == [("relu", CASES["relu"].shapes), ("softmax", CASES["softmax"].shapes)]
    assert (args.repeat, args.min_time) == (bench.REPEAT, bench.MIN_SAMPLE_S)


@pytest.mark.parametrize("main, argv", [(bench.main, ["--threads", "0"]), (bench.main, ["--repeat", "0"]),
                                        (compare.main, ["--threads", "0"]), (compare.main, ["--repeat", "0"]),
                                        (compare.main, ["--steps", "--case", "relu"]),
                                        (compare.main, ["--steps", "--shape", "2x3"])])
def test_bad_counts_are_refused(main, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert argv[-2] in capsys.readouterr().err


def test_measure_counts_samples():
    calls = []
    samples = bench.measure(lambda: calls.append(1), repeat=4, min_time=0.0)
    assert len(samples) == 4 and all(s >= 0 for s in samples)
    assert len(calls) == 5  # one calibration call, then one call per sample


def test_measure_pair_alternates_the_two_callables():
    calls = []
    fast, ref = bench.measure_pair(lambda: calls.append("f"), lambda: calls.append("r"), repeat=3)
    assert len(fast) == len(ref) == 3
    assert calls == ["f", "r"] + ["f", "r"] * 3  # calibration, then alternating samples


def test_header_says_whether_openblas_tuning_is_set(monkeypatch):
    for var in compare.OPENBLAS_TUNING_VARS:
        monkeypatch.delenv(var, raising=False)
    assert compare._openblas_env() == "unset"
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert compare._openblas_env() == "OPENBLAS_CORETYPE=Haswell"


def test_comparison_header_says_when_the_real_data_sets_are_cut(monkeypatch):
    monkeypatch.setattr(bench, "MAX_ROWS", None)
    assert "real data sets" not in compare.machine_line(compare.machine_info())
    monkeypatch.setattr(bench, "MAX_ROWS", 300)
    assert compare.machine_line(compare.machine_info()).endswith(
        "; real data sets cut to their first 300 rows (FASTNN_BENCH_MAX_ROWS): a smoke run.")


# whole-data-set cases (Fashion-MNIST epochs, scikit-learn fits) take minutes as plain Python (NUMBA_DISABLE_JIT=1),
# and so do the convolutional steps' per-window loops: without the JIT those are left to tests/test_conv*.py
_PLAIN_PYTHON = os.environ.get("NUMBA_DISABLE_JIT") == "1"
QUICK_CASES = [n for n in CASES if "fashion" not in n and not n.startswith("sklearn_")
               and n != "numerical_gradient_net" and not (_PLAIN_PYTHON and "convnet" in n)]


def test_quick_run_writes_json_and_markdown(tmp_path):
    json_path, md_path = tmp_path / "bench.json", tmp_path / "bench.md"
    chosen = [arg for name in QUICK_CASES for arg in ("--case", name)]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.compare", "--quick", "--shape", "50x4", "--repeat", "2", "--no-torch",
         "--no-sklearn", "--no-jax", *chosen, "--json", str(json_path), "--markdown", str(md_path)],
        check=False, capture_output=True, text=True, env=SUBPROCESS_ENV, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr

    data = json.loads(json_path.read_text())
    assert {"cpu", "cores", "numpy", "numba", "blas_threads", "numba_threads", "openblas_env"} <= set(data["machine"])
    assert data["machine"]["numba_threads"] == 1
    assert data["settings"]["repeat"] == 2 and data["settings"]["threads"] == 1
    assert data["accuracy"] == []
    rows = data["results"]
    assert {(r["case"], r["dtype"]) for r in rows} == {(c, d) for c in QUICK_CASES for d in CASES[c].dtypes}
    for r in rows:
        assert (r["batch"], r["width"]) == (50, 4)
        assert r["fastnn_s"] > 0 and r["reference_s"] > 0
        assert r["ratio"] == pytest.approx(r["reference_s"] / r["fastnn_s"])
        assert "torch_s" not in r and "sklearn_s" not in r and "jax_s" not in r
        assert ("products_s" in r) == (r["case"] == "train_step")  # the bound, timed with the 784-input step

    text = md_path.read_text()
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert table[0] == "| case | shape | dtype | fastnn | reference | ref/fastnn | products | fastnn/products |"
    assert len(table) == 2 + len(rows)
    assert all(line.count("|") == 9 for line in table)
    assert "OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE: " in text
    assert "Command: `python -m benchmarks.compare --quick --shape 50x4 " in text
    assert "BLAS libscipy_openblas" in text or "BLAS lib" in text  # the kernel set OpenBLAS chose, per library
    for name in QUICK_CASES:
        assert name in proc.stdout
        assert f"- `{name}`: {CASES[name].what}" in text
    assert "numpy=" in proc.stdout and "openblas_env=" in proc.stdout


def test_markdown_marks_extrapolated_reference_and_competitor_columns():
    rows = [{"case": "numerical_gradient_net", "batch": 100, "width": 50, "dtype": "float64", "fastnn_s": 0.04,
             "reference_s": 16.0, "ratio": 400.0, "reference_note": "reference timed on 200 of 39760 parameters"},
            {"case": "epoch_digits_no_after_loss", "batch": 100, "width": 100, "dtype": "float32",
             "fastnn_s": 0.002, "reference_s": 0.003, "ratio": 1.5, "torch_s": 0.004, "torch_ratio": 2.0,
             "torch_threads": 2, "sklearn_s": 0.005, "sklearn_ratio": 2.5}]
    header, lines, notes = compare._table(rows, with_torch=True, with_sklearn=True)
    assert header[-5:] == ["torch", "torch/fastnn", "torch threads", "sklearn", "sklearn/fastnn"]
    assert lines[0][4] == "16 s*" and lines[0][6:] == ["-"] * 5
    assert lines[1][6:] == ["4 ms", "2.00x", "2", "5 ms", "2.50x"]
    assert notes == ["* numerical_gradient_net: reference timed on 200 of 39760 parameters"]
    rows[1].update(jax_s=0.001, jax_ratio=0.5, products_s=0.0005, products_ratio=4.0)
    header, lines, _ = compare._table(rows, with_torch=True, with_sklearn=True, with_jax=True, with_products=True)
    assert header[6:] == ["torch", "torch/fastnn", "torch threads", "jax", "jax/fastnn", "sklearn", "sklearn/fastnn",
                          "products", "fastnn/products"]
    assert lines[0][6:] == ["-"] * 9
    assert lines[1][9:] == ["1 ms", "0.50x", "5 ms", "2.50x", "500 us", "4.00x"]


# --- the asv suite ------------------------------------------------------------------------------------------------
def _asv_setup(code, **env):
    """Run ``code`` in a fresh interpreter (the asv modules set the thread environment when they are imported)."""
    return subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT,
                          env={**SUBPROCESS_ENV, **env}, timeout=600)


def test_asv_skips_cases_an_older_fastnn_lacks():
    code = ("from fastnn import bench\n"
            "del bench.CASES['train_step']\n"  # as at a commit before the training cases
            "from benchmarks.training import TrainStep\n"
            "try:\n"
            "    TrainStep().setup(100, 100, 'float64', 1)\n"
            "except NotImplementedError as exc:\n"
            "    print('skipped:', exc)\n")
    proc = _asv_setup(code)
    assert proc.returncode == 0, proc.stderr
    assert "skipped: fastnn.bench has no case 'train_step'" in proc.stdout


def test_asv_skips_fashion_mnist_without_the_data(tmp_path):
    code = ("from benchmarks.training import EpochFashionMNIST\n"
            "try:\n"
            "    EpochFashionMNIST().setup(100, 100, 'float32', 1)\n"
            "except NotImplementedError as exc:\n"
            "    print('skipped:', exc)\n")
    proc = _asv_setup(code, FASTNN_FASHION_MNIST_DIR=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "skipped: Fashion-MNIST is not installed" in proc.stdout


def test_asv_training_benchmark_runs_and_pins_threads():
    code = ("import numba\n"
            "from threadpoolctl import threadpool_info\n"
            "from benchmarks.training import TrainStep\n"
            "for threads in (2, 1):\n"
            "    b = TrainStep()\n"
            "    b.setup(20, 8, 'float32', threads)\n"
            "    b.time_fastnn(20, 8, 'float32', threads)\n"
            "    speedup = b.track_speedup(20, 8, 'float32', threads)\n"
            "    blas = {i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'}\n"
            "    print(threads, numba.get_num_threads(), blas == {threads}, speedup > 0)\n")
    proc = _asv_setup(code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "1 1 True True"
    assert lines[-2] == "2 2 True True"  # numba's pool holds 2 threads (benchmarks/_paired.py) on any machine


def test_asv_step_rows_agree_with_the_bench_and_run():
    code = ("from benchmarks import cases, steps\n"
            "print('rows agree:', steps.ROWS is cases.STEP_ROWS)\n"
            "for row in ('784-50-10 b1', '64-100-10 b32'):\n"
            "    b = steps.Step()\n"
            "    b.setup(row, 'float32')\n"
            "    b.time_fastnn(row, 'float32')\n"
            "    b.time_reference(row, 'float32')\n"
            "    try:\n"
            "        print(row, b.track_products_ratio(row, 'float32') > 0)\n"
            "    except NotImplementedError as exc:\n"
            "        print(row, 'skipped:', exc)\n")
    proc = _asv_setup(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["rows agree: True", "784-50-10 b1 True",
                                        "64-100-10 b32 skipped: 64-100-10 b32: the products bound is timed for the "
                                        "784-input TwoLayerNet rows"]


@pytest.mark.parametrize("lib", ["torch", "jax"])
def test_asv_competitor_benchmarks_run_or_skip_without_the_library(lib):
    cls = {"torch": "StepTorch", "jax": "StepJax"}[lib]
    code = ("import sys\n"
            "from benchmarks import competitors\n"
            f"if sys.argv[1] == 'absent': competitors.{lib}_module = lambda *args: None\n"
            "from benchmarks import steps\n"
            f"b = steps.{cls}()\n"
            "try:\n"
            "    b.setup('784-50-10 b1', 'float64')\n"
            "except NotImplementedError as exc:\n"
            "    print('skipped:', exc)\n"
            "else:\n"
            f"    b.time_{lib}('784-50-10 b1', 'float64')\n"
            f"    print('ratio', b.track_{lib}_ratio('784-50-10 b1', 'float64') > 0)\n")
    absent = subprocess.run([sys.executable, "-c", code, "absent"], check=False, capture_output=True, text=True,
                            cwd=ROOT, env=SUBPROCESS_ENV, timeout=600)
    assert absent.returncode == 0, absent.stderr
    assert absent.stdout.startswith(f"skipped: {'PyTorch' if lib == 'torch' else 'JAX'} is not installed (pip install")
    if importlib.util.find_spec(lib) is None:
        pytest.skip(f"{lib} is not installed: only the skip is checked")
    present = subprocess.run([sys.executable, "-c", code, "present"], check=False, capture_output=True, text=True,
                             cwd=ROOT, env=SUBPROCESS_ENV, timeout=600)
    assert present.returncode == 0, present.stderr
    assert present.stdout.splitlines()[-1] == "ratio True"


def test_asv_skips_a_case_whose_fastnn_bench_helper_is_missing():
    """A comparison case built on a fastnn.bench helper that the benchmarked commit does not have is skipped, not
    failed; other errors still fail."""
    code = ("from fastnn import bench\n"
            "del bench.pixels\n"  # as at a commit before the helper
            "from benchmarks.training import Predict\n"
            "try:\n"
            "    Predict().setup(100, 100, 'float64')\n"
            "except NotImplementedError as exc:\n"
            "    print('skipped:', exc)\n"
            "from benchmarks import cases, _paired\n"
            "cases.CASES['predict'] = bench.Case('predict', '', ((1, 1),), lambda *a: [].missing)\n"
            "try:\n"
            "    _paired.case_callables('predict', 1, 1, 'float64')\n"
            "except AttributeError:\n"
            "    print('failed: AttributeError')\n")
    proc = _asv_setup(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["skipped: fastnn.bench has no pixels at this commit", "failed: AttributeError"]


def test_latency_table_runs_the_timeraw_benchmarks_code():
    """python -m benchmarks.latency (the README's compile-latency table) runs the asv timeraw benchmarks' snippets,
    stage after stage, in fresh interpreters (kernel bodies as Python here, so that nothing compiles)."""
    code = ("from benchmarks import latency\n"
            "assert latency._SOFTMAX_LOSS_SETUP + latency.FirstCall.call == latency.STAGES[2][1]\n"
            "assert latency.STAGES[3][1].startswith(latency._TRAIN_STEP_SETUP + latency.FirstTrainStep.call)\n"
            "latency.main(['--repeat', '1'])\n")
    proc = _asv_setup(code, NUMBA_DISABLE_JIT="1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "| step (median of 1 fresh interpreters) | cold cache | warm cache |"
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| import fastnn", "| import functions+nets+optimizer "
                                                             "(numba)", "| first softmax_loss call",
                                                             "| then first training step (gradient+SGD+loss)"]
    assert all(re.fullmatch(r"\| .+ \| \d+\.\d{3} s \| \d+\.\d{3} s \|", line) for line in lines[2:])


def test_word2vec_benchmark_measures_fastnn_words_per_second():
    """python -m benchmarks.word2vec_gensim: fastnn's side (the fused CBOW step) trains and reports a positive
    rate on a small corpus (the Bible corpus and gensim are the script's, not needed here)."""
    from benchmarks import word2vec_gensim

    corpus = np.random.default_rng(0).integers(0, 50, 3000)
    assert word2vec_gensim.fastnn_words_per_second(corpus, 50, 2) > 0


@pytest.mark.parametrize("size", ["net:8-4-3:5", "net:8-4-4-3:5", "layers:8-4-4-3:5"])
def test_thread_benchmark_child_times_each_kind_of_step(size, capsys):
    """python -m benchmarks.threads: each kind of size runs its step (the engine's net, multi-layer too, and the
    standalone layers) and prints one positive median step time; a malformed size is refused by name."""
    from benchmarks import threads

    threads.child(threads.CHUNK, True, size)
    assert float(capsys.readouterr().out) > 0
    with pytest.raises(ValueError, match="kind"):
        threads.parse_size("engine:8-4-3:5")


@pytest.mark.slow  # (28x28 images: minutes with NUMBA_DISABLE_JIT=1)
@pytest.mark.parametrize("name", ["simple_convnet_step", "deep_convnet_step"])
def test_convnet_step_cases_update_like_the_reference(name):
    """Both sides start from the same parameters and take the same Adam step (the same dropout masks: the global
    RNG is seeded before each side's call)."""
    fast, ref = CASES[name].make(2, 5, np.dtype("float64"))
    np.random.seed(1)
    got = [p.copy() for p in fast()]
    np.random.seed(1)
    want = ref()
    assert len(got) == len(want) == (6 if name.startswith("simple") else 16)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)
