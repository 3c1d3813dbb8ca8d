import numba
import numpy as np
import pytest

from fastnn import nets, optimizer
from fastnn.threads import threads


def _train(n_threads, steps=5):
    rng = np.random.default_rng(0)
    x, t = rng.random((64, 30)), rng.integers(0, 4, 64)
    np.random.seed(0)
    net = nets.MultiLayerNet(30, [20, 10], 4)
    opt = optimizer.Adam()
    with threads(n_threads):
        for _ in range(steps):
            opt.update(net.params, net.gradient(x, t))
    return net.params


def test_threads_restores_numba_setting():
    before = numba.get_num_threads()
    with threads(1) as n:
        assert n == 1 and numba.get_num_threads() == 1
    assert numba.get_num_threads() == before


def test_results_do_not_depend_on_thread_count():
    one, two = _train(1), _train(2)
    for key in one:
        np.testing.assert_array_equal(one[key], two[key])


@pytest.mark.parametrize("bad, error", [(0, ValueError), (1.5, TypeError), ("2", TypeError)])
def test_bad_thread_count(bad, error):
    with pytest.raises(error, match="n must"):
        with threads(bad):
            pass
