"""Pure-NumPy reference of everything fastnn compiles, written the way the books write it.

It is the oracle the tests hold fastnn against and the baseline the benchmarks compare with, so it is the honest
vectorised book code, not a deliberately slow version. Modules mirror the public ones:
``functions`` (activations, losses, affine, numerical gradients), ``optimizer``, ``layers``, ``nets``, ``trainer``.
"""
from .functions import *  # noqa: F401,F403
