"""``fastnn bench``'s scikit-learn rows: fastnn.sklearn's MLPClassifier against scikit-learn's own (the
"reference" column), each fitting the same data with the same parameters and ``random_state`` (so, as
tests/test_sklearn.py checks, the same coefficients to rounding and the same test accuracy). Each call is a whole
``fit`` of ``EPOCHS`` epochs (``n_iter_no_change`` above it, so neither stops early); shape = batch_size x hidden.
Registered by importing this module (fastnn.bench does); skipped where scikit-learn or the data is missing.
"""
import os
import warnings

import numpy as np

from . import datasets
from .bench import capped, case

EPOCHS = 10


def _missing(data):
    """None when scikit-learn (and the data set) are here, else why the case cannot run."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return "scikit-learn is not installed (pip install scikit-learn)"
    if data == "fashion_mnist":
        path = os.environ.get("FASTNN_FASHION_MNIST_DIR", datasets.FASHION_MNIST_DIR)
        if not os.path.isfile(os.path.join(path, datasets.MNIST_FILES["train_img"] + ".gz")):
            return f"Fashion-MNIST is not installed in {path} (apt-get install dataset-fashion-mnist)"
    return None


def _training_set(data, dtype):
    load = datasets.load_digits if data == "digits" else datasets.load_fashion_mnist
    (x, t), _ = load()
    x, t = capped(x, t)  # all rows unless a smoke run
    return np.ascontiguousarray(x, dtype=dtype), t


def fit_pair(batch, hidden, dtype, data="digits"):
    """(fastnn_fn, reference_fn): each call fits a new MLPClassifier((hidden,), solver='adam', batch_size=batch)
    for EPOCHS epochs on the data set's training images and returns its coefs_."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from .sklearn import MLPClassifier

    x, t = _training_set(data, dtype)
    params = dict(hidden_layer_sizes=(hidden,), solver="adam", batch_size=batch, max_iter=EPOCHS, random_state=0,
                  n_iter_no_change=EPOCHS + 1)

    def fitter(estimator):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # EPOCHS epochs are not convergence
                return estimator(**params).fit(x, t).coefs_
        return run
    return fitter(MLPClassifier), fitter(SklearnMLP)


case("sklearn_mlp_digits", f"fastnn.sklearn.MLPClassifier vs scikit-learn's (reference): fit, adam, {EPOCHS} "
     "epochs of the bundled digits' 1437 training images; shape batch_size x hidden", shapes=((32, 50),),
     pure=False, missing=lambda: _missing("digits"))(fit_pair)
case("sklearn_mlp_fashion_mnist", f"as sklearn_mlp_digits on Fashion-MNIST's 60000 training images (float64 "
     f"pixels, {EPOCHS} epochs, batch_size 200 = scikit-learn's 'auto')", shapes=((200, 100),), dtypes=("float64",),
     pure=False, missing=lambda: _missing("fashion_mnist"))(
    lambda batch, hidden, dtype: fit_pair(batch, hidden, dtype, data="fashion_mnist"))
