"""The second book's text utilities (its ``common/util.py``, chapters 2-4), re-exported by ``fastnn.util``: same
names, signatures, results, dtypes and printed lines.

* ``preprocess`` splits a text into word ids; ``create_co_matrix`` counts co-occurrences (int32, compiled);
  ``ppmi`` turns the counts into positive pointwise mutual information (float32, compiled, with the book's
  ``verbose`` progress lines); ``create_contexts_target`` cuts the word2vec windows (compiled) and
  ``convert_one_hot`` makes them one-hot (int32).
* ``cos_similarity``, ``most_similar``, ``analogy`` and ``normalize`` compute in the dtype of the vectors given
  (float16 included, as the book's pickled word vectors are), integers in float64; ``most_similar`` and
  ``analogy`` print the book's lines, and a query word missing from the vocabulary prints the book's
  ``<word> is not found`` and returns None.
* ``to_cpu`` returns NumPy arrays as they are; ``to_gpu`` raises: fastnn has no GPU path.

Malformed input is refused before any computation with a TypeError/ValueError naming the argument: a corpus that is
not a 1-D array of integer word ids >= 0, a window below 1, a vocab_size not above every word id, a non-square or
non-finite count matrix, a word that is not a str. Where the book's result is only an accident of its loops, fastnn
differs, and says so in the function's docstring (ppmi of float16 counts, contexts of a too-short corpus).
"""
import collections.abc

import numpy as np

from . import _checks, _numpy_twins
from ._dispatch import kernels_for, lazy_kernels

_text = lazy_kernels("text")

__all__ = ["preprocess", "create_co_matrix", "cos_similarity", "most_similar", "ppmi", "convert_one_hot",
           "create_contexts_target", "analogy", "normalize", "to_cpu", "to_gpu"]

EPS = 1e-8  # the book's guard in cos_similarity and ppmi
ADD_AT_VALUES = 3  # NumPy's np.add.at costs about as much per increment as an element-wise pass over 3 values
PPMI_CELL_VALUES = 6  # the NumPy PPMI touches each cell about 6 times (products, division, log2, where, store)
SIMILARITY_BLOCK = 1 << 18  # values of word vectors normalised at a time in most_similar (bounds the temporaries)
_INT_COUNTS = (np.dtype(np.int32), np.dtype(np.int64))


# --- checks at the door --------------------------------------------------------------------------------------------
def _word_ids(corpus, name="corpus", ndims=(1,)):
    """``corpus`` as an integer array of word ids >= 0 with an allowed ndim (not cast, not copied)."""
    ids = _checks.as_array(corpus, name)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer word ids; got dtype {ids.dtype}")
    if ids.ndim not in ndims:
        expected = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{name} must be a {expected} array of word ids; got shape {ids.shape}")
    if ids.size and ids.min() < 0:
        raise ValueError(f"{name} holds negative word ids (the smallest is {ids.min()}); word ids are >= 0")
    return ids


def _vocab_size(vocab_size, ids, name="corpus"):
    """vocab_size as an int above every word id of ``ids``."""
    vocab_size = _checks.integer(vocab_size, "vocab_size", minimum=0)
    if ids.size and ids.max() >= vocab_size:
        raise ValueError(f"vocab_size ({vocab_size}) is too small for the {name}, which holds word id {ids.max()}: "
                         f"it must be above every word id (e.g. len(word_to_id))")
    return vocab_size


def _window_size(window_size):
    return _checks.integer(window_size, "window_size", minimum=1)


def _word(word, name):
    if not isinstance(word, str):
        raise TypeError(f"{name} must be a word (str); got {type(word).__name__}")
    return word


def _vocabulary(word_to_id, id_to_word):
    if not isinstance(word_to_id, collections.abc.Mapping):
        raise TypeError(f"word_to_id must be a dict (word -> id); got {type(word_to_id).__name__}")
    if isinstance(id_to_word, (str, bytes)) or not isinstance(id_to_word, (collections.abc.Mapping,
                                                                            collections.abc.Sequence)):
        raise TypeError(f"id_to_word must be a dict (id -> word) or a list of words; got {type(id_to_word).__name__}")


def _word_matrix(word_matrix):
    """word_matrix as a 2-D array of real numbers, one row per word id (not cast)."""
    matrix = _checks.numeric_array(word_matrix, "word_matrix")
    if matrix.ndim != 2:
        raise ValueError(f"word_matrix must be 2-D (one row per word id); got shape {matrix.shape}")
    return matrix


