"""The second book's ``dataset/sequence.py`` (chapters 7 and 8: addition and dates as character sequences), and
generators of such data sets, so that nothing has to be downloaded.

The file format: one example a line, the question, then ``_`` and the answer; every question has the same width
and so has every answer (padded with spaces). :func:`load_data` returns the book's
``(x_train, t_train), (x_test, t_test)``: int arrays of character ids, rows shuffled by ``np.random.seed(seed)``
and ``np.random.shuffle`` (as the book, so the same seed gives the book's split), the last 10% the test set. The
answer keeps its leading ``_`` (the decoder's start mark). Character ids are numbered in order of first
appearance in module-level dictionaries that grow across calls, as the book's (:func:`get_vocab` returns them).

Where the file is looked for: ``file_name`` as given (absolute, or relative to the working directory) when it
exists; else in ``$FASTNN_SEQUENCE_DIR``; else in the working directory's ``dataset/``. (The book reads only
beside its own module.) A missing file prints ``No file: <file_name>`` and returns None, as the book does.

Generators, fastnn's own: :func:`generate_addition` (the book's ``addition.txt`` format: ``'16+75  _91  '``,
sums of two numbers of 1 to 3 digits) and :func:`generate_date` (``date.txt``'s: dates written in a dozen
human-readable ways -> ``_YYYY-MM-DD``) return lines; :func:`write_data` writes lines to a file (atomically) that
both the book's loader and :func:`load_data` read; :func:`split_data` turns lines into load_data's arrays without
a file.
"""
import datetime
import os

import numpy as np

from . import _checks
from .io import write_atomically
from .ptb import read_text

__all__ = ["load_data", "get_vocab", "split_data", "generate_addition", "generate_date", "write_data"]

DIRECTORY_VARIABLE = "FASTNN_SEQUENCE_DIR"
MARK = "_"  # between question and answer; the answer starts with it
TEST_FRACTION = 10  # the last len // 10 rows are the test set

id_to_char = {}
char_to_id = {}


def _update_vocab(text):
    for char in text:
        if char not in char_to_id:
            new_id = len(char_to_id)
            char_to_id[char] = new_id
            id_to_char[new_id] = char


def _find(file_name):
    """The path of the data file ``file_name`` (see the module docstring), or None."""
    candidates = [file_name]
    if os.environ.get(DIRECTORY_VARIABLE):
        candidates.append(os.path.join(os.environ[DIRECTORY_VARIABLE], file_name))
    candidates.append(os.path.join(os.getcwd(), "dataset", file_name))
    return next((path for path in candidates if os.path.isfile(path)), None)


def _split_line(line, number, where):
    """(question, answer) of one line, checked: it holds the mark, and the widths of the first line."""
    idx = line.find(MARK)
    if idx < 0:
        raise ValueError(f"{where}, line {number}: no '{MARK}' between question and answer: {line[:80]!r}")
    return line[:idx], line[idx:]


def _examples(lines, where):
    """(questions, answers) of the lines, all of the first line's widths, or a ValueError naming the line."""
    if isinstance(lines, (str, bytes)) or not hasattr(lines, "__iter__"):
        raise TypeError(f"lines must be a list of str lines; got {type(lines).__name__}")
    questions, answers = [], []
    for number, line in enumerate(lines, 1):
        if not isinstance(line, str):
            raise TypeError(f"lines: line {number} is a {type(line).__name__}, not a str")
        q, a = _split_line(line, number, where)
        if questions and (len(q), len(a)) != (len(questions[0]), len(answers[0])):
            raise ValueError(f"{where}, line {number}: question and answer are {len(q)} and {len(a)} characters "
                             f"wide, but line 1's are {len(questions[0])} and {len(answers[0])} (pad them alike)")
        questions.append(q)
        answers.append(a)
    if not questions:
        raise ValueError(f"{where} holds no examples")
    return questions, answers


def _ids(texts):
    """The int array (len(texts), width) of the texts' character ids."""
    return np.array([[char_to_id[c] for c in text] for text in texts], dtype=int).reshape(len(texts), -1)


def split_data(lines, seed=1984, where="lines"):
    """The book's ``load_data`` on ``lines`` (str lines 'question_answer', without line ends): returns
    ``(x_train, t_train), (x_test, t_test)`` (see the module docstring); the vocabulary grows with their
    characters. ``seed`` None shuffles with NumPy's global state as it is. ``where`` names the lines in errors."""
    questions, answers = _examples(lines, where)
    for q, a in zip(questions, answers):  # the book's order: each question, then its answer
        _update_vocab(q)
        _update_vocab(a)
    x, t = _ids(questions), _ids(answers)

    indices = np.arange(len(x))
    if seed is not None:
        np.random.seed(seed)
    np.random.shuffle(indices)
    x, t = x[indices], t[indices]

    split_at = len(x) - len(x) // TEST_FRACTION
    return (x[:split_at], t[:split_at]), (x[split_at:], t[split_at:])


def load_data(file_name='addition.txt', seed=1984):
    """The book's ``sequence.load_data``: returns ``(x_train, t_train), (x_test, t_test)`` of the file
    ``file_name`` (looked for as the module docstring says), or prints ``No file: <file_name>`` and returns None
    when there is none. A line without '_' or of another width than the first is a ValueError naming it. Lines end
    at '\\n' ('\\r\\n' too); the book drops a line's last character whatever it is, fastnn only a line end."""
    file_name = _checks.path(file_name, "file_name")
    path = _find(file_name)
    if path is None:
        print('No file: %s' % file_name)
        return None
    text = read_text(path, name="file_name")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the last line's end
    return split_data(lines, seed, where=f"file_name {path!r}")


