"""The second book's text utilities (fastnn.text, re-exported by fastnn.util) against plain-loop oracles (naive.py),
the NumPy reference (fastnn.reference.util) and, where ../shared is there, the book's own common/util.py: random
corpora and vocabularies, both paths (compiled kernels and NumPy twins), float32/float64 (and float16, integer)
input where floats enter, empty rows, extreme counts, non-contiguous input, and the printed lines."""
import contextlib
import functools
import hashlib
import importlib
import io
import pickle
import subprocess
import sys
import warnings
from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import book_scripts
import naive
from fastnn import _numpy_twins, text, util
from fastnn.kernels import text as text_kernels
from fastnn.reference import util as R

BOOK2 = book_scripts.shared_dir() / "book2"
SENTENCE = "You say goodbye and I say hello."
IMPLEMENTATIONS = ("compiled", "numpy")
ID_DTYPES = [np.int64, np.int32, np.int16, np.uint8]
LAYOUTS_1D = ["C", "strided", "reversed"]


@contextlib.contextmanager
def implementation(name):
    """Run fastnn.text's compiled kernels or their NumPy twins, whatever the dispatch would choose."""
    chosen = text_kernels if name == "compiled" else _numpy_twins
    with mock.patch.object(text, "kernels_for", lambda size, kernels: chosen):
        yield


