"""``fastnn bench`` (or ``python -m fastnn.bench``): fastnn against its own NumPy reference (``fastnn.reference``,
the books' code), side by side in one process; and fastnn.sklearn against scikit-learn (fastnn.bench_sklearn).

    fastnn bench [--quick] [--repeat N] [--case NAME] [--shape BATCHxWIDTH] [--dtype D] [--threads N] [--list]

Each row: fastnn's median time, the reference's, and their ratio (reference / fastnn: > 1 means fastnn is faster),
from samples taken in turn after a warm-up call that compiles, with numba and both BLAS libraries at ``--threads``
threads (default 1; fastnn.threads). A case is a name, shapes and ``make(batch, width, dtype) -> (fastnn_fn,
reference_fn)``: two zero-argument callables doing the same work (``pure`` cases return the same values). The full
comparison (more cases, PyTorch, JAX and scikit-learn columns, the step table, epochs, test accuracy, JSON and
Markdown) is ``python -m benchmarks.compare`` in a source checkout; it and the asv suite build on this module.
"""
import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import bench_sklearn, functions, nets, optimizer, reference
from .reference import nets as ref_nets
from .reference import optimizer as ref_optimizer
from .threads import blas_libraries, threads

SEED = 0
DTYPES = ("float64", "float32")
FUSED_SHAPES = ((100, 10), (10000, 100), (100000, 10))  # the function cases' (batch, width)
LR = 0.1  # the learning rate of the book's chapter-5 training script, used by every library in the benchmarks
N_CLASSES = 10
PIXELS = 784  # one 28x28 image: the input width of the MNIST-style cases
STEP_SHAPES = ((100, 100), (1, 50), (1000, 100))  # train_step's (batch, hidden)
REPEAT = 7  # samples per figure
MIN_SAMPLE_S = 5e-3  # a sample repeats a short call until it lasts this long
# A smoke run's cap on the rows of the real data sets (CI's asv step sets it: each benchmark runs once, only to
# show that it runs, and whole Fashion-MNIST epochs and fits cost minutes there); unset: all rows, as published.
MAX_ROWS = int(os.environ.get("FASTNN_BENCH_MAX_ROWS", "0")) or None


def capped(*arrays):
    """The first MAX_ROWS rows of each array (all of them when FASTNN_BENCH_MAX_ROWS is unset)."""
    return tuple(a[:MAX_ROWS] for a in arrays)


def cut_note():
    """The header sentence saying that the real data sets are cut (None when they are not)."""
    if not MAX_ROWS:
        return None
    return f"real data sets cut to their first {MAX_ROWS} rows (FASTNN_BENCH_MAX_ROWS): a smoke run"


@dataclass(frozen=True)
class Case:
    """A timed case: ``make(batch, width, dtype) -> (fastnn_fn, reference_fn)`` and the shapes it runs at."""
    name: str
    what: str  # one line: what is timed, and what the shape means
    shapes: tuple  # (batch, width) pairs for the table
    make: Callable
    dtypes: tuple = DTYPES  # the dtypes the case runs in
    pure: bool = True  # the two callables return the same values (the tests compare them element-wise)
    missing: Callable | None = None  # () -> why the case cannot run on this machine (say, data not installed)

    def unavailable(self):
        """None when the case can run here, else the reason it cannot."""
        return None if self.missing is None else self.missing()


CASES = {}


def case(name, what, shapes=FUSED_SHAPES, **options):
    """A decorator that registers ``make(batch, width, dtype)`` as the case ``name`` (``options``: the other Case
    fields) and returns ``make`` unchanged."""
    def register(make):
        CASES[name] = Case(name, what, tuple(shapes), make, **options)
        return make
    return register


def scores(batch, width, dtype):
    """(x, t): logits (batch, width) and integer labels, the same for every case of a given shape."""
    rng = np.random.default_rng(SEED)
    return (3 * rng.standard_normal((batch, width))).astype(dtype), rng.integers(0, width, size=batch).astype(np.intp)


def _function_case(name, inputs, what):
    def make(batch, width, dtype):
        args = inputs(*scores(batch, width, dtype))
        fast, ref = getattr(functions, name), getattr(reference, name)
        return (lambda: fast(*args)), (lambda: ref(*args))
    case(name, f"fastnn.functions.{name}{what}")(make)


for _name in ("sigmoid", "relu", "softmax"):
    _function_case(_name, lambda x, t: (x,), "(x), x (batch, width)")
_function_case("cross_entropy_error", lambda x, t: (reference.softmax(x), t),
               "(y, t), y (batch, width), integer labels t")
_function_case("softmax_loss", lambda x, t: (x, t), "(x, t), x (batch, width), integer labels t")


