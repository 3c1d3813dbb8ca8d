"""Side-by-side timings of fastnn and the NumPy reference (and PyTorch CPU when it is installed), in one process.

    python -m fastnn.bench [--quick] [--repeat N] [--case NAME] [--shape 100x10] [--dtype float64]
                           [--json PATH] [--markdown PATH]

Each row: fastnn median time, reference median time and their ratio (reference / fastnn, > 1 means fastnn is
faster), after a warm-up call that compiles. Figures are serial: numba and BLAS are pinned to one thread.

The cases live in ``CASES``: a name, shapes, and ``make(batch, width, dtype) -> (fastnn_fn, reference_fn)``, two
zero-argument callables that compute the same result (tests/test_bench.py holds them to it). The asv suite in
``benchmarks/`` times the same callables. Training cases (a train step, an epoch) are appended with
``@case(...)`` below the kernel cases once nets and the trainer exist.
"""
import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import functions, gradient, reference
from .kernels import affine as affine_kernels
from .kernels import softmax as softmax_kernels

SEED = 0
DTYPES = ("float64", "float32")
FUSED_SHAPES = ((100, 10), (10000, 100), (100000, 10))  # the acceptance shapes for softmax+CE forward+backward


# --- the case registry -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    what: str  # one line: what is timed, and what the shape means
    shapes: tuple  # (batch, width) pairs for the table
    make: Callable  # (batch, width, dtype) -> (fastnn_fn, reference_fn)
    make_torch: Callable | None = None  # (batch, width, dtype) -> torch_fn; only called when torch imports


CASES = {}


def case(name, what, shapes=FUSED_SHAPES, torch_make=None):
    """Register ``make(batch, width, dtype)`` as the case ``name``."""
    def register(make):
        CASES[name] = Case(name, what, tuple(shapes), make, torch_make)
        return make
    return register


def _scores(batch, width, dtype):
    """Logits and integer labels, the same for every case of a given shape."""
    rng = np.random.default_rng(SEED)
    x = (3 * rng.standard_normal((batch, width))).astype(dtype)
    t = rng.integers(0, width, size=batch).astype(np.intp)
    return x, t


def _affine_data(batch, width, dtype):
    """x (batch, width), W (width, width), b (width,), dout (batch, width)."""
    rng = np.random.default_rng(SEED)
    arrays = [rng.standard_normal(shape).astype(dtype) for shape in
              ((batch, width), (width, width), (width,), (batch, width))]
    arrays[1] *= 0.1
    return arrays


def _torch_tensors(*arrays):
    import torch
    return [torch.from_numpy(a) for a in arrays]


# --- kernel cases ----------------------------------------------------------------------------------------------
def _torch_elementwise(name):
    def make(batch, width, dtype):
        import torch
        (x,) = _torch_tensors(_scores(batch, width, dtype)[0])
        op = getattr(torch, name)
        return lambda: op(x)
    return make


@case("sigmoid", "fastnn.functions.sigmoid(x), x (batch, width)", torch_make=_torch_elementwise("sigmoid"))
def _sigmoid(batch, width, dtype):
    x, _ = _scores(batch, width, dtype)
    return (lambda: functions.sigmoid(x)), (lambda: reference.sigmoid(x))


@case("relu", "fastnn.functions.relu(x), x (batch, width)", torch_make=_torch_elementwise("relu"))
def _relu(batch, width, dtype):
    x, _ = _scores(batch, width, dtype)
    return (lambda: functions.relu(x)), (lambda: reference.relu(x))


def _torch_softmax(batch, width, dtype):
    import torch
    (x,) = _torch_tensors(_scores(batch, width, dtype)[0])
    return lambda: torch.softmax(x, dim=-1)


@case("softmax", "fastnn.functions.softmax(x), x (batch, width)", torch_make=_torch_softmax)
def _softmax(batch, width, dtype):
    x, _ = _scores(batch, width, dtype)
    return (lambda: functions.softmax(x)), (lambda: reference.softmax(x))


def _torch_cross_entropy(batch, width, dtype):
    import torch
    x, t = _scores(batch, width, dtype)
    y, t = _torch_tensors(reference.softmax(x), t)
    rows = torch.arange(batch)
    return lambda: -torch.log(y[rows, t] + reference.CE_DELTA).mean()


