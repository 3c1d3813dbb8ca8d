"""The books' real scripts as a test suite: chapters 3-8 of the first book and chapters 1-4 of the second, from
../shared (or $FASTNN_SHARED), each run three ways in a temporary copy of its book and compared.

(a) ``book``: as published, on the book's own ``common/``; (b) ``fastnn``: only the ``from common.X import`` lines
(of the script and of the chapter-local modules it imports) switched to ``fastnn.X``; (c) ``fastnn-nets``: also the
chapter's own networks and functions replaced by fastnn's (``fastnn.nets.TwoLayerNet``/``TwoLayerNetCh4``/
``TwoLayerNetBook2``, ``fastnn.functions.sigmoid``...). (b) and (c) must print the same lines and words as (a),
numbers equal to ``Script.rtol`` (1e-6 unless the table says why not), draw the same figure data, and warn where
the book warns. How the scripts are run and what is shortened: tests/book_scripts.py and docs/book_scripts.md; one
script by hand: ``python tools/run_book_script.py ch05/train_neuralnet.py --variant fastnn-nets``.

The MNIST scripts read Debian's Fashion-MNIST through the book's own loader (its files copied into the copy's
``dataset/``, the network blocked), the second book's PTB scripts the King James Bible in PTB's format (Debian's
bible-kjv, tests/conftest.py's ``ptb_corpus``) through the book's PTB loader; without them they skip, except under
CI=true, where they fail.
"""
import os
from importlib.util import find_spec

import pytest

import book_scripts as bs

IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(reason):
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def templates(tmp_path_factory, request):
    """One prepared copy per book (with Fashion-MNIST converted by the book's loader, and the PTB-format corpus,
    when available), copied again for every run: {book: (path, None or why the MNIST data are missing, what the
    loader printed)}; the tests using it are marked books (tests/conftest.py skips them without the books), and
    the scripts needing the data fashion_mnist or bible_kjv."""
    root = tmp_path_factory.mktemp("book-templates")
    ptb_dir = None if bs.missing_bible() else request.getfixturevalue("ptb_corpus")
    out = {}
    for book in ("book1", "book2"):
        missing = bs.missing_fashion_mnist() if book == "book1" else None
        printed = bs.build_template(book, root / book, with_mnist=missing is None, ptb_dir=ptb_dir)
        out[book] = (root / book, missing, printed)
    return out


_RUNS = {}


@pytest.fixture(scope="module")
def book_runs(templates, tmp_path_factory):
    """runs(script) -> {variant: Result}: the book's run and the script's declared fastnn variants, run together
    (two at a time) the first time either variant's test asks, then kept for the other."""
    if find_spec("matplotlib") is None:  # the scripts (and the second book's common/trainer.py) import it
        _unavailable("matplotlib is not installed (pip install matplotlib; it is in the test extra)")

    def runs(script):
        if script.path not in _RUNS:
            template = templates[script.book][0]  # an MNIST script is marked fashion_mnist: the data are there
            workdir = tmp_path_factory.mktemp(script.path.replace("/", "-"))
            _RUNS[script.path] = bs.run_variants(script, ("book",) + script.variants, template, workdir)
        return _RUNS[script.path]
    yield runs
    _RUNS.clear()


CASES = [pytest.param(s, v, id=f"{s.path}-{v}", marks=([pytest.mark.slow] if s.slow else [])
                      + ([pytest.mark.fashion_mnist] if s.mnist else []) + ([pytest.mark.bible_kjv] if s.ptb else []))
         for s in bs.SCRIPTS for v in s.variants]


@pytest.mark.books
@pytest.mark.parametrize(("script", "variant"), CASES)
def test_script_prints_and_draws_what_the_book_does(script, variant, book_runs):
    runs = book_runs(script)
    book, run = runs["book"], runs[variant]
    assert book.returncode == 0, f"the book's own run of {script.path} failed:\n{book.stderr[-3000:]}"
    assert book.stdout.strip() or book.figures, f"{script.path} printed and drew nothing: nothing compared"
    assert bs.variant_text_problem(runs) is None, bs.variant_text_problem(runs)
    for r in (book, run):
        assert "Downloading" not in r.stdout, f"{r.describe()}: the book's loader tried to download"
    problems = bs.compare(book, run)
    switched = ", ".join(sorted(k for k, t in run.changed.items() if t != book.changed.get(k)))
    assert not problems, (f"{run.describe()} (files switched: {switched}; {run.seconds:.1f} s, the book's "
                          f"{book.seconds:.1f} s):\n" + "\n".join(problems))