# --- networks --------------------------------------------------------------------------------------------------
def pixels(rows, input_size, dtype):
    """(x, t): pixel-like inputs in [0, 1) and integer labels in [0, 10)."""
    rng = np.random.default_rng(SEED)
    x = rng.random((rows, input_size), dtype=np.dtype(dtype).type)
    return x, rng.integers(0, N_CLASSES, size=rows).astype(np.intp)


def adopt_params(net, params):
    """Give a book-style net these parameter arrays (say, float32 copies of its float64 ones), in place: each
    ``params`` entry is replaced, and so is every layer attribute that held the old array (the book's layers hold
    the arrays themselves), so that the net's code keeps seeing one set of arrays."""
    held = {id(array): key for key, array in net.params.items()}
    layers = getattr(net, "layers", {})
    for layer in layers.values() if isinstance(layers, dict) else layers:  # the book's DeepConvNet has a list
        for attr, value in list(vars(layer).items()):
            if id(value) in held:
                setattr(layer, attr, params[held[id(value)]])
    net.params.update(params)


def nets_pair(input_size, hidden, dtype, depth=1):
    """(fastnn net, reference net) in ``dtype`` with the same initial parameters (drawn as in the book from the
    global np.random, which this seeds): TwoLayerNet(input_size, hidden, 10), or for depth > 1
    MultiLayerNet(input_size, [hidden] * depth, 10) (ReLU, He scale). The reference is built as the book builds it
    (float64) and then given copies of fastnn's arrays, so a float32 reference works in float32 throughout."""
    np.random.seed(SEED)
    if depth == 1:
        fast = nets.TwoLayerNet(input_size, hidden, N_CLASSES, dtype=dtype)
        ref = ref_nets.TwoLayerNet(input_size, hidden, N_CLASSES)
    else:
        fast = nets.MultiLayerNet(input_size, [hidden] * depth, N_CLASSES, dtype=dtype)
        ref = ref_nets.MultiLayerNet(input_size, [hidden] * depth, N_CLASSES)
    adopt_params(ref, {key: array.copy() for key, array in fast.params.items()})
    return fast, ref