def _row_of(word, word_to_id, n_rows):
    """The word_matrix row of a word known to be in word_to_id."""
    row = word_to_id[word]
    if isinstance(row, (bool, np.bool_)) or not isinstance(row, (int, np.integer)) or not 0 <= row < n_rows:
        raise ValueError(f"word_to_id[{word!r}] is {row!r}, which is not a row of word_matrix (0 to {n_rows - 1})")
    return int(row)


def _word_of(id_to_word, word_id):
    try:
        return id_to_word[word_id]
    except (KeyError, IndexError):
        raise ValueError(f"id_to_word has no word for id {word_id}, a row of word_matrix") from None


def _real(x):
    """Float arrays as they are (the book computes in their dtype, float16 included), integers and bools as
    float64 (the same values as the book's integer arithmetic, without its int32 overflow of x ** 2)."""
    return x.astype(np.float64) if x.dtype.kind in "biu" else x


# --- chapter 2: counting -------------------------------------------------------------------------------------------
def preprocess(text):
    """Split ``text`` the book's way (lower case, ``.`` made a word of its own, split at single spaces) and return
    ``(corpus, word_to_id, id_to_word)``: the word ids as an int64 array (ids in order of first appearance) and the
    two dicts."""
    words = _word(text, "text").lower().replace(".", " .").split(" ")
    word_to_id = {word: new_id for new_id, word in enumerate(dict.fromkeys(words))}
    id_to_word = {new_id: word for word, new_id in word_to_id.items()}
    corpus = np.fromiter(map(word_to_id.__getitem__, words), dtype=np.int_, count=len(words))
    return corpus, word_to_id, id_to_word


def create_co_matrix(corpus, vocab_size, window_size=1):
    """The co-occurrence matrix: a new int32 array of shape (vocab_size, vocab_size) whose entry [w, v] counts the
    positions of word v at most ``window_size`` words left or right of an occurrence of word w (compiled)."""
    ids = _word_ids(corpus)
    vocab_size = _vocab_size(vocab_size, ids)
    window_size = min(_window_size(window_size), max(ids.size, 1))  # (a longer window adds nothing)
    co_matrix = np.zeros((vocab_size, vocab_size), dtype=np.int32)
    increments = 2 * window_size * ids.size
    kernels = kernels_for(ADD_AT_VALUES * increments, _text)
    kernels.co_occurrence(np.ascontiguousarray(ids, dtype=np.intp), window_size, co_matrix)
    return co_matrix


def _counts(C):
    """C as a C-contiguous square matrix of int32/int64/float32/float64 counts (other integer dtypes widened,
    float16 computed in float32), finite."""
    counts = _checks.numeric_array(C, "C")
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"C must be a square co-occurrence matrix (vocab_size x vocab_size); got shape "
                         f"{counts.shape}")
    if counts.dtype.kind == "f":
        counts = _checks.finite(counts.astype(_checks.float_dtype(counts.dtype, "C"), copy=False), "C")
    elif counts.dtype not in _INT_COUNTS:
        if counts.dtype == np.uint64 and counts.size and counts.max() > np.iinfo(np.int64).max:
            raise ValueError(f"C holds counts above {np.iinfo(np.int64).max}, beyond int64 arithmetic")
        counts = counts.astype(np.int32 if counts.dtype.itemsize < 4 else np.int64)
    return counts


def ppmi(C, verbose=False, eps=EPS):
    """The positive pointwise mutual information of the co-occurrence counts ``C`` (square): a new float32 array
    of C's shape, ``M[i, j] = max(0, log2(C[i, j] * N / (S[j] * S[i]) + eps))`` with N the sum of all counts and
    S the column sums; 0 where that is NaN (an empty row and column: 0/0), as in the book. With ``verbose``, prints
    the book's progress lines (``'%.1f%% done'``, the same lines at the same cell counts) as the rows are computed.

    Integer counts give the book's values (its int64 products and float64 division; the logarithm may differ in
    the last float64 bit, which float32 rounding hides); float32 and float64 counts are computed in their dtype
    with a float64 logarithm (the book's float32 logarithm is NumPy's, within 2 float32 ulps of it); float16
    counts are computed as float32 (the book computes them in float16)."""
    counts = _counts(C)
    eps = _checks.real_number(eps, "eps")
    if counts.dtype.kind == "f":  # the book's sums and arithmetic in the counts' own dtype
        N, S, eps = np.sum(counts), np.sum(counts, axis=0), counts.dtype.type(eps)
    else:  # integer counts: exact int64 sums (the book's np.sum of int32 is int64 on 64-bit Linux)
        S = np.sum(counts, axis=0, dtype=np.int64)
        N, eps = np.sum(S), np.float64(eps)
    M = np.empty(counts.shape, dtype=np.float32)
    # (errstate: under NUMBA_DISABLE_JIT=1 the kernel computes on NumPy scalars, which would warn at 0/0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        _ppmi_rows(np.ascontiguousarray(counts), N, S, eps, M, verbose)
    return M