@case("cross_entropy_error", "fastnn.functions.cross_entropy_error(y, t), y (batch, width), integer labels t",
      torch_make=_torch_cross_entropy)
def _cross_entropy_error(batch, width, dtype):
    x, t = _scores(batch, width, dtype)
    y = reference.softmax(x)
    return (lambda: functions.cross_entropy_error(y, t)), (lambda: reference.cross_entropy_error(y, t))


def _torch_softmax_loss(batch, width, dtype):
    import torch.nn.functional as F
    x, t = _torch_tensors(*_scores(batch, width, dtype))
    return lambda: F.cross_entropy(x, t)


@case("softmax_loss", "fastnn.functions.softmax_loss(x, t), x (batch, width), integer labels t",
      torch_make=_torch_softmax_loss)
def _softmax_loss(batch, width, dtype):
    x, t = _scores(batch, width, dtype)
    return (lambda: functions.softmax_loss(x, t)), (lambda: reference.softmax_loss(x, t))


def _torch_softmax_ce_fwd_bwd(batch, width, dtype):
    import torch
    import torch.nn.functional as F
    x, t = _torch_tensors(*_scores(batch, width, dtype))
    x.requires_grad_(True)

    def run():
        loss = F.cross_entropy(x, t)
        (dx,) = torch.autograd.grad(loss, x)
        return loss, dx
    return run


@case("softmax_ce_fwd_bwd", "SoftmaxWithLoss forward+backward: fused kernels into preallocated y, dx vs the "
      "book's softmax, cross_entropy_error, (y - t) / N; x (batch, width), integer labels t",
      torch_make=_torch_softmax_ce_fwd_bwd)
def _softmax_ce_fwd_bwd(batch, width, dtype):
    x, t = _scores(batch, width, dtype)
    delta, dout = x.dtype.type(reference.CE_DELTA), x.dtype.type(1)
    y, dx = np.empty_like(x), np.empty_like(x)

    def fast():
        loss = softmax_kernels.softmax_cross_entropy_labels(x, t, delta, y)
        softmax_kernels.softmax_cross_entropy_backward_labels(y, t, dout, dx)
        return loss, dx

    def ref():
        y_ref = reference.softmax(x)
        loss = reference.cross_entropy_error(y_ref, t)
        return loss, reference.softmax_cross_entropy_backward(y_ref, t, 1)
    return fast, ref


def _torch_affine_forward(batch, width, dtype):
    import torch
    x, W, b, _ = _torch_tensors(*_affine_data(batch, width, dtype))
    return lambda: torch.addmm(b, x, W)


@case("affine_forward", "x @ W + b into a preallocated out; x (batch, width), W (width, width)",
      torch_make=_torch_affine_forward)
def _affine_forward(batch, width, dtype):
    x, W, b, _ = _affine_data(batch, width, dtype)
    out = np.empty((batch, width), dtype=dtype)

    def fast():
        affine_kernels.affine_forward(x, W, b, out)
        return out
    return fast, (lambda: reference.affine_forward(x, W, b))


def _torch_affine_backward(batch, width, dtype):
    x, W, _, dout = _torch_tensors(*_affine_data(batch, width, dtype))
    return lambda: (dout @ W.T, x.T @ dout, dout.sum(0))


@case("affine_backward", "dx, dW, db into preallocated arrays; x, dout (batch, width), W (width, width)",
      torch_make=_torch_affine_backward)
def _affine_backward(batch, width, dtype):
    x, W, _, dout = _affine_data(batch, width, dtype)
    dx, dW, db = np.empty_like(x), np.empty_like(W), np.empty(width, dtype=dtype)

    def fast():
        affine_kernels.affine_backward_params(x, dout, dW, db)
        affine_kernels.affine_backward_input(dout, W, dx)
        return dx, dW, db
    return fast, (lambda: reference.affine_backward(x, W, dout))


def function_2(x):
    """The book's function_2 (sum of squares), the f of the numerical-gradient case."""
    return np.sum(x ** 2)


@functools.cache
def jitted_function_2():
    """function_2 as a user would jit it: plain numba.njit (on first use, so importing compiles nothing), cached
    on disk like fastnn's kernels so that each benchmark process does not compile it again."""
    import numba

    from ._jit import CACHE
    return numba.njit(function_2, cache=CACHE)


