"""fastnn.ptb (issue #26): PTB read the second book's way from a local directory, never downloaded; plain text
written in PTB's format (the function and ``fastnn ptb-format``); the King James Bible of Debian's bible-kjv as the
offline corpus, read by the book's own ``dataset/ptb.py`` unchanged and by fastnn.ptb to the same ids."""
import collections
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import book_scripts
from fastnn import cli, ptb

REPO = Path(__file__).resolve().parents[1]
PTB_LINE = re.compile(r" (?:\S+ )+\n")  # PTB's lines: a space at both ends, words between single spaces


def _book_semantics(text):
    """The book's reading of a PTB file (dataset/ptb.py, in the book's words): every line break the word <eos>,
    ids in order of first appearance; here an oracle independent of fastnn.ptb."""
    words = text.replace("\n", "<eos>").strip().split()
    word_to_id = {}
    for w in words:
        word_to_id.setdefault(w, len(word_to_id))
    return words, word_to_id


def _write_files(directory, train, valid="", test=""):
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in zip(ptb.FILES.values(), (train, valid, test)):
        (directory / name).write_text(text, encoding="utf-8")
    return directory


TRAIN = " the cat sat on the mat \n the dog sat \n a cat <unk> N \n"


# --- reading -------------------------------------------------------------------------------------------------------
def test_ids_and_eos_are_the_books(tmp_path):
    d = _write_files(tmp_path / "d", TRAIN, " the dog \n", " a mat \n N <unk> \n")
    words, word_to_id = _book_semantics(TRAIN)
    corpus, w2i, i2w = ptb.load_data("train", d)
    assert w2i == word_to_id and list(w2i) == list(word_to_id)
    assert i2w == {i: w for w, i in word_to_id.items()}
    assert corpus.ndim == 1 and corpus.dtype == np.array([1]).dtype  # NumPy's default int, as the book's
    assert corpus.tolist() == [word_to_id[w] for w in words]
    assert w2i["<eos>"] == 5 and corpus.tolist().count(5) == 3  # one <eos> per line
    for kind, text in (("val", " the dog \n"), ("valid", " the dog \n"), ("test", " a mat \n N <unk> \n")):
        corpus, w2i2, i2w2 = ptb.load_data(kind, directory=str(d))
        assert corpus.tolist() == [word_to_id[w] for w in _book_semantics(text)[0]]
        assert w2i2 == w2i and i2w2 == i2w
    assert ptb.load_vocab(d) == (w2i, i2w)


def test_a_file_without_ptbs_spaces_reads_as_the_book_reads_it(tmp_path):
    """The book replaces each line break by '<eos>' before splitting: a line without PTB's trailing space merges
    its last word with <eos> (and the next line's first word). Read the same way, so the ids are the book's."""
    text = "the cat\nsat on\r\nthe mat\n"
    d = _write_files(tmp_path, text)
    words, word_to_id = _book_semantics(text.replace("\r\n", "\n"))
    assert "cat<eos>sat" in words
    corpus, w2i, _ = ptb.load_data("train", d)
    assert w2i == word_to_id and corpus.tolist() == [word_to_id[w] for w in words]


def test_where_the_files_are_looked_for(tmp_path, monkeypatch):
    a = _write_files(tmp_path / "a", " from the argument \n")
    b = _write_files(tmp_path / "b", " from the variable \n")
    _write_files(tmp_path / "cwd" / "dataset", " from the working directory \n")
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.delenv(ptb.DIRECTORY_VARIABLE, raising=False)
    assert "working" in ptb.load_vocab()[0]
    monkeypatch.setenv(ptb.DIRECTORY_VARIABLE, str(b))
    assert "variable" in ptb.load_vocab()[0]
    assert "argument" in ptb.load_data("train", a)[1]