def param_keys(net):
    """The parameter names W1, b1, W2, b2, ... in layer order."""
    return [f"{kind}{i}" for i in range(1, len(net.params) // 2 + 1) for kind in "Wb"]


def net_params(net):
    """(W1, b1, W2, b2, ...): the arrays themselves, not copies."""
    return tuple(net.params[key] for key in param_keys(net))


def step_pair(batch, width, dtype, input_size=PIXELS, book=False, depth=1):
    """(fastnn_fn, reference_fn): each call is one SGD step, ``net.gradient(x, t)`` + ``SGD(lr=0.1).update``, of its
    side of nets_pair on one fixed batch, and returns the net's parameters (preceded, when ``book``, by the loss
    after the update, which the first book's Trainer records)."""
    x, t = pixels(batch, input_size, dtype)
    fast_net, ref_net = nets_pair(input_size, width, dtype, depth)

    def stepper(net, sgd):
        def run():
            sgd.update(net.params, net.gradient(x, t))
            return (net.loss(x, t), *net_params(net)) if book else net_params(net)
        return run
    return stepper(fast_net, optimizer.SGD(lr=LR)), stepper(ref_net, ref_optimizer.SGD(lr=LR))


case("train_step", "TwoLayerNet(784, hidden, 10): one SGD step, net.gradient(x, t) + SGD(lr=0.1).update(net.params, "
     "grads), x: rows of 784 pixel-like values, integer labels; shape batch x hidden", shapes=STEP_SHAPES,
     pure=False)(step_pair)


# --- convolutional networks --------------------------------------------------------------------------------------
CONV_LR = 0.001  # chapter 7's and 8's training scripts: Adam(lr=0.001)
IMAGE = (1, 28, 28)


def images(rows, dtype):
    """(x, t): rows of 1x28x28 pixel-like images in [0, 1) and integer labels in [0, 10)."""
    x, t = pixels(rows, PIXELS, dtype)
    return x.reshape(rows, *IMAGE), t


def convnet_pair(kind, hidden, dtype):
    """(fastnn net, reference net) of chapter 7's SimpleConvNet or chapter 8's DeepConvNet (``kind``: "simple" or
    "deep") for 28x28 images with this hidden width, with the same initial parameters (as nets_pair)."""
    from . import convnets
    from .reference import convnets as ref_convnets

    np.random.seed(SEED)
    name = "SimpleConvNet" if kind == "simple" else "DeepConvNet"
    fast = getattr(convnets, name)(IMAGE, hidden_size=hidden, dtype=dtype)
    ref = getattr(ref_convnets, name)(IMAGE, hidden_size=hidden)
    adopt_params(ref, {key: array.copy() for key, array in fast.params.items()})
    return fast, ref


def convnet_step_pair(batch, hidden, dtype, kind="simple"):
    """(fastnn_fn, reference_fn): each call is one training step of the book's chapter 7/8 scripts on one fixed
    batch, ``net.gradient(x, t)`` + ``Adam(lr=0.001).update``, and returns the parameters (dropout masks, for the
    deep net, are drawn from np.random by both sides)."""
    x, t = images(batch, dtype)
    fast_net, ref_net = convnet_pair(kind, hidden, dtype)

    def stepper(net, adam):
        def run():
            adam.update(net.params, net.gradient(x, t))
            return net_params(net)
        return run
    return stepper(fast_net, optimizer.Adam(lr=CONV_LR)), stepper(ref_net, ref_optimizer.Adam(lr=CONV_LR))


case("simple_convnet_step", "chapter 7's SimpleConvNet (28x28 images, 30 filters 5x5, pool 2x2, hidden, 10): one "
     "step, net.gradient(x, t) + Adam(lr=0.001).update; shape batch x hidden", shapes=((100, 100),),
     pure=False)(convnet_step_pair)
case("deep_convnet_step", "chapter 8's DeepConvNet (28x28 images, six 3x3 convolutions, three poolings, hidden, "
     "dropout): one step, net.gradient(x, t) + Adam(lr=0.001).update; shape batch x hidden", shapes=((100, 50),),
     pure=False)(lambda batch, hidden, dtype: convnet_step_pair(batch, hidden, dtype, kind="deep"))


# --- timing ----------------------------------------------------------------------------------------------------
def _calls_per_sample(fn, min_time):
    """How many back-to-back calls make a sample last ``min_time`` (from one timed call), short calls too."""
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-9)
    return max(1, int(min_time / once) + 1) if once < min_time else 1


def _sample(fn, number):
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def measure(fn, repeat, min_time=0.0):
    """The per-call seconds of ``repeat`` samples of fn (a list; see _calls_per_sample)."""
    number = _calls_per_sample(fn, min_time)
    return [_sample(fn, number) for _ in range(repeat)]


def measure_interleaved(fns, repeat, min_time=0.0):
    """The per-call seconds of ``repeat`` samples of each callable (a list each), taken in turn (a, b, a, b, ...):
    a machine that speeds up or slows down during the run moves every column alike, so ratios stay fair."""
    numbers = [_calls_per_sample(fn, min_time) for fn in fns]
    samples = [[] for _ in fns]
    for _ in range(repeat):
        for fn, number, out in zip(fns, numbers, samples):
            out.append(_sample(fn, number))
    return samples


def measure_pair(fast, ref, repeat, min_time=0.0):
    """(fast samples, ref samples), interleaved (measure_interleaved)."""
    return tuple(measure_interleaved((fast, ref), repeat, min_time))


def run_case(c, batch, width, dtype, repeat, min_time, extra=None):
    """The table row (a dict) of case ``c`` at one shape and dtype: case, batch, width, dtype, fastnn_s and
    reference_s (medians of samples taken in turn, after a warm-up call of each callable) and ratio (reference_s /
    fastnn_s). ``extra``, {name: make} with the case's make signature, adds callables timed in turn with the two
    (row key name_s). A reference with a ``scale`` attribute did part of the work: its time is scaled up and its
    ``note`` kept (reference_note); a fastnn callable's ``iterations`` attribute is kept too (iterations)."""
    dtype, extra = np.dtype(dtype), extra or {}
    fns = (*c.make(batch, width, dtype), *(make(batch, width, dtype) for make in extra.values()))
    for fn in fns:
        fn()  # warm-up: compiles fastnn's kernels for this dtype, fills caches
    medians = [statistics.median(samples) for samples in measure_interleaved(fns, repeat, min_time)]
    fast, ref = fns[:2]
    row = {"case": c.name, "batch": batch, "width": width, "dtype": dtype.name, "fastnn_s": medians[0],
           "reference_s": medians[1] * getattr(ref, "scale", 1.0)}
    row["ratio"] = row["reference_s"] / row["fastnn_s"]
    row.update({f"{name}_s": median for name, median in zip(extra, medians[2:])})
    row.update({key: getattr(fn, attr) for key, fn, attr in (("reference_note", ref, "note"),
                                                             ("iterations", fast, "iterations")) if hasattr(fn, attr)})
    return row


# --- the table and the command line ----------------------------------------------------------------------------
def fmt_time(seconds):
    """The duration as text with 3 significant digits and a unit (s, ms, us, ns)."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def table(rows):
    """(header, lines, notes): the table's text cells, and {case: note} for reference times marked * (scaled up
    from part of the work)."""
    header = ["case", "shape", "dtype", "fastnn", "reference", "ref/fastnn"]
    lines = [[r["case"], f"{r['batch']}x{r['width']}", r["dtype"], fmt_time(r["fastnn_s"]),
              fmt_time(r["reference_s"]) + ("*" if "reference_note" in r else ""), f"{r['ratio']:.2f}x"]
             for r in rows]
    return header, lines, {r["case"]: r["reference_note"] for r in rows if "reference_note" in r}


def format_text(header, lines):
    """The table as aligned text: text columns left-aligned, figures right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines)]

    def fmt(cells):
        return "  ".join(str(c).ljust(w) if i < 3 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(line) for line in lines])


