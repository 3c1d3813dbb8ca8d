"""scikit-learn's own tests of its MLP estimators, run on fastnn's.

The installed scikit-learn's ``sklearn/neural_network/tests/test_mlp.py`` is copied into pytest's tmp_path at test
time (not into this repository), its one import of ``MLPClassifier, MLPRegressor`` swapped for fastnn's, and run by
pytest in a subprocess with scikit-learn's conftest loaded as a plugin (its ``global_random_seed`` fixture; its
SKLEARN_TESTS_GLOBAL_RANDOM_SEED setting passes through). Every test must pass except those in ``PRIVATE``, which
call scikit-learn's private methods: they must fail, and on that private name, so that the list cannot go stale.
Also scikit-learn's ``check_param_validation`` for both estimators. Skipped only where scikit-learn is not
installed (the test extra installs it). This module's time on the shared 2-core AMD EPYC (load average ~3, one
BLAS thread): 8 s with the kernels cached (as after the suite's other scikit-learn tests), 62 s compiling them
(the same with NUMBA_BOUNDSCHECK=1), 100 s with NUMBA_DISABLE_JIT=1: under the ~2 minutes that would make it a
slow test, so every CI pass runs it.
"""
import importlib.util
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest.importorskip("sklearn")

from threadpoolctl import threadpool_info  # noqa: E402  (scikit-learn depends on it)

from sklearn.utils.estimator_checks import check_param_validation  # noqa: E402

import fastnn  # noqa: E402
from fastnn import sklearn as fsk  # noqa: E402

UPSTREAM = "sklearn.neural_network.tests.test_mlp"
IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
SWAPPED = "from fastnn.sklearn import MLPClassifier, MLPRegressor"
# test -> (the private attribute it calls, why that is not fastnn's to have)
PRIVATE = {
    "test_gradient": ("_loss_grad_lbfgs", "scikit-learn's private L-BFGS loss-and-gradient method, called with its "
                      "lists of activation and gradient buffers; fastnn evaluates the loss and gradient in one "
                      "compiled call (fastnn/kernels/sk_mlp.py backprop), held to scikit-learn's fitted numbers "
                      "in tests/test_sklearn.py and to a NumPy twin in tests/test_sklearn_sparse.py"),
}
# scikit-learn's conftest sets every BLAS and OpenMP pool to the machine's physical cores when pytest starts; this
# conftest, beside the copy, puts them back to the count the suite runs with (CI: 1) after it. Two OpenBLAS threads
# on the shared 2-core machine made the run 1.7-4x slower whenever another process was busy (measured here).
CONFTEST = """import os

import pytest
from threadpoolctl import threadpool_limits


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    threadpool_limits(int(os.environ["FASTNN_UPSTREAM_THREADS"]))
"""
# a test the copy adds: the estimators under test are fastnn's, or nothing here means anything
GUARD = '''

def test_the_estimators_under_test_are_fastnns():
    assert MLPClassifier.__module__ == MLPRegressor.__module__ == "fastnn.sklearn"
'''


def upstream_copy(tmp_path):
    """The installed scikit-learn's test_mlp.py, its estimators fastnn's, written into tmp_path; returns the
    copy's path (beside it an empty pytest.ini, so that no configuration of the repository applies, and
    CONFTEST)."""
    spec = importlib.util.find_spec(UPSTREAM)
    if spec is None or not spec.origin:
        pytest.fail(f"the installed scikit-learn has no {UPSTREAM} (a build without its tests?)")
    source = Path(spec.origin).read_text()
    assert source.count(IMPORT) == 1, f"{UPSTREAM} no longer imports the estimators in one line: {IMPORT!r}"
    path = tmp_path / "test_mlp_on_fastnn.py"
    path.write_text(source.replace(IMPORT, SWAPPED) + GUARD)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(CONFTEST)
    return path


def run_upstream(path):
    """pytest on the copy in a subprocess: {test node id: (outcome, message)} from its JUnit XML report."""
    report = path.parent / "report.xml"
    threads = max([pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"], default=1)
    env = dict(os.environ, FASTNN_UPSTREAM_THREADS=str(threads), PYTHONPATH=os.pathsep.join(
        [str(Path(fastnn.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "pytest", str(path), "-p", "sklearn.conftest", "-p",
                           "no:cacheprovider", "-q", "-rN", "--junitxml", str(report)],
                          cwd=path.parent, env=env, capture_output=True, text=True, timeout=3600)
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        problem = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        outcome = "passed" if problem is None else {"failure": "failed"}.get(problem.tag, problem.tag)
        message = "" if problem is None else (problem.get("message") or "") + (problem.text or "")
        outcomes[case.get("name")] = (outcome, message)
    return outcomes


def test_fastnn_estimators_pass_check_param_validation():
    """scikit-learn's check: every parameter has a constraint, a value of a wrong type and a wrong value of the
    right type are refused by fit and partial_fit with its InvalidParameterError and message."""
    check_param_validation("MLPClassifier", fsk.MLPClassifier())
    check_param_validation("MLPRegressor", fsk.MLPRegressor())


def test_sklearn_test_mlp_passes_on_fastnn(tmp_path):
    outcomes = run_upstream(upstream_copy(tmp_path))
    assert outcomes.get("test_the_estimators_under_test_are_fastnns", ("missing",))[0] == "passed"
    assert len(outcomes) > 50, sorted(outcomes)  # the whole module ran (59 tests in scikit-learn 1.9.1)
    excluded = {name: result for name, result in outcomes.items() if name.split("[")[0] in PRIVATE}
    assert set(name.split("[")[0] for name in excluded) == set(PRIVATE), "a test of PRIVATE is gone: update it"
    for name, (outcome, message) in excluded.items():
        attribute = PRIVATE[name.split("[")[0]][0]
        assert outcome == "failed" and attribute in message, (name, outcome, message[-2000:])
    others = {name: result for name, result in outcomes.items() if name not in excluded}
    not_passed = {name: f"{outcome}: {message[-1500:]}" for name, (outcome, message) in others.items()
                  if outcome != "passed"}
    assert not not_passed, "\n\n".join(f"{name} {text}" for name, text in not_passed.items())
