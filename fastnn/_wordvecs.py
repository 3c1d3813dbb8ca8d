"""Word vectors and their vocabulary in one .npz file, behind fastnn.io.save_word_vectors and load_word_vectors: the
vectors as the array ``word_vecs`` (its dtype kept: the book saves float16), the words in id order as the JSON text
entry ``vocab``. No pickle; written atomically by fastnn.io.save_arrays, read with fastnn/_npz.py's bounded reader.
"""
import json
from collections.abc import Mapping

import numpy as np

from . import _checks, _npz

FORMAT = "fastnn word vectors"
VERSION = 1
MAX_VOCAB_CHARS = 1 << 26  # the vocabulary's JSON text (PTB's 10,000 words: about 100,000 characters)


def words_in_id_order(word_to_id, id_to_word, n_rows):
    """The list of words, id_to_word[0], ..., id_to_word[n_rows - 1], after checking that the two dictionaries are
    each other's inverse over the ids 0..n_rows-1; TypeError or ValueError naming the argument otherwise."""
    for name, d in (("word_to_id", word_to_id), ("id_to_word", id_to_word)):
        if not isinstance(d, Mapping):
            raise TypeError(f"{name} must be a dict; got {type(d).__name__}")
        if len(d) != n_rows:
            raise ValueError(f"{name} holds {len(d)} entries, but word_vecs has {n_rows} rows (one per word)")
    words = []
    for i in range(n_rows):
        word = id_to_word.get(i)
        if not isinstance(word, str):
            raise ValueError(f"id_to_word[{i}] is {word!r:.80}: id_to_word must map each id 0..{n_rows - 1} to a "
                             f"str")
        if word_to_id.get(word) != i:
            raise ValueError(f"word_to_id[{word!r:.80}] is {word_to_id.get(word)!r:.80}, but id_to_word[{i}] is "
                             f"{word!r:.80}: the dictionaries must be each other's inverse")
        words.append(word)
    return words


def entries(word_vecs, word_to_id, id_to_word):
    """The checked .npz entries of fastnn.io.save_word_vectors: {'word_vecs': the array as given, 'vocab': the
    words in id order as JSON text}."""
    vecs = _checks.as_array(word_vecs, "word_vecs")
    if vecs.dtype.kind != "f":
        raise TypeError(f"word_vecs must be a float array (float16, float32 or float64); got dtype {vecs.dtype}")
    if vecs.ndim != 2:
        raise ValueError(f"word_vecs must be 2-D (one row per word); got shape {vecs.shape}")
    words = words_in_id_order(word_to_id, id_to_word, vecs.shape[0])
    vocab = json.dumps({"format": FORMAT, "version": VERSION, "words": words})
    return {"word_vecs": vecs, "vocab": np.array(vocab)}


def load(file_name):
    """fastnn.io.load_word_vectors: returns {'word_vecs', 'word_to_id', 'id_to_word'}."""
    file_name = _checks.path(file_name, "file_name")
    where = f"file_name {file_name!r}"
    with _checks.open_regular_file(file_name, "file_name") as f:
        npz = _npz.Npz(f, f"{where} is not a readable fastnn word-vector file (.npz)", stored_only=True)
        try:
            if sorted(npz.keys) != ["vocab", "word_vecs"]:
                raise ValueError(f"{where} holds {sorted(npz.keys)!r:.200}; a word-vector file holds 'vocab' and "
                                 f"'word_vecs' (fastnn.io.save_word_vectors)")
            vecs, text = npz.member("word_vecs"), npz.member("vocab")
            if len(vecs.shape) != 2 or vecs.dtype.kind != "f":
                raise ValueError(f"{where}: word_vecs has shape {vecs.shape} dtype {vecs.dtype}, not a 2-D float "
                                 f"array")
            if text.shape != () or text.dtype.kind != "U" or text.dtype.itemsize > 4 * MAX_VOCAB_CHARS:
                raise ValueError(f"{where}: vocab is {text.dtype} of shape {text.shape}, not one JSON text of at "
                                 f"most {MAX_VOCAB_CHARS} characters")
            words = _words(str(npz.read("vocab")), vecs.shape[0], where)
            word_vecs = npz.read("word_vecs")
        finally:
            npz.close()
    return {"word_vecs": word_vecs, "word_to_id": {w: i for i, w in enumerate(words)},
            "id_to_word": dict(enumerate(words))}


def _words(text, n_rows, where):
    """The list of words of the vocabulary's JSON ``text``, checked: distinct strs, one per row."""
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{where}: vocab is not valid JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{where}: vocab is not a fastnn word-vector vocabulary")
    if meta.get("version") != VERSION:
        raise ValueError(f"{where}: format version {meta.get('version')!r:.40}; this fastnn reads version {VERSION}")
    words = meta.get("words")
    if not isinstance(words, list) or len(words) != n_rows or not all(isinstance(w, str) for w in words):
        raise ValueError(f"{where}: vocab must list {n_rows} words (one per row of word_vecs) as strs")
    if len(set(words)) != len(words):
        raise ValueError(f"{where}: vocab lists a word twice")
    return words
