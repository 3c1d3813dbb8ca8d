"""Start-up costs, each timed in a fresh interpreter (asv ``timeraw_``): importing, and the first call of
softmax_loss, which compiles its kernels (cold: an empty numba cache directory) or loads them from the on-disk
cache (warm)."""
import shutil
import subprocess
import sys
import tempfile

# Untimed preamble of the first-call benchmarks: point numba at the cache directory before numba is imported,
# then import and build the inputs, so that only the call itself is timed.
_FIRST_CALL_SETUP = """
import os
os.environ["NUMBA_CACHE_DIR"] = {cache_dir!r}
import numpy as np
from fastnn.functions import softmax_loss
x = np.random.default_rng(0).standard_normal((100, 10))
t = np.arange(100) % 10
"""
_FIRST_CALL = "softmax_loss(x, t)"


def timeraw_import_fastnn():
    return "import fastnn"


def timeraw_import_fastnn_functions():
    return "import fastnn.functions"


class FirstCall:
    """softmax_loss's first call in a fresh interpreter."""
    timeout = 300
    repeat = (1, 3, 60.0)  # a cold sample compiles for seconds: a few samples are enough

    def setup(self):
        self.empty_dir = tempfile.mkdtemp(prefix="fastnn-asv-cold-")
        self.warm_dir = tempfile.mkdtemp(prefix="fastnn-asv-warm-")
        # fill the warm cache in another interpreter, so this process stays uncompiled
        code = _FIRST_CALL_SETUP.format(cache_dir=self.warm_dir) + _FIRST_CALL
        subprocess.run([sys.executable, "-c", code], check=True)

    def teardown(self):
        shutil.rmtree(self.empty_dir, ignore_errors=True)
        shutil.rmtree(self.warm_dir, ignore_errors=True)

    def timeraw_softmax_loss_cold_cache(self):
        # each sample gets a new empty directory (a subdirectory of empty_dir), so no sample warms the next
        setup = ("import tempfile\n" +
                 _FIRST_CALL_SETUP.replace("{cache_dir!r}", f"tempfile.mkdtemp(dir={self.empty_dir!r})"))
        return _FIRST_CALL, setup

    def timeraw_softmax_loss_warm_cache(self):
        return _FIRST_CALL, _FIRST_CALL_SETUP.format(cache_dir=self.warm_dir)
