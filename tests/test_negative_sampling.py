"""fastnn.negative_sampling_layer and its kernels (fastnn/kernels/sampling.py): the sampler draws the book's words
from the global np.random state and leaves that state where the book's sampler leaves it; the plain-loop oracle of
NumPy's legacy choice (tests/naive.py) is itself held against np.random.choice; the layers give the reference's
(and the book's) losses and gradients."""
import importlib.util
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import book_scripts
import naive
from fastnn import negative_sampling_layer as NSL
from fastnn.kernels import sampling as K
from fastnn.reference import negative_sampling as R
from test_bad_input import _check_refusal

BOOK2 = book_scripts.shared_dir() / "book2"


# --- corpora and the RNG ------------------------------------------------------------------------------------------
def zipf_corpus(rng, vocab, words, exponent=1.1, missing=0):
    """Every id of ``vocab`` at least once (but ``missing`` random ones never, so word_p has zeros), then
    Zipf-distributed ids: a long tail of words with tiny probabilities."""
    p = 1.0 / np.arange(1, vocab + 1) ** exponent
    ids = np.arange(vocab)
    if missing:
        absent = rng.choice(np.arange(1, vocab), missing, replace=False)
        p[absent] = 0
        ids = np.setdiff1d(ids, absent)
    return np.concatenate([ids, rng.choice(vocab, size=words, p=p / p.sum())])


def rng_state():
    state = np.random.get_state()
    return state[0], state[1].copy(), state[2], state[3], state[4]


def assert_same_state(a, b):
    assert a[0] == b[0] and a[2:] == b[2:]
    np.testing.assert_array_equal(a[1], b[1])


@pytest.fixture
def compiled(monkeypatch):
    """The public sampler on its compiled path, whatever numba's state in this process."""
    monkeypatch.setattr(NSL, "numpy_suffices", lambda size: False)


@pytest.fixture
def numpy_path(monkeypatch):
    monkeypatch.setattr(NSL, "numpy_suffices", lambda size: True)


def draw_both(word_p_source, targets, seed, sample_size=5):
    """(reference samples, state after, fastnn samples, state after) from the same seed and word_p."""
    vocab_size, word_p = word_p_source
    np.random.seed(seed)
    expected = R.negative_samples(word_p, vocab_size, sample_size, targets)
    expected_state = rng_state()
    sampler = NSL.UnigramSampler(np.arange(vocab_size), 1.0, sample_size)
    sampler.word_p = word_p
    np.random.seed(seed)
    got = sampler.get_negative_sample(targets)
    return expected, expected_state, got, rng_state()


# --- the oracle against NumPy itself ------------------------------------------------------------------------------
@settings(max_examples=60)
@given(n=st.integers(0, 3000), seed=st.integers(0, 2**32 - 1), spread=st.floats(0, 40))
def test_the_numpy_sum_oracle_and_the_kernel_are_np_sum(n, seed, spread):
    rng = np.random.default_rng(seed)
    values = rng.random(n) ** spread  # from ~1 down to ~1e-40
    assert naive.numpy_sum(values) == np.sum(values)
    assert K.pairwise_sum(values) == np.sum(values)
    signed = (values * rng.choice([-1.0, 1.0], n)).astype(np.float32)  # also the kernel's float32 sums
    total = K.pairwise_sum(signed)
    assert total == np.sum(signed) and np.float32(total) == total
    assert np.signbit(K.pairwise_sum(-np.zeros(n))) == np.signbit(np.sum(-np.zeros(n)))


def probability_vectors(rng):
    """Word distributions that exercise the corners: tiny probabilities, zeros, a few dominant words (repeated
    rounds), and a vocabulary of two."""
    yield np.array([0.3, 0.7])
    for _ in range(12):
        v = int(rng.integers(3, 400))
        p = 1.0 / np.arange(1, v + 1) ** rng.uniform(0.5, 3.0)
        p[rng.random(v) < 0.2] = 0
        p[0] = 1.0
        if rng.random() < 0.5:
            p[:3] = 1e4  # almost every draw hits these: rounds repeat
        if rng.random() < 0.3:
            p[rng.integers(0, v, 3)] = 1e-300  # never drawn, but not zero
        yield p / p.sum()