def printed(f, *args, **kwargs):
    """(what f returned, what it printed)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = f(*args, **kwargs)
    return result, out.getvalue()


@st.composite
def corpora(draw, max_len=40, max_vocab=12):
    """(corpus, vocab_size): word ids in a random integer dtype and 1-D layout; vocab_size may exceed the ids used
    (words that never occur: empty rows and columns)."""
    vocab = draw(st.integers(1, max_vocab))
    ids = draw(st.lists(st.integers(0, vocab - 1), max_size=max_len))
    base = np.array(ids, dtype=draw(st.sampled_from(ID_DTYPES)))
    corpus = naive.relayout(base, draw(st.sampled_from(LAYOUTS_1D)))
    return corpus, vocab + draw(st.integers(0, 2))


# --- preprocess --------------------------------------------------------------------------------------------------
def test_preprocess_the_books_sentence():
    corpus, word_to_id, id_to_word = util.preprocess(SENTENCE)
    words = ["you", "say", "goodbye", "and", "i", "hello", "."]
    assert corpus.tolist() == [0, 1, 2, 3, 4, 1, 5, 6] and corpus.dtype == np.int64
    assert word_to_id == {w: i for i, w in enumerate(words)} and id_to_word == dict(enumerate(words))


@given(st.text(alphabet="aAb. ", max_size=40))
def test_preprocess_equals_the_reference(sentence):
    corpus, word_to_id, id_to_word = util.preprocess(sentence)
    ref_corpus, ref_w2i, ref_i2w = R.preprocess(sentence)
    np.testing.assert_array_equal(corpus, ref_corpus)
    assert corpus.dtype == ref_corpus.dtype and corpus.ndim == 1
    assert word_to_id == ref_w2i and id_to_word == ref_i2w
    assert list(word_to_id.values()) == list(range(len(word_to_id)))  # ids in order of first appearance


# --- create_co_matrix -----------------------------------------------------------------------------------------------
@given(corpora(), st.integers(1, 4), st.sampled_from(IMPLEMENTATIONS))
def test_create_co_matrix_counts_every_pair_within_the_window(case, window, impl):
    corpus, vocab = case
    with implementation(impl):
        C = util.create_co_matrix(corpus, vocab, window)
    assert C.dtype == np.int32 and C.shape == (vocab, vocab)
    np.testing.assert_array_equal(C, naive.co_matrix(corpus, vocab, window))
    np.testing.assert_array_equal(C, R.create_co_matrix(np.asarray(corpus, dtype=np.int64), vocab, window))


def test_create_co_matrix_window_longer_than_the_corpus_and_a_list():
    np.testing.assert_array_equal(util.create_co_matrix([0, 1, 0], 2, 10 ** 6), [[2, 2], [2, 0]])
    np.testing.assert_array_equal(util.create_co_matrix(np.array([], dtype=int), 3), np.zeros((3, 3)))


# --- ppmi ----------------------------------------------------------------------------------------------------------
def assert_ppmi(M, C, eps):
    """M against the reference (the book's arithmetic whole-array) and the cell-by-cell oracle."""
    assert M.dtype == np.float32 and M.shape == np.shape(C)
    counts = np.asarray(C)
    ref = R.ppmi(counts.astype(np.float32) if counts.dtype == np.float16 else counts, eps)
    # float32 counts: the book's float32 logarithm (NumPy's) is within 2 ulps of the float64 one rounded
    np.testing.assert_array_max_ulp(M, ref, maxulp=2 if counts.dtype.kind == "f" and counts.itemsize < 8 else 1)
    tol = 1e-5 if counts.dtype.kind == "f" and counts.itemsize < 8 else 1e-6
    np.testing.assert_allclose(M, naive.ppmi(C, eps), rtol=tol, atol=tol)


@given(corpora(), st.integers(1, 3), st.sampled_from([np.int32, np.int64, np.uint16, np.float32, np.float64]),
       st.sampled_from(["C", "F", "strided"]), st.sampled_from([1e-8, 0.0, 1e-3, 4.0]),
       st.sampled_from(IMPLEMENTATIONS))
def test_ppmi_of_a_co_occurrence_matrix(case, window, dtype, layout, eps, impl):
    corpus, vocab = case
    C = naive.relayout(naive.co_matrix(corpus, vocab, window).astype(dtype), layout)
    with implementation(impl):
        M = util.ppmi(C, eps=eps)
    assert_ppmi(M, C, eps)
    never = C.sum(axis=0) == 0  # words that never co-occur: 0 in the book's ppmi (0/0 is NaN, max(0, NaN) 0)
    assert not M[never].any() and not M[:, never].any()


@st.composite
def count_matrices(draw):
    """Square count matrices that are not co-occurrence matrices: zeros, large counts, a row with counts whose
    column is empty (count * N / 0: infinite PMI, as in the book), in several dtypes and layouts."""
    n = draw(st.integers(0, 7))
    dtype = draw(st.sampled_from([np.int32, np.int64, np.uint8, np.float32, np.float64]))
    high = 200 if dtype == np.uint8 else 10 ** 6
    cells = st.one_of(st.just(0), st.integers(0, 3), st.integers(0, high))
    C = np.array(draw(st.lists(cells, min_size=n * n, max_size=n * n)), dtype=dtype).reshape(n, n)
    if n and draw(st.booleans()):
        C[:, draw(st.integers(0, n - 1))] = 0
    return naive.relayout(C, draw(st.sampled_from(["C", "F", "strided", "reversed"])))


@given(count_matrices(), st.sampled_from([1e-8, 0.0, 0.5]), st.sampled_from(IMPLEMENTATIONS))
def test_ppmi_of_any_counts(C, eps, impl):
    with implementation(impl):
        M = util.ppmi(C, eps=eps)
    assert_ppmi(M, C, eps)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_ppmi_extreme_float_counts_overflow_as_the_book_does(impl):
    """float32 products past 3.4e38 are inf in the book's arithmetic and here (then log2 gives inf); a total that
    overflows makes 0 * N NaN, so those zero cells give 0."""
    C = np.array([[3e18, 1.0, 0.0], [1.0, 2e19, 0.0], [0.0, 5.0, 0.0]], dtype=np.float32)
    huge = np.full((2, 2), 3e38, dtype=np.float32)
    huge[0, 1] = 0
    with implementation(impl), np.errstate(over="ignore"):  # (the total of `huge` overflows in np.sum)
        for counts in (C, huge, np.float32(1e-30) * np.eye(3, dtype=np.float32)):
            M = util.ppmi(counts)
            np.testing.assert_array_max_ulp(M, R.ppmi(counts), maxulp=2)
    assert np.isinf(util.ppmi(C)).any()


def test_ppmi_float16_counts_are_computed_in_float32():
    C = naive.co_matrix([0, 1, 2, 1, 0, 3], 4, 2).astype(np.float16)
    np.testing.assert_array_equal(util.ppmi(C), util.ppmi(C.astype(np.float32)))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("n", [0, 1, 3, 7, 10, 11, 23, 101])
def test_ppmi_verbose_prints_the_books_progress_lines(n, impl):
    rng = np.random.default_rng(n)
    C = naive.co_matrix(rng.integers(0, max(n, 1), 3 * n), n, 2).astype(np.int32)
    with implementation(impl):
        M, out = printed(util.ppmi, C, verbose=True)
        quiet, nothing = printed(util.ppmi, C)
    assert out.splitlines() == naive.ppmi_progress(n * n) and nothing == ""
    np.testing.assert_array_equal(M, quiet)


# --- create_contexts_target, convert_one_hot ---------------------------------------------------------------------
@given(corpora(max_len=30), st.integers(1, 4), st.sampled_from(IMPLEMENTATIONS))
def test_create_contexts_target_windows(case, window, impl):
    corpus, _ = case
    with implementation(impl):
        contexts, target = util.create_contexts_target(corpus, window)
    expected_contexts, expected_target = naive.contexts_target(corpus, window)
    assert contexts.dtype == corpus.dtype and target.dtype == corpus.dtype
    assert contexts.shape == (len(expected_target), 2 * window) and target.shape == (len(expected_target),)
    np.testing.assert_array_equal(contexts.reshape(-1), np.array(expected_contexts, dtype=int).reshape(-1))
    np.testing.assert_array_equal(target, expected_target)
    if len(corpus) > 2 * window:
        ref_contexts, ref_target = R.create_contexts_target(corpus, window)
        np.testing.assert_array_equal(contexts, ref_contexts)
        np.testing.assert_array_equal(target, ref_target)


@given(corpora(max_len=20), st.booleans())
def test_convert_one_hot(case, two_d):
    corpus, vocab = case
    ids = corpus[:len(corpus) // 2 * 2].reshape(-1, 2) if two_d else corpus
    one_hot = util.convert_one_hot(ids, vocab)
    assert one_hot.dtype == np.int32 and one_hot.shape == ids.shape + (vocab,)
    np.testing.assert_array_equal(one_hot.reshape(-1), np.array(naive.one_hot(ids, vocab), dtype=int).reshape(-1))
    np.testing.assert_array_equal(one_hot, R.convert_one_hot(ids, vocab))


# --- cos_similarity, normalize ----------------------------------------------------------------------------------------
FLOAT_OR_INT = st.sampled_from([np.float32, np.float64, np.int32])


@given(st.data(), FLOAT_OR_INT, st.integers(1, 20))
def test_cos_similarity(data, dtype, n):
    elements = st.integers(-50, 50) if dtype == np.int32 else naive.floats(dtype, 1e3)
    x = data.draw(naive.arrays(dtype, n, elements, layouts=LAYOUTS_1D), label="x")
    y = data.draw(naive.arrays(dtype, n, elements, layouts=LAYOUTS_1D), label="y")
    s = util.cos_similarity(x, y)
    expected_dtype = np.float64 if dtype == np.int32 else dtype
    assert s.dtype == expected_dtype
    assert s == R.cos_similarity(x, y)  # the same operations, so the same bits
    naive.assert_close(s, naive.cos_similarity(x, y), expected_dtype, scale=1.0)  # (|s| <= 1: cancellation)


def test_cos_similarity_of_zero_vectors_is_zero_and_float16_stays_float16():
    assert util.cos_similarity(np.zeros(3), np.ones(3)) == 0.0
    s = util.cos_similarity(np.ones(4, np.float16), np.ones(4, np.float16))
    assert s.dtype == np.float16 and s == R.cos_similarity(np.ones(4, np.float16), np.ones(4, np.float16))


@given(st.data(), st.sampled_from([np.float32, np.float64]), st.sampled_from([(7,), (5, 3), (1, 9)]))
def test_normalize_scales_in_place(data, dtype, shape):
    x = data.draw(naive.arrays(dtype, shape, naive.floats(dtype, 1e3).filter(lambda v: abs(v) > 1e-3)), label="x")
    expected = naive.unit_rows(x)
    assert util.normalize(x) is x
    naive.assert_close(x, expected, dtype)


def test_normalize_zero_row_is_nan_as_in_the_book():
    x = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    with pytest.warns(RuntimeWarning):
        util.normalize(x)
    np.testing.assert_array_equal(x[0], np.array([0.6, 0.8], dtype=np.float32))
    assert np.isnan(x[1]).all()


# --- most_similar, analogy -----------------------------------------------------------------------------------------
def vocabulary(n):
    words = [f"w{i}" for i in range(n)]
    return {w: i for i, w in enumerate(words)}, dict(enumerate(words))


def parse(lines):
    """[(word, number)] of lines ' <word>: <number>'."""
    return [(w.strip(), float(v)) for w, v in (line.rsplit(":", 1) for line in lines)]


@given(st.integers(2, 30), st.sampled_from([np.float16, np.float32, np.float64, np.int32]), st.integers(1, 8),
       st.integers(0, 2 ** 16))
def test_most_similar_prints_the_nearest_words(n, dtype, top, seed):
    rng = np.random.default_rng(seed)
    word_to_id, id_to_word = vocabulary(n)
    matrix = (rng.standard_normal((n, 5)) * (20 if dtype == np.int32 else 1)).astype(dtype)
    query = f"w{seed % n}"
    _, out = printed(util.most_similar, query, word_to_id, id_to_word, matrix, top=top)
    lines = out.splitlines()
    assert lines[:2] == ["", f"[query] {query}"]
    scores = {w: naive.cos_similarity(matrix[i], matrix[word_to_id[query]]) for w, i in word_to_id.items()}
    got = parse(lines[2:])
    assert len(got) == min(top, n - 1) and query not in [w for w, _ in got]
    tol = 5e-3 if dtype == np.float16 else 1e-5
    for word, value in got:
        assert abs(value - scores[word]) <= tol
    others = sorted((s for w, s in scores.items() if w != query), reverse=True)  # the top scores, in order
    np.testing.assert_allclose([v for _, v in got], others[:len(got)], atol=tol)
    for layout in ("F", "strided", "reversed"):  # the book's row-by-row values whatever the memory layout
        moved = naive.relayout(matrix, layout)
        assert printed(util.most_similar, query, word_to_id, id_to_word, moved, top=top)[1] == out


def test_most_similar_and_analogy_print_the_books_message_for_a_missing_word():
    word_to_id, id_to_word = vocabulary(3)
    matrix = np.eye(3)
    assert printed(util.most_similar, "toyota", word_to_id, id_to_word, matrix) == (None, "toyota is not found\n")
    assert printed(util.analogy, "w0", "car", "w1", word_to_id, id_to_word, matrix) == (None, "car is not found\n")


def test_most_similar_takes_a_list_of_words_and_more_rows():
    word_to_id, id_to_word = vocabulary(3)
    matrix = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [1.0, 0.0]])  # a 4th row: no word, not searched
    _, out = printed(util.most_similar, "w0", word_to_id, list(id_to_word.values()), matrix, top=5)
    got = parse(out.splitlines()[2:])
    assert [w for w, _ in got] == ["w1", "w2"]
    np.testing.assert_allclose([v for _, v in got], [naive.cos_similarity(matrix[0], matrix[k]) for k in (1, 2)],
                               rtol=1e-12)


