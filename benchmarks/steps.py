"""The step table: one SGD step (net.gradient + SGD(lr=0.1).update, the public API only) per row, serial, against
the NumPy reference (``Step``), PyTorch eager (``StepTorch``) and one jax.jit step (``StepJax``); what each case
times is in benchmarks/cases.py and competitors.py (``python -m benchmarks.compare --steps`` prints the same rows
as a table).

    Step.time_fastnn, Step.time_reference, Step.track_speedup       reference / fastnn
    Step.track_products_ratio      fastnn's step / its two large products alone (784-input TwoLayerNet rows)
    StepTorch.time_torch, StepTorch.track_torch_ratio              torch / fastnn (torch at one thread)
    StepJax.time_jax, StepJax.track_jax_ratio                      JAX / fastnn (XLA's CPU pool at one thread)

Ratios are medians of samples taken in turn (fastnn.bench.measure_pair). StepTorch and StepJax are skipped where
the library is not installed (``pip install torch==2.13.0``, ``pip install jax``), as is every row whose case the
benchmarked commit does not have.
"""
import statistics

import numpy as np

from ._paired import THREADS, _Paired, case_callables, pin_threads  # first: it sets the suite's thread environment

from fastnn import bench  # noqa: I001

from . import competitors
from .cases import STEP_ROWS as ROWS  # row -> (case, batch, hidden)

try:
    from asv_runner.benchmarks.mark import SkipNotImplemented  # skips one benchmark of a class that ran setup
except ImportError:  # an asv without asv_runner
    SkipNotImplemented = NotImplementedError

DTYPES = ("float32", "float64")


def _ratio(fast, other):
    """other / fast from samples taken in turn."""
    fast_samples, other_samples = bench.measure_pair(fast, other, bench.REPEAT, bench.MIN_SAMPLE_S)
    return statistics.median(other_samples) / statistics.median(fast_samples)


class _Row:
    params = (tuple(ROWS), DTYPES)
    param_names = ("row", "dtype")
    timeout = 300

    def setup(self, row, dtype):
        """fastnn's and the reference's callables for the row (NotImplementedError, asv's skip, where the
        benchmarked commit has no such case); fastnn's compiles here, outside every timed region."""
        name, batch, width = ROWS[row]
        pin_threads(THREADS)
        self.fastnn, self.reference = case_callables(name, batch, width, dtype)
        self.fastnn()

    def _make(self, row, dtype, field, required=True):
        """The competitor's callable (``field``: make_torch, make_jax, make_products) for the row; where the case has
        none: NotImplementedError (asv: skipped), or None when not ``required``."""
        name, batch, width = ROWS[row]
        registry = {"make_torch": competitors.TORCH, "make_jax": competitors.JAX,
                    "make_products": competitors.PRODUCTS}[field]
        make = registry.get(name)
        if make is None and required:
            raise NotImplementedError(f"benchmarks/competitors.py has no {field} for the case {name!r}")
        return None if make is None else make(batch, width, np.dtype(dtype))


class Step(_Row, _Paired):
    """fastnn against the reference (time_fastnn, time_reference, track_speedup as in every _Paired class)."""

    def setup(self, row, dtype):
        super().setup(row, dtype)
        self.reference()
        self.products = self._make(row, dtype, "make_products", required=False)
        if self.products is not None:
            self.products()

    def track_products_ratio(self, row, dtype):
        if self.products is None:
            raise SkipNotImplemented(f"{row}: the products bound is timed for the 784-input TwoLayerNet rows")
        return 1 / _ratio(self.fastnn, self.products)

    track_products_ratio.unit = "x"


class StepTorch(_Row):
    def setup(self, row, dtype):
        torch = competitors.torch_module()
        if torch is None:
            raise NotImplementedError("PyTorch is not installed (pip install torch==2.13.0)")
        torch.set_num_threads(THREADS)
        super().setup(row, dtype)
        self.torch = self._make(row, dtype, "make_torch")
        self.torch()

    def time_torch(self, row, dtype):
        self.torch()

    def track_torch_ratio(self, row, dtype):
        return _ratio(self.fastnn, self.torch)

    track_torch_ratio.unit = "x"


class StepJax(_Row):
    def setup(self, row, dtype):
        jax = competitors.jax_module(THREADS)
        if jax is None:
            raise NotImplementedError("JAX is not installed (pip install jax)")
        # 64-bit mode for float64 only: asv runs each parameter combination in its own process
        jax.config.update("jax_enable_x64", dtype == "float64")
        super().setup(row, dtype)
        self.jax = self._make(row, dtype, "make_jax")
        self.jax()  # traces and compiles

    def time_jax(self, row, dtype):
        self.jax()

    def track_jax_ratio(self, row, dtype):
        return _ratio(self.fastnn, self.jax)

    track_jax_ratio.unit = "x"
