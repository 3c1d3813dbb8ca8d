"""Measure fastnn.netgrad.numerical_gradient against the book's Python loop (issue 4).

    PYTHONPATH=. python tools/measure_netgrad.py [--repeats 7] [--iterations 20] [--latency]

Prints medians over repeats, in one process:

1. TwoLayerNet(784, 50, 10), batch 100, float64: one full numerical gradient, serial (numba pinned to 1 thread),
   on Fashion-MNIST rows (when installed) and on dense random rows; the parallel variant with 2 threads.
2. The book's loop (fastnn.reference.nets, NumPy forward per evaluation, BLAS pinned to 1 thread), and the same
   loop over fastnn's compiled layers, on a slice of W1's elements, extrapolated to all parameters (every
   evaluation costs the same full forward pass, so time per element is uniform); the slice's values are checked
   against fastnn's.
3. Chapter 4's training with numerical gradients: TwoLayerNetCh4(784, 50, 10), batch 100, lr 0.1, SGD; time per
   iteration (gradient + update), projected to the chapter's 10,000 iterations.
4. MultiLayerNetExtend(784, [100, 100], 10, use_batchnorm=True) (the book's chapter-6 check), 2 and 10 rows.
5. With --latency: import + first call in fresh processes (cold: empty numba cache dir; warm: cache filled).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one core for the book's BLAS too (not OMP_*: numba)
    os.environ.setdefault(_var, "1")

import numpy as np


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _data(n_rows=100):
    """(x, labels, name): Fashion-MNIST training rows if installed, else dense random rows."""
    from fastnn import datasets
    try:
        (x, t), _ = datasets.load_fashion_mnist(normalize=True)
        return x[:n_rows].astype(np.float64), t[:n_rows].astype(np.intp), "Fashion-MNIST"
    except (OSError, ValueError):
        rng = np.random.default_rng(0)
        return rng.random((n_rows, 784)), rng.integers(0, 10, n_rows), "uniform random (no Fashion-MNIST)"


def _book_loop_slice(net, key, n_elements, x, t):
    """The book's numerical_gradient loop over the first n_elements of params[key] (C order)."""
    p = net.params[key].reshape(-1)  # a view: writes reach the net, as the book's nditer does
    h = 1e-4
    out = np.empty(n_elements)
    for i in range(n_elements):
        tmp = p[i]
        p[i] = tmp + h
        f1 = net.loss(x, t)
        p[i] = tmp - h
        f2 = net.loss(x, t)
        out[i] = (f1 - f2) / (2 * h)
        p[i] = tmp
    return out


def twolayer(repeats, slice_size):
    import numba

    from fastnn import netgrad, nets
    from fastnn.reference import nets as ref

    x, t, name = _data()
    np.random.seed(0)
    net = nets.TwoLayerNet(784, 50, 10)
    np.random.seed(0)
    book = ref.TwoLayerNet(784, 50, 10)
    n_params = sum(p.size for p in net.params.values())
    netgrad.numerical_gradient(net, x[:2], t[:2])  # compile or load from cache
    dense = np.random.default_rng(1).standard_normal((100, 784))
    parallel = numba.config.NUMBA_NUM_THREADS >= 2
    if parallel:
        netgrad.numerical_gradient(net, x[:2], t[:2], parallel=True)
    blocks = 3
    print(f"TwoLayerNet(784, 50, 10), batch 100, float64, {n_params} parameters, median of {blocks} alternating "
          f"blocks of {repeats} runs (serial with numba pinned to 1 thread, parallel with 2):")
    serial = {}
    for label, xx in ((name, x), ("dense N(0,1) rows", dense)):
        times = {"serial": [], "parallel": []}
        for _ in range(blocks):  # alternating blocks, so that a noisy neighbour hits both alike
            for kind, threads in (("serial", 1), ("parallel", 2)):
                if kind == "parallel" and not parallel:
                    continue
                numba.set_num_threads(threads)
                run = lambda xx=xx, kind=kind: netgrad.numerical_gradient(net, xx, t,
                                                                          parallel=kind == "parallel")
                run()  # after a change of thread count, the first run pays for waking the threads
                times[kind] += [_median_time(run, 1) for _ in range(repeats)]
        serial[label] = float(np.median(times["serial"]))
        print(f"  fastnn serial (1 thread), {label:22s} {serial[label]:8.4f} s  "
              f"({serial[label] / n_params * 1e6:.2f} us/parameter)")
        if parallel:
            par = float(np.median(times["parallel"]))
            same = all(np.array_equal(a, b) for a, b in zip(netgrad.numerical_gradient(net, xx, t).values(),
                                                            netgrad.numerical_gradient(net, xx, t,
                                                                                       parallel=True).values()))
            print(f"  fastnn parallel (2 threads), {label:19s} {par:8.4f} s  (x{serial[label] / par:.2f} vs "
                  f"serial; identical to serial: {same})")
    numba.set_num_threads(1)
    # the book's loop on a slice of W1, extrapolated
    start = time.perf_counter()
    values = _book_loop_slice(book, "W1", slice_size, x, t)
    per_element = (time.perf_counter() - start) / slice_size
    ours = netgrad.numerical_gradient(net, x, t)["W1"].reshape(-1)[:slice_size]
    print(f"  book loop (NumPy), {name}: {per_element * 1e6:.0f} us/parameter measured on {slice_size} elements "
          f"of W1 -> {per_element * n_params:.0f} s extrapolated to all {n_params} "
          f"(x{per_element * n_params / serial[name]:.0f}); max |difference| on the slice "
          f"{np.max(np.abs(values - ours)):.1e}")
    net.loss(x, t)
    start = time.perf_counter()
    _book_loop_slice(net, "W1", slice_size, x, t)
    per_element = (time.perf_counter() - start) / slice_size
    print(f"  book loop over fastnn's compiled layers: {per_element * 1e6:.0f} us/parameter -> "
          f"{per_element * n_params:.0f} s extrapolated (x{per_element * n_params / serial[name]:.0f})")