@case("numerical_gradient", "numerical_gradient(f, x) of a jitted f = sum(x**2) (the same f for both), "
      "x (batch, width)", shapes=((1, 10), (10, 10), (10, 100)))
def _numerical_gradient(batch, width, dtype):
    f = jitted_function_2()
    x = np.random.default_rng(SEED).standard_normal((batch, width)).astype(dtype)
    return (lambda: gradient.numerical_gradient(f, x)), (lambda: reference.numerical_gradient(f, x))


# Training cases (train step, epoch) go here, once fastnn.nets and fastnn.trainer exist.


# --- timing ----------------------------------------------------------------------------------------------------
def measure(fn, repeat, min_time=0.0):
    """Per-call seconds of ``repeat`` samples. A sample runs fn ``number`` times back to back, with ``number``
    chosen (from one timed call) so that a sample lasts at least ``min_time``: short calls are not lost in timer
    resolution and call noise."""
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-9)
    number = max(1, int(min_time / once) + 1) if once < min_time else 1
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return samples


def best_time(fn, repeat=5, min_time=1e-3):
    """Minimum per-call time: the figure least disturbed by the rest of the machine (asv's track_speedup)."""
    return min(measure(fn, repeat, min_time))


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def run_case(c, batch, width, dtype, repeat, min_time):
    """One table row: median seconds for fastnn and the reference, warm-up calls first."""
    fast, ref = c.make(batch, width, np.dtype(dtype))
    fast(), ref()  # warm-up: compiles fastnn's kernels for this dtype, fills caches for both
    row = {"case": c.name, "batch": batch, "width": width, "dtype": dtype,
           "fastnn_s": statistics.median(measure(fast, repeat, min_time)),
           "reference_s": statistics.median(measure(ref, repeat, min_time))}
    row["ratio"] = row["reference_s"] / row["fastnn_s"]
    return row


def add_torch(row, repeat, min_time):
    """Add the PyTorch figure to a row. Run after all fastnn/reference rows: torch's own allocations change how
    fast NumPy's large temporaries come back from malloc, so interleaving would shift the reference column."""
    c = CASES[row["case"]]
    if c.make_torch is None:
        return
    # an optional column: a torch version whose API differs must not stop the table
    try:
        torch_fn = c.make_torch(row["batch"], row["width"], np.dtype(row["dtype"]))
        torch_fn()
    except Exception as exc:  # noqa: BLE001
        print(f"  {c.name}: no torch figure ({type(exc).__name__}: {exc})", file=sys.stderr)
        return
    row["torch_s"] = statistics.median(measure(torch_fn, repeat, min_time))
    row["torch_ratio"] = row["torch_s"] / row["fastnn_s"]


# --- machine and threads ---------------------------------------------------------------------------------------
def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        value = os.environ.get("OPENBLAS_NUM_THREADS")
        return f"{value} (OPENBLAS_NUM_THREADS)" if value else "default (not pinned)"
    return ", ".join(f"{info['prefix']} {info['version']}: {info['num_threads']}" for info in threadpool_info()
                     if info["user_api"] == "blas") or "no BLAS found"


def machine_info(torch=None):
    import numba
    import scipy
    info = {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__, "scipy": scipy.__version__,
            "numba_threads": numba.get_num_threads(), "blas_threads": _blas_threads(),
            "jit": "disabled (NUMBA_DISABLE_JIT=1)" if numba.config.DISABLE_JIT else "enabled"}
    if hasattr(os, "sched_getaffinity"):
        info["cores_usable"] = len(os.sched_getaffinity(0))
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    return info


# Serial figures need one BLAS thread. OpenBLAS reads its thread count from the environment when it is loaded,
# which has happened by the time this module runs (it imports numpy). So: threadpoolctl when it is installed,
# otherwise the bench re-runs itself in a fresh interpreter started with these variables.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
_PINNED_MARK = "_FASTNN_BENCH_SERIAL"  # set in that interpreter's environment


def _serial_environ(environ):
    return {**environ, **{var: "1" for var in _THREAD_VARS}, _PINNED_MARK: "1"}


def _pin_threads(torch=None):
    """One thread for numba, BLAS (and torch). False when BLAS cannot be pinned in this process (no
    threadpoolctl, and the process was not started with the variables)."""
    import numba
    numba.set_num_threads(1)
    if torch is not None:
        torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return os.environ.get(_PINNED_MARK) == "1"
    import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS numba's np.dot calls, so it is limited too)
    threadpool_limits(limits=1)
    return True