def get_vocab():
    """The book's ``get_vocab``: returns ``(char_to_id, id_to_char)``, the module's dictionaries (they grow with
    each load)."""
    return char_to_id, id_to_char


def _rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(None if seed is None else _checks.integer(seed, "seed", minimum=0))


# --- addition ------------------------------------------------------------------------------------------------------
ADDITION_DIGITS = 3  # operands of 1 to 3 digits
ADDITION_QUESTION_WIDTH = 2 * ADDITION_DIGITS + 1  # '999+999'
ADDITION_ANSWER_WIDTH = ADDITION_DIGITS + 2  # '_1998'
ADDITION_PAIRS = (10 ** ADDITION_DIGITS) * (10 ** ADDITION_DIGITS + 1) // 2  # unordered operand pairs


def _operands(rng, size):
    """Random operands as addition.txt has them: a length of 1 to 3 digits, equally likely, then digits."""
    digits = rng.integers(1, ADDITION_DIGITS + 1, size)
    return rng.integers(0, 10 ** digits)


def generate_addition(n=50000, seed=None):
    """Returns ``n`` lines of an addition data set in the book's ``addition.txt`` format: ``'a+b'`` padded with
    spaces to 7 characters, then ``'_'`` and the sum padded to 4 (``'16+75  _91  '``). Operands have 1 to 3 digits
    (the number of digits equally likely, then uniform digits, so small numbers are frequent), and no unordered
    pair {a, b} occurs twice (n is at most 500,500). ``seed``: an int or a np.random.Generator (None: fresh)."""
    n = _checks.integer(n, "n", minimum=1)
    if n > ADDITION_PAIRS:
        raise ValueError(f"n must be at most {ADDITION_PAIRS} (the distinct pairs of numbers below "
                         f"{10 ** ADDITION_DIGITS}); got {n}")
    rng = _rng(seed)
    seen, lines = set(), []
    while len(lines) < n:
        for a, b in zip(_operands(rng, n).tolist(), _operands(rng, n).tolist()):
            if (min(a, b), max(a, b)) in seen:
                continue
            seen.add((min(a, b), max(a, b)))
            lines.append(f"{a}+{b}".ljust(ADDITION_QUESTION_WIDTH) + (MARK + str(a + b)).ljust(ADDITION_ANSWER_WIDTH))
            if len(lines) == n:
                break
    return lines


# --- dates ---------------------------------------------------------------------------------------------------------
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
FIRST_DATE, LAST_DATE = datetime.date(1970, 1, 1), datetime.date(2017, 12, 31)  # date.txt's range of years
DATE_QUESTION_WIDTH = 29  # 'WEDNESDAY, SEPTEMBER 27, 1989'
CASES = (str.lower, str.title, str.upper)


def _written(date, style, case):
    """``date`` written in ``style`` (0: 'm/d/yy', 1: 'Sep 5, 2006', 2: 'September 5, 2006', 3: 'Friday,
    October 9, 2015') and letter ``case``."""
    if style == 0:
        return f"{date.month}/{date.day}/{date.year % 100:02d}"
    month = MONTHS[date.month - 1]
    text = f"{month[:3] if style == 1 else month} {date.day}, {date.year}"
    if style == 3:
        text = f"{WEEKDAYS[date.weekday()]}, {text}"
    return CASES[case](text)


def generate_date(n=50000, seed=None):
    """Returns ``n`` lines of a date data set in the format of the book's ``date.txt``: a date between 1970 and
    2017 written one of several ways ('9/27/94', 'sep 27, 1994', 'September 27, 1994', 'TUESDAY, SEPTEMBER 27,
    1994'; lower, title or upper case), padded with spaces to 29 characters, then ``'_'`` and the ISO date
    (``'_1994-09-27'``). ``seed``: an int or a np.random.Generator (None: fresh)."""
    n = _checks.integer(n, "n", minimum=1)
    rng = _rng(seed)
    days = rng.integers(0, (LAST_DATE - FIRST_DATE).days + 1, n).tolist()
    styles = rng.integers(0, 4, n).tolist()
    cases = rng.integers(0, len(CASES), n).tolist()
    lines = []
    for day, style, case in zip(days, styles, cases):
        date = FIRST_DATE + datetime.timedelta(days=day)
        question = _written(date, style, case)
        lines.append(question.ljust(DATE_QUESTION_WIDTH) + MARK + date.isoformat())
    return lines


def write_data(file_name, lines):
    """Write ``lines`` (str lines 'question_answer', all of the same widths) to ``file_name``, one a line, ending
    in '\\n', atomically: a file that the book's ``sequence.load_data`` and :func:`load_data` read. Returns None."""
    file_name = _checks.path(file_name, "file_name")
    lines = list(lines) if not isinstance(lines, (str, bytes)) and hasattr(lines, "__iter__") else lines
    _examples(lines, "lines")  # checked before anything is written
    for number, line in enumerate(lines, 1):
        if "\n" in line or "\r" in line:
            raise ValueError(f"lines: line {number} holds a line break; give one example per line")
    write_atomically(file_name, lambda f: f.write("".join(line + "\n" for line in lines)), text=True)
