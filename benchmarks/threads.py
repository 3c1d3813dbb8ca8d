"""Thread policy under load: training steps alone, two such processes at once, and beside a NumPy matrix-product
loop, with fastnn's one-BLAS-thread pin (the policy) and without it (as before the policy), every process at its
default thread counts, for each size given.

    python -m benchmarks.threads                          # the sizes below, 3 rounds, 400 steps a process
    python -m benchmarks.threads --rounds 5 --steps 1000 --size net:784-100-10:100

A size is ``KIND:LAYERS:BATCH``: ``net`` is a fastnn.nets network's gradient + SGD.update (the engine: one compiled
call per step; ReLU hidden layers, ``MultiLayerNet`` when there is more than one), ``layers`` the same step on the
standalone layers of ``fastnn.layers`` (Affine, Relu, SoftmaxWithLoss; numba loaded first, so compiled).
Each figure is the median over rounds of a process's median step time (steps timed in chunks of 20, after 20
warm-up steps); "x alone" divides by the same policy's alone figure of the same round. The parent removes
OPENBLAS_NUM_THREADS/OMP_NUM_THREADS from the children's environment (CI pins them to 1).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

CHUNK = 20


# the sizes the engine and the standalone layers serve in the books and the CLI: the digits CLI default, chapter
# 4/5's net, the 784-100-10, chapter 6's five hidden layers, a wide layer, a large batch, standalone layers
SIZES = ("net:64-100-10:32", "net:784-50-10:100", "net:784-100-10:100", "net:784-100-100-100-100-100-10:100",
         "net:784-1000-10:100", "net:784-100-10:1000", "layers:784-100-10:100", "layers:784-1000-10:1000")


def parse_size(spec):
    """'net:784-100-10:100' -> ('net', [784, 100, 10], 100)."""
    kind, layers, batch = spec.split(":")
    if kind not in ("net", "layers"):
        raise ValueError(f"size kind must be net or layers; got {kind!r}")
    return kind, [int(v) for v in layers.split("-")], int(batch)


def _net_step(sizes, x, t):
    from fastnn import nets, optimizer

    if len(sizes) == 3:
        net = nets.TwoLayerNet(*sizes)
    else:
        net = nets.MultiLayerNet(sizes[0], sizes[1:-1], sizes[-1], activation="relu")
    sgd = optimizer.SGD(lr=0.01)
    return lambda: sgd.update(net.params, net.gradient(x, t))


def _layers_step(sizes, x, t):
    import numpy as np

    from fastnn import _jit  # noqa: F401 - numba first: the layers' compiled path (a long loop's steady state)
    from fastnn import layers, optimizer

    rng = np.random.default_rng(1)
    stack = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        stack += [layers.Affine(0.01 * rng.standard_normal((n_in, n_out)), np.zeros(n_out)), layers.Relu()]
    stack.pop()  # no ReLU after the last Affine
    loss, sgd = layers.SoftmaxWithLoss(), optimizer.SGD(lr=0.01)
    params = [p for layer in stack for p in layer.params]
    grads = [g for layer in stack for g in layer.grads]

    def step():
        h = x
        for layer in stack:
            h = layer.forward(h)
        loss.forward(h, t)
        d = loss.backward()
        for layer in reversed(stack):
            d = layer.backward(d)
        sgd.update(params, grads)
    return step


def child(steps, pin, size):
    """One process's steps; prints its median step time in milliseconds."""
    import numpy as np

    from fastnn import threads as policy

    if not pin:
        policy.PIN_FROM_WORK = float("inf")
    kind, sizes, batch = parse_size(size)
    rng = np.random.default_rng(0)
    x, t = rng.random((batch, sizes[0])), rng.integers(0, sizes[-1], batch)
    step = (_net_step if kind == "net" else _layers_step)(sizes, x, t)
    for _ in range(CHUNK):
        step()
    chunks = []
    for _ in range(max(steps // CHUNK, 1)):
        start = time.perf_counter()
        for _ in range(CHUNK):
            step()
        chunks.append((time.perf_counter() - start) / CHUNK)
    print(1e3 * statistics.median(chunks), flush=True)


def matmul_loop(seconds):
    """Another program computing: NumPy 300x300 products (BLAS, default threads) for ``seconds``."""
    import numpy as np

    a = np.random.default_rng(1).random((300, 300))
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        a @ a


def _env():
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(var, None)
    return env


def _children(n, steps, pin, with_matmul, size):
    me = [sys.executable, "-m", "benchmarks.threads"]
    flags = ["--child", "--steps", str(steps), "--size", size] + ([] if pin else ["--no-pin"])
    noise = subprocess.Popen(me + ["--matmul", "600"], env=_env()) if with_matmul else None
    try:
        procs = [subprocess.Popen(me + flags, env=_env(), stdout=subprocess.PIPE, text=True) for _ in range(n)]
        return [float(p.communicate()[0].split()[-1]) for p in procs]
    finally:
        if noise is not None:
            noise.kill()
            noise.wait()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--size", action="append", help=f"KIND:LAYERS:BATCH, repeatable (default: {' '.join(SIZES)})")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--no-pin", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--matmul", type=float, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.matmul:
        return matmul_loop(args.matmul)
    if args.child:
        return child(args.steps, not args.no_pin, args.size[0])
    sizes = args.size or SIZES
    for size in sizes:
        parse_size(size)  # a typo fails now, not after minutes
    scenarios = (("alone", 1, False), ("two at once", 2, False), ("beside a NumPy matmul loop", 1, True))
    results = {}
    for _ in range(args.rounds):
        for size in sizes:
            for pin in (False, True):
                alone = None
                for name, n, noise in scenarios:
                    ms = statistics.median(_children(n, args.steps, pin, noise, size))
                    alone = ms if alone is None else alone
                    results.setdefault((size, name, pin), []).append((ms, ms / alone))
    print(f"{os.cpu_count()} CPUs; medians of {args.rounds} rounds; a step = forward, backward and SGD update")
    print("| size | scenario | process defaults (before) | x alone | pinned while others are busy (now) | x alone |")
    print("|---|---|---:|---:|---:|---:|")
    for size in sizes:
        for name, _, _ in scenarios:
            cells = []
            for pin in (False, True):
                rows = results[(size, name, pin)]
                cells += [f"{statistics.median(r[0] for r in rows):.3f} ms",
                          f"{statistics.median(r[1] for r in rows):.2f}x"]
            print(f"| {size} | {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
