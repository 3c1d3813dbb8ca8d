"""Side-by-side timings of fastnn and the NumPy reference, plus PyTorch CPU, JAX and scikit-learn when they are
installed (never required), all in one process. Run from the repository root:

    python -m benchmarks.compare [--quick] [--repeat N] [--case NAME] [--shape 100x10] [--dtype float64]
                                 [--threads N] [--steps] [--accuracy] [--no-torch] [--no-jax] [--no-sklearn]
                                 [--json PATH] [--markdown PATH] [--list]

Each row: fastnn's median time, the reference's median time and their ratio (reference / fastnn, > 1 means fastnn
is faster), after a warm-up call that compiles (fastnn.bench.run_case). fastnn and the reference run with numba and
both BLAS libraries (NumPy's, and SciPy's, which numba's ``np.dot`` calls) pinned to ``--threads`` threads (default
1: serial figures; fastnn.threads). The PyTorch column is the better of ``torch.set_num_threads(1)`` and ``(2)``
(the count is reported); JAX's CPU backend starts with a ``--threads``-thread pool (competitors.jax_module);
scikit-learn runs on NumPy's pinned BLAS. The competitors are timed after every fastnn/reference row (see
add_torch). ``--steps`` runs the step table (cases.STEP_ROWS), with the "products" column (competitors.products);
``--accuracy`` adds the test accuracy after 10 epochs of each library; ``--recurrent`` runs benchmarks/recurrent.py
(the second book's recurrent models) instead. The cases are benchmarks/cases.py's
(``--list``), the competitors' adapters benchmarks/competitors.py's; the asv suite times the same callables.
"""
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

from fastnn import bench, trainer
from fastnn.reference import trainer as ref_trainer
from fastnn.threads import blas_libraries, threads

from . import cases, competitors
from .cases import CASES

ACCURACY_EPOCHS = 10


# --- rows ------------------------------------------------------------------------------------------------------
def run_case(c, batch, width, dtype, repeat, min_time):
    """One table row (a dict, fastnn.bench.run_case's), with the products bound timed in turn with fastnn and the
    reference where the case has one (products_s, products_ratio = fastnn / products) and, for a training iteration,
    both sides projected to the whole run (projection_note)."""
    products = competitors.PRODUCTS.get(c.name)
    row = bench.run_case(c, batch, width, dtype, repeat, min_time, {"products": products} if products else None)
    if "products_s" in row:
        row["products_ratio"] = row["fastnn_s"] / row["products_s"]  # step / products: > 1
    if "iterations" in row:
        n = row["iterations"]
        row["projection_note"] = (f"{n} iterations projected: fastnn {_fmt_duration(n * row['fastnn_s'])}, "
                                  f"reference {_fmt_duration(n * row['reference_s'])}")
    return row


def _fmt_duration(seconds):
    for unit, scale in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 2 * scale:
            return f"{seconds / scale:.3g} {unit}"
    return bench.fmt_time(seconds)


