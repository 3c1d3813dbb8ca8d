"""Measure fastnn.netgrad.numerical_gradient against the book's Python loop (issue 4): the README's table.

    python tools/measure_netgrad.py [--repeats 7] [--iterations 20] [--slice 200] [--latency]

What the comparison's cases (``python -m benchmarks.compare --case numerical_gradient_net --case
numerical_gradient_training``, asv NumericalGradientNet/Training) do not: Fashion-MNIST rows (when installed; the
cases use uniform random pixels), the parallel variant against the serial one, the book's loop over fastnn's
compiled layers, the batch-norm net, and the compiled gradient's own first-call latency. The nets, the book's loop
on a slice of W1 and its extrapolation, chapter 4's iteration, the timing and the fresh-interpreter latency probe
are the benchmarks' own (benchmarks/cases.py, fastnn.bench, benchmarks/latency.py). Medians over repeats, in one
process; numba and BLAS at one thread (fastnn.threads) unless a line says 2.

1. TwoLayerNet(784, 50, 10), batch 100, float64: one full numerical gradient, serial, on Fashion-MNIST rows and on
   dense random rows; the parallel variant with 2 threads (and whether it equals the serial result bit for bit).
2. The book's loop (fastnn.reference.nets, NumPy forward per evaluation), and the same loop over fastnn's compiled
   layers, on a slice of W1's elements, extrapolated to all parameters (every evaluation costs the same full
   forward pass); the slice's values are checked against fastnn's.
3. Chapter 4's training with numerical gradients: TwoLayerNetCh4(784, 50, 10), batch 100, lr 0.1, SGD; time per
   iteration (gradient + update) on fresh batches, projected to the chapter's 10,000 iterations.
4. MultiLayerNetExtend(784, [100, 100], 10, use_batchnorm=True) (the book's chapter-6 check), 2 and 10 rows.
5. With --latency: import + first call in fresh interpreters (cold: empty numba cache dir; warm: cache filled).
"""
import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package of this checkout

import numpy as np  # noqa: E402

from benchmarks import cases, latency  # noqa: E402
from fastnn import bench, netgrad, nets  # noqa: E402
from fastnn.reference import nets as ref_nets  # noqa: E402
from fastnn.threads import threads  # noqa: E402

F64 = np.dtype(np.float64)


def median_time(fn, repeats):
    """The median seconds of ``repeats`` single calls of fn (after one more)."""
    return statistics.median(bench.measure(fn, repeats))


def rows(n=None):
    """(x, labels, name): Fashion-MNIST training rows (all, or the first n) if installed, else dense random
    pixels (1000 rows when n is None)."""
    if cases.fashion_mnist_missing() is None:
        (x, t), _ = cases.dataset("fashion_mnist", F64)
        return x[:n], t[:n], "Fashion-MNIST"
    x, t = bench.pixels(n or 1000, bench.PIXELS, F64)
    return x, t, "uniform random (no Fashion-MNIST)"


def book_loop(net, x, t, slice_size):
    """(values on the slice, seconds extrapolated to all parameters, seconds per parameter): the book's loop over
    the first ``slice_size`` elements of W1 (cases.book_gradient_on_w1_slice) for any net with the book's loss."""
    run = cases.book_gradient_on_w1_slice(net, x, t, slice_size)
    seconds = median_time(run, 1)
    return run(), seconds * run.scale, seconds * run.scale / sum(p.size for p in net.params.values())


def twolayer(repeats, slice_size):
    x, t, name = rows(100)
    net, book = bench.nets_pair(bench.PIXELS, 50, F64)
    n_params = sum(p.size for p in net.params.values())
    dense = np.random.default_rng(1).standard_normal((100, bench.PIXELS))
    netgrad.numerical_gradient(net, x[:2], t[:2])  # compile, or load from the cache
    netgrad.numerical_gradient(net, x[:2], t[:2], parallel=True)
    blocks = 3
    print(f"TwoLayerNet(784, 50, 10), batch 100, float64, {n_params} parameters, median of {blocks} alternating "
          f"blocks of {repeats} runs (serial at 1 thread, parallel at 2):")
    serial = {}
    for label, xx in ((name, x), ("dense N(0,1) rows", dense)):
        times = {1: [], 2: []}
        for _ in range(blocks):  # alternating blocks, so that a noisy neighbour hits both alike
            for n in times:
                with threads(n):
                    times[n] += bench.measure(lambda xx=xx, n=n: netgrad.numerical_gradient(net, xx, t,
                                                                                            parallel=n == 2), repeats)
        serial[label], parallel = statistics.median(times[1]), statistics.median(times[2])
        with threads(2):
            same = all(np.array_equal(a, b) for a, b in zip(netgrad.numerical_gradient(net, xx, t).values(),
                                                            netgrad.numerical_gradient(net, xx, t,
                                                                                       parallel=True).values()))
        print(f"  fastnn serial (1 thread), {label:22s} {serial[label]:8.4f} s  "
              f"({serial[label] / n_params * 1e6:.2f} us/parameter)")
        print(f"  fastnn parallel (2 threads), {label:19s} {parallel:8.4f} s  (x{serial[label] / parallel:.2f} vs "
              f"serial; identical to serial: {same})")
    with threads(1):
        values, seconds, per_parameter = book_loop(book, x, t, slice_size)
        ours = netgrad.numerical_gradient(net, x, t)["W1"].reshape(-1)[:len(values)]
        print(f"  book loop (NumPy), {name}: {per_parameter * 1e6:.0f} us/parameter measured on {len(values)} "
              f"elements of W1 -> {seconds:.0f} s extrapolated to all {n_params} (x{seconds / serial[name]:.0f}); "
              f"max |difference| on the slice {np.max(np.abs(values - ours)):.1e}")
        _, seconds, per_parameter = book_loop(net, x, t, slice_size)
        print(f"  book loop over fastnn's compiled layers: {per_parameter * 1e6:.0f} us/parameter -> "
              f"{seconds:.0f} s extrapolated (x{seconds / serial[name]:.0f})")


