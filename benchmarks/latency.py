"""Start-up costs, each timed in a fresh interpreter (asv ``timeraw_``): importing, and the first call of
softmax_loss and of a training step (TwoLayerNet(784, 100, 10) gradient + SGD update, batch 100), which compile
their kernels (cold: an empty numba cache directory) or load them from the on-disk cache (warm)."""
import shutil
import subprocess
import sys
import tempfile

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