@given(st.integers(4, 25), st.sampled_from([np.float16, np.float32, np.float64]), st.integers(1, 6),
       st.integers(0, 2 ** 16), st.booleans())
def test_analogy_prints_the_best_matches_of_b_minus_a_plus_c(n, dtype, top, seed, with_answer):
    rng = np.random.default_rng(seed)
    word_to_id, id_to_word = vocabulary(n)
    matrix = rng.standard_normal((n, 6)).astype(dtype)
    matrix[n - 1] = np.nan  # a row the book's normalize made NaN: skipped
    a, b, c = (f"w{i}" for i in rng.choice(n - 1, 3, replace=False))
    answer = "w0" if with_answer else None
    _, out = printed(util.analogy, a, b, c, word_to_id, id_to_word, matrix, top=top, answer=answer)
    lines = out.splitlines()
    assert lines[:2] == ["", f"[analogy] {a}:{b} = {c}:?"]
    query = naive.unit_rows(matrix[word_to_id[b]].astype(float) - matrix[word_to_id[a]] + matrix[word_to_id[c]])
    scores = {w: float(np.dot(matrix[i].astype(float), query)) for w, i in word_to_id.items() if i < n - 1}
    tol = 2e-2 if dtype == np.float16 else 1e-5
    if with_answer:
        assert lines[2].startswith("==>w0:") and abs(float(lines[2][6:]) - scores["w0"]) <= tol
    got = parse(lines[3 if with_answer else 2:])
    candidates = sorted((s for w, s in scores.items() if w not in (a, b, c)), reverse=True)
    assert len(got) == min(top, len(candidates)) and not {a, b, c} & {w for w, _ in got}
    np.testing.assert_allclose([v for _, v in got], candidates[:len(got)], atol=tol)
    for word, value in got:
        assert abs(value - scores[word]) <= tol


