"""Scale figures of fastnn.sweep on this machine (docs/sweeps.md): trials per minute with 1 and 2 local worker
processes (the book's network on the bundled digits, interleaved runs, cluster start-up excluded), the
scheduler's overhead per task (no-op tasks), and the bytes a trial sends and receives.

    python tools/sweep_scale.py [--trials 16] [--epochs 10] [--repeat 2]
"""
import argparse
import os
import pickle
import statistics
import tempfile
import time

import numpy as np
from distributed import Client, LocalCluster

from fastnn import datasets
from fastnn import sweep as sw


def trials_per_minute(address, x, t, trials, epochs, seed):
    out = os.path.join(tempfile.mkdtemp(), "scale.jsonl")
    start = time.perf_counter()
    sw.sweep(x, t, trials=trials, epochs=epochs, seed=seed, scheduler=address, out=out, progress=False)
    return trials / (time.perf_counter() - start) * 60


def task_overhead(client, n=500):
    """Seconds per no-op task, submitted together and gathered (scheduler + comms, no work)."""
    start = time.perf_counter()
    client.gather(client.map(int, range(n), pure=False))
    return (time.perf_counter() - start) / n


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=16)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()
    (x, t), _ = datasets.load_digits()
    clusters = {n: LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
                for n in (1, 2)}
    try:
        for cluster in clusters.values():  # warm-up: each worker compiles / loads the kernels once
            trials_per_minute(cluster.scheduler_address, x, t, 2 * len(cluster.workers), 1, seed=99)
        rates = {n: [] for n in clusters}
        for r in range(args.repeat):
            for n, cluster in clusters.items():
                rates[n].append(trials_per_minute(cluster.scheduler_address, x, t, args.trials, args.epochs, r))
        with Client(clusters[2].scheduler_address) as client:
            overhead = statistics.median(task_overhead(client) for _ in range(3))
    finally:
        for cluster in clusters.values():
            cluster.close()
    data = sw.split(x, t)
    trial = sw.make_trials(n_trials=1)[0]
    record = sw.run_trial(data, trial, 1)
    for n, values in rates.items():
        print(f"{n} worker(s): {statistics.median(values):.1f} trials/min (runs: "
              f"{', '.join(f'{v:.1f}' for v in values)})")
    print(f"speed-up of 2 workers: {statistics.median(rates[2]) / statistics.median(rates[1]):.2f}x")
    print(f"scheduler overhead per task: {overhead * 1e3:.2f} ms")
    print(f"bytes: data scattered once {sum(a.nbytes for a in data):,}; per trial sent "
          f"{len(pickle.dumps(trial)):,}, returned {len(pickle.dumps(record)):,} (of it the trained params "
          f"{sum(v.nbytes for v in record['params'].values()):,})")
    print(f"one trial of {args.epochs} epochs on one worker: {60 / statistics.median(rates[1]):.2f} s")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
