"""BatchNormalization, fastnn's and the reference's, against the plain-loop oracle in naive.py.

The reference is itself an oracle for fastnn (tests/test_layers.py), so both are held against formulas written out
one element at a time: several training steps (running statistics accumulate), backward after each, then test
mode; both dtypes, batch 1 and 2 among the batch sizes, 2-D and 4-D input in C, Fortran, strided and negatively
strided layouts.

Tolerance: batch normalisation amplifies the rounding of its input by |x| / std (centring) and backward adds a
difference of nearly equal terms, so each element may be off by rtol times a per-feature scale made of those
factors, on top of rtol relative. The inputs keep std well above eps (rows spread apart), so the scale stays
small and a wrong eps, mean or variance shows.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import naive
from fastnn import layers as fl
from fastnn.reference import layers as rl

LAYERS = {"fastnn": fl.BatchNormalization, "reference": rl.BatchNormalization}
BATCHES = st.sampled_from([1, 2, 3, 6])  # batch 1 (variance 0) and 2 as likely as the others
TAILS = st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple)  # (D,) or (C, H, W)-like


def assert_within(actual, expected, dtype, scale, what):
    """|actual - expected| <= rtol * (|expected| + scale) + tiny, elementwise (scale broadcasts over features)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    if actual.ndim > 1:  # (N, ...) -> (N, D), the features the scale is given for
        actual, expected = features(actual), features(expected)
    rtol = naive.RTOL[np.dtype(dtype)]
    err = np.abs(actual - expected)
    bound = rtol * (np.abs(expected) + scale) + float(np.finfo(dtype).tiny)  # subnormal results: see naive.tol
    assert np.all(err <= bound), f"{what}: max error {err.max():.3g}, allowed {bound.min():.3g} ({dtype})"


@st.composite
def spread_batches(draw, dtype, n, tail):
    """(n,) + tail values in a random layout: row i near i, so two rows differ by >= 0.5 in every feature."""
    base = draw(naive.arrays(dtype, (n,) + tail, elements=naive.floats(dtype, 0.25), layouts=["C"]))
    base = base + np.arange(n, dtype=dtype).reshape((n,) + (1,) * len(tail))
    return naive.relayout(base, draw(st.sampled_from(naive.LAYOUTS)))


def features(a):
    """a (N, ...) as (N, D)."""
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(a.shape[0], -1)


def _amplification(x2, centre, var):
    """(std, reach, xn_max) per feature: reach = (1 + max|x| + |centre|) / std is how much the rounding of x and
    of the centre grows in xn = (x - centre) / std; xn_max = max |xn|."""
    std = np.sqrt(np.asarray(var, dtype=np.float64) + naive.BN_EPS)
    reach = (1 + np.abs(x2).max(axis=0) + np.abs(centre)) / std
    return std, reach, np.abs(x2 - centre).max(axis=0) / std


def forward_scale(x, gamma, beta, centre, var):
    """Per feature: |gamma| * (1 + xn_max + reach) + |beta| (out = gamma * xn + beta)."""
    _, reach, xn_max = _amplification(features(x), centre, var)
    return np.abs(gamma) * (1 + xn_max + reach) + np.abs(beta)


def backward_scales(x, gamma, dout):
    """(dx, dgamma, dbeta) scales per feature: dx = gamma / std * (dy - mean dy - xn * mean(dy xn)) is a
    difference of terms up to |gamma| / std * |dy| * (1 + xn_max)^2, each carrying xn's amplified rounding."""
    x2, d2 = features(x), features(dout)
    n = x2.shape[0]
    std, reach, xn_max = _amplification(x2, x2.mean(axis=0), x2.var(axis=0))
    dy = np.abs(d2).max(axis=0)
    return (np.abs(gamma) / std * dy * (1 + xn_max) ** 2 * (1 + reach), n * dy * (1 + xn_max + reach), n * dy)


