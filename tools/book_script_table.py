"""Time the books' training scripts the book's way and on fastnn, alternating, and print the README's table.

    python tools/book_script_table.py                       # every script below, 3 rounds
    python tools/book_script_table.py --rounds 5 ch05/train_neuralnet.py

Each script runs in a temporary copy (tests/book_scripts.py: the book directory copied, Fashion-MNIST in the
copy's dataset/, seed 0, MPLBACKEND=Agg) in each of its variants: ``book`` (as published), ``fastnn`` (only the
``common`` import lines switched) and, where declared, ``fastnn-nets`` (the chapter's own nets switched too).
A round runs every variant once, in turn, so drift of the machine's speed hits all of them alike; the table gives
the median wall time over the rounds, the ratio book / variant, and the median peak resident memory of the
process (getrusage of the child). Python start, imports and, for fastnn, loading its compiled kernels are
included: that is what a reader waits for. Threads are the process's defaults unless OPENBLAS_NUM_THREADS is set.
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import book_scripts as bs  # noqa: E402

# (script, run as published?): scripts that take the book's code up to about two minutes run in full; chapters 7
# and 8 (hours) with the test suite's cut (Script.reduce_why says what), the same cut in every column
SCRIPTS = [("book1/ch04/train_neuralnet.py", True), ("book1/ch05/train_neuralnet.py", True),
           ("book1/ch06/optimizer_compare_mnist.py", True), ("book1/ch06/weight_init_compare.py", True),
           ("book1/ch06/overfit_weight_decay.py", True), ("book1/ch06/overfit_dropout.py", True),
           ("book1/ch06/hyperparameter_optimization.py", True), ("book1/ch06/batch_norm_test.py", True),
           ("book1/ch07/train_convnet.py", False), ("book1/ch08/train_deepnet.py", False),
           ("book2/ch01/train.py", True), ("book2/ch01/train_custom_loop.py", True)]


# the tests' prelude without its figure dump (JSON of every plotted array: seconds and a gigabyte for a contour plot)
PRELUDE = bs.NO_NETWORK + (
    "import os, runpy, sys\nimport numpy as np\n"
    "np.random.seed(int(os.environ['BOOK_SCRIPT_SEED']))\n"
    "sys.argv = [os.environ['BOOK_SCRIPT']]\n"
    "runpy.run_path(os.environ['BOOK_SCRIPT'], run_name='__main__')\n")


def run_once(script, variant, template, workdir, full):
    """Wall seconds and peak RSS (MiB) of one run in a fresh copy; raises if the script fails."""
    shutil.rmtree(workdir, ignore_errors=True)
    bs.copy_template(template, workdir)
    bs.apply_variant(workdir, script, variant, full=full)
    env = bs.run_env({"BOOK_SCRIPT": script.relpath.split("/", 1)[1], "BOOK_SCRIPT_SEED": str(bs.DEFAULT_SEED),
                      "BOOK_SCRIPT_FIGURES": str(workdir / "figures.json")})
    if "OPENBLAS_NUM_THREADS" not in os.environ:  # run_env pins one thread for the tests; here the defaults
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.pop(var, None)
    start = time.perf_counter()
    pid = subprocess.Popen([sys.executable, "-c", PRELUDE], cwd=workdir / script.relpath.split("/")[0],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).pid
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{script.path} [{variant}] exited with status {status}")
    return seconds, usage.ru_maxrss / 1024


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scripts", nargs="*", help="a subset, e.g. ch05/train_neuralnet.py (default: all)")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    chosen = [(bs.find_script(name), full) for name, full in SCRIPTS
              if not args.scripts or any(name.endswith(s) for s in args.scripts)]
    root = Path(tempfile.mkdtemp(prefix="book-table-"))
    print("| script | run | variant | wall (median) | book / variant | peak RSS |")
    print("|---|---|---|---:|---:|---:|")
    try:
        for script, full in chosen:
            template = root / f"template-{script.book}"
            if not template.exists():
                bs.build_template(script.book, template, with_mnist=True)
            variants = ["book"] + list(script.variants)
            samples = {v: [] for v in variants}
            for _ in range(args.rounds):
                for v in variants:
                    samples[v].append(run_once(script, v, template, root / "run", full))
            book_wall = statistics.median(s for s, _ in samples["book"])
            run = "as published" if full or not script.reduce else script.reduce_why.split(":")[0]
            for v in variants:
                wall = statistics.median(s for s, _ in samples[v])
                peak = statistics.median(m for _, m in samples[v])
                print(f"| {script.path} | {run} | {v} | {wall:.2f} s | {book_wall / wall:.2f}x | {peak:.0f} MiB |",
                      flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
