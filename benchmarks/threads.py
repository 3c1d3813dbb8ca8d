"""Thread policy under load: 784-100-10 batch-100 training steps (``net.gradient`` + ``SGD.update``) alone, two
such processes at once, and beside a NumPy matrix-product loop, with fastnn's one-BLAS-thread pin (the policy) and
without it (as before the policy), every process at its default thread counts.

    python -m benchmarks.threads                  # 3 rounds, 400 steps a process
    python -m benchmarks.threads --rounds 5 --steps 1000

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


def child(steps, pin):
    """One process's steps; prints its median step time in milliseconds."""
    import numpy as np

    from fastnn import nets, optimizer
    from fastnn import threads as policy

    if not pin:
        policy.PIN_FROM_WORK = float("inf")
    rng = np.random.default_rng(0)
    x, t = rng.random((100, 784)), rng.integers(0, 10, 100)
    net, sgd = nets.TwoLayerNet(784, 100, 10), optimizer.SGD(lr=0.01)
    for _ in range(CHUNK):
        sgd.update(net.params, net.gradient(x, t))
    chunks = []
    for _ in range(max(steps // CHUNK, 1)):
        start = time.perf_counter()
        for _ in range(CHUNK):
            sgd.update(net.params, net.gradient(x, t))
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


def _children(n, steps, pin, with_matmul):
    me = [sys.executable, "-m", "benchmarks.threads"]
    flags = ["--child", "--steps", str(steps)] + ([] if pin else ["--no-pin"])
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
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--no-pin", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--matmul", type=float, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.matmul:
        return matmul_loop(args.matmul)
    if args.child:
        return child(args.steps, not args.no_pin)
    scenarios = (("alone", 1, False), ("two at once", 2, False), ("beside a NumPy matmul loop", 1, True))
    results = {}
    for _ in range(args.rounds):
        for pin in (False, True):
            alone = None
            for name, n, noise in scenarios:
                ms = statistics.median(_children(n, args.steps, pin, noise))
                alone = ms if alone is None else alone
                results.setdefault((pin, name), []).append((ms, ms / alone))
    print(f"{os.cpu_count()} CPUs; medians of {args.rounds} rounds; step = 784-100-10 batch-100 gradient + SGD")
    print("| policy | scenario | step | x alone |")
    print("|---|---|---:|---:|")
    for (pin, name), rows in results.items():
        policy = "pinned while others are busy (fastnn now)" if pin else "process defaults (before)"
        ms = statistics.median(r[0] for r in rows)
        ratio = statistics.median(r[1] for r in rows)
        print(f"| {policy} | {name} | {ms:.3f} ms | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