def _competitor(row, kind, make):
    """The competitor's callable for a row, called once, or None (with a message) when it cannot run: an optional
    column, so another library version's API difference must not stop the table."""
    try:
        fn = make(row["batch"], row["width"], np.dtype(row["dtype"]))
        fn()
    except Exception as exc:  # noqa: BLE001
        print(f"  {row['case']}: no {kind} figure ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None
    return fn


def add_torch(row, repeat, min_time, torch):
    """Add the PyTorch figure to a row, in place: the better median of 1 and 2 torch threads, and that count. Run
    after all fastnn/reference rows: torch's own allocations change how fast NumPy's large temporaries come back
    from malloc, so interleaving would shift the reference column."""
    make = competitors.TORCH.get(row["case"])
    fn = None if make is None else _competitor(row, "torch", make)
    if fn is None:
        return
    previous = torch.get_num_threads()
    try:
        for n in competitors.torch_thread_counts():
            torch.set_num_threads(n)
            fn()  # the first call at a new count starts the threads
            seconds = statistics.median(bench.measure(fn, repeat, min_time))
            if "torch_s" not in row or seconds < row["torch_s"]:
                row["torch_s"], row["torch_threads"] = seconds, n
    finally:
        torch.set_num_threads(previous)
    row["torch_ratio"] = row["torch_s"] / row["fastnn_s"]


def _add_median(row, kind, make, repeat, min_time):
    fn = None if make is None else _competitor(row, kind, make)
    if fn is not None:
        row[f"{kind}_s"] = statistics.median(bench.measure(fn, repeat, min_time))
        row[f"{kind}_ratio"] = row[f"{kind}_s"] / row["fastnn_s"]


def add_sklearn(row, repeat, min_time):
    """Add the scikit-learn figure to a row, in place (NumPy's BLAS, pinned like fastnn's)."""
    _add_median(row, "sklearn", competitors.SKLEARN.get(row["case"]), repeat, min_time)


def add_jax(row, repeat, min_time, jax):
    """Add the JAX jit figure to a row, in place (XLA's CPU pool as jax_module started it), in the dtype's mode."""
    with competitors.jax_x64(jax, row["dtype"]):
        _add_median(row, "jax", competitors.JAX.get(row["case"]), repeat, min_time)


# --- test accuracy after training (--accuracy) -----------------------------------------------------------------
def accuracy_comparison(name, dtype, torch=None, sklearn=False, epochs=ACCURACY_EPOCHS, batch=100, hidden=100):
    """The accuracy row (a dict): test accuracy and wall time of ``epochs`` epochs: the book's Trainer with fastnn
    and with the reference (evaluate_sample_num_per_epoch=100), the same initial parameters and batches through
    PyTorch (competitors.torch_trainer), and scikit-learn's MLPClassifier (its own initialisation and shuffling, the
    same number of steps)."""
    data = cases.dataset(name, dtype)
    (x, t), (x_test, t_test) = data
    row = {"dataset": name, "dtype": np.dtype(dtype).name, "epochs": epochs, "batch": batch, "hidden": hidden}
    fast_net, ref_net = bench.nets_pair(x.shape[1], hidden, dtype)
    model = competitors.torch_model(fast_net) if torch is not None else None  # copied before fastnn trains fast_net

    for label, trainer_cls, net in (("fastnn", trainer.Trainer, fast_net), ("reference", ref_trainer.Trainer,
                                                                              ref_net)):
        start = time.perf_counter()
        cases.trainer_run(trainer_cls, net, data, batch, epochs)()
        row[label + "_s"] = time.perf_counter() - start
        row[label] = float(net.accuracy(x_test, t_test))

    if model is not None:
        train = competitors.torch_trainer(model, data, batch)
        start = time.perf_counter()
        train(epochs)
        row["torch_s"] = time.perf_counter() - start
        row["torch"] = competitors.torch_accuracy(model, torch.from_numpy(x_test), torch.from_numpy(t_test))
        row["torch_threads"] = torch.get_num_threads()

    if sklearn:
        rows = cases.epoch_steps(len(x), batch) * batch
        start = time.perf_counter()
        clf = competitors.sklearn_fit(competitors.sklearn_mlp(hidden, batch, epochs), x[:rows], t[:rows])
        row["sklearn_s"] = time.perf_counter() - start
        row["sklearn"] = float(clf.score(x_test, t_test))
    return row


def _accuracy_table(results):
    """(header, lines): test accuracy (and the wall time of the whole training run) per library."""
    libraries = [lib for lib in ("fastnn", "reference", "torch", "sklearn") if any(lib in r for r in results)]
    header = ["dataset", "dtype", "epochs"] + libraries
    lines = [[r["dataset"], r["dtype"], str(r["epochs"])] +
             [f"{100 * r[lib]:.2f}% ({bench.fmt_time(r[lib + '_s'])})" if lib in r else "-" for lib in libraries]
             for r in results]
    return header, lines


def _accuracy_rows(args, torch, sklearn):
    results = []
    for name, missing in cases.DATASETS.items():
        reason = missing() if missing else None
        if reason:
            print(f"  accuracy on {name}: skipped ({reason})", file=sys.stderr, flush=True)
            continue
        for dtype in args.dtype or bench.DTYPES:
            results.append(accuracy_comparison(name, dtype, torch=torch, sklearn=sklearn is not None))
            print(f"  accuracy {name} {dtype}: " + ", ".join(
                f"{lib} {100 * results[-1][lib]:.2f}%" for lib in ("fastnn", "reference", "torch", "sklearn")
                if lib in results[-1]), file=sys.stderr, flush=True)
    return results


# --- machine ---------------------------------------------------------------------------------------------------
# Set on some machines for old-OpenBLAS safety; they slow current OpenBLAS builds, so the header says whether they
# were set (to measure without them: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks.compare ...).
OPENBLAS_TUNING_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _openblas_env():
    found = [f"{var}={os.environ[var]}" for var in OPENBLAS_TUNING_VARS if var in os.environ]
    return ", ".join(found) if found else "unset"


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(torch=None, sklearn=None, jax=None, threads=1):
    """The machine header (a dict): CPU, cores, library versions, the thread counts in use and the BLAS kernel set
    (fastnn.threads.blas_libraries), and whether the OpenBLAS tuning variables are set."""
    import numba
    import scipy
    info = {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__, "scipy": scipy.__version__,
            "numba_threads": numba.get_num_threads(), "blas_threads": blas_libraries(),
            "openblas_env": _openblas_env(),
            "jit": "disabled (NUMBA_DISABLE_JIT=1)" if numba.config.DISABLE_JIT else "enabled"}
    note = bench.cut_note()
    if note:
        info["real_data"] = note
    if hasattr(os, "sched_getaffinity"):
        info["cores_usable"] = len(os.sched_getaffinity(0))
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = "best of " + " and ".join(map(str, competitors.torch_thread_counts()))
    if sklearn is not None:
        info["sklearn"] = sklearn.__version__
    if jax is not None:
        info["jax"] = jax.__version__
        info["jax_threads"] = threads if hasattr(os, "sched_setaffinity") else "not pinned"
    return info


def machine_line(machine):
    """The header line of the Markdown output: the machine, the versions, the threads, the BLAS kernel set and the
    OpenBLAS tuning variables."""
    line = (f"Machine: {machine['cpu']}, {machine['cores']} cores; Python {machine['python']}, numpy "
            f"{machine['numpy']}, numba {machine['numba']}, scipy {machine['scipy']}")
    line += "".join(f", {lib} {machine[lib]}" for lib in ("torch", "jax", "sklearn") if lib in machine)
    line += (f"; threads: numba {machine['numba_threads']}, BLAS {machine['blas_threads']}"
             + (f", torch {machine['torch_threads']}" if "torch" in machine else "")
             + (f", jax {machine['jax_threads']}" if "jax" in machine else "")
             + f"; OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE: {machine['openblas_env']}"
             + (f"; {machine['real_data']}" if "real_data" in machine else "") + ".")
    return line


# --- output ----------------------------------------------------------------------------------------------------
def _table(rows, with_torch, with_sklearn=False, with_jax=False, with_products=False):
    """(header, lines, notes): fastnn.bench.table's, plus the competitor columns; a reference time marked * was
    extrapolated (see notes)."""
    header, lines, notes = bench.table(rows)
    columns = [kind for kind, wanted in (("torch", with_torch), ("jax", with_jax), ("sklearn", with_sklearn),
                                         ("products", with_products)) if wanted]
    for kind in columns:
        header += [kind, "fastnn/products" if kind == "products" else f"{kind}/fastnn"]
        header += ["torch threads"] if kind == "torch" else []
    for r, line in zip(rows, lines):
        if "projection_note" in r:
            notes[r["case"]] = "; ".join(filter(None, (notes.get(r["case"]), r["projection_note"])))
        for kind in columns:
            has = f"{kind}_s" in r
            line += [bench.fmt_time(r[f"{kind}_s"]), f"{r[f'{kind}_ratio']:.2f}x"] if has else ["-", "-"]
            line += ([str(r["torch_threads"]) if has else "-"] if kind == "torch" else [])
    return header, lines, [f"* {name}: {note}" for name, note in notes.items()]


def _markdown_table(header, lines):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i < 3 else "---:" for i in range(len(header))) + "|"]
    return out + ["| " + " | ".join(str(c) for c in line) + " |" for line in lines]


