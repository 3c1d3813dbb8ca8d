"""fastnn.sklearn against scikit-learn's own MLPClassifier/MLPRegressor: scikit-learn's estimator checks, the same
fitted numbers (float64: coefficients to 1e-8 relative, the same n_iter_, loss curves, predictions) on the bundled
digits and on Fashion-MNIST, and the conventions (Pipeline, GridSearchCV, clone, pickle, errors, warnings)."""
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn import neural_network as sk  # the test extra installs scikit-learn: no skipping here
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

import book_scripts
from fastnn import datasets
from fastnn import sklearn as fsk
from fastnn.kernels import sk_mlp

RTOL = 1e-8  # float64 agreement asked of the fitted coefficients (measured: ~1e-14 for sgd/adam, ~1e-11 lbfgs)


def digits():
    (x, t), _ = datasets.load_digits(test_size=0.2, seed=0)
    return x.astype(np.float64), t


def fashion(n=3000):
    """The first n Fashion-MNIST training images, float64 pixels in [0, 1]."""
    if book_scripts.missing_fashion_mnist():
        pytest.fail(book_scripts.missing_fashion_mnist())
    (x, t), _ = datasets.load_fashion_mnist(path=book_scripts.fashion_mnist_dir())
    return x[:n].astype(np.float64), t[:n]


def pair(kind, **params):
    """(scikit-learn's estimator, fastnn's) with the same parameters."""
    return getattr(sk, kind)(**params), getattr(fsk, kind)(**params)


def fit_both(kind, X, y, **params):
    ref, ours = pair(kind, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(X, y)
        ours.fit(X, y)
    return ref, ours


def assert_same_fit(ref, ours, X, rtol=RTOL):
    """The same learned numbers: n_iter_, t_, every coefficient and intercept (relative to the layer's largest),
    loss curves, validation scores, predictions."""
    assert ours.n_iter_ == ref.n_iter_
    assert getattr(ours, "t_", None) == getattr(ref, "t_", None)
    assert len(ours.coefs_) == len(ref.coefs_) and ours.n_layers_ == ref.n_layers_
    assert ours.out_activation_ == ref.out_activation_ and ours.n_outputs_ == ref.n_outputs_
    for a, b in zip(ref.coefs_ + ref.intercepts_, ours.coefs_ + ours.intercepts_):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(b, a, rtol=0, atol=rtol * np.abs(a).max())
    np.testing.assert_allclose(ours.loss_, ref.loss_, rtol=rtol)
    for name in ("loss_curve_", "validation_scores_"):
        if getattr(ref, name, None) is not None:
            np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=rtol)
    for name in ("best_loss_", "best_validation_score_"):
        if getattr(ref, name, None) is not None:
            np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=rtol)
    if hasattr(ref, "classes_"):
        np.testing.assert_array_equal(ours.classes_, ref.classes_)
        np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
        np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=0, atol=1e-9)
    else:
        np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=0, atol=1e-9 * np.abs(ref.predict(X)).max())


