"""The vectorisable exp (fastnn/kernels/fastexp.py) against np.exp and against a more accurate exp.

Accuracy is measured in ulp (units in the last place), counted as the distance between the bit patterns of two
results: for non-negative floats that is the number of representable values between them, subnormals included.

Measured on the development machine (x86-64, NumPy 2.4, glibc), over the sweeps below (millions of points covering
every binade of the finite input range, plus an even grid in value):

* float64: at most 3 ulp from np.exp, at most 2 ulp from math.exp (glibc, itself within 1 ulp of exact);
* float32: at most 3 ulp from np.exp, whose float32 exp is itself up to 3 ulp from the exact result here; at most
  1 ulp from the float64 exp rounded to float32 (the correctly rounded result, up to a rare double rounding).

The tests hold fastnn to 4 ulp from np.exp (the documented bound) and to 2 / 3 ulp from the accurate references
(float32 / float64), and to NumPy's exact results for inf, -inf, NaN, overflow, underflow and subnormal results.
"""
import math

import numba
import numpy as np
import pytest

from fastnn.kernels.fastexp import exp32, exp64, vexp

JIT = not numba.config.DISABLE_JIT
# kernels run as Python under NUMBA_DISABLE_JIT=1 (about 10 us per call): sample fewer points there
SCALE = 1 if JIT else 50

F64_FINITE = (-745.2, 709.79)  # exp underflows to 0 below, overflows to inf above
F32_FINITE = (-103.98, 88.73)


@numba.njit
def vexp_array(x, out):
    for i in range(x.size):
        out[i] = vexp(x[i])


def fast(x):
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    with np.errstate(over="ignore"):  # NumPy scalar overflow warnings when run as Python
        vexp_array(x, out)
    return out


def numpy_exp(x):
    with np.errstate(over="ignore"):
        return np.exp(x)


def ulp_distance(a, b):
    """|a - b| in units of the last place, for non-negative results of one dtype (inf counts as one ulp past max)."""
    ints = np.int64 if a.dtype == np.float64 else np.int32
    return np.abs(a.view(ints).astype(np.int64) - b.view(ints).astype(np.int64))