# --- devices, fastnn.np, fastnn.config, dispatch --------------------------------------------------------------------
def test_to_cpu_returns_arrays_as_they_are_and_to_gpu_says_there_is_no_gpu():
    x = np.ones(3)[::2]
    assert util.to_cpu(x) is x
    np.testing.assert_array_equal(util.to_cpu([1, 2]), [1, 2])
    with pytest.raises(NotImplementedError, match="no GPU path"):
        util.to_gpu(x)


def run_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_fastnn_np_star_import_gives_numpy_and_gpu_false_and_shadows_nothing():
    code = """
import numpy, sys
from fastnn.np import *
assert np is numpy and GPU is False
import fastnn.np as m
assert sorted(n for n in vars(m) if not n.startswith("_")) == ["GPU", "np"]
import fastnn, fastnn.util, fastnn.text, fastnn.layers
assert fastnn.np is m and fastnn.util.np is numpy and fastnn.text.np is numpy and fastnn.layers.np is numpy
assert "np" not in fastnn.__all__  # the package's star import never binds its np module over NumPy
from fastnn import config
assert config.GPU is False
print("ok")
"""
    result = run_python(code)
    assert result.stdout.strip() == "ok", result.stderr


def test_gpu_true_makes_fastnn_np_refuse_clearly():
    result = run_python("from fastnn import config\nconfig.GPU = True\nfrom fastnn.np import *")
    assert "ImportError" in result.stderr and "no GPU path" in result.stderr