def chapter4(iterations, slice_size):
    x_train, labels, name = rows()
    t_train = np.eye(bench.N_CLASSES)[labels]
    net, book = cases.chapter4_pair(bench.PIXELS, 50, F64)
    rng = np.random.default_rng(2)

    def step():  # chapter 4's iteration on a fresh batch
        batch = rng.choice(len(x_train), 100)
        return cases.chapter4_iteration(net, x_train[batch], t_train[batch])()

    with threads(1):
        per_iteration = median_time(step, iterations)
        _, book_seconds, per_parameter = book_loop(book, *(a[rng.choice(len(x_train), 100)] for a in
                                                           (x_train, t_train)), slice_size)
    print(f"chapter 4 training, TwoLayerNetCh4(784, 50, 10), batch 100, lr 0.1, {name}, serial: "
          f"{per_iteration:.4f} s/iteration (median of {iterations}) -> "
          f"{per_iteration * cases.CH4_ITERATIONS / 60:.1f} min projected for {cases.CH4_ITERATIONS} iterations")
    print(f"  book loop: {per_parameter * 1e6:.0f} us/parameter on {slice_size} elements of W1 -> {book_seconds:.0f}"
          f" s/iteration -> {book_seconds * cases.CH4_ITERATIONS / 86400:.1f} days projected")


def batchnorm(repeats, slice_size):
    """The book's chapter-6 batch-norm gradient check net (it uses 1 row; fastnn's BN layer needs 2)."""
    x, t, name = rows(10)
    with threads(1):
        for n in (2, 10):
            np.random.seed(bench.SEED)
            net = nets.MultiLayerNetExtend(784, [100, 100], 10, use_batchnorm=True)
            netgrad.numerical_gradient(net, x[:2], t[:2])
            seconds = median_time(lambda n=n, net=net: netgrad.numerical_gradient(net, x[:n], t[:n]),
                                  max(1, repeats // 3))
            np.random.seed(bench.SEED)
            book = ref_nets.MultiLayerNetExtend(784, [100, 100], 10, use_batchnorm=True)
            book.loss = lambda xx, tt, book=book: ref_nets.MultiLayerNetExtend.loss(book, xx, tt, train_flg=True)
            _, book_seconds, _ = book_loop(book, x[:n], t[:n], slice_size)
            print(f"MultiLayerNetExtend(784, [100, 100], 10, use_batchnorm=True), {n} rows of {name}, serial: "
                  f"{seconds:.2f} s; book loop {book_seconds:.0f} s extrapolated (x{book_seconds / seconds:.0f})")


LATENCY_STAGES = (("import + first call", "import numpy as np\nfrom fastnn import nets, netgrad\n"
                   "net = nets.TwoLayerNet(784, 50, 10)\nnetgrad.numerical_gradient(net, np.zeros((2, 784)), [0, 1])"),)


def first_call_latency():
    with tempfile.TemporaryDirectory() as cache:
        cold, warm = (latency.stage_seconds(cache, LATENCY_STAGES)[0] for _ in range(2))
    print(f"import + first call (TwoLayerNet, float64) in a fresh process: {cold:.1f} s with an empty numba cache, "
          f"{warm:.2f} s with the cache filled")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--slice", type=int, default=cases.NETGRAD_REFERENCE_ELEMENTS,
                        help="elements of W1 the book's loop is timed on")
    parser.add_argument("--latency", action="store_true")
    args = parser.parse_args()
    twolayer(args.repeats, args.slice)
    chapter4(args.iterations, args.slice)
    batchnorm(args.repeats, args.slice)
    if args.latency:
        first_call_latency()


if __name__ == "__main__":
    main()
