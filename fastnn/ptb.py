"""The Penn Treebank the way the second book reads it (its ``dataset/ptb.py``), offline, and a converter that
writes any plain text in PTB's format.

:func:`load_data` returns the book's ``corpus, word_to_id, id_to_word`` from ``ptb.train.txt``, ``ptb.valid.txt``
and ``ptb.test.txt`` in a local directory: the ``directory`` argument, else ``$FASTNN_PTB_DIR``, else the working
directory's ``dataset/``. Nothing is ever downloaded, and nothing is written (no cache: PTB's 5 MB training file
reads in well under a second). Ids are the book's: the training file's words numbered in order of first
appearance, each line break read as the word ``<eos>``.

:func:`write_ptb_format` (the ``fastnn ptb-format`` command) turns plain text into such files: lower case,
punctuation dropped, numbers written ``N``, one sentence a line, a contiguous train/valid/test split, and the
training part's most frequent words kept (the rest written ``<unk>``). Debian's public-domain King James Bible
makes a corpus of PTB's size: ``apt-get install bible-kjv``, then
``bible -f gen1:1-rev22:21 | fastnn ptb-format - --drop-first-word --out dataset``.

Files are read whole but bounded: at most :data:`MAX_FILE_BYTES` bytes of UTF-8 text (a binary file or a larger one
is refused with the reason) and at most :data:`MAX_WORDS` distinct words.
"""
import collections
import os
import re
import sys
from array import array

import numpy as np

from . import _checks
from .io import write_atomically

__all__ = ["load_data", "load_vocab", "sentences", "write_ptb_format", "read_text"]

FILES = {"train": "ptb.train.txt", "valid": "ptb.valid.txt", "test": "ptb.test.txt"}
DIRECTORY_VARIABLE = "FASTNN_PTB_DIR"
EOS, UNK, NUMBER = "<eos>", "<unk>", "N"
VOCAB_SIZE = 10_000  # PTB's: 9,999 distinct words in its training file, and <eos>
MAX_FILE_BYTES = 64 << 20  # PTB's training file has 5 MB, the King James Bible 4.3 MB
MAX_WORDS = 1_000_000  # distinct words of a training file (PTB: 10,000)
# the book loader's caches (dataset/ptb.py): it reads these instead of the text files once they exist
BOOK_CACHES = ("ptb.vocab.pkl", "ptb.train.npy", "ptb.valid.npy", "ptb.test.npy")

_TOKEN = re.compile(r"\S+")  # str.split()'s words: the same whitespace (str.isspace)
_ALIASES = {"train": "train", "val": "valid", "valid": "valid", "test": "test"}


