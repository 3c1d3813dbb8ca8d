"""fastnn.sequence (issue #27): the book's dataset/sequence.py semantics (vocabulary growing across calls, the
seeded shuffle, the 10% split, int arrays) on the book's addition.txt and date.txt and on fastnn's generated
files, which the book's own loader reads too; where files are looked for; bad input named."""
import os
import re

import numpy as np
import pytest

import book_scripts
from fastnn import sequence

BOOK_DATASET = book_scripts.shared_dir() / "book2" / "dataset"
needs_book = pytest.mark.books


@pytest.fixture
def fresh_vocab(monkeypatch):
    """Empty module-level vocabularies for the test (restored after it)."""
    monkeypatch.setattr(sequence, "char_to_id", {})
    monkeypatch.setattr(sequence, "id_to_char", {})


def _book_sequence():
    from book2_modules import book_module

    return book_module("dataset/sequence.py")  # a fresh module: its own empty vocabularies


def _same(ours, theirs):
    for a, b in zip(ours, theirs):
        for x, y in zip(a, b):
            assert x.dtype == y.dtype and x.shape == y.shape
            np.testing.assert_array_equal(x, y)


def _relative_to_book(path):
    """The book's loader reads dirname(its file) + '/' + file_name: a path relative to its dataset directory (both
    resolved: the system resolves '..' after a symbolic link, e.g. a ../shared that links elsewhere)."""
    return os.path.relpath(os.path.realpath(path), os.path.realpath(BOOK_DATASET))


@needs_book
def test_the_books_files_load_as_the_books_loader_loads_them(fresh_vocab):
    book = _book_sequence()
    for name, seed in (("addition.txt", 1984), ("date.txt", 1984), ("addition.txt", 7), ("date.txt", None)):
        if seed is None:
            np.random.seed(3)
        theirs = book.load_data(name, seed)
        if seed is None:
            np.random.seed(3)
        ours = sequence.load_data(str(BOOK_DATASET / name), seed)
        _same(ours, theirs)
        assert sequence.get_vocab() == book.get_vocab()  # grown across the calls in the same order
    (x_train, t_train), (x_test, t_test) = ours
    assert len(x_train) == 45000 and len(x_test) == 5000


@pytest.mark.parametrize("kind", ["addition", "date"])
@needs_book
def test_generated_files_load_through_the_books_loader_and_ours(kind, tmp_path, fresh_vocab):
    lines = getattr(sequence, f"generate_{kind}")(1234, seed=5)
    path = tmp_path / f"{kind}.txt"
    sequence.write_data(str(path), lines)
    book = _book_sequence()
    _same(sequence.load_data(str(path)), book.load_data(_relative_to_book(path)))
    assert sequence.get_vocab() == book.get_vocab()


def test_split_data_by_hand(fresh_vocab):
    lines = ["1+2  _3 ", "10+5 _15", "9+9  _18"]
    (x_train, t_train), (x_test, t_test) = sequence.split_data(lines, seed=0)
    char_to_id, id_to_char = sequence.get_vocab()
    assert list(char_to_id) == ["1", "+", "2", " ", "_", "3", "0", "5", "9", "8"]  # question, then answer, by line
    assert id_to_char == {i: c for c, i in char_to_id.items()}
    np.random.seed(0)
    order = np.random.permutation(3)  # np.random.shuffle of arange(3) draws the same
    rows = [lines[i] for i in order]
    decode = lambda row: "".join(id_to_char[int(i)] for i in row)  # noqa: E731
    assert [decode(r) for r in x_train] + [decode(r) for r in x_test] == [r[:5] for r in rows]
    assert [decode(r) for r in np.concatenate([t_train, t_test])] == [r[5:] for r in rows]
    assert len(x_test) == 0 and x_train.dtype == np.dtype(int)  # 3 // 10 = 0 test rows
    sequence.split_data(["77+1 _78 "[:8]], seed=0)
    assert list(sequence.get_vocab()[0])[-1] == "7"  # the vocabulary grows across calls