def float_sweep(dtype, lo, hi, n):
    """n values spread evenly over the bit patterns of [lo, hi] (every binade, down to subnormal inputs), plus n
    values spread evenly in value (the large-|x| region, where most results change)."""
    ints = np.int64 if dtype == np.float64 else np.int32
    top_neg = np.array(-lo, dtype=dtype).view(ints)
    top_pos = np.array(hi, dtype=dtype).view(ints)
    neg = np.linspace(0, top_neg, n // 2, dtype=np.int64).astype(ints).view(dtype)
    pos = np.linspace(0, top_pos, n // 2, dtype=np.int64).astype(ints).view(dtype)
    even = np.linspace(lo, hi, n, dtype=dtype)
    return np.concatenate([-neg, pos, even])


@pytest.mark.parametrize("dtype, bounds, n", [(np.float64, F64_FINITE, 2_000_000 // SCALE),
                                              (np.float32, F32_FINITE, 1_000_000 // SCALE)], ids=["f64", "f32"])
def test_accuracy_over_the_whole_finite_range(dtype, bounds, n):
    x = float_sweep(dtype, *bounds, n)
    got, want = fast(x), numpy_exp(x)
    assert got.dtype == dtype
    dist = ulp_distance(got, want)
    worst = int(np.argmax(dist))
    assert dist[worst] <= 4, f"exp({x[worst]!r}) = {got[worst]!r}, np.exp gives {want[worst]!r}"
    normal = want >= np.finfo(dtype).tiny
    np.testing.assert_allclose(got[normal], want[normal], rtol=1e-15 if dtype == np.float64 else 5e-7, atol=0)


def test_random_float64_inputs(rng):
    x = rng.uniform(*F64_FINITE, 200_000 // SCALE)
    assert ulp_distance(fast(x), np.exp(x)).max() <= 4


def test_against_accurate_references(rng):
    x32 = float_sweep(np.float32, *F32_FINITE, 400_000 // SCALE)
    with np.errstate(over="ignore"):
        exact32 = np.exp(x32.astype(np.float64)).astype(np.float32)
    assert ulp_distance(fast(x32), exact32).max() <= 2
    n = 50_000 // SCALE
    x64 = np.concatenate([rng.uniform(*F64_FINITE, n), float_sweep(np.float64, -700, 700, n)])
    exact64 = np.array([math.exp(v) for v in x64.tolist()])
    assert ulp_distance(fast(x64), exact64).max() <= 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values(dtype):
    finfo = np.finfo(dtype)
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, finfo.smallest_subnormal, -finfo.smallest_subnormal,
                  finfo.tiny, -finfo.tiny, finfo.max, -finfo.max], dtype=dtype)
    got = fast(x)
    np.testing.assert_array_equal(got, numpy_exp(x))
    np.testing.assert_array_equal(got, [np.inf, 0, np.nan, 1, 1, 1, 1, 1, 1, np.inf, 0])
    assert not np.signbit(got[1])
    near_one = np.array([finfo.eps, -finfo.epsneg, 1.0, -1.0, 0.5, -0.5], dtype=dtype)
    assert ulp_distance(fast(near_one), numpy_exp(near_one)).max() <= 4
    assert got.dtype == dtype


@pytest.mark.parametrize("dtype, threshold", [(np.float64, 709.782712893384), (np.float32, 88.72284)])
def test_overflow_to_inf_at_numpys_threshold(dtype, threshold):
    """Around log(max): finite below, inf above, exactly where np.exp switches."""
    t = np.array(threshold, dtype=dtype)
    x = np.concatenate([t + np.arange(-50, 51) * np.spacing(t), np.array([710, 1000, 1e4], dtype=dtype)])
    got, want = fast(x), numpy_exp(x)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    assert ulp_distance(got, want).max() <= 4
    assert np.isfinite(got[0]) and np.isinf(got[-1])


@pytest.mark.parametrize("dtype, lo", [(np.float64, -745.2), (np.float32, -104.0)])
def test_gradual_underflow_to_subnormals_and_zero(dtype, lo):
    """Results below the smallest normal number are subnormal like NumPy's, then 0 (never negative, never NaN)."""
    x = np.linspace(lo - 5, lo + 40, 20_001 // SCALE, dtype=dtype)
    got, want = fast(x), numpy_exp(x)
    assert ulp_distance(got, want).max() <= 4
    subnormal = (want > 0) & (want < np.finfo(dtype).tiny)
    assert subnormal.sum() > 0 and np.all(got[subnormal] > 0)
    assert np.all(got[x < lo] == 0) and not np.any(np.signbit(got))
    np.testing.assert_array_equal(fast(np.array([-1e4, -1e30, -np.finfo(dtype).max], dtype=dtype)), 0)


def test_float32_in_float32_out():
    """vexp of a float32 is computed in float32 (exp32), not in float64 and rounded: that is what keeps float32
    kernels in float32 registers."""
    x = float_sweep(np.float32, *F32_FINITE, 20_000 // SCALE)
    got = fast(x)
    with np.errstate(over="ignore"):
        want = np.array([exp32(v) for v in x], dtype=np.float32)
    np.testing.assert_array_equal(got, want)
    with np.errstate(over="ignore"):
        rounded = np.exp(x.astype(np.float64)).astype(np.float32)
    assert np.any(got != rounded)  # (not the float64 exp rounded to float32)


@pytest.mark.skipif(not JIT, reason="checks the compiled signature")
def test_vexp_compiles_to_a_float32_function_for_float32():
    @numba.njit
    def call(v):
        return vexp(v)

    call(np.float32(1.0))
    call(1.0)
    returns = {sig.args[0]: sig.return_type for sig in call.nopython_signatures}
    assert returns == {numba.float32: numba.float32, numba.float64: numba.float64}


def test_vexp_from_python_keeps_the_dtype():
    assert isinstance(vexp(np.float32(0.5)), (np.float32, float))
    np.testing.assert_allclose(vexp(0.5), np.exp(0.5), rtol=1e-15)
    np.testing.assert_allclose(vexp(np.float32(0.5)), np.exp(np.float32(0.5)), rtol=5e-7)


@pytest.mark.skipif(not JIT, reason="compares the compiled kernels with their Python bodies")
@pytest.mark.parametrize("kernel, dtype, bounds", [(exp64, np.float64, F64_FINITE), (exp32, np.float32, F32_FINITE)])
def test_python_body_gives_the_compiled_bits(kernel, dtype, bounds):
    """NUMBA_DISABLE_JIT=1 runs the same arithmetic in NumPy scalars: the results are bit-identical."""
    x = np.concatenate([float_sweep(dtype, *bounds, 2000), np.array([np.inf, -np.inf, np.nan, 800, -800],
                                                                     dtype=dtype)])
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        python = np.array([kernel.py_func(v) for v in x], dtype=dtype)
    compiled = fast(x)
    np.testing.assert_array_equal(python.view(f"u{python.itemsize}"), compiled.view(f"u{compiled.itemsize}"))