def _ppmi_rows(counts, N, S, eps, M, verbose):
    """Fill M; with verbose, a block of rows at a time, printing the book's lines as their cells are passed."""
    kernels = kernels_for(PPMI_CELL_VALUES * M.size, _text)
    if not verbose:
        kernels.ppmi_rows(counts, N, S, eps, M, 0, M.shape[0])
        return
    rows, cols = M.shape
    total = M.size
    every = total // 100 + 1  # the book prints after every `every`-th cell
    block = max(1, every // max(cols, 1))  # rows of about one progress line
    printed = 0
    for start in range(0, rows, block):
        stop = min(rows, start + block)
        kernels.ppmi_rows(counts, N, S, eps, M, start, stop)
        while (printed + 1) * every <= stop * cols:
            printed += 1
            print("%.1f%% done" % (100 * printed * every / total))


# --- chapter 3: word2vec's windows ---------------------------------------------------------------------------------
def create_contexts_target(corpus, window_size=1):
    """Returns ``(contexts, target)`` for every position of ``corpus`` with ``window_size`` words on both sides:
    target (1-D) holds the word there and contexts (2-D, 2 * window_size columns) the window_size words before it,
    then the window_size words after it; both new arrays in corpus's dtype (compiled). A corpus of at most
    2 * window_size words gives empty arrays of shapes (0, 2 * window_size) and (0,) (the book's contexts would be
    a float64 array of shape (0,))."""
    ids = _word_ids(corpus)
    window_size = _window_size(window_size)
    n_targets = max(0, ids.size - 2 * window_size)
    contexts = np.empty((n_targets, 2 * window_size), dtype=ids.dtype)
    target = np.empty(n_targets, dtype=ids.dtype)
    if n_targets:
        kernels = kernels_for(contexts.size, _text) if ids.dtype in _INT_COUNTS else _numpy_twins
        kernels.contexts_target(np.ascontiguousarray(ids), window_size, contexts, target)
    return contexts, target


def convert_one_hot(corpus, vocab_size):
    """The one-hot form of word ids: a new int32 array of shape corpus.shape + (vocab_size,) with a 1 at each id
    (corpus 1-D, e.g. a target, or 2-D, e.g. contexts)."""
    ids = _word_ids(corpus, ndims=(1, 2))
    vocab_size = _vocab_size(vocab_size, ids)
    one_hot = np.zeros(ids.shape + (vocab_size,), dtype=np.int32)
    one_hot.reshape(-1, vocab_size)[np.arange(ids.size), ids.reshape(-1)] = 1
    return one_hot


# --- similarity -----------------------------------------------------------------------------------------------------
def _unit(x, eps):
    """x / (||x|| + eps) along the last axis, the book's formula and dtypes (row by row for a 2-D x). C order: a
    row's sum of squares is then NumPy's pairwise sum, as for the book's single row (a Fortran-ordered block
    would be summed column after column, in another order)."""
    x = np.ascontiguousarray(_real(x))
    return x / (np.sqrt(np.sum(x ** 2, axis=-1, keepdims=True)) + eps)


def _vector(x, name):
    v = _checks.numeric_array(x, name)
    if v.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector; got shape {v.shape}")
    return v


def cos_similarity(x, y, eps=EPS):
    """The cosine similarity of the vectors x and y: ``dot(x / (||x|| + eps), y / (||y|| + eps))``, a NumPy
    scalar in the vectors' float dtype (float64 for integers)."""
    x, y = _vector(x, "x"), _vector(y, "y")
    _checks.same_shape(x, y, "x", "y")
    eps = _checks.real_number(eps, "eps")
    return np.dot(_unit(x, eps), _unit(y, eps))


def _similarities(rows, query_vec):
    """The cosine similarity of every row of ``rows`` to query_vec, as a new float64 vector, each value the
    book's cos_similarity(row, query_vec) to the last bit: the rows are normalised a block at a time (the same
    element-wise operations), then one dot product a row (as the book's, not one matrix product)."""
    target = _unit(query_vec, EPS)
    similarity = np.empty(rows.shape[0])
    block = max(1, SIMILARITY_BLOCK // max(1, rows.shape[1]))
    for start in range(0, rows.shape[0], block):
        for k, unit_row in enumerate(_unit(rows[start:start + block], EPS), start):
            similarity[k] = np.dot(unit_row, target)
    return similarity


def most_similar(query, word_to_id, id_to_word, word_matrix, top=5):
    """Print the book's lines for the ``top`` words whose rows of ``word_matrix`` are most similar (cosine) to the
    query word's: ``'\\n[query] <query>'``, then ``' <word>: <similarity>'`` a line, most similar first, the query
    word skipped. A query missing from word_to_id prints ``'<query> is not found'``. Returns None."""
    _word(query, "query")
    _vocabulary(word_to_id, id_to_word)
    matrix = _word_matrix(word_matrix)
    top = _checks.integer(top, "top", minimum=1)
    if query not in word_to_id:
        print("%s is not found" % query)
        return
    vocab_size = len(id_to_word)
    if matrix.shape[0] < vocab_size:
        raise ValueError(f"word_matrix must have a row for each of the {vocab_size} words of id_to_word; got "
                         f"shape {matrix.shape}")
    query_row = _row_of(query, word_to_id, matrix.shape[0])
    print("\n[query] " + query)
    similarity = _similarities(matrix[:vocab_size], matrix[query_row])
    shown = 0
    for i in np.argsort(-similarity):
        word = _word_of(id_to_word, i)
        if word == query:
            continue
        print(" %s: %s" % (word, similarity[i]))
        shown += 1
        if shown >= top:
            return


def analogy(a, b, c, word_to_id, id_to_word, word_matrix, top=5, answer=None):
    """Print the book's lines for the analogy a:b = c:? : ``'\\n[analogy] a:b = c:?'``, then (with ``answer``)
    ``'==>answer:<score>'``, then the ``top`` words (a, b, c and NaN scores skipped) whose rows of ``word_matrix``
    have the largest dot product with the normalised b - a + c, one ``' <word>: <score>'`` a line. A word a, b or c
    missing from word_to_id prints ``'<word> is not found'``; an ``answer`` missing from it is a ValueError.
    Returns None."""
    for name, word in (("a", a), ("b", b), ("c", c)):
        _word(word, name)
    if answer is not None:
        _word(answer, "answer")
    _vocabulary(word_to_id, id_to_word)
    matrix = _word_matrix(word_matrix)
    top = _checks.integer(top, "top", minimum=1)
    for word in (a, b, c):
        if word not in word_to_id:
            print("%s is not found" % word)
            return
    if answer is not None and answer not in word_to_id:
        raise ValueError(f"answer {answer!r} is not in word_to_id")
    print("\n[analogy] " + a + ":" + b + " = " + c + ":?")
    a_vec, b_vec, c_vec = (_real(matrix[_row_of(w, word_to_id, matrix.shape[0])]) for w in (a, b, c))
    query_vec = b_vec - a_vec + c_vec
    query_vec /= np.sqrt((query_vec * query_vec).sum())  # the book's normalize (a zero vector gives NaN)
    similarity = np.dot(matrix, query_vec)
    if answer is not None:
        score = np.dot(matrix[_row_of(answer, word_to_id, matrix.shape[0])], query_vec)
        print("==>" + answer + ":" + str(score))
    shown = 0
    for i in np.argsort(-similarity):
        if np.isnan(similarity[i]):
            continue
        word = _word_of(id_to_word, i)
        if word in (a, b, c):
            continue
        print(" {0}: {1}".format(word, similarity[i]))
        shown += 1
        if shown >= top:
            return


def normalize(x):
    """Scale x in place to unit length (a 1-D vector) or each row of it to unit length (2-D), as the book does,
    and return x itself. A zero row becomes NaN (0/0, with NumPy's warning), which analogy skips. x must be a
    writable float array (float16 included)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a NumPy array (normalize scales it in place); got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"x must be a float array (normalize scales it in place, so it cannot be cast); got dtype "
                        f"{x.dtype}")
    if x.ndim not in (1, 2):
        raise ValueError(f"x must be 1-D (a vector) or 2-D (one vector a row); got shape {x.shape}")
    if not x.flags.writeable:
        raise ValueError("x is read-only, but normalize scales it in place; pass a writable array (e.g. x.copy())")
    s = np.sqrt((x * x).sum(axis=-1, keepdims=True))
    x /= s
    return x


# --- devices ---------------------------------------------------------------------------------------------------------
def to_cpu(x):
    """Returns x itself when it is a NumPy array (fastnn computes on the CPU only), else ``np.asarray(x)``."""
    if isinstance(x, np.ndarray):
        return x
    return _checks.as_array(x, "x")


def to_gpu(x):
    """Never returns: raises NotImplementedError, as fastnn has no GPU path (the book's to_gpu needs CuPy)."""
    raise NotImplementedError("to_gpu: fastnn has no GPU path; it computes with NumPy and Numba on the CPU. Leave "
                              "fastnn.config.GPU = False and drop the to_gpu call (fastnn's arrays are NumPy arrays)")
