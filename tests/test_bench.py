"""fastnn.bench: every registered case's fastnn and reference callables compute the same result, the script runs
end to end in --quick mode and writes valid JSON and Markdown, and the asv suite covers every case.
No timing is asserted: only that figures are there and consistent."""
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

from fastnn import bench

ROOT = pathlib.Path(__file__).resolve().parents[1]
# results with a sum over batch or width rows: BLAS libraries (numpy's, SciPy's for numba) add in other orders
SUMMED = {"affine_forward", "affine_backward"}


def _as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("dtype", bench.DTYPES)
@pytest.mark.parametrize("name", sorted(bench.CASES))
@given(batch=st.integers(1, 16), width=st.integers(2, 12))
def test_case_fastnn_equals_reference(name, dtype, batch, width):
    # (width >= 2: with one class, labels are as many as scores, and the book's rule reads them as one-hot)
    fast, ref = bench.CASES[name].make(batch, width, np.dtype(dtype))
    got, want = _as_tuple(fast()), _as_tuple(ref())
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape
        if w.ndim:  # arrays keep the input dtype on both sides (scalars: compared by value)
            assert g.dtype == w.dtype == np.dtype(dtype)
        scale = max(batch, width) * max(1.0, float(np.abs(w).max())) if name in SUMMED else 0.0
        np.testing.assert_allclose(g, w, **tol(dtype, scale))


def test_case_repeated_calls_agree():
    """The preallocated outputs are reused: a second call gives the same result as the first."""
    fast, _ = bench.CASES["softmax_ce_fwd_bwd"].make(7, 5, np.dtype("float64"))
    loss1, dx1 = fast()
    dx1 = dx1.copy()
    loss2, dx2 = fast()
    assert loss1 == loss2
    np.testing.assert_array_equal(dx1, dx2)


def test_fused_case_has_the_acceptance_shapes():
    assert {(100, 10), (10000, 100), (100000, 10)} <= set(bench.CASES["softmax_ce_fwd_bwd"].shapes)


def test_asv_suite_covers_every_case():
    source = (ROOT / "benchmarks" / "kernels.py").read_text()
    assert set(re.findall(r'^\s+case = "(\w+)"', source, flags=re.MULTILINE)) == set(bench.CASES)


@pytest.mark.parametrize("text", ["10", "ax3", "0x5", "3x-1", "2x3x4"])
def test_bad_shape_is_refused(text, capsys):
    with pytest.raises(SystemExit) as exc:
        bench._parser().parse_args(["--shape", text])
    assert exc.value.code == 2
    assert "--shape" in capsys.readouterr().err


def test_measure_counts_samples():
    calls = []
    samples = bench.measure(lambda: calls.append(1), repeat=4, min_time=0.0)
    assert len(samples) == 4 and all(s >= 0 for s in samples)
    assert len(calls) == 5  # one calibration call, then one call per sample


def test_quick_run_writes_json_and_markdown(tmp_path):
    json_path, md_path = tmp_path / "bench.json", tmp_path / "bench.md"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-m", "fastnn.bench", "--quick", "--shape", "3x4", "--repeat", "2", "--no-torch",
         "--json", str(json_path), "--markdown", str(md_path)],
        check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr

    data = json.loads(json_path.read_text())
    assert {"cpu", "cores", "numpy", "numba", "blas_threads", "numba_threads"} <= set(data["machine"])
    assert data["machine"]["numba_threads"] == 1
    assert data["settings"]["repeat"] == 2
    rows = data["results"]
    assert {(r["case"], r["dtype"]) for r in rows} == {(c, d) for c in bench.CASES for d in bench.DTYPES}
    assert len(rows) == len(bench.CASES) * len(bench.DTYPES)
    for r in rows:
        assert (r["batch"], r["width"]) == (3, 4)
        assert r["fastnn_s"] > 0 and r["reference_s"] > 0
        assert r["ratio"] == pytest.approx(r["reference_s"] / r["fastnn_s"])
        assert "torch_s" not in r

    table = [line for line in md_path.read_text().splitlines() if line.startswith("|")]
    assert table[0] == "| case | shape | dtype | fastnn | reference | ref/fastnn |"
    assert len(table) == 2 + len(rows)
    assert all(line.count("|") == 7 for line in table)
    for name in bench.CASES:
        assert name in proc.stdout
    assert "numpy=" in proc.stdout


TORCH_NO_GUARD = {"softmax_loss", "softmax_ce_fwd_bwd"}  # torch's cross_entropy has no +1e-7 inside the log


@pytest.mark.parametrize("dtype", bench.DTYPES)
@pytest.mark.parametrize("name", sorted(n for n, c in bench.CASES.items() if c.make_torch is not None))
def test_torch_column_computes_the_same(name, dtype):
    pytest.importorskip("torch")  # PyTorch is an optional comparison, never a dependency
    c = bench.CASES[name]
    got = _as_tuple(c.make_torch(13, 7, np.dtype(dtype))())
    want = _as_tuple(c.make(13, 7, np.dtype(dtype))[1]())
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = g.detach().numpy(), np.asarray(w)
        if name in TORCH_NO_GUARD and w.ndim == 0:
            continue
        assert g.shape == w.shape and g.dtype == w.dtype
        scale = 7 * max(1.0, float(np.abs(w).max()))  # torch sums in its own order
        np.testing.assert_allclose(g, w, **tol(dtype, scale))