def _rerun_serial(argv):
    """Run the bench in a fresh interpreter whose BLAS starts single-threaded."""
    return subprocess.call([sys.executable, "-m", "fastnn.bench", *argv], env=_serial_environ(os.environ))


# --- output ----------------------------------------------------------------------------------------------------
def _fmt_time(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _table(rows, with_torch):
    header = ["case", "shape", "dtype", "fastnn", "reference", "ref/fastnn"]
    if with_torch:
        header += ["torch", "torch/fastnn"]
    lines = []
    for r in rows:
        line = [r["case"], f"{r['batch']}x{r['width']}", r["dtype"], _fmt_time(r["fastnn_s"]),
                _fmt_time(r["reference_s"]), f"{r['ratio']:.2f}x"]
        if with_torch:
            has = "torch_s" in r
            line += [_fmt_time(r["torch_s"]) if has else "-", f"{r['torch_ratio']:.2f}x" if has else "-"]
        lines.append(line)
    return header, lines


def format_text(header, lines):
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines)]

    def fmt(cells):  # text columns left-aligned, figures right-aligned
        return "  ".join(str(c).ljust(w) if i < 3 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(line) for line in lines])


def format_markdown(header, lines, machine, settings):
    machine_line = (f"Machine: {machine['cpu']}, {machine['cores']} cores; Python {machine['python']}, numpy "
                    f"{machine['numpy']}, numba {machine['numba']}; threads: numba {machine['numba_threads']}, "
                    f"BLAS {machine['blas_threads']}.")
    out = ["# fastnn benchmark", "", machine_line, "",
           f"Median of {settings['repeat']} samples per figure; ratio = reference time / fastnn time.", "",
           "| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i < 3 else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(str(c) for c in line) + " |" for line in lines]
    return "\n".join(out) + "\n"


def _write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# --- command line ----------------------------------------------------------------------------------------------
def _shape(text):
    try:
        batch, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape must look like 100x10 (batch x width); got {text!r}") from None
    if batch < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"shape sizes must be >= 1; got {text!r}")
    return batch, width


def _parser():
    p = argparse.ArgumentParser(prog="fastnn bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=None, help="samples per figure (default 7, 3 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 3 samples, shorter samples, each case's first shape only")
    p.add_argument("--case", action="append", choices=sorted(CASES), help="only this case (repeatable)")
    p.add_argument("--shape", action="append", type=_shape,
                   help="BATCHxWIDTH instead of each case's shapes (repeatable)")
    p.add_argument("--dtype", action="append", choices=DTYPES, help="only this dtype (default: both)")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when it is installed")
    p.add_argument("--list", action="store_true", help="list the cases and what each times, then exit")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown")
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        _parser().error(f"--repeat must be >= 1; got {args.repeat}")
    if args.list:
        for c in CASES.values():
            print(f"{c.name:20}  {c.what}")
        return 0
    torch = None if args.no_torch else _torch()
    if not _pin_threads(torch):
        return _rerun_serial(argv)
    repeat = args.repeat or (3 if args.quick else 7)
    min_time = 2e-4 if args.quick else 5e-3
    settings = {"repeat": repeat, "min_sample_s": min_time, "statistic": "median", "quick": args.quick,
                "cases": {name: CASES[name].what for name in args.case or CASES}}
    machine = machine_info(torch)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()), flush=True)

    rows = []
    for name in args.case or CASES:
        c = CASES[name]
        shapes = args.shape or (c.shapes[:1] if args.quick else c.shapes)
        for batch, width in shapes:
            for dtype in args.dtype or DTYPES:
                rows.append(run_case(c, batch, width, dtype, repeat, min_time))
                print(f"  {name} {batch}x{width} {dtype}: {rows[-1]['ratio']:.2f}x", file=sys.stderr, flush=True)
    if torch is not None:
        for row in rows:
            add_torch(row, repeat, min_time)

    header, lines = _table(rows, torch is not None)
    print("\n" + format_text(header, lines))
    if args.json:
        _write(args.json, json.dumps({"machine": machine, "settings": settings, "results": rows}, indent=2) + "\n")
    if args.markdown:
        _write(args.markdown, format_markdown(header, lines, machine, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
