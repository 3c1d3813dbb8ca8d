"""``fastnn bench``'s scikit-learn rows: fastnn.sklearn's MLPClassifier against scikit-learn's own (the
"reference" column), each fitting the same data with the same parameters and ``random_state`` (so, as
tests/test_sklearn.py checks, the same coefficients to rounding and the same test accuracy). Each call is a whole
``fit`` of ``EPOCHS`` epochs (``SPARSE_EPOCHS`` on the sparse matrix; ``n_iter_no_change`` above it, so neither
stops early); shape = batch_size x hidden. fastnn.bench registers them (:func:`register`) after its own; skipped
where scikit-learn or the data is missing. The sparse row's matrix is generated here (``tfidf_like``), nothing
downloaded.
"""
import os
import warnings

import numpy as np

from . import datasets

EPOCHS = 10
SPARSE_EPOCHS = 2  # a scikit-learn epoch on the 20,000 x 50,000 matrix takes ~8 s (float64, AMD EPYC)
SPARSE_SHAPE = (20_000, 50_000, 0.001)  # rows, features, density of the TF-IDF-like matrix


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


def _all_rows(*arrays):
    return arrays


def _training_set(data, dtype, capped):
    load = datasets.load_digits if data == "digits" else datasets.load_fashion_mnist
    (x, t), _ = load()
    x, t = capped(x, t)  # all rows unless a smoke run
    return np.ascontiguousarray(x, dtype=dtype), t


def tfidf_like(n_rows=SPARSE_SHAPE[0], n_features=SPARSE_SHAPE[1], density=SPARSE_SHAPE[2], n_classes=20, seed=0,
               dtype=np.float64):
    """(X, y): a deterministic TF-IDF-like CSR matrix (n_rows, n_features) and class labels, built from ``seed``.
    Each row is a document of about density * n_features distinct terms (Poisson, at least 1): 70% drawn from a
    Zipf vocabulary shared by all classes, 30% from 200 topic terms of the document's class; then scikit-learn's
    TfidfTransformer(sublinear_tf=True) weighting written out: (1 + log count) * (log((1 + n) / (1 + df)) + 1),
    rows scaled to unit L2 norm. Sorted int32 indices, as scikit-learn's vectorizers give."""
    import scipy.sparse

    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n_rows)
    counts = np.maximum(rng.poisson(density * n_features, n_rows), 1)
    rows = np.repeat(np.arange(n_rows), counts)
    zipf = 1.0 / np.arange(1, n_features + 1)
    common = rng.permutation(n_features)[rng.choice(n_features, rows.size, p=zipf / zipf.sum())]
    topics = rng.integers(0, n_features, (n_classes, 200))  # each class's topic terms
    topical = topics[y[rows], rng.integers(0, 200, rows.size)]
    cols = np.where(rng.random(rows.size) < 0.3, topical, common)
    X = scipy.sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n_rows, n_features))  # sums repeats
    X.sum_duplicates()
    idf = np.log((1.0 + n_rows) / (1.0 + np.bincount(X.indices, minlength=n_features))) + 1.0
    X.data = (1.0 + np.log(X.data)) * idf[X.indices]
    X.data /= np.repeat(np.sqrt(np.add.reduceat(X.data ** 2, X.indptr[:-1])), np.diff(X.indptr))
    return X.astype(dtype), y


def fit_pair(batch, hidden, dtype, data="digits", capped=_all_rows):
    """(fastnn_fn, reference_fn): each call fits a new MLPClassifier((hidden,), solver='adam', batch_size=batch)
    for EPOCHS epochs on the data set's training images (the rows ``capped(x, t)`` keeps) and returns its
    coefs_."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from .sklearn import MLPClassifier

    x, t = _training_set(data, dtype, capped)
    params = dict(hidden_layer_sizes=(hidden,), solver="adam", batch_size=batch, max_iter=EPOCHS, random_state=0,
                  n_iter_no_change=EPOCHS + 1)

    def fitter(estimator):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # EPOCHS epochs are not convergence
                return estimator(**params).fit(x, t).coefs_
        return run
    return fitter(MLPClassifier), fitter(SklearnMLP)


def sparse_fit_pair(batch, hidden, dtype, capped=_all_rows):
    """(fastnn_fn, reference_fn): each call fits a new MLPClassifier((hidden,), solver='adam', batch_size=batch)
    for SPARSE_EPOCHS epochs on tfidf_like() (the rows ``capped(X, y)`` keeps: fastnn.bench's cut to
    FASTNN_BENCH_MAX_ROWS rows in a smoke run) and returns its coefs_."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from .sklearn import MLPClassifier

    x, t = capped(*tfidf_like(dtype=dtype))
    params = dict(hidden_layer_sizes=(hidden,), solver="adam", batch_size=batch, max_iter=SPARSE_EPOCHS,
                  random_state=0, n_iter_no_change=SPARSE_EPOCHS + 1)

    def fitter(estimator):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                return estimator(**params).fit(x, t).coefs_
        return run
    return fitter(MLPClassifier), fitter(SklearnMLP)


def register(case, capped):
    """Register this module's cases through ``case`` (fastnn.bench.case), their data cut by ``capped``
    (fastnn.bench.capped, which reads FASTNN_BENCH_MAX_ROWS when a case is made); returns None."""
    def digits(batch, hidden, dtype):
        return fit_pair(batch, hidden, dtype, capped=capped)

    def fashion_mnist(batch, hidden, dtype):
        return fit_pair(batch, hidden, dtype, data="fashion_mnist", capped=capped)

    def sparse(batch, hidden, dtype):
        return sparse_fit_pair(batch, hidden, dtype, capped=capped)

    case("sklearn_mlp_digits", f"fastnn.sklearn.MLPClassifier vs scikit-learn's (reference): fit, adam, {EPOCHS} "
         "epochs of the bundled digits' 1437 training images; shape batch_size x hidden", shapes=((32, 50),),
         pure=False, missing=lambda: _missing("digits"))(digits)
    case("sklearn_mlp_fashion_mnist", f"as sklearn_mlp_digits on Fashion-MNIST's 60000 training images (float64 "
         f"pixels, {EPOCHS} epochs, batch_size 200 = scikit-learn's 'auto')", shapes=((200, 100),),
         dtypes=("float64",), pure=False, missing=lambda: _missing("fashion_mnist"))(fashion_mnist)
    case("sklearn_mlp_sparse", "as sklearn_mlp_digits on a sparse TF-IDF-like CSR matrix generated in-process "
         f"(fastnn.bench_sklearn.tfidf_like: {SPARSE_SHAPE[0]} x {SPARSE_SHAPE[1]}, density {SPARSE_SHAPE[2]}, 20 "
         f"classes; FASTNN_BENCH_MAX_ROWS cuts its rows too), {SPARSE_EPOCHS} epochs, batch_size 200 = 'auto'",
         shapes=((200, 100),), pure=False, missing=lambda: _missing("sparse"))(sparse)
