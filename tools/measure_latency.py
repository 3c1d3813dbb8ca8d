"""Import time and first-call (compile) latency of fastnn, cold (empty numba cache) and warm (on-disk cache), each
in a fresh interpreter; medians over --repeat runs. Usage: python tools/measure_latency.py [--repeat 5]"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

PROBE = r"""
import time
t0 = time.perf_counter()
import fastnn
t1 = time.perf_counter()
import numpy as np
from fastnn import functions, nets, optimizer
t2 = time.perf_counter()
x = np.random.rand(100, 10); t = np.arange(100) % 10
functions.softmax_loss(x, t)
t3 = time.perf_counter()
np.random.seed(0)
net = nets.TwoLayerNet(784, 100, 10); xb = np.random.rand(100, 784)
optimizer.SGD(0.1).update(net.params, net.gradient(xb, t)); net.loss(xb, t)
t4 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3)
"""
COLUMNS = ("import fastnn", "import functions+nets+optimizer (numba)", "first softmax_loss call",
           "then first training step (gradient+SGD+loss)")


def run(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, check=True, capture_output=True, text=True).stdout
    return [float(v) for v in out.split()]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cold = [run(tempfile.mkdtemp()) for _ in range(args.repeat)]
    warm_dir = tempfile.mkdtemp()
    run(warm_dir)
    warm = [run(warm_dir) for _ in range(args.repeat)]
    print(f"| step (median of {args.repeat} fresh interpreters) | cold cache | warm cache |")
    print("|---|---|---|")
    for i, name in enumerate(COLUMNS):
        cold_s, warm_s = statistics.median(r[i] for r in cold), statistics.median(r[i] for r in warm)
        print(f"| {name} | {cold_s:.3f} s | {warm_s:.3f} s |")


if __name__ == "__main__":
    main()
