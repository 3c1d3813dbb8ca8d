"""Start-up costs, each timed in a fresh interpreter (asv ``timeraw_``): importing, and the first call of
softmax_loss and of a training step (TwoLayerNet(784, 100, 10) gradient + SGD update, batch 100), which compile
their kernels (cold: an empty numba cache directory) or load them from the on-disk cache (warm).

``python -m benchmarks.latency [--repeat 5]`` prints the README's compile-latency table from the same code: the
stages one after the other in one fresh interpreter per sample (import fastnn; import functions, nets, optimizer;
the first softmax_loss call; then the first training step, with the loss after the update), medians over
``--repeat`` interpreters with a cold and with a warm cache.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from . import _paired  # noqa: F401  (the suite's thread environment, which the fresh interpreters inherit)

# Untimed preambles of the first-call benchmarks: point numba at the cache directory before numba is imported,
# then import and build the inputs, so that only the call itself is timed.
_CACHE_DIR = """
import os
os.environ["NUMBA_CACHE_DIR"] = {cache_dir!r}
import numpy as np
rng = np.random.default_rng(0)
"""
_SOFTMAX_LOSS_SETUP = """
from fastnn.functions import softmax_loss
x = rng.standard_normal((100, 10))
t = np.arange(100) % 10
"""
_TRAIN_STEP_SETUP = """
from fastnn.nets import TwoLayerNet
from fastnn.optimizer import SGD
x = rng.random((100, 784))
t = rng.integers(0, 10, size=100)
net = TwoLayerNet(784, 100, 10)
sgd = SGD(lr=0.1)
"""


def timeraw_import_fastnn():
    return "import fastnn"


def timeraw_import_fastnn_functions():
    return "import fastnn.functions"


class _FirstCall:
    """``call`` (after ``setup_code``) in a fresh interpreter, with a cold and a warm numba cache."""
    timeout = 300
    repeat = (1, 3, 60.0)  # a cold sample compiles for seconds: a few samples are enough
    setup_code = call = None

    def setup(self):
        self.empty_dir = tempfile.mkdtemp(prefix="fastnn-asv-cold-")
        self.warm_dir = tempfile.mkdtemp(prefix="fastnn-asv-warm-")
        # fill the warm cache in another interpreter, so this process stays uncompiled
        code = _CACHE_DIR.format(cache_dir=self.warm_dir) + self.setup_code + self.call
        subprocess.run([sys.executable, "-c", code], check=True)

    def teardown(self):
        shutil.rmtree(self.empty_dir, ignore_errors=True)
        shutil.rmtree(self.warm_dir, ignore_errors=True)

    def _cold(self):
        # each sample gets a new empty directory (a subdirectory of empty_dir), so no sample warms the next
        cache = "import tempfile\n" + _CACHE_DIR.replace("{cache_dir!r}", f"tempfile.mkdtemp(dir={self.empty_dir!r})")
        return self.call, cache + self.setup_code

    def _warm(self):
        return self.call, _CACHE_DIR.format(cache_dir=self.warm_dir) + self.setup_code


class FirstCall(_FirstCall):
    """softmax_loss's first call."""
    setup_code = _SOFTMAX_LOSS_SETUP
    call = "softmax_loss(x, t)"

    def timeraw_softmax_loss_cold_cache(self):
        return self._cold()

    def timeraw_softmax_loss_warm_cache(self):
        return self._warm()


class FirstTrainStep(_FirstCall):
    """The first training step: every kernel of a forward pass, backward pass and SGD update."""
    setup_code = _TRAIN_STEP_SETUP
    call = "sgd.update(net.params, net.gradient(x, t))"

    def timeraw_train_step_cold_cache(self):
        return self._cold()

    def timeraw_train_step_warm_cache(self):
        return self._warm()


# --- the README's table (python -m benchmarks.latency) ---------------------------------------------------------
STAGES = (("import fastnn", "import fastnn"),
          ("import functions+nets+optimizer (numba)", "import numpy as np\nrng = np.random.default_rng(0)\n"
                                                      "from fastnn import functions, nets, optimizer"),
          ("first softmax_loss call", _SOFTMAX_LOSS_SETUP + FirstCall.call),
          ("then first training step (gradient+SGD+loss)",
           _TRAIN_STEP_SETUP + FirstTrainStep.call + "\nnet.loss(x, t)"))


def stage_seconds(cache_dir, stages=STAGES):
    """The seconds of each of ``stages`` ((label, code) pairs), run in order in one fresh interpreter whose numba
    cache directory is ``cache_dir``."""
    probe = ("import time\nmarks = [time.perf_counter()]\n"
             + "".join(f"{code}\nmarks.append(time.perf_counter())\n" for _, code in stages)
             + "print(*(b - a for a, b in zip(marks, marks[1:])))")
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", probe], env=env, check=True, capture_output=True, text=True).stdout
    return [float(v) for v in out.split()]


def main(argv=None):
    """Prints the table (Markdown): the median of each stage over ``--repeat`` fresh interpreters, cold and warm;
    returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fastnn-latency-") as root:
        cold = [stage_seconds(tempfile.mkdtemp(dir=root)) for _ in range(args.repeat)]
        warm_dir = tempfile.mkdtemp(dir=root)
        stage_seconds(warm_dir)  # fills the cache
        warm = [stage_seconds(warm_dir) for _ in range(args.repeat)]
    print(f"| step (median of {args.repeat} fresh interpreters) | cold cache | warm cache |")
    print("|---|---|---|")
    for i, (name, _) in enumerate(STAGES):
        cold_s, warm_s = statistics.median(r[i] for r in cold), statistics.median(r[i] for r in warm)
        print(f"| {name} | {cold_s:.3f} s | {warm_s:.3f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