def chapter4(iterations, slice_size):
    import numba

    from fastnn import datasets, netgrad, nets
    from fastnn.reference import nets as ref
    try:
        (x_train, t_train), _ = datasets.load_fashion_mnist(normalize=True, one_hot_label=True)
        name = "Fashion-MNIST"
    except (OSError, ValueError):
        rng = np.random.default_rng(0)
        x_train, t_train = rng.random((1000, 784)), np.eye(10)[rng.integers(0, 10, 1000)]
        name = "uniform random"
    x_train = x_train.astype(np.float64)
    numba.set_num_threads(1)
    np.random.seed(0)
    net = nets.TwoLayerNetCh4(784, 50, 10)
    rng = np.random.default_rng(2)
    netgrad.numerical_gradient(net, x_train[:2], t_train[:2])

    def step():
        batch = rng.choice(x_train.shape[0], 100)
        grad = netgrad.numerical_gradient(net, x_train[batch], t_train[batch])
        for key in ("W1", "b1", "W2", "b2"):
            net.params[key] -= 0.1 * grad[key]

    per_iteration = _median_time(step, iterations)
    print(f"chapter 4 training, TwoLayerNetCh4(784, 50, 10), batch 100, lr 0.1, {name}, serial: "
          f"{per_iteration:.4f} s/iteration (median of {iterations}) -> {per_iteration * 10000 / 60:.1f} min "
          f"projected for 10,000 iterations")
    np.random.seed(0)
    book = ref.TwoLayerNetCh4(784, 50, 10)
    batch = rng.choice(x_train.shape[0], 100)
    start = time.perf_counter()
    _book_loop_slice(book, "W1", slice_size, x_train[batch], t_train[batch])
    per_element = (time.perf_counter() - start) / slice_size
    n_params = sum(p.size for p in book.params.values())
    print(f"  book loop: {per_element * 1e6:.0f} us/parameter on {slice_size} elements of W1 -> "
          f"{per_element * n_params:.0f} s/iteration -> {per_element * n_params * 10000 / 86400:.1f} days projected")


def batchnorm(repeats, slice_size):
    """The book's chapter-6 batch-norm gradient check net (it uses 1 row; fastnn's BN layer needs 2)."""
    import numba

    from fastnn import netgrad, nets
    from fastnn.reference import nets as ref

    x, t, name = _data(10)
    numba.set_num_threads(1)
    for n in (2, 10):
        np.random.seed(0)
        net = nets.MultiLayerNetExtend(784, [100, 100], 10, use_batchnorm=True)
        netgrad.numerical_gradient(net, x[:2], t[:2])
        seconds = _median_time(lambda n=n, net=net: netgrad.numerical_gradient(net, x[:n], t[:n]), max(1, repeats // 3))
        np.random.seed(0)
        book = ref.MultiLayerNetExtend(784, [100, 100], 10, use_batchnorm=True)
        book.loss = lambda xx, tt, book=book: ref.MultiLayerNetExtend.loss(book, xx, tt, train_flg=True)
        start = time.perf_counter()
        _book_loop_slice(book, "W1", slice_size, x[:n], t[:n])
        per_element = (time.perf_counter() - start) / slice_size
        n_params = sum(p.size for p in net.params.values())
        print(f"MultiLayerNetExtend(784, [100, 100], 10, use_batchnorm=True), {n} rows of {name}, serial: "
              f"{seconds:.2f} s; book loop {per_element * n_params:.0f} s extrapolated "
              f"(x{per_element * n_params / seconds:.0f})")


_LATENCY_SNIPPET = """
import time
start = time.perf_counter()
import numpy as np
from fastnn import nets, netgrad
net = nets.TwoLayerNet(784, 50, 10)
netgrad.numerical_gradient(net, np.zeros((2, 784)), [0, 1])
print(time.perf_counter() - start)
"""


def latency():
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache:
        env["NUMBA_CACHE_DIR"] = cache
        def run():
            out = subprocess.run([sys.executable, "-c", _LATENCY_SNIPPET], env=env, check=True, capture_output=True,
                                 text=True).stdout
            return float(out.split()[-1])

        cold = run()
        warm = run()
    print(f"import + first call (TwoLayerNet, float64) in a fresh process: {cold:.1f} s with an empty numba cache, "
          f"{warm:.2f} s with the cache filled")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--slice", type=int, default=200, help="elements of W1 the book's loop is timed on")
    parser.add_argument("--latency", action="store_true")
    args = parser.parse_args()
    twolayer(args.repeats, args.slice)
    chapter4(args.iterations, args.slice)
    batchnorm(args.repeats, args.slice)
    if args.latency:
        latency()


if __name__ == "__main__":
    main()