def test_a_missing_file_says_which_where_and_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.delenv(ptb.DIRECTORY_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        ptb.load_data("train")
    message = str(info.value)
    for words in ("directory", str(tmp_path / "dataset"), "the working directory's dataset/", "never downloads",
                  "ptb.train.txt", ptb.DIRECTORY_VARIABLE, "fastnn ptb-format", "apt-get install bible-kjv",
                  "bible -f gen1:1-rev22:21"):
        assert words in message, message
    _write_files(tmp_path / "dataset", TRAIN)
    os.unlink(tmp_path / "dataset" / "ptb.test.txt")
    with pytest.raises(FileNotFoundError, match=r"^ptb\.test\.txt not found: looked in .*dataset"):
        ptb.load_data("test")
    monkeypatch.setenv(ptb.DIRECTORY_VARIABLE, str(tmp_path / "elsewhere"))
    with pytest.raises(FileNotFoundError, match=re.escape(f"(${ptb.DIRECTORY_VARIABLE})")):
        ptb.load_data("val")


def test_a_word_the_training_file_lacks_is_named(tmp_path):
    d = _write_files(tmp_path, TRAIN, " the dog \n the zebra \n")
    with pytest.raises(ValueError, match=r"ptb\.valid\.txt, line 2: word 'zebra' is not in the vocabulary"):
        ptb.load_data("val", d)


def test_unreadable_files_are_refused_with_the_reason(tmp_path, monkeypatch):
    cases = {"binary": b"\x7fELF\x02\x01\x00\x00 the", "latin-1": "caf\xe9 \n".encode("latin-1"), "empty": b"",
             "blank": b"  \t "}
    for label, data in cases.items():
        (_write_files(tmp_path / label, "") / "ptb.train.txt").write_bytes(data)
    for label, words in (("binary", "NUL byte at byte 6"), ("latin-1", "not UTF-8 text (byte 3"),
                         ("empty", "holds no words"), ("blank", "holds no words")):
        with pytest.raises(ValueError, match=re.escape(words)):
            ptb.load_data("train", tmp_path / label)
    big = _write_files(tmp_path / "big", " a b c \n" * 100)
    monkeypatch.setattr(ptb, "MAX_FILE_BYTES", 500)
    with pytest.raises(ValueError, match="more than 0 MiB"):
        ptb.load_data("train", big)
    monkeypatch.setattr(ptb, "MAX_FILE_BYTES", 1 << 20)
    monkeypatch.setattr(ptb, "MAX_WORDS", 3)
    with pytest.raises(ValueError, match="more than 3 distinct words"):
        ptb.load_data("train", big)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    d = _write_files(tmp_path, "")
    os.unlink(d / "ptb.train.txt")
    os.mkfifo(d / "ptb.train.txt")  # nobody writes it: opening it for reading would wait forever
    with pytest.raises(ValueError, match="not a regular file"):
        ptb.load_data("train", d)


# --- the converter ------------------------------------------------------------------------------------------------
def test_sentences_are_lower_case_words_without_punctuation():
    text = ('Ge1:1 In the beginning, God created "the heaven" and the earth. And the LORD\'s day came!\n'
            "Ge1:2 Is it 1,000 or 3.14 -- or the 1980s? 'Well-beloved' (said he).\n"
            "Ge1:3\n")
    assert ptb.sentences(text, drop_first_word=True) == [
        "in the beginning god created the heaven and the earth".split(),
        "and the lord's day came".split(),
        "is it N or N or the N".split(),
        "well-beloved said he".split()]
    assert ptb.sentences(text)[0][:3] == ["N", "N", "in"]  # the reference read as text when not dropped


def test_sentences_end_at_blank_lines_and_run_across_line_breaks():
    lines = ["It was the best of times,", "it was the worst of times;", "", "Call me Ishmael", "Some years ago"]
    assert ptb.sentences(lines) == ["it was the best of times it was the worst of times".split(),
                                    "call me ishmael some years ago".split()]
    assert ptb.sentences("\n".join(lines)) == ptb.sentences(iter(lines)) == ptb.sentences(lines)
    assert ptb.sentences(["?!...", "", "  "]) == []


def _count_lines(path):
    return sum(1 for _ in open(path, encoding="utf-8"))


def test_write_splits_in_order_and_keeps_the_most_frequent_training_words(tmp_path):
    seven, three = "ash birch cedar date elm fig gum".split(), "kiwi lime mango".split()
    sents = [f"Sentence {i} has {seven[i % 7]} and {three[i % 3]}." for i in range(40)]
    summary = ptb.write_ptb_format(" ".join(sents), tmp_path / "out", vocab_size=8, valid=0.1, test=0.2)
    parts = {kind: (tmp_path / "out" / name).read_text(encoding="utf-8") for kind, name in ptb.FILES.items()}
    assert [len(p.splitlines()) for p in parts.values()] == [28, 4, 8]
    assert all(PTB_LINE.fullmatch(line + "\n") for p in parts.values() for line in p.splitlines())
    # the training part's words by frequency (ties alphabetical): the first 8 - 2 are kept
    counts = collections.Counter(w for line in parts["train"].split("\n") for w in line.split() if w != "<unk>")
    original = collections.Counter(w for s in sents[:28] for w in ptb.sentences(s)[0])
    ranked = sorted(original, key=lambda w: (-original[w], w))
    assert set(counts) == set(ranked[:6])
    assert summary["vocabulary"] == 8 and summary["train"]["sentences"] == 28
    assert summary["train"]["unknown"] == sum(original[w] for w in ranked[6:])
    assert parts["test"].splitlines()[-1] == " sentence N has <unk> and kiwi "  # elm is rare, kiwi is not
    corpus, word_to_id, _ = ptb.load_data("test", tmp_path / "out")  # every test word has an id
    assert len(word_to_id) == 8 and corpus.size == summary["test"]["words"] + summary["test"]["sentences"]


def test_unk_is_in_the_training_file_even_when_every_word_fits(tmp_path):
    summary = ptb.write_ptb_format("a b. a c. a d. b e. x y.", tmp_path, valid=0.2, test=0.2)
    train = (tmp_path / "ptb.train.txt").read_text()
    assert train == " a b \n a c \n a <unk> \n"  # the rarest training word (ties: alphabetically last)
    assert summary["vocabulary"] == 5 and ptb.load_data("test", tmp_path)[0].tolist() == [4, 4, 2]


def test_write_refuses_to_overwrite_and_removes_the_books_stale_caches(tmp_path):
    text = "one fish. two fish. red fish. blue fish. old fish. new fish."
    ptb.write_ptb_format(text, tmp_path, valid=0.2, test=0.2)
    before = (tmp_path / "ptb.train.txt").read_bytes()
    for cache in ptb.BOOK_CACHES:
        (tmp_path / cache).write_bytes(b"stale")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ptb.write_ptb_format("other text. entirely. here. now. then.", tmp_path)
    assert (tmp_path / "ptb.train.txt").read_bytes() == before and (tmp_path / "ptb.vocab.pkl").exists()
    ptb.write_ptb_format(text, tmp_path, valid=0.2, test=0.2, overwrite=True)
    assert (tmp_path / "ptb.train.txt").read_bytes() == before  # deterministic
    assert not any((tmp_path / cache).exists() for cache in ptb.BOOK_CACHES)
    assert sorted(os.listdir(tmp_path)) == sorted(ptb.FILES.values())  # no temporary file left


@given(words=st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta", "Eps", "7", "zeta's", "x-y", "omega"]),
                      min_size=1, max_size=60),
       ends=st.lists(st.sampled_from([" ", ". ", "? ", "!\n", "\n\n", ", "]), min_size=60, max_size=60),
       vocab_size=st.integers(3, 12), valid=st.sampled_from([0.0, 0.1, 0.3]), test=st.sampled_from([0.0, 0.2]))