def format_markdown(table, machine, settings, accuracy=None):
    """The Markdown document: machine line, command, legend, the timing table, its notes, the accuracy table and
    what each case times."""
    header, lines, notes = table
    legend = (f"Median of {settings['repeat']} samples per figure; ratio = reference (or competitor) time / "
              f"fastnn time; torch threads: the torch thread count of the better of 1 and 2; jax: one jitted "
              f"step; products: x @ W1 and x.T @ dout with NumPy's BLAS, fastnn/products = how far the step is "
              f"from those two products alone.")
    out = ["# fastnn benchmark", "", machine_line(machine), "", f"Command: `{settings['command']}`", "", legend, ""]
    out += _markdown_table(header, lines)
    if notes:
        out += [""] + notes
    if accuracy:
        epochs = accuracy[0]["epochs"]
        out += ["", f"Test accuracy after {epochs} epochs (wall time of the whole training run):", ""]
        out += _markdown_table(*_accuracy_table(accuracy))
    out += ["", "Cases:", ""] + [f"- `{name}`: {what}" for name, what in settings["cases"].items()]
    return "\n".join(out) + "\n"


def _write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# --- command line ----------------------------------------------------------------------------------------------
def _parser():
    p = bench.parser(CASES, prog="python -m benchmarks.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--accuracy", action="store_true",
                   help=f"also train {ACCURACY_EPOCHS} epochs with each library and report the test accuracy")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when it is installed")
    p.add_argument("--no-sklearn", action="store_true", help="leave scikit-learn out even when it is installed")
    p.add_argument("--no-jax", action="store_true", help="leave JAX out even when it is installed")
    p.add_argument("--steps", action="store_true", help="only the step table's rows: " + ", ".join(
        f"{row} ({name})" for row, (name, *_) in cases.STEP_ROWS.items()))
    p.add_argument("--recurrent", action="store_true",
                   help="the second book's recurrent models instead (benchmarks.recurrent: the book's code, its "
                        "models on fastnn's layers, PyTorch), per training iteration and per eval question")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--markdown", metavar="PATH", help="also write the tables as Markdown")
    return p