def _shape(text):
    try:
        batch, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape must look like 100x10 (batch x width); got {text!r}") from None
    if batch < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"shape sizes must be >= 1; got {text!r}")
    return batch, width


def parser(cases, prog="fastnn bench", description=__doc__.split("\n\n")[0]):
    """An ArgumentParser with the options that fastnn bench and benchmarks.compare share; ``--case`` picks from
    ``cases``."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--repeat", type=int, default=None, help=f"samples per figure (default {REPEAT}, 3 with --quick)")
    p.add_argument("--quick", action="store_true", help="a smoke run: 3 samples, shorter samples, first shapes only")
    p.add_argument("--case", action="append", choices=sorted(cases), help="only this case (repeatable)")
    p.add_argument("--shape", action="append", type=_shape, help="BATCHxWIDTH instead of each case's shapes "
                                                                 "(repeatable)")
    p.add_argument("--dtype", action="append", choices=DTYPES, help="only this dtype (default: both)")
    p.add_argument("--threads", type=int, default=1, help="threads for numba and BLAS (default 1)")
    p.add_argument("--list", action="store_true", help="list the cases and what each times, then exit")
    return p


def parse(p, argv):
    """The parsed options, with --repeat and --threads checked (p.error exits with status 2 otherwise)."""
    args = p.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        p.error(f"--repeat must be >= 1; got {args.repeat}")
    if args.threads < 1:
        p.error(f"--threads must be >= 1; got {args.threads}")
    args.min_time = 2e-4 if args.quick else MIN_SAMPLE_S
    args.repeat = args.repeat or (3 if args.quick else REPEAT)
    return args


def list_cases(cases):
    """Prints each case and what it times; returns 0 (the exit status)."""
    for c in cases.values():
        reason = c.unavailable()
        print(f"{c.name:34}  {c.what}" + (f" [unavailable: {reason}]" if reason else ""))
    return 0


def plan(args, cases):
    """The [(case name, shapes)] to time, in table order: ``--case``'s (default all), at ``--shape`` or theirs."""
    return [(name, args.shape or (cases[name].shapes[:1] if args.quick else cases[name].shapes))
            for name in args.case or cases]


def timing_rows(cases, planned, args, run=run_case):
    """The table rows of the planned cases in each ``--dtype`` (``run``: run_case's signature), with progress on
    stderr; a case that cannot run here is skipped with its reason."""
    rows = []
    for name, shapes in planned:
        c = cases[name]
        if c.unavailable():
            print(f"  {name}: skipped ({c.unavailable()})", file=sys.stderr, flush=True)
            continue
        for batch, width in shapes:
            for dtype in [d for d in args.dtype or DTYPES if d in c.dtypes]:
                rows.append(run(c, batch, width, dtype, args.repeat, args.min_time))
                print(f"  {name} {batch}x{width} {dtype}: {rows[-1]['ratio']:.2f}x", file=sys.stderr, flush=True)
    return rows


def main(argv=None):
    """``fastnn bench``: prints the timing table; returns the exit status."""
    args = parse(parser(CASES), sys.argv[1:] if argv is None else list(argv))
    if args.list:
        return list_cases(CASES)
    with threads(args.threads):
        print(f"threads: {args.threads} (numba and BLAS); BLAS: {blas_libraries()}", flush=True)
        note = cut_note()
        if note:
            print(note, flush=True)
        header, lines, notes = table(timing_rows(CASES, plan(args, CASES), args))
    print("\n".join(["", format_text(header, lines), *(f"* {name}: {note}" for name, note in notes.items())]))
    return 0


bench_sklearn.register(case, capped)  # the scikit-learn cases, after the package's own

if __name__ == "__main__":
    sys.exit(main())