def test_the_books_small_examples_load_no_numba():
    code = f"""
import sys
from fastnn.util import *
corpus, word_to_id, id_to_word = preprocess({SENTENCE!r})
C = create_co_matrix(corpus, len(word_to_id))
W = ppmi(C, verbose=True)
most_similar("you", word_to_id, id_to_word, C)
contexts, target = create_contexts_target(corpus, 1)
convert_one_hot(contexts, len(word_to_id))
print("numba" in sys.modules)
"""
    result = run_python(code)
    assert result.stdout.splitlines()[-1] == "False", result.stderr


# --- the book's own functions (../shared/book2/common) -------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def book(name):
    """The book's module common.<name>, imported from ../shared/book2 without leaving the book's ``common`` package
    (or its sys.path changes) behind: the first book's tests import another ``common``."""
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k == "common" or k.startswith("common.")}
    path = list(sys.path)
    sys.path.insert(0, str(BOOK2))
    try:
        return importlib.import_module(f"common.{name}")
    finally:
        sys.path[:] = path
        for k in [k for k in sys.modules if k == "common" or k.startswith("common.")]:
            del sys.modules[k]
        sys.modules.update(saved)


def both(name, *args, **kwargs):
    """(the book's result, fastnn's) of the function ``name``, each with what it printed. Both warn alike where a
    zero vector is divided by its length (analogy, normalize): muted."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return printed(getattr(book("util"), name), *args, **kwargs), printed(getattr(util, name), *args, **kwargs)


def assert_same_arrays(theirs, ours):
    for t, o in zip(theirs if isinstance(theirs, tuple) else [theirs], ours if isinstance(ours, tuple) else [ours]):
        assert t.dtype == o.dtype and t.shape == o.shape
        np.testing.assert_array_equal(t, o)


@pytest.mark.books
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_the_books_sentence_gives_the_books_results(impl):
    ((corpus, w2i, i2w), _), ((ours, ours_w2i, ours_i2w), _) = both("preprocess", SENTENCE)
    assert_same_arrays(corpus, ours)
    assert (w2i, i2w) == (ours_w2i, ours_i2w)
    with implementation(impl):
        (C, _), (our_C, _) = both("create_co_matrix", corpus, len(w2i))
        assert_same_arrays(C, our_C)
        (W, lines), (our_W, our_lines) = both("ppmi", C, verbose=True)
        assert W.tobytes() == our_W.tobytes() and W.dtype == our_W.dtype and lines == our_lines
        (pair, _), (our_pair, _) = both("create_contexts_target", corpus, 1)
        assert_same_arrays(pair, our_pair)
    assert_same_arrays(*(r for r, _ in both("convert_one_hot", pair[0], len(w2i))))
    assert_same_arrays(*(r for r, _ in both("convert_one_hot", pair[1], len(w2i))))
    (s, _), (our_s, _) = both("cos_similarity", C[w2i["you"]], C[w2i["i"]])
    assert s == our_s and s.dtype == our_s.dtype
    for query in ("you", "say", "toyota"):
        (_, lines), (_, our_lines) = both("most_similar", query, w2i, i2w, C, top=5)
        assert lines == our_lines


@pytest.mark.books
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_random_corpus_gives_the_books_results_and_lines(seed):
    rng = np.random.default_rng(seed)
    vocab = 40
    corpus = rng.choice(vocab - 3, 600, p=np.arange(vocab - 3, 0, -1) / np.arange(vocab - 3, 0, -1).sum())
    w2i, i2w = vocabulary(vocab)  # the last 3 words never occur: empty rows
    window = 1 + seed
    (C, _), (our_C, _) = both("create_co_matrix", corpus, vocab, window)
    assert_same_arrays(C, our_C)
    (W, lines), (our_W, our_lines) = both("ppmi", C, verbose=True)
    np.testing.assert_array_max_ulp(our_W, W, maxulp=1)
    assert lines == our_lines and our_W.dtype == W.dtype
    (pair, _), (our_pair, _) = both("create_contexts_target", corpus, window)
    assert_same_arrays(pair, our_pair)
    vectors = {"counts": C, "float32": np.linalg.svd(W)[0][:, :8].astype(np.float32)}
    vectors["float16"] = vectors["float32"].astype(np.float16)  # as the book's pickled vectors
    vectors["fortran"] = np.asfortranarray(vectors["float32"])  # (rows are strided: the book's rows are too)
    for matrix in vectors.values():
        for query in ("w0", "w5", f"w{vocab - 1}"):
            (_, lines), (_, our_lines) = both("most_similar", query, w2i, i2w, matrix, top=6)
            assert lines == our_lines
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (rows of words that never occur may be 0: NaN)
        vectors["normalized"] = util.normalize(vectors["float32"].copy())
    for matrix in (vectors["float32"], vectors["float16"], vectors["fortran"], vectors["normalized"]):
        for a, b, c in (("w0", "w1", "w2"), ("w3", "w7", "w1"), ("w1", "w1", f"w{vocab - 1}")):
            (_, lines), (_, our_lines) = both("analogy", a, b, c, w2i, i2w, matrix, top=4, answer="w9")
            assert lines == our_lines
        (theirs, _), (ours, _) = both("normalize", matrix.copy())
        assert_same_arrays(theirs, ours)


CBOW_PARAMS_SHA256 = "205dba67a075fce2c81a2662c035244919eac50b796199490ce1212efd19cef4"  # (book2/SOURCE.md)


@pytest.mark.books
def test_the_books_word_vectors_give_ch04_evals_lines():
    """ch04/eval.py's queries on the book's own float16 PTB vectors print the book's lines (the pickle is the
    book's file, checked against its published sha256 before it is unpickled)."""
    data = (BOOK2 / "ch04" / "cbow_params.pkl").read_bytes()
    assert hashlib.sha256(data).hexdigest() == CBOW_PARAMS_SHA256
    params = pickle.loads(data)
    vecs, w2i, i2w = params["word_vecs"], params["word_to_id"], params["id_to_word"]
    assert vecs.dtype == np.float16
    for query in ("you", "year", "car", "toyota", "no-such-word"):
        (_, lines), (_, our_lines) = both("most_similar", query, w2i, i2w, vecs, top=5)
        assert lines == our_lines
    for words in (("king", "man", "queen"), ("take", "took", "go"), ("car", "cars", "child"),
                  ("good", "better", "bad")):
        (_, lines), (_, our_lines) = both("analogy", *words, w2i, i2w, vecs, answer="woman")
        assert lines == our_lines and our_lines.count("\n") == 8


@pytest.mark.books
def test_the_books_star_import_of_common_np_gives_the_same_names():
    theirs = {n: v for n, v in vars(book("np")).items() if not n.startswith("_")}
    ours = {}
    exec("from fastnn.np import *", ours)
    ours.pop("__builtins__")
    assert theirs == ours
