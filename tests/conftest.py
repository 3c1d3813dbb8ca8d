"""Shared pytest configuration: hypothesis profiles and fixtures.

Profiles (pick with HYPOTHESIS_PROFILE=name; CI=true selects "ci" unless a profile is named):

* ``default``: random examples, a moderate count, no deadline (the first call of a kernel compiles it).
* ``ci``: the same count, derandomized, so a CI run is reproducible; no example database.
* ``thorough``: many more examples, for a local soak run.
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("default", max_examples=30, **_common)
settings.register_profile("ci", max_examples=30, derandomize=True, database=None, print_blob=True, **_common)
settings.register_profile("thorough", max_examples=500, **_common)


def _profile():
    named = os.environ.get("HYPOTHESIS_PROFILE")
    if named:
        return named
    return "ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "default"


settings.load_profile(_profile())


@pytest.fixture
def rng():
    """A fixed-seed generator, fresh for each test, for the non-hypothesis tests."""
    return np.random.default_rng(20240607)


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)