# --- scikit-learn's own conventions checks -----------------------------------------------------------------------
@pytest.mark.slow
@parametrize_with_checks([fsk.MLPClassifier(max_iter=50), fsk.MLPRegressor(max_iter=50)])
def test_sklearn_estimator_checks(estimator, check):
    """Every check passes; scikit-learn itself skips three kinds here (pytest -rs shows them): the array-API
    checks without SCIPY_ARRAY_API=1 (fastnn computes on NumPy arrays only), decision_function checks (neither
    estimator has one, as scikit-learn's) and, without pandas, the pandas-input checks (the test extra installs
    pandas, so CI runs them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# --- the same numbers ----------------------------------------------------------------------------------------------
SOLVERS = [dict(solver="adam"), dict(solver="sgd"), dict(solver="lbfgs")]


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("solver", SOLVERS, ids=lambda p: p["solver"])
def test_classifier_and_regressor_match_sklearn_on_the_digits(solver, early_stopping):
    X, t = digits()
    common = dict(hidden_layer_sizes=(30,), max_iter=15, random_state=1, early_stopping=early_stopping, **solver)
    assert_same_fit(*fit_both("MLPClassifier", X, t, **common), X)
    assert_same_fit(*fit_both("MLPRegressor", X, t / 9.0, **common), X)


@pytest.mark.slow
@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("solver", SOLVERS, ids=lambda p: p["solver"])
@pytest.mark.fashion_mnist
def test_classifier_and_regressor_match_sklearn_on_fashion_mnist(solver, early_stopping):
    X, t = fashion()
    common = dict(hidden_layer_sizes=(64,), max_iter=8, random_state=3, early_stopping=early_stopping,
                  n_iter_no_change=3, **solver)
    assert_same_fit(*fit_both("MLPClassifier", X, t, **common), X)
    assert_same_fit(*fit_both("MLPRegressor", X, np.eye(10)[t] * 2.0 - 1.0, **common), X)  # 10 outputs


SETTINGS = [
    dict(activation="identity"), dict(activation="logistic"), dict(activation="tanh"),
    dict(hidden_layer_sizes=(12, 9, 7)),
    dict(solver="sgd", learning_rate="invscaling", power_t=0.3, learning_rate_init=0.05),
    dict(solver="sgd", learning_rate="adaptive", tol=0.5, n_iter_no_change=1, max_iter=25),  # divides the rate
    dict(solver="sgd", nesterovs_momentum=False, momentum=0.5),
    dict(solver="sgd", shuffle=False, batch_size=50),
    dict(solver="adam", beta_1=0.5, beta_2=0.9, epsilon=1e-6, alpha=0.3, batch_size=64),
    dict(solver="adam", tol=1e-2, n_iter_no_change=2, max_iter=60),  # stops on the training loss
    dict(early_stopping=True, validation_fraction=0.3, n_iter_no_change=2, tol=1e-2, max_iter=60),
    dict(solver="lbfgs", max_fun=40),  # stopped by the evaluation budget
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_settings_match_sklearn(settings):
    X, t = digits()
    params = dict(hidden_layer_sizes=(20,), max_iter=10, random_state=0)
    params.update(settings)
    assert_same_fit(*fit_both("MLPClassifier", X, t, **params), X)
    assert_same_fit(*fit_both("MLPRegressor", X, t / 9.0, **params), X)


def test_binary_multilabel_and_multioutput_targets_match_sklearn():
    X, t = digits()
    assert_same_fit(*fit_both("MLPClassifier", X, t % 2, hidden_layer_sizes=(10,), max_iter=8, random_state=2), X)
    labels = np.stack([t % 2, t > 4, t == 3], axis=1).astype(int)
    ref, ours = fit_both("MLPClassifier", X, labels, hidden_layer_sizes=(10,), max_iter=8, random_state=2)
    assert ours.out_activation_ == "logistic"
    assert_same_fit(ref, ours, X)
    strings = np.array(["cat", "dog", "eel"])[t % 3]
    assert_same_fit(*fit_both("MLPClassifier", X, strings, hidden_layer_sizes=(10,), max_iter=5, random_state=2), X)
    y2 = np.stack([t / 9.0, (t % 3) / 2.0], axis=1)
    assert_same_fit(*fit_both("MLPRegressor", X, y2, hidden_layer_sizes=(10,), max_iter=8, random_state=2), X)


def test_poisson_regression_and_sample_weights_match_sklearn():
    X, t = digits()
    params = dict(hidden_layer_sizes=(10,), max_iter=8, random_state=4, learning_rate_init=0.01)
    assert_same_fit(*fit_both("MLPRegressor", X, t.astype(float), loss="poisson", **params), X)
    weights = np.random.default_rng(0).uniform(0.1, 3.0, len(t))
    for solver in ("adam", "sgd", "lbfgs"):
        ref, ours = pair("MLPClassifier", solver=solver, **params)
        ref.fit(X, t, sample_weight=weights)
        ours.fit(X, t, sample_weight=weights)
        assert_same_fit(ref, ours, X)
    ref, ours = pair("MLPRegressor", early_stopping=True, **params)
    ref.fit(X, t / 9.0, sample_weight=weights)
    ours.fit(X, t / 9.0, sample_weight=weights)
    assert_same_fit(ref, ours, X)


def test_partial_fit_and_warm_start_match_sklearn():
    X, t = digits()
    ref, ours = pair("MLPClassifier", hidden_layer_sizes=(15,), random_state=5)
    for start in range(0, 600, 200):
        ref.partial_fit(X[start:start + 200], t[start:start + 200], classes=np.arange(10))
        ours.partial_fit(X[start:start + 200], t[start:start + 200], classes=np.arange(10))
    assert_same_fit(ref, ours, X)
    ref, ours = pair("MLPRegressor", hidden_layer_sizes=(15,), random_state=5, warm_start=True, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(2):
            ref.fit(X, t / 9.0)
            ours.fit(X, t / 9.0)
    assert_same_fit(ref, ours, X)


def test_float32_input_stays_float32_and_close_to_sklearn():
    X, t = digits()
    X32 = X.astype(np.float32)
    ref, ours = fit_both("MLPClassifier", X32, t, hidden_layer_sizes=(20,), max_iter=5, random_state=0)
    assert all(c.dtype == np.float32 for c in ours.coefs_ + ours.intercepts_)
    assert ours.predict_proba(X32).dtype == np.float32
    for a, b in zip(ref.coefs_, ours.coefs_):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-4 * np.abs(a).max())
    assert np.mean(ours.predict(X32) == ref.predict(X32)) > 0.99


# --- conventions -----------------------------------------------------------------------------------------------
def test_works_in_pipelines_searches_clone_and_pickle():
    X, t = digits()
    pipe = make_pipeline(StandardScaler(), fsk.MLPClassifier(hidden_layer_sizes=(10,), max_iter=5, random_state=0))
    ref_pipe = make_pipeline(StandardScaler(), sk.MLPClassifier(hidden_layer_sizes=(10,), max_iter=5, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores, ref_scores = cross_val_score(pipe, X, t, cv=3), cross_val_score(ref_pipe, X, t, cv=3)
        search = GridSearchCV(fsk.MLPRegressor(max_iter=5, random_state=0),
                              {"hidden_layer_sizes": [(5,), (10,)], "alpha": [1e-4, 1e-2]}, cv=2).fit(X, t / 9.0)
        fitted = clone(pipe).fit(X, t)
    np.testing.assert_array_equal(scores, ref_scores)
    assert search.best_params_["hidden_layer_sizes"] in [(5,), (10,)]
    copy = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(copy.predict_proba(X), fitted.predict_proba(X))
    assert clone(fsk.MLPClassifier(alpha=0.5)).get_params() == fsk.MLPClassifier(alpha=0.5).get_params()


def test_parameter_constraints_are_sklearns():
    """The constraints checked are scikit-learn's own, read from its MLP classes at import (no list of ours to
    keep in step with it)."""
    assert fsk.MLPClassifier._parameter_constraints == sk.MLPClassifier._parameter_constraints
    assert fsk.MLPRegressor._parameter_constraints == sk.MLPRegressor._parameter_constraints
    assert set(fsk.MLPClassifier._parameter_constraints) == set(fsk.MLPClassifier().get_params())
    assert set(fsk.MLPRegressor._parameter_constraints) == set(fsk.MLPRegressor().get_params())
    assert fsk.InvalidParameterError is InvalidParameterError


BAD_PARAMETERS = [
    dict(solver="newton"), dict(alpha=-1.0), dict(batch_size=0), dict(batch_size=2.5), dict(learning_rate_init=0.0),
    dict(momentum=1.5), dict(max_iter=0), dict(max_iter=5.0), dict(hidden_layer_sizes="ten"),
    dict(hidden_layer_sizes=0), dict(activation="softmax"), dict(shuffle=1), dict(validation_fraction=1.0),
    dict(n_iter_no_change=0), dict(n_iter_no_change=2.5), dict(verbose=-1), dict(verbose="yes"),
    dict(random_state=-1), dict(random_state=2**32), dict(random_state=1.5), dict(tol=-1e-4), dict(power_t=-1.0),
    dict(beta_1=1.0), dict(beta_2=-0.1), dict(epsilon=0.0), dict(max_fun=0), dict(learning_rate="fast"),
    dict(warm_start="no"), dict(early_stopping=None), dict(nesterovs_momentum=0),
]


@pytest.mark.parametrize("kind", ["MLPClassifier", "MLPRegressor"])
@pytest.mark.parametrize("params", BAD_PARAMETERS, ids=lambda p: "-".join(f"{k}={v!r}" for k, v in p.items()))
def test_bad_parameters_are_refused_at_fit_as_sklearn_refuses_them(kind, params):
    """The same error as scikit-learn's, word for word and of its class (catchable as ValueError or TypeError),
    from fit and from a first partial_fit, before anything else (the data here is unusable too: it holds NaNs, and
    partial_fit gets no classes)."""
    X, t = digits()
    X_bad = np.where(X[:50] > 0.5, np.nan, X[:50])
    ref, ours = pair(kind, **params)  # constructing never fails, as in scikit-learn
    with pytest.raises(InvalidParameterError) as want:
        ref.fit(X_bad, t[:50])
    with pytest.raises(InvalidParameterError) as got:
        ours.fit(X_bad, t[:50])
    assert str(got.value) == str(want.value)
    assert isinstance(got.value, ValueError) and isinstance(got.value, TypeError)
    if hasattr(ref, "partial_fit"):
        with pytest.raises(InvalidParameterError) as want:
            ref.partial_fit(X_bad, t[:50])
        with pytest.raises(InvalidParameterError) as got:
            ours.partial_fit(X_bad, t[:50])
        assert str(got.value) == str(want.value)
    assert hasattr(ref, "partial_fit") == hasattr(ours, "partial_fit")


def test_partial_fit_checks_parameters_when_scikit_learn_does():
    """As scikit-learn: partial_fit checks the parameters on its first call, not on later ones (they are then
    fitted); parameters a user breaks between calls surface only on the next fit."""
    X, t = digits()
    for est in pair("MLPClassifier", hidden_layer_sizes=(5,), random_state=0):
        est.partial_fit(X[:50], t[:50], classes=np.arange(10))
        est.set_params(verbose=-1)
        est.partial_fit(X[50:100], t[50:100])
        with pytest.raises(InvalidParameterError, match="The 'verbose' parameter of MLPClassifier must be"):
            est.fit(X[:50], t[:50])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert fsk.MLPClassifier(random_state=np.int64(3), max_iter=2).fit(X[:50], t[:50]).n_iter_ == 2


def test_bad_inputs_and_warnings_as_sklearn():
    X, t = digits()
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        fsk.MLPClassifier(hidden_layer_sizes=(5, 0)).fit(X, t)
    with pytest.raises(ValueError, match="NaN"):
        fsk.MLPRegressor().fit(np.where(X > 0.5, np.nan, X), t)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        fsk.MLPRegressor(early_stopping=True).partial_fit(X, t / 9.0)
    with pytest.raises(ValueError, match="classes must be passed"):
        fsk.MLPClassifier().partial_fit(X, t)
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as no_partial_fit:
        fsk.MLPClassifier(solver="lbfgs").partial_fit(X, t, classes=np.arange(10))
    assert "partial_fit is only available for stochastic optimizers" in str(no_partial_fit.value.__cause__)
    with pytest.raises(ValueError, match="validation set is too small"):
        fsk.MLPClassifier(early_stopping=True, validation_fraction=0.01).fit(X[:50], t[:50])
    fitted = fsk.MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(2\\) reached"):
        fitted.fit(X, t)
    with pytest.raises(ValueError, match="X has 10 features, but MLPClassifier is expecting 64"):
        fitted.predict(X[:, :10])
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        fsk.MLPRegressor(solver="lbfgs", max_iter=3, random_state=0).fit(X, t / 9.0)
    with pytest.warns(UserWarning, match="It is going to be clipped"):
        fsk.MLPRegressor(batch_size=5000, max_iter=1).fit(X, t / 9.0)
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        fsk.MLPRegressor(solver="sgd", learning_rate_init=10.0, max_iter=5, random_state=0,
                         activation="identity").fit(X * 1e3, t * 1e3)


# --- the kernels' one NumPy-order helper ------------------------------------------------------------------------
@given(st.integers(1, 700), st.sampled_from([np.float64, np.float32]), st.integers(0, 2**32 - 1))
def test_row_sum_is_numpys_sum_to_the_bit(n, dtype, seed):
    """The softmax's row sum feeds every gradient, so it adds in NumPy's pairwise order (blocks of 8 accumulators,
    halving above 128 values): equal to np.sum bit for bit, at magnitudes spread over ten decades."""
    rng = np.random.default_rng(seed)
    row = (rng.standard_normal(n) * 10.0 ** rng.integers(-5, 5, n)).astype(dtype)
    assert sk_mlp._row_sum(row) == np.sum(row)
    assert sk_mlp._row_sum(row[::-1].copy()) == np.sum(row[::-1])
