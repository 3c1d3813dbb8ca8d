"""Shared pytest configuration: hypothesis profiles, the data tests need, and fixtures.

Profiles (pick with HYPOTHESIS_PROFILE=name; CI=true selects "ci" unless a profile is named):

* ``default``: random examples, a moderate count, no deadline (the first call of a kernel compiles it).
* ``ci``: the same count, derandomized, so a CI run is reproducible; no example database.
* ``thorough``: many more examples, for a local soak run.

Files from outside the repository: a test marked ``@pytest.mark.books`` needs the books' code and weights
($FASTNN_SHARED, else ../shared beside the repository), one marked ``@pytest.mark.fashion_mnist`` Debian's
Fashion-MNIST, one marked ``@pytest.mark.bible_kjv`` (or using the ``ptb_corpus`` fixture) Debian's bible-kjv.
Without them such a test is skipped with the reason, except under CI=true, where it fails: CI must run it.
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import book_scripts  # tests/ is on sys.path: pytest puts a rootdir conftest's directory there

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("default", max_examples=30, **_common)
settings.register_profile("ci", max_examples=30, derandomize=True, database=None, print_blob=True, **_common)
settings.register_profile("thorough", max_examples=500, **_common)


def in_ci():
    """True when CI is set to true (or 1, yes)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _profile():
    named = os.environ.get("HYPOTHESIS_PROFILE")
    if named:
        return named
    return "ci" if in_ci() else "default"


settings.load_profile(_profile())

# marker -> a function returning None when what the marked tests need is there, else why not
REQUIRES = {"books": book_scripts.missing_books, "fashion_mnist": book_scripts.missing_fashion_mnist,
            "bible_kjv": book_scripts.missing_bible}


def pytest_runtest_setup(item):
    """Skips (fails under CI) a test marked with a REQUIRES marker whose files are missing; returns None."""
    for marker, missing in REQUIRES.items():
        reason = missing() if item.get_closest_marker(marker) else None
        if reason and in_ci():
            pytest.fail(f"required in CI: {reason}", pytrace=False)
        if reason:
            pytest.skip(reason)


@pytest.fixture(scope="session")
def ptb_corpus(tmp_path_factory):
    """A directory holding the King James Bible in PTB's format (ptb.train.txt, ptb.valid.txt, ptb.test.txt, made
    by fastnn.ptb.write_ptb_format from Debian's bible-kjv once per session: book_scripts.build_ptb_corpus).
    Skipped without the bible program, failed under CI=true."""
    reason = book_scripts.missing_bible()
    if reason and in_ci():
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("ptb-kjv")
    book_scripts.build_ptb_corpus(out)
    return out


@pytest.fixture
def rng():
    """A fixed-seed generator, fresh for each test, for the non-hypothesis tests."""
    return np.random.default_rng(20240607)


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)