def test_addition_lines_have_the_books_format():
    lines = sequence.generate_addition(3000, seed=1)
    pattern = re.compile(r"(\d{1,3})\+(\d{1,3}) *_(\d{1,4}) *")
    pairs = set()
    for line in lines:
        assert len(line) == 12 and line.index("_") == 7
        a, b, s = map(int, pattern.fullmatch(line).groups())
        assert a + b == s and str(a) + "+" + str(b) == line[:7].rstrip()  # no leading zeros
        pairs.add((min(a, b), max(a, b)))
    assert len(pairs) == len(lines)  # no pair twice
    assert lines == sequence.generate_addition(3000, seed=1) and lines != sequence.generate_addition(3000, seed=2)
    digits = [len(str(int(line.split("+")[0]))) for line in lines]
    assert {1, 2, 3} <= set(digits)


MONTH_NAMES = set(sequence.MONTHS) | {m[:3] for m in sequence.MONTHS}


def test_date_lines_say_the_date_they_answer():
    import datetime

    for line in sequence.generate_date(2000, seed=4):
        assert len(line) == 40 and line.index("_") == 29
        question, answer = line[:29].rstrip(), line[30:]
        date = datetime.date.fromisoformat(answer)
        assert 1970 <= date.year <= 2017
        slash = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d\d)", question)
        if slash:
            assert tuple(map(int, slash.groups())) == (date.month, date.day, date.year % 100)
            continue
        words = re.fullmatch(r"(?:([A-Za-z]+), )?([A-Za-z]+) (\d{1,2}), (\d{4})", question)
        weekday, month, day, year = words.groups()
        assert question in (question.lower(), question.upper(), question.title())
        assert sequence.MONTHS[date.month - 1].startswith(month.lower()) and month.lower() in MONTH_NAMES
        assert (int(day), int(year)) == (date.day, date.year)
        assert weekday is None or weekday.lower() == sequence.WEEKDAYS[date.weekday()]


def test_where_files_are_looked_for(tmp_path, monkeypatch, capsys, fresh_vocab):
    lines = sequence.generate_addition(20, seed=0)
    monkeypatch.chdir(tmp_path)
    assert sequence.load_data("mine.txt") is None
    assert capsys.readouterr().out == "No file: mine.txt\n"  # the book's message
    (tmp_path / "dataset").mkdir()
    sequence.write_data("dataset/mine.txt", lines)
    found = sequence.load_data("mine.txt")  # the working directory's dataset/
    other = tmp_path / "elsewhere"
    other.mkdir()
    sequence.write_data(str(other / "mine.txt"), lines[::-1])
    monkeypatch.setenv(sequence.DIRECTORY_VARIABLE, str(other))
    from_env = sequence.load_data("mine.txt")  # $FASTNN_SEQUENCE_DIR first
    assert not np.array_equal(found[0][0], from_env[0][0])
    _same(sequence.load_data(str(other / "mine.txt")), from_env)  # a path as given


def test_crlf_and_missing_final_line_end_read_alike(tmp_path, fresh_vocab):
    lines = sequence.generate_date(30, seed=2)
    (tmp_path / "a.txt").write_bytes("".join(line + "\r\n" for line in lines).encode())
    (tmp_path / "b.txt").write_text("\n".join(lines))  # no line end after the last line
    _same(sequence.load_data(str(tmp_path / "a.txt")), sequence.load_data(str(tmp_path / "b.txt")))


@pytest.mark.parametrize("text, message", [
    ("1+2 _3\n12+3\n", "line 2: no '_'"),
    ("1+2 _3\n12+34_46\n", "line 2: question and answer are 5 and 3 characters wide, but line 1's are 4 and 2"),
    ("", "holds no examples"),
    ("1+2 _3\0\n", "not a text file"),
])
def test_bad_files_are_named(tmp_path, text, message, fresh_vocab):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        sequence.load_data(str(path))


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(TypeError, match="file_name must be a path"):
        sequence.load_data(3)
    with pytest.raises(ValueError, match="n must be >= 1"):
        sequence.generate_addition(0)
    with pytest.raises(ValueError, match="n must be at most 500500"):
        sequence.generate_addition(500501)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        sequence.generate_date(5, seed=-1)
    with pytest.raises(TypeError, match="lines must be a list"):
        sequence.split_data("1+1_2")
    with pytest.raises(ValueError, match="line 2 holds a line break"):
        sequence.write_data(str(tmp_path / "x.txt"), ["1+1_2", "1+\n_2"])
    assert not (tmp_path / "x.txt").exists()