def test_the_legacy_choice_oracle_is_numpys_choice():
    rng = np.random.default_rng(7)
    repeated = 0
    for p in probability_vectors(rng):
        positive = int(np.count_nonzero(p > 0))
        for size in sorted({0, 1, min(5, positive), positive}):
            seed = int(rng.integers(2**32))
            numpy_rs = np.random.RandomState(seed)
            expected = numpy_rs.choice(len(p), size=size, replace=False, p=p)
            oracle_rs = np.random.RandomState(seed)
            used = []
            got = naive.legacy_choice(p, size, iter(lambda: used.append(1) or oracle_rs.random_sample(), None))
            assert got == list(expected)
            assert_same_state_of(numpy_rs, oracle_rs)
            repeated += len(used) > size
    assert repeated > 0  # the cases above made NumPy draw more than one round


def assert_same_state_of(a, b):
    sa, sb = a.get_state(), b.get_state()
    assert sa[2] == sb[2]
    np.testing.assert_array_equal(sa[1], sb[1])


# --- the sampler against the reference (np.random.choice per row) -------------------------------------------------
@pytest.mark.usefixtures("compiled")
def test_the_sampler_draws_the_references_words_and_leaves_the_same_rng_state():
    rng = np.random.default_rng(11)
    for trial in range(40):
        vocab = int(rng.integers(2, 3000))
        corpus = zipf_corpus(rng, vocab, int(rng.integers(0, 20000)), missing=int(rng.integers(0, vocab // 3 + 1)))
        vocab_size, word_p = R.word_probabilities(corpus, 0.75)
        positive = np.flatnonzero(word_p > 0)
        sample_size = int(rng.integers(0, min(8, len(positive) - 1) + 1))
        rare = positive[np.argsort(word_p[positive])[:5]]  # the tiniest probabilities as targets too
        targets = np.concatenate([rng.choice(positive, int(rng.integers(0, 60))), rare])
        seed = int(rng.integers(2**32))
        expected, expected_state, got, state = draw_both((vocab_size, word_p), targets, seed, sample_size)
        assert got.dtype == np.int32 and got.shape == (len(targets), sample_size)
        np.testing.assert_array_equal(got, expected, err_msg=f"trial {trial}")
        assert_same_state(state, expected_state)


@pytest.mark.usefixtures("compiled")
def test_rounds_that_repeat_draw_more_uniforms_exactly_as_numpy_does():
    # three words hold nearly all the mass and six distinct words are needed: most rows take several rounds, so
    # the compiled sampler runs out of uniforms again and again and must ask for exactly what NumPy draws
    word_p = np.full(60, 1e-3)
    word_p[:3] = 1.0
    word_p /= word_p.sum()
    targets = np.random.default_rng(3).integers(0, 60, 200)
    for seed in range(5):
        expected, expected_state, got, state = draw_both((60, word_p), targets, seed, sample_size=6)
        np.testing.assert_array_equal(got, expected)
        assert_same_state(state, expected_state)


@pytest.mark.usefixtures("numpy_path")
def test_the_numpy_path_is_the_reference():
    rng = np.random.default_rng(5)
    corpus = zipf_corpus(rng, 500, 5000)
    vocab_size, word_p = R.word_probabilities(corpus, 0.75)
    expected, expected_state, got, state = draw_both((vocab_size, word_p), rng.integers(0, 500, 30), 9)
    np.testing.assert_array_equal(got, expected)
    assert_same_state(state, expected_state)


@pytest.mark.usefixtures("compiled")
def test_word_p_in_float32_is_drawn_the_books_way():
    # the book's arithmetic on a float32 word_p (p.sum() in float32) is not the kernel's: NumPy's path runs it
    rng = np.random.default_rng(2)
    vocab_size, word_p = R.word_probabilities(zipf_corpus(rng, 300, 3000), 0.75)
    expected, expected_state, got, state = draw_both((vocab_size, word_p.astype(np.float32)),
                                                     rng.integers(0, 300, 20), 4)
    np.testing.assert_array_equal(got, expected)
    assert_same_state(state, expected_state)


def test_the_sampler_counts_words_like_the_reference():
    rng = np.random.default_rng(8)
    for corpus in (np.array([0, 2, 2, 5, 5, 5]),  # ids past the number of distinct words are not counted
                   zipf_corpus(rng, 1000, 10000, missing=100), np.arange(3, dtype=np.uint8),
                   np.array([0, 10**12, 10**12])):  # a huge id: counted without a huge array
        sampler = NSL.UnigramSampler(corpus, 0.75, 1)
        vocab_size, word_p = R.word_probabilities(corpus, 0.75)
        assert sampler.vocab_size == vocab_size
        assert sampler.word_p.dtype == np.float64
        np.testing.assert_array_equal(sampler.word_p, word_p)


# --- the kernel at the edges: uniforms on the cdf's values --------------------------------------------------------
def kernel_draw(word_p, targets, sample_size, uniforms, fast):
    """draw_negative_samples over all rows with all uniforms given; returns (samples, report)."""
    v = word_p.size
    prefix, p, cdf = np.empty(v), np.empty(v), np.empty(v)
    positive, fast_ok = K.prepare(word_p, prefix)
    out = np.zeros((len(targets), sample_size), np.int32)
    report = np.zeros(4, np.int64)
    K.draw_negative_samples(word_p, prefix, positive, fast and fast_ok, targets, 0, uniforms, out, p, cdf, report)
    return out, report


def boundary_uniforms(word_p, target, rng, count):
    """Uniforms exactly on the row's first-round cdf values and one ulp either side: the comparisons that decide
    a word, where an approximation would go wrong."""
    p = np.array(word_p)
    p[target] = 0
    cdf = np.cumsum(p / np.sum(p))
    cdf /= cdf[-1]
    values = cdf[rng.integers(0, len(cdf) - 1, count)]
    near = np.concatenate([values, np.nextafter(values, 0), np.nextafter(values, 1)])
    return near[(near >= 0) & (near < 1)]


def counting(values):
    """(iterator over values, list whose length is the number taken so far)."""
    taken = []

    def take():
        for v in values:
            taken.append(1)
            yield v
    return take(), taken


def test_the_kernel_is_the_oracle_on_uniforms_at_the_boundaries():
    rng = np.random.default_rng(13)
    for p in probability_vectors(rng):
        positive = np.flatnonzero(p > 0)
        if len(positive) < 2:
            continue
        sample_size = min(3, len(positive) - 1)
        target = int(rng.choice(positive))
        edges = boundary_uniforms(p, target, rng, 30)
        rows = max(1, len(edges) // sample_size)
        uniforms = np.concatenate([edges, rng.random(rows * sample_size * 20)])  # room for repeated rounds
        source, taken = counting(uniforms)
        expected = [naive.book_negative_row(p, target, sample_size, source) for _ in range(rows)]
        for fast in (True, False):
            got, report = kernel_draw(p, np.full(rows, target), sample_size, uniforms[:len(taken)], fast)
            assert report[0] == K.DONE and report[2] == len(taken)
            np.testing.assert_array_equal(got, np.array(expected).reshape(rows, sample_size))


def test_the_fast_path_decides_ordinary_rows_and_defers_the_boundaries():
    rng = np.random.default_rng(17)
    vocab_size, word_p = R.word_probabilities(zipf_corpus(rng, 2000, 20000), 0.75)
    prefix = np.empty(vocab_size)
    _, fast_ok = K.prepare(word_p, prefix)
    assert fast_ok
    decided = 0
    for target in rng.integers(0, vocab_size, 200):
        row, excluded = np.zeros(5, np.int32), np.empty(6, np.int64)
        status, _, _ = K._draw_row_fast(word_p, prefix, target, rng.random(40), 0, row, excluded)
        decided += status == K.DONE
    assert decided >= 198  # the fallback is for uniforms within ~1e-11 of a cdf value
    target = 0
    on_a_boundary = boundary_uniforms(word_p, target, rng, 1)[:1]
    status, _, _ = K._draw_row_fast(word_p, prefix, target, np.repeat(on_a_boundary, 5), 0, np.zeros(5, np.int32),
                                    np.empty(6, np.int64))
    assert status == K._UNDECIDED


# --- the book's sampler -------------------------------------------------------------------------------------------
def book_module(relative):
    """A module of the second book's code (e.g. ch04/negative_sampling_layer.py) loaded with the book's ``common``;
    sys.path and sys.modules are restored afterwards."""
    path = BOOK2 / relative
    if not path.is_file():
        pytest.fail(f"the book's code is missing: {path} (set FASTNN_SHARED)")
    owned = ("common", "ch04", "dataset")
    saved_path = list(sys.path)
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k.split(".")[0] in owned}
    sys.path.insert(0, str(BOOK2))
    try:
        spec = importlib.util.spec_from_file_location("book2_" + path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved_path
        for k in [k for k in sys.modules if k.split(".")[0] in owned]:
            del sys.modules[k]
        sys.modules.update(saved)
    return module


@pytest.mark.books
@pytest.mark.usefixtures("compiled")
def test_the_sampler_draws_the_books_words():
    book = book_module("ch04/negative_sampling_layer.py")
    rng = np.random.default_rng(23)
    for trial in range(12):
        vocab = int(rng.integers(10, 2000))
        corpus = zipf_corpus(rng, vocab, 10 * vocab)
        sample_size = int(rng.integers(1, 8))
        targets = rng.integers(0, vocab, 50)
        seed = int(rng.integers(2**32))
        theirs, ours = book.UnigramSampler(corpus, 0.75, sample_size), NSL.UnigramSampler(corpus, 0.75, sample_size)
        assert ours.vocab_size == theirs.vocab_size
        np.testing.assert_array_equal(ours.word_p, theirs.word_p)
        np.random.seed(seed)
        expected = theirs.get_negative_sample(targets)
        expected_state = rng_state()
        np.random.seed(seed)
        np.testing.assert_array_equal(ours.get_negative_sample(targets), expected, err_msg=f"trial {trial}")
        assert_same_state(rng_state(), expected_state)


# --- the layers ---------------------------------------------------------------------------------------------------
def loss_and_gradients(layer, h, target, seed):
    """(loss, dh, [each grads entry copied]) of one forward/backward from np.random.seed(seed)."""
    np.random.seed(seed)
    loss = layer.forward(h, target)
    dh = layer.backward()
    return loss, dh, [g.copy() for g in layer.grads]


def assert_same_pass(ours, theirs, dtype):
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    assert np.asarray(ours[0]).dtype == np.asarray(theirs[0]).dtype
    np.testing.assert_allclose(ours[0], theirs[0], **tol)
    np.testing.assert_allclose(ours[1], theirs[1], **tol)
    assert len(ours[2]) == len(theirs[2])
    for a, b in zip(ours[2], theirs[2]):
        np.testing.assert_allclose(a, b, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.usefixtures("compiled")
def test_negative_sampling_loss_is_the_references(dtype):
    rng = np.random.default_rng(29)
    corpus = zipf_corpus(rng, 300, 3000)
    W = (0.5 * rng.standard_normal((300, 8))).astype(dtype)
    h = (0.5 * rng.standard_normal((40, 8))).astype(dtype)
    target = rng.integers(0, 300, 40)
    ours = NSL.NegativeSamplingLoss(W.copy(), corpus, power=0.75, sample_size=4)
    theirs = R.NegativeSamplingLoss(W.copy(), corpus, power=0.75, sample_size=4)
    assert len(ours.params) == len(ours.grads) == len(ours.embed_dot_layers) == len(ours.loss_layers) == 5
    assert all(p is ours.params[0] for p in ours.params)
    assert ours.sampler.vocab_size == 300 and ours.sample_size == 4
    for seed in (0, 1):
        assert_same_pass(loss_and_gradients(ours, h, target, seed), loss_and_gradients(theirs, h, target, seed),
                         dtype)
    h_saved, target_W = ours.embed_dot_layers[2].cache
    assert h_saved is h and target_W.shape == h.shape


@pytest.mark.books
@pytest.mark.usefixtures("compiled")
def test_negative_sampling_loss_is_the_books():
    book = book_module("ch04/negative_sampling_layer.py")
    rng = np.random.default_rng(31)
    corpus = zipf_corpus(rng, 500, 5000)
    W = (0.01 * rng.standard_normal((500, 10))).astype("f")
    h = (0.01 * rng.standard_normal((100, 10))).astype("f")
    target = rng.integers(0, 500, 100)
    ours, theirs = NSL.NegativeSamplingLoss(W.copy(), corpus), book.NegativeSamplingLoss(W.copy(), corpus)
    assert [type(layer).__name__ for layer in ours.embed_dot_layers] == ["EmbeddingDot"] * 6
    for seed in (0, 5):
        assert_same_pass(loss_and_gradients(ours, h, target, seed), loss_and_gradients(theirs, h, target, seed),
                         np.float32)


# --- bad input ----------------------------------------------------------------------------------------------------
CORPUS = np.array([0, 1, 2, 3, 1, 2, 2])
W4 = np.ones((4, 3))
BAD = []


def bad(entry, label, thunk, exc, name):
    BAD.append(pytest.param(thunk, exc, name, id=f"{entry}: {label}"))


def sampler(**changes):
    s = NSL.UnigramSampler(CORPUS, 0.75, 2)
    vars(s).update(changes)
    return s


for label, corpus, exc in (("float ids", CORPUS.astype(float), TypeError), ("2-D", CORPUS.reshape(1, -1), ValueError),
                           ("empty", np.array([], int), ValueError), ("negative id", np.array([0, -1, 2]), ValueError),
                           ("str", "the cat", TypeError), ("ragged", [[0, 1], [2]], ValueError)):
    bad("UnigramSampler", f"corpus {label}", lambda c=corpus: NSL.UnigramSampler(c, 0.75, 2), exc, "corpus")
for label, power, exc in (("0", 0, ValueError), ("negative", -0.5, ValueError), ("NaN", np.nan, ValueError),
                          ("str", "0.75", TypeError)):
    bad("UnigramSampler", f"power {label}", lambda p=power: NSL.UnigramSampler(CORPUS, p, 2), exc, "power")
for label, size, exc in (("vocab size", 4, ValueError), ("negative", -1, ValueError), ("float", 2.0, TypeError)):
    bad("UnigramSampler", f"sample_size {label}", lambda k=size: NSL.UnigramSampler(CORPUS, 0.75, k), exc,
        "sample_size")
for label, target, exc in (("out of range", np.array([4]), ValueError), ("negative", np.array([-1]), ValueError),
                           ("2-D", np.array([[1]]), ValueError), ("float", np.array([0.5]), ValueError),
                           ("str", np.array(["a"]), TypeError)):
    bad("UnigramSampler.get_negative_sample", f"target {label}",
        lambda t=target: sampler().get_negative_sample(t), exc, "target")
for label, word_p in (("NaN", np.array([np.nan, 0.5, 0.25, 0.25])), ("negative", np.array([-0.1, 0.5, 0.3, 0.3])),
                      ("wrong length", np.full(3, 1 / 3))):
    bad("UnigramSampler.get_negative_sample", f"word_p {label}",
        lambda w=word_p: sampler(word_p=w).get_negative_sample(np.array([1])), ValueError, "word_p")
bad("UnigramSampler.get_negative_sample", "more samples than words of probability > 0 besides the target",
    lambda: sampler(word_p=np.array([0.5, 0.5, 0.0, 0.0])).get_negative_sample(np.array([1])), ValueError,
    "sample_size")
bad("UnigramSampler.get_negative_sample", "sample_size reassigned to a float",
    lambda: sampler(sample_size=1.5).get_negative_sample(np.array([1])), TypeError, "sample_size")
bad("NegativeSamplingLoss", "W int", lambda: NSL.NegativeSamplingLoss(np.ones((4, 3), int), CORPUS, sample_size=2),
    TypeError, "W")
bad("NegativeSamplingLoss", "W too few rows", lambda: NSL.NegativeSamplingLoss(np.ones((3, 3)), CORPUS, sample_size=2),
    ValueError, "W")
bad("NegativeSamplingLoss", "sample_size negative", lambda: NSL.NegativeSamplingLoss(W4, CORPUS, sample_size=-1),
    ValueError, "sample_size")
bad("NegativeSamplingLoss", "power 0", lambda: NSL.NegativeSamplingLoss(W4, CORPUS, power=0, sample_size=2), ValueError,
    "power")
bad("NegativeSamplingLoss.forward", "target out of range",
    lambda: NSL.NegativeSamplingLoss(W4, CORPUS, sample_size=2).forward(np.ones((1, 3)), np.array([7])), ValueError,
    "target")
bad("NegativeSamplingLoss.forward", "h of another width",
    lambda: NSL.NegativeSamplingLoss(W4, CORPUS, sample_size=2).forward(np.ones((1, 2)), np.array([1])), ValueError,
    "h")
bad("NegativeSamplingLoss.backward", "before forward",
    lambda: NSL.NegativeSamplingLoss(W4, CORPUS, sample_size=2).backward(), RuntimeError, "forward")
bad("EmbeddingDot", "W 1-D", lambda: NSL.EmbeddingDot(np.ones(4)), ValueError, "W")
bad("EmbeddingDot.forward", "idx out of range", lambda: NSL.EmbeddingDot(W4).forward(np.ones((1, 3)), [4]),
    ValueError, "idx")
bad("EmbeddingDot.forward", "h rows", lambda: NSL.EmbeddingDot(W4).forward(np.ones((2, 3)), [1]), ValueError, "h")
bad("EmbeddingDot.forward", "h str", lambda: NSL.EmbeddingDot(W4).forward(np.array([["a"] * 3]), [1]), TypeError,
    "h")
bad("EmbeddingDot.backward", "before forward", lambda: NSL.EmbeddingDot(W4).backward(np.ones(1)), RuntimeError,
    "forward")


def dot_after_forward():
    layer = NSL.EmbeddingDot(W4)
    layer.forward(np.ones((2, 3)), [1, 2])
    return layer


bad("EmbeddingDot.backward", "dout of another length", lambda: dot_after_forward().backward(np.ones(3)), ValueError,
    "dout")
bad("EmbeddingDot.backward", "dout str", lambda: dot_after_forward().backward(np.array(["a", "b"])), TypeError,
    "dout")


@pytest.mark.parametrize("thunk, exc, name", BAD)
def test_bad_input_is_refused_with_a_message_naming_the_argument(thunk, exc, name):
    _check_refusal(thunk, exc, name)


def test_the_table_covers_every_public_entry_point():
    public = {"UnigramSampler", "UnigramSampler.get_negative_sample", "NegativeSamplingLoss",
              "NegativeSamplingLoss.forward", "NegativeSamplingLoss.backward", "EmbeddingDot", "EmbeddingDot.forward",
              "EmbeddingDot.backward"}
    found = {name for name in NSL.__all__ if isinstance(getattr(NSL, name), type)
             and getattr(NSL, name).__module__ == NSL.__name__}
    found |= {f"{cls}.{m}" for cls in set(found) for m in vars(getattr(NSL, cls)) if not m.startswith("_")}
    assert found == public
    assert public == {p.id.split(":")[0] for p in BAD}