def test_any_text_that_splits_makes_files_the_loader_reads(tmp_path_factory, words, ends, vocab_size, valid,
                                                          test):
    text = "".join(w + e for w, e in zip(words, ends)) + "."
    out = tmp_path_factory.mktemp("any")
    try:
        summary = ptb.write_ptb_format(text, out, vocab_size=vocab_size, valid=valid, test=test)
    except ValueError as exc:
        assert "too few" in str(exc)
        return
    loaded = {kind: ptb.load_data(kind, out) for kind in ("train", "valid", "test")}  # no unknown word
    vocabulary = loaded["train"][1]
    assert len(vocabulary) == summary["vocabulary"] <= vocab_size
    assert "<unk>" in vocabulary and "<eos>" in vocabulary
    for kind, (corpus, *_) in loaded.items():
        assert corpus.size == summary[kind]["words"] + summary[kind]["sentences"]
    assert sum(summary[k]["sentences"] for k in ptb.FILES) == len(ptb.sentences(text))


# --- the King James Bible: the corpus of the tests and CI ---------------------------------------------------------
@pytest.mark.bible_kjv
def test_the_bible_corpus_has_ptbs_size_and_form(ptb_corpus):
    verses = subprocess.run(book_scripts.BIBLE, capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(verses) == 31102 and verses[0].startswith("Ge1:1 In the beginning")
    corpus, word_to_id, id_to_word = ptb.load_data("train", ptb_corpus)
    assert len(word_to_id) == 10_000 == len(id_to_word)
    assert 600_000 < corpus.size < 1_000_000  # PTB's training file: 929,589 words and 42,068 <eos>
    assert all(re.fullmatch(r"[a-z][a-z'-]*|N|<unk>|<eos>", w) for w in word_to_id)
    for kind in ("val", "test"):
        assert ptb.load_data(kind, ptb_corpus)[0].size > 50_000


def _import_books_loader(dataset_dir):
    spec = importlib.util.spec_from_file_location("book_ptb", dataset_dir / "ptb.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.books
@pytest.mark.bible_kjv
def test_the_books_loader_reads_the_corpus_unchanged_and_as_fastnn_does(ptb_corpus, tmp_path, monkeypatch, capsys):
    """The book's own dataset/ptb.py (in a copy of its dataset/, the network blocked) on the converted Bible:
    the same corpus, dictionaries and id order as fastnn.ptb, from the text and again from its own caches."""
    dataset = tmp_path / "dataset"
    shutil.copytree(book_scripts.shared_dir() / "book2" / "dataset", dataset)
    for name in ptb.FILES.values():
        shutil.copyfile(ptb_corpus / name, dataset / name)
    monkeypatch.setattr(socket.socket, "connect", None)  # no download can even start
    monkeypatch.setattr(sys, "path", list(sys.path))  # (the book's module appends '..')
    book = _import_books_loader(dataset)
    for attempt in ("from the text", "from the book's caches"):
        for kind in ("train", "val", "test"):
            expected, got = book.load_data(kind), ptb.load_data(kind, dataset)
            assert got[1] == expected[1] and list(got[1]) == list(expected[1]), attempt
            assert got[2] == expected[2], attempt
            assert got[0].dtype == expected[0].dtype and np.array_equal(got[0], expected[0]), attempt
        assert (dataset / "ptb.vocab.pkl").exists()
    assert "Downloading" not in capsys.readouterr().out


# --- fastnn ptb-format ----------------------------------------------------------------------------------------------
def _refused(argv, capsys):
    """The one error line of a refused ``fastnn ptb-format`` (exit status 2, under its usage, nothing written)."""
    with pytest.raises(SystemExit) as info:
        cli.main(["ptb-format", *argv])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("usage: fastnn ptb-format ")
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(errors) == 1 and captured.err.endswith(errors[0] + "\n"), captured.err
    return errors[0]


def test_the_command_writes_the_files_and_says_what_they_hold(tmp_path, capsys):
    (tmp_path / "in.txt").write_text("Red fish. Blue fish.\n\nOne fish\ntwo fish! Old fish? New fish.\n")
    assert cli.main(["ptb-format", str(tmp_path / "in.txt"), "--out", str(tmp_path / "d"), "--valid", "0.2",
                     "--test", "0.2", "--vocab", "6"]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'd' / 'ptb.train.txt'}: 3 sentences, 8 words (1 <unk>)" in out
    assert "vocabulary: 6 words" in out and "fastnn.ptb.load_data" in out
    assert (tmp_path / "d" / "ptb.train.txt").read_text() == " red fish \n blue fish \n one fish <unk> fish \n"
    assert (tmp_path / "d" / "ptb.test.txt").read_text() == " <unk> fish \n"


def test_the_commands_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["ptb-format", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ("(default: dataset)", "(default: 10000)", "(default: 0.1)", "--drop-first-word", "bible -f"):
        assert words in text


def test_the_commands_mistakes_are_one_line(tmp_path, capsys):
    (tmp_path / "in.txt").write_text("Just one sentence.")
    (tmp_path / "bin").write_bytes(b"\x00\x01")
    (tmp_path / "ok.txt").write_text("A b. C d. E f. G h. I j. K l. M n. O p. Q r. S t.")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "ptb.valid.txt").write_text("")
    text = str(tmp_path / "ok.txt")
    for argv, words in [([str(tmp_path / "nope.txt")], "TEXT " + str(tmp_path / "nope.txt") + ": no such file"),
                        ([str(tmp_path)], "not a regular file"), ([str(tmp_path / "bin")], "not a text file"),
                        ([str(tmp_path / "in.txt"), "--out", str(tmp_path / "o")], "1 sentence: too few"),
                        ([text, "--vocab", "2"], "argument --vocab: must be >= 3"),
                        ([text, "--valid", "1.5"], "argument --valid: must be a fraction in [0, 1)"),
                        ([text, "--test", "-0.1"], "argument --test"),
                        ([text, "--valid", "0.5", "--test", "0.5"], "nothing for the training part"),
                        ([text, "--out", str(tmp_path / "full")], "already holds ptb.valid.txt (--force"),
                        ([text, "--out", str(tmp_path / "bin")], "is a file, not a directory"),
                        ([text, "--out", str(tmp_path / "no" / "where")], "does not exist")]:
        line = _refused(argv, capsys)
        assert line.startswith("fastnn ptb-format: error: ") and words in line, (argv, line)
    assert not (tmp_path / "o").exists() and not (tmp_path / "full" / "ptb.train.txt").exists()
    assert cli.main(["ptb-format", text, "--out", str(tmp_path / "full"), "--force"]) == 0


@pytest.mark.bible_kjv
def test_the_readmes_pipe_makes_the_tests_corpus(ptb_corpus, tmp_path):
    """``bible -f gen1:1-rev22:21 | fastnn ptb-format - --drop-first-word`` in a shell: the same files as the
    fixture's (write_ptb_format on the same text)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = f"bible -f gen1:1-rev22:21 | '{sys.executable}' -m fastnn ptb-format - --drop-first-word"
    proc = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "vocabulary: 10000 words" in proc.stdout
    for name in ptb.FILES.values():
        assert (tmp_path / "dataset" / name).read_bytes() == (ptb_corpus / name).read_bytes(), name