# --- reading ----------------------------------------------------------------------------------------------------
def read_text(path, name="path"):
    """The text of a UTF-8 file (``path``, or ``'-'`` for standard input), with ``\\r\\n`` and ``\\r`` line ends
    read as ``\\n`` (as Python's text mode does). Refused with a ValueError naming ``name``: not a regular file,
    more than MAX_FILE_BYTES bytes, a NUL byte (binary data) or bytes that are not UTF-8."""
    if path == "-":
        data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        where = "standard input"
    else:
        path = _checks.path(path, name)
        with _checks.open_regular_file(path, name) as f:
            data = f.read(MAX_FILE_BYTES + 1)  # (a file that grows while read stops here too)
        where = repr(path)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"{name} {where} holds more than {MAX_FILE_BYTES >> 20} MiB (fastnn.ptb.MAX_FILE_BYTES; "
                         f"PTB's largest file has 5 MB)")
    zero = data.find(b"\0")
    if zero >= 0:
        raise ValueError(f"{name} {where} is not a text file (a NUL byte at byte {zero})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name} {where} is not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 4]!r})"
                         ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _directory(directory):
    """(the directory to read, how it was chosen)."""
    if directory is not None:
        return _checks.path(directory, "directory"), "the directory argument"
    if os.environ.get(DIRECTORY_VARIABLE):
        return os.environ[DIRECTORY_VARIABLE], f"${DIRECTORY_VARIABLE}"
    return os.path.join(os.getcwd(), "dataset"), "the working directory's dataset/"


def _howto(directory, how):
    return (f"looked in {directory} ({how}). fastnn never downloads PTB: put ptb.train.txt, ptb.valid.txt and "
            f"ptb.test.txt there (or pass directory=..., or set {DIRECTORY_VARIABLE}), or write PTB-format files "
            f"from any plain text with 'fastnn ptb-format TEXT --out DIR' (fastnn.ptb.write_ptb_format); for "
            f"example Debian's King James Bible: apt-get install bible-kjv, then "
            f"bible -f gen1:1-rev22:21 | fastnn ptb-format - --drop-first-word --out DIR")


def _file_text(kind, directory):
    """The text of the PTB file ``kind`` in ``directory`` (as _directory returns it), or FileNotFoundError saying
    where it was looked for and how to make one."""
    directory, how = directory
    path = os.path.join(directory, FILES[kind])
    if not os.path.exists(path):
        missing = FILES[kind] if os.path.isdir(directory) else f"directory {directory}"
        raise FileNotFoundError(f"{missing} not found: {_howto(directory, how)}")
    return read_text(path, name="PTB file")


def _word_ids(text, word_to_id, id_to_word, file_name, grow):
    """The ids of the words of ``text`` read the book's way (each line break the word <eos>), as an int64
    array('q'). With ``grow``, a new word gets the next id; without, it is a ValueError naming it."""
    ids = array("q")
    for match in _TOKEN.finditer(text.replace("\n", EOS)):
        word = match.group()
        i = word_to_id.get(word)
        if i is None:
            if not grow:
                line = text.count("\n", 0, match.start()) + 1
                raise ValueError(f"{file_name}, line {line}: word {word[:100]!r} is not in the vocabulary of "
                                 f"{FILES['train']} (the book's loader fails here too; write_ptb_format writes "
                                 f"such words as {UNK})")
            if len(word_to_id) == MAX_WORDS:
                raise ValueError(f"{file_name} holds more than {MAX_WORDS} distinct words (fastnn.ptb.MAX_WORDS; "
                                 f"PTB has 10,000): not a PTB-format file")
            i = word_to_id[word] = len(id_to_word)
            id_to_word[i] = word
        ids.append(i)
    return ids


def _vocab_and_train(directory):
    """(training ids, word_to_id, id_to_word) from the training file."""
    word_to_id, id_to_word = {}, {}
    ids = _word_ids(_file_text("train", directory), word_to_id, id_to_word, FILES["train"], grow=True)
    if not ids:
        raise ValueError(f"{FILES['train']} in {directory[0]} holds no words")
    return ids, word_to_id, id_to_word


def load_vocab(directory=None):
    """(word_to_id, id_to_word) of the training file ``ptb.train.txt``, as the book's ``load_vocab`` returns them:
    {word: id} and {id: word}, ids in order of first appearance, ``<eos>`` for each line break. ``directory``: see
    :func:`load_data`."""
    _, word_to_id, id_to_word = _vocab_and_train(_directory(directory))
    return word_to_id, id_to_word


def load_data(data_type="train", directory=None):
    """The book's ``ptb.load_data``: returns ``(corpus, word_to_id, id_to_word)``, where ``corpus`` is the 1-D int
    array of the word ids of ``data_type``'s file ('train', 'val' or 'valid', 'test'), and the dictionaries are the
    training file's vocabulary (:func:`load_vocab`). The files are read from ``directory``, else
    ``$FASTNN_PTB_DIR``, else ``./dataset``; nothing is downloaded or written. A missing file is a
    FileNotFoundError saying where it was looked for and how to make one; a validation or test word that the
    training file lacks is a ValueError naming it (the book's loader raises KeyError)."""
    if not isinstance(data_type, str) or data_type not in _ALIASES:
        raise ValueError(f"data_type must be one of {sorted(_ALIASES)}; got {data_type!r}")
    kind, where = _ALIASES[data_type], _directory(directory)
    ids, word_to_id, id_to_word = _vocab_and_train(where)
    if kind != "train":
        ids = _word_ids(_file_text(kind, where), word_to_id, id_to_word, FILES[kind], grow=False)
    corpus = np.frombuffer(ids, dtype=np.int64).astype(int)  # NumPy's default int, as np.array of the book's list
    return corpus, word_to_id, id_to_word


# --- writing ----------------------------------------------------------------------------------------------------
# a sentence ends at . ? or ! (closing quotes or brackets may follow) before white space; a blank line ends one too
_SENTENCE_END = re.compile(r"(?<=[.?!])[\"'\u2019\u201d)\]]*\s+")
# a word: letters and digits, joined by inner apostrophes or hyphens ("lord's", "well-beloved"); a number with
# inner separators ("1,000", "3.14", "1:1") is one word. Everything else is punctuation, dropped.
_WORD = re.compile(r"\d+(?:[.,:/]\d+)+|[^\W_]+(?:['\u2019-][^\W_]+)*")
_DIGIT = re.compile(r"\d")


def _words(sentence):
    """The sentence's words, lower case, a word holding a digit written N."""
    return [NUMBER if _DIGIT.search(w) else w for w in _WORD.findall(sentence.lower())]


def _paragraphs(text_lines, drop_first_word):
    """The text's paragraphs (runs of non-blank lines joined by spaces), each line's first word dropped when
    ``drop_first_word``."""
    if isinstance(text_lines, str):
        text_lines = text_lines.splitlines()
    elif isinstance(text_lines, (bytes, bytearray)) or not hasattr(text_lines, "__iter__"):
        raise TypeError(f"text_lines must be a str or an iterable of str lines; got {type(text_lines).__name__}")
    lines = []
    for number, line in enumerate(text_lines, 1):
        if not isinstance(line, str):
            raise TypeError(f"text_lines: line {number} is a {type(line).__name__}, not a str")
        if drop_first_word:
            parts = line.split(None, 1)
            line = parts[1] if len(parts) == 2 else ""
        if line.strip():
            lines.append(line)
        elif lines:
            yield " ".join(lines)
            lines = []
    if lines:
        yield " ".join(lines)


def sentences(text_lines, drop_first_word=False):
    """The sentences of a plain text in PTB's form: returns a list of lists of words (lower case, punctuation
    dropped, numbers written ``N``), empty sentences left out. ``text_lines``: a str, or an iterable of str lines
    (an open text file). A sentence ends at ``.``, ``?`` or ``!`` before white space, and at a blank line; line
    breaks inside a paragraph are spaces. ``drop_first_word``: each line's first word is dropped first (the
    ``Ge1:1`` verse references of ``bible -f``)."""
    out = []
    for paragraph in _paragraphs(text_lines, drop_first_word):
        out += [words for words in map(_words, _SENTENCE_END.split(paragraph)) if words]
    return out


def _fraction(value, name):
    value = _checks.real_number(value, name, nonnegative=True)
    if value >= 1:
        raise ValueError(f"{name} must be a fraction in [0, 1); got {value}")
    return value


def _split(sents, valid, test):
    """{'train', 'valid', 'test': the sentences}: contiguous parts, in the text's order (as PTB's sections)."""
    n = len(sents)
    n_valid, n_test = round(n * valid), round(n * test)
    n_train = n - n_valid - n_test
    if n_train < 1 or (valid and not n_valid) or (test and not n_test):
        raise ValueError(f"the text holds {n} sentence{'s' * (n != 1)}: too few for a split with valid={valid} "
                         f"and test={test} (each part needs one)")
    return {"train": sents[:n_train], "valid": sents[n_train:n_train + n_valid], "test": sents[n_train + n_valid:]}


def _kept_words(train, vocab_size):
    """The training part's vocab_size - 2 most frequent words (ties: alphabetical), leaving room for <unk> and
    <eos>; never all of its words, so that <unk> occurs in the training file and every validation or test word
    has an id in the book's loader."""
    counts = collections.Counter(w for sentence in train for w in sentence)
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    return set(ranked[:min(vocab_size - 2, len(ranked) - 1)])


def write_ptb_format(text_lines, out_dir, *, vocab_size=VOCAB_SIZE, valid=0.1, test=0.1, drop_first_word=False,
                     overwrite=False):
    """Write a plain text as PTB's ``ptb.train.txt``, ``ptb.valid.txt`` and ``ptb.test.txt`` in the directory
    ``out_dir`` (created when missing, in an existing directory; each file written atomically); returns
    {'vocabulary': the vocabulary size the book's loader will see, 'train'|'valid'|'test': {'path', 'sentences',
    'words', 'unknown': words written <unk>}}.

    The text is cut into :func:`sentences` (``drop_first_word``: see there), split in order: the first
    ``1 - valid - test`` of the sentences train, then ``valid``, then ``test``. The training part's
    ``vocab_size - 2`` most frequent words are kept (ties alphabetically), the others written ``<unk>`` in all three
    files, so the loader's vocabulary, ``<unk>`` and ``<eos>`` included, has at most ``vocab_size`` words
    (PTB's 10,000 by default); a text with fewer distinct words loses only its rarest one, so that ``<unk>`` is
    in the training file. Lines are written as PTB's: `` word word ... \\n``, a space at both ends.

    Existing PTB files in ``out_dir`` are refused unless ``overwrite``. Writing removes the caches the book's
    loader keeps there (BOOK_CACHES: ``ptb.vocab.pkl``, ``ptb.train.npy``, ...), which it would read instead of
    the new files."""
    vocab_size = _checks.integer(vocab_size, "vocab_size", minimum=3)
    valid, test = _fraction(valid, "valid"), _fraction(test, "test")
    if valid + test >= 1:
        raise ValueError(f"valid + test must be below 1 (the rest is the training part); got {valid} + {test}")
    out_dir = _checks.path(out_dir, "out_dir")
    parent = os.path.dirname(os.path.abspath(out_dir))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"out_dir {out_dir!r} is a file, not a directory")
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"out_dir {out_dir!r}: directory {parent!r} does not exist")
    paths = {kind: os.path.join(out_dir, name) for kind, name in FILES.items()}
    existing = [name for kind, name in FILES.items() if os.path.exists(paths[kind])]
    if existing and not overwrite:
        raise FileExistsError(f"out_dir {out_dir!r} already holds {', '.join(existing)} (overwrite=True replaces "
                              f"them)")
    parts = _split(sentences(text_lines, drop_first_word), valid, test)
    kept = _kept_words(parts["train"], vocab_size)
    os.makedirs(out_dir, exist_ok=True)
    for cache in BOOK_CACHES:
        if os.path.lexists(os.path.join(out_dir, cache)):
            os.unlink(os.path.join(out_dir, cache))
    summary = {"vocabulary": len(kept) + 2}
    for kind, part in parts.items():
        lines = [[w if w in kept else UNK for w in sentence] for sentence in part]
        _write_lines(paths[kind], lines)
        summary[kind] = {"path": paths[kind], "sentences": len(lines), "words": sum(map(len, lines)),
                         "unknown": sum(line.count(UNK) for line in lines)}
    return summary


def _write_lines(path, lines):
    write_atomically(path, lambda f: f.writelines(f" {' '.join(words)} \n" for words in lines), text=True,
                     name="out_dir")