@pytest.mark.parametrize("impl", sorted(LAYERS))
@given(data=st.data(), dtype=naive.dtypes, momentum=st.floats(0.0, 0.95), tail=TAILS)
def test_batchnorm_steps_match_the_loop_oracle(impl, data, dtype, momentum, tail):
    d = int(np.prod(tail))
    gamma = data.draw(naive.arrays(dtype, (d,), elements=naive.floats(dtype, 2.0)), label="gamma")
    beta = data.draw(naive.arrays(dtype, (d,), elements=naive.floats(dtype, 2.0)), label="beta")
    layer = LAYERS[impl](gamma, beta, momentum)
    dgamma, dbeta = layer.grads
    rm = rv = None
    stat_scale = 1.0
    for step in range(3):
        n = data.draw(BATCHES, label=f"batch {step}")
        x = data.draw(spread_batches(dtype, n, tail), label=f"x {step}")
        dout = data.draw(naive.arrays(dtype, (n,) + tail, elements=naive.floats(dtype, 3.0)), label=f"dout {step}")
        want, rm, rv = naive.batchnorm_forward(x, gamma, beta, rm, rv, momentum, train_flg=True)
        out = layer.forward(x, train_flg=True)
        assert out.shape == x.shape
        x2 = features(x)
        assert_within(out, want, dtype, forward_scale(x, gamma, beta, x2.mean(axis=0), x2.var(axis=0)), "out")

        dx_want, dgamma_want, dbeta_want = naive.batchnorm_backward(x, gamma, dout)
        dx = layer.backward(dout)
        dx_scale, dgamma_scale, dbeta_scale = backward_scales(x, gamma, dout)
        assert_within(dx, dx_want, dtype, dx_scale, "dx")
        assert layer.grads[0] is dgamma and layer.grads[1] is dbeta  # written in place
        assert_within(dgamma, dgamma_want, dtype, dgamma_scale, "dgamma")
        assert_within(dbeta, dbeta_want, dtype, dbeta_scale, "dbeta")

        stat_scale = max(stat_scale, 1 + float(np.abs(x2).max()) ** 2)
        assert_within(layer.running_mean, rm, dtype, stat_scale, "running_mean")
        assert_within(layer.running_var, rv, dtype, stat_scale, "running_var")
        if impl == "fastnn":
            assert out.dtype == dx.dtype == layer.running_mean.dtype == np.dtype(dtype)

    x = data.draw(spread_batches(dtype, data.draw(BATCHES, label="test batch"), tail), label="test x")
    want, rm_after, rv_after = naive.batchnorm_forward(x, gamma, beta, rm, rv, momentum, train_flg=False)
    out = layer.forward(x, train_flg=False)
    assert_within(out, want, dtype, forward_scale(x, gamma, beta, rm, rv) * stat_scale, "test-mode out")
    np.testing.assert_array_equal(rm_after, rm)  # test mode leaves the running statistics alone
    assert_within(layer.running_mean, rm, dtype, stat_scale, "running_mean after test mode")
    assert_within(layer.running_var, rv, dtype, stat_scale, "running_var after test mode")


@pytest.mark.parametrize("impl", sorted(LAYERS))
@pytest.mark.parametrize("dtype", naive.DTYPES, ids=str)
def test_batchnorm_of_one_row_is_beta_and_passes_no_gradient(impl, dtype):
    """Batch 1: the variance is 0, so xn = 0, out = beta exactly and dx = 0 (the loop oracle agrees)."""
    gamma, beta = np.array([1.5, -0.5], dtype), np.array([0.25, 2.0], dtype)
    layer = LAYERS[impl](gamma, beta)
    x, dout = np.array([[3.0, -7.0]], dtype), np.array([[1.0, 2.0]], dtype)
    want, rm, rv = naive.batchnorm_forward(x, gamma, beta)
    np.testing.assert_array_equal(want, beta.reshape(1, 2))
    np.testing.assert_array_equal(layer.forward(x), want)
    np.testing.assert_array_equal(layer.backward(dout), naive.batchnorm_backward(x, gamma, dout)[0])
    np.testing.assert_allclose(layer.running_mean, rm, rtol=naive.RTOL[np.dtype(dtype)])  # 0.1 * x
    np.testing.assert_array_equal(layer.running_var, rv)  # 0


def test_loop_oracle_uses_the_books_eps_on_a_hand_example():
    """Two rows [0, 2]: mu 1, var 1, std sqrt(1 + 1e-6), so xn = -+1 / std; running = 0.1 * batch statistics."""
    out, rm, rv = naive.batchnorm_forward(np.array([[0.0], [2.0]]), [1.0], [0.0])
    std = (1 + 1e-6) ** 0.5
    np.testing.assert_allclose(out, [[-1 / std], [1 / std]], rtol=1e-15)
    np.testing.assert_allclose(rm, [0.1], rtol=1e-15)
    np.testing.assert_allclose(rv, [0.1], rtol=1e-15)
    dx, dgamma, dbeta = naive.batchnorm_backward(np.array([[0.0], [2.0]]), [1.0], np.array([[1.0], [0.0]]))
    np.testing.assert_allclose(dbeta, [1.0], rtol=1e-15)
    np.testing.assert_allclose(dgamma, [-1 / std], rtol=1e-15)
    # dx_i = (dy_i - 1/2 - xn_i * (-1 / (2 std))) / std: (1 - 1/2 - 1/(2 std^2)) / std and its negative
    first = (0.5 - 0.5 / std ** 2) / std
    np.testing.assert_allclose(dx, [[first], [-first]], rtol=1e-9, atol=1e-15)
