"""Kernel cache invalidation: a patch of numba's private cache-locator list (fastnn._jit installs it once).

numba decides whether a cached kernel is stale from its own source file only, but kernels inline helpers from
other files (fastnn/kernels/fastexp.py, fastnn/_intrinsics.py, the options of fastnn/_jit.py): after an edit to one
of those, the cache would serve old machine code. fastnn's kernels therefore use one stamp for all kernel sources
and those files: any change recompiles every kernel.
"""
import os

from numba.core import caching

_kernels_dir = None  # set by install()
_extra_sources = []


def _sources_stamp():
    names = [os.path.join(_kernels_dir, n) for n in os.listdir(_kernels_dir) if n.endswith(".py")]
    stats = [os.stat(f) for f in sorted(names) + _extra_sources]
    return max(s.st_mtime for s in stats), sum(s.st_size for s in stats), len(stats)


class _WholePackageStamp:
    def get_source_stamp(self):
        return _sources_stamp()

    @classmethod
    def from_function(cls, py_func, py_file):
        if os.path.dirname(os.path.abspath(py_file)) != _kernels_dir:
            return None
        return super().from_function(py_func, py_file)


def install(kernels_dir, extra_sources):
    """Put whole-package-stamp variants of numba's locators (NUMBA_CACHE_DIR, in-tree, per-user; same order) in
    front of numba's own, for the kernels defined in ``kernels_dir``, stamped with its .py files and
    ``extra_sources``; returns None. Private numba API: if it changes, numba's default behaviour remains."""
    global _kernels_dir
    _kernels_dir = kernels_dir
    _extra_sources[:] = [os.path.abspath(f) for f in extra_sources]

    def public_or_private(name):  # numba >= 0.60 dropped the leading underscore
        return getattr(caching, name, None) or getattr(caching, "_" + name, None)

    impl = public_or_private("CacheImpl")
    bases = [public_or_private(n) for n in ("UserProvidedCacheLocator", "InTreeCacheLocator",
                                            "UserWideCacheLocator")]
    if impl is None or None in bases or not isinstance(getattr(impl, "_locator_classes", None), list):
        return
    if any(issubclass(c, _WholePackageStamp) for c in impl._locator_classes):
        return
    ours = [type("FastNN" + b.__name__, (_WholePackageStamp, b), {}) for b in bases]
    impl._locator_classes[:0] = ours