def _plan(args):
    """[(case name, shapes)] in table order."""
    if args.steps:
        return [(name, [(batch, width)]) for name, batch, width in cases.STEP_ROWS.values()]
    return bench.plan(args, CASES)


def main(argv=None):
    """The comparison's command line: prints the tables (and writes --json/--markdown); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    args = bench.parse(parser, argv)
    if args.steps and (args.case or args.shape):
        parser.error("--steps picks its own cases and shapes: leave out --case and --shape")
    if args.list:
        return bench.list_cases(CASES)
    if args.recurrent:
        from . import recurrent

        return recurrent.main(["--threads", str(args.threads)] + (["--no-torch"] if args.no_torch else [])
                              + (["--markdown", args.markdown] if args.markdown else []))
    torch = None if args.no_torch else competitors.torch_module()
    sklearn = None if args.no_sklearn else competitors.sklearn_module()
    names = list(dict.fromkeys(name for name, _ in _plan(args)))
    settings = {"repeat": args.repeat, "min_sample_s": args.min_time, "statistic": "median", "quick": args.quick,
                "threads": args.threads, "command": " ".join(["python -m benchmarks.compare", *argv]),
                "cases": {name: CASES[name].what for name in names}}
    with threads(args.threads):
        if torch is not None:
            torch.set_num_threads(args.threads)  # until a torch column picks its own (add_torch)
        wants_jax = not args.no_jax and any(name in competitors.JAX for name in names)
        jax = competitors.jax_module(args.threads) if wants_jax else None  # XLA's pool: after the BLAS pinning
        machine = machine_info(torch, sklearn, jax, args.threads)
        print("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()), flush=True)
        rows = bench.timing_rows(CASES, _plan(args), args, run=run_case)
        for row in rows:  # the competitors after every fastnn/reference row (see add_torch)
            if torch is not None:
                add_torch(row, args.repeat, args.min_time, torch)
            if jax is not None:
                add_jax(row, args.repeat, args.min_time, jax)
            if sklearn is not None:
                add_sklearn(row, args.repeat, args.min_time)
        accuracy = _accuracy_rows(args, torch, sklearn) if args.accuracy else []

    table = _table(rows, torch is not None, any("sklearn_s" in r for r in rows), jax is not None,
                   any("products_s" in r for r in rows))
    print("\n" + bench.format_text(*table[:2]))
    for note in table[2]:
        print(note)
    if accuracy:
        print(f"\ntest accuracy after {ACCURACY_EPOCHS} epochs (wall time of the training run)")
        print(bench.format_text(*_accuracy_table(accuracy)))
    if args.json:
        _write(args.json, json.dumps({"machine": machine, "settings": settings, "results": rows,
                                      "accuracy": accuracy}, indent=2) + "\n")
    if args.markdown:
        _write(args.markdown, format_markdown(table, machine, settings, accuracy))
    return 0


if __name__ == "__main__":
    sys.exit(main())