@pytest.mark.books
def test_the_tables_cover_every_file_of_the_chapters():
    on_disk = {f"{ch}/{p.name}" for ch in bs.CHAPTERS for p in (bs.shared_dir() / ch).glob("*.py")}
    run = {s.path for s in bs.SCRIPTS}
    assert len(run) == len(bs.SCRIPTS), "a script is listed twice"
    assert not run & set(bs.NOT_RUN), "a script is both run and excluded"
    assert on_disk == run | set(bs.NOT_RUN), ("not covered: " + ", ".join(sorted(on_disk - run - set(bs.NOT_RUN)))
                                              + "; not on disk: " + ", ".join(sorted((run | set(bs.NOT_RUN))
                                                                                     - on_disk)))
    for s in bs.SCRIPTS:
        assert s.variants and set(s.variants) <= set(bs.VARIANTS[1:]), s.path
        assert not s.reduce or s.reduce_why, f"{s.path}: say what is reduced"
        assert (s.rtol <= 1e-6 and not s.printed_atol) or s.tol_why, f"{s.path}: say why the tolerance is looser"


@pytest.mark.books
@pytest.mark.fashion_mnist
def test_the_books_loader_converts_the_local_files_offline(templates):
    _, _, printed = templates["book1"]
    assert "Downloading" not in printed
    assert printed.count("Converting") == 4 and "Creating pickle file" in printed


@pytest.mark.books
def test_a_reduction_that_no_longer_applies_is_an_error(templates, tmp_path):
    template = templates["book1"][0]
    stale = bs.Script("book1/ch05/train_neuralnet.py", reduce=(("iters_num = 12345", "iters_num = 1"),),
                      reduce_why="stale")
    bs.copy_template(template, tmp_path / "copy")
    with pytest.raises(ValueError, match="not found"):
        bs.apply_variant(tmp_path / "copy", stale, "book")
    # and --full leaves the script as published
    bs.apply_variant(tmp_path / "copy", stale, "book", full=True)
    published = (bs.shared_dir() / "book1/ch05/train_neuralnet.py").read_text(encoding="utf-8")
    assert (tmp_path / "copy/ch05/train_neuralnet.py").read_text(encoding="utf-8") == published


@pytest.mark.books
def test_the_fastnn_variant_switches_only_common_import_lines(templates, tmp_path):
    template = templates["book1"][0]
    s = bs.find_script("ch05/gradient_check.py")
    bs.copy_template(template, tmp_path / "b")
    changed = bs.apply_variant(tmp_path / "b", s, "fastnn")
    assert set(changed) == {"ch05/gradient_check.py", "ch05/two_layer_net.py"}
    original = (bs.shared_dir() / "book1/ch05/two_layer_net.py").read_text(encoding="utf-8").splitlines()
    switched = changed["ch05/two_layer_net.py"].splitlines()
    diff = [(a, b) for a, b in zip(original, switched) if a != b]
    assert diff == [("from common.layers import *", "from fastnn.layers import *"),
                    ("from common.gradient import numerical_gradient",
                     "from fastnn.gradient import numerical_gradient")]
    assert "ch05/buy_apple.py" not in changed  # only what the script imports
    assert changed["ch05/gradient_check.py"] == (bs.shared_dir() / "book1/ch05/gradient_check.py").read_text(
        encoding="utf-8")  # it imports from the chapter only: switched in the fastnn-nets variant


def test_the_comparison_sees_a_changed_number_word_line_or_warning():
    def result(out, err="", figures=()):
        return bs.Result(bs.Script("book1/x/y.py"), "book", 0, out, err, list(figures), 0.0, {})
    book = result("loss:2.302585\nacc 0.11 | 0.12\n", "a.py:3: RuntimeWarning: overflow encountered in exp\n")
    assert bs.compare(book, result("loss:2.3025850000001\nacc 0.11 | 0.12\n",
                                   "b.py:9: RuntimeWarning: overflow encountered in dot\n")) == []
    assert bs.compare(book, result("loss:2.3026\nacc 0.11 | 0.12\n", book.stderr))  # number
    assert bs.compare(book, result("loss:2.302585\nacc 0.11 , 0.12\n", book.stderr))  # word
    assert bs.compare(book, result("loss:2.302585\n", book.stderr))  # line
    assert bs.compare(result("[ 1.5 -0.25]\n"), result("[1.5  -0.25]\n")) == []  # NumPy's column padding
    assert bs.compare(book, result(book.stdout))  # the book warned, this run did not
    fig = [[{"title": "", "items": [["line", [0, 1], [0.5, 0.25]]]}]]
    other = [[{"title": "", "items": [["line", [0, 1], [0.5, 0.2501]]]}]]
    assert bs.compare(result("x\n", figures=fig), result("x\n", figures=fig)) == []
    assert bs.compare(result("x\n", figures=fig), result("x\n", figures=other))
