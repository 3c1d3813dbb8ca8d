"""fastnn.io.save_word_vectors / load_word_vectors (issue #26): word vectors and their vocabulary in one .npz
file, no pickle, written atomically and read back checked; the second book's trained vectors round-trip."""
import json
import os
import zipfile

import numpy as np
import pytest

import book_scripts
from fastnn import io

WORDS = ["you", "say", "goodbye", "and", "i", "hello", "."]


def _vocab(words=WORDS):
    return {w: i for i, w in enumerate(words)}, dict(enumerate(words))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_round_trip_keeps_vectors_dtype_and_vocabulary(tmp_path, dtype):
    vecs = np.random.default_rng(0).standard_normal((len(WORDS), 3)).astype(dtype)
    word_to_id, id_to_word = _vocab()
    io.save_word_vectors(tmp_path / "v.npz", vecs, word_to_id, id_to_word)
    loaded = io.load_word_vectors(str(tmp_path / "v.npz"))
    assert list(loaded) == ["word_vecs", "word_to_id", "id_to_word"]
    assert loaded["word_vecs"].dtype == dtype and np.array_equal(loaded["word_vecs"], vecs)
    assert loaded["word_to_id"] == word_to_id and loaded["id_to_word"] == id_to_word
    with np.load(tmp_path / "v.npz", allow_pickle=False) as npz:  # plain .npz, no pickle inside
        assert sorted(npz.files) == ["vocab", "word_vecs"]
        assert json.loads(str(npz["vocab"]))["words"] == WORDS


def test_words_that_json_must_escape_round_trip(tmp_path):
    words = ['"quoted"', "back\\slash", "new\nline", "caf\u00e9", "\u6f22\u5b57", "\U0001f600", "<eos>", ""]
    io.save_word_vectors(tmp_path / "v.npz", np.ones((len(words), 1)), *_vocab(words))
    assert io.load_word_vectors(tmp_path / "v.npz")["id_to_word"] == dict(enumerate(words))


@pytest.mark.books
def test_the_books_trained_vectors_round_trip(tmp_path):
    params = io.load_pickle(book_scripts.shared_dir() / "book2" / "ch04" / "cbow_params.pkl")
    io.save_word_vectors(tmp_path / "cbow_params.npz", **params)
    loaded = io.load_word_vectors(tmp_path / "cbow_params.npz")
    assert loaded["word_vecs"].dtype == np.float16 and np.array_equal(loaded["word_vecs"], params["word_vecs"])
    assert loaded["word_to_id"] == params["word_to_id"] and loaded["id_to_word"] == params["id_to_word"]


def test_a_refused_save_leaves_the_old_file(tmp_path):
    path = tmp_path / "v.npz"
    io.save_word_vectors(path, np.ones((len(WORDS), 2)), *_vocab())
    before = path.read_bytes()
    word_to_id, id_to_word = _vocab()
    word_to_id["say"] = 5  # no longer the inverse of id_to_word
    with pytest.raises(ValueError, match=r"word_to_id\['say'\] is 5, but id_to_word\[1\] is 'say'"):
        io.save_word_vectors(path, np.zeros((len(WORDS), 2)), word_to_id, id_to_word)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["v.npz"]


@pytest.mark.parametrize("change, words", [
    (lambda w2i, i2w: i2w.pop(3), "id_to_word holds 6 entries"),
    (lambda w2i, i2w: i2w.update({3: 3}), "id_to_word[3] is 3"),
    (lambda w2i, i2w: (i2w.pop(6), i2w.update({7: "."})), "id_to_word[6] is None"),
    (lambda w2i, i2w: i2w.update({1: "you"}), "word_to_id['you'] is 0, but id_to_word[1] is 'you'"),
    (lambda w2i, i2w: w2i.update({"extra": 7}), "word_to_id holds 8 entries")])
def test_dictionaries_that_are_not_each_others_inverse_are_refused(tmp_path, change, words):
    word_to_id, id_to_word = _vocab()
    change(word_to_id, id_to_word)
    with pytest.raises(ValueError) as info:
        io.save_word_vectors(tmp_path / "v.npz", np.ones((len(WORDS), 2)), word_to_id, id_to_word)
    assert words in str(info.value)
    assert not (tmp_path / "v.npz").exists()


def _tampered(tmp_path, **members):
    """A word-vector file whose members are replaced or added (None: removed)."""
    good = tmp_path / "good.npz"
    io.save_word_vectors(good, np.ones((len(WORDS), 2), np.float32), *_vocab())
    with np.load(good) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for key, value in members.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


def _vocab_json(**changes):
    meta = {"format": "fastnn word vectors", "version": 1, "words": WORDS}
    meta.update(changes)
    return np.array(json.dumps(meta))


@pytest.mark.parametrize("members, words", [
    ({"vocab": None}, "holds ['word_vecs']"),
    ({"extra": np.ones(2)}, "holds ['extra', 'vocab', 'word_vecs']"),
    ({"word_vecs": np.ones((len(WORDS), 2), np.int32)}, "word_vecs has shape (7, 2) dtype int32"),
    ({"word_vecs": np.ones(len(WORDS))}, "not a 2-D float array"),
    ({"vocab": np.array(["a", "b"])}, "vocab is <U1 of shape (2,)"),
    ({"vocab": np.array("{not json")}, "vocab is not valid JSON"),
    ({"vocab": np.array("[" * 100_000 + "]" * 100_000)}, "vocab is not valid JSON (RecursionError"),
    ({"vocab": np.array(json.dumps(WORDS))}, "not a fastnn word-vector vocabulary"),
    ({"vocab": _vocab_json(version=2)}, "format version 2"),
    ({"vocab": _vocab_json(words=WORDS[:-1])}, "must list 7 words"),
    ({"vocab": _vocab_json(words=WORDS[:-1] + [7])}, "must list 7 words"),
    ({"vocab": _vocab_json(words=WORDS[:-1] + ["you"])}, "lists a word twice")])
def test_damaged_files_are_refused_naming_the_file(tmp_path, members, words):
    path = _tampered(tmp_path, **members)
    with pytest.raises(ValueError) as info:
        io.load_word_vectors(path)
    assert "bad.npz" in str(info.value) and words in str(info.value), str(info.value)


def test_other_files_are_refused(tmp_path):
    (tmp_path / "p.pkl").write_bytes(b"\x80\x04N.")
    with pytest.raises(ValueError, match="not a readable fastnn word-vector file"):
        io.load_word_vectors(tmp_path / "p.pkl")
    np.savez_compressed(tmp_path / "c.npz", word_vecs=np.ones((1, 1)), vocab=_vocab_json(words=["a"]))
    with pytest.raises(ValueError, match="not a readable fastnn word-vector file"):  # written by save_arrays: stored
        io.load_word_vectors(tmp_path / "c.npz")
    with zipfile.ZipFile(tmp_path / "o.npz", "w") as z:  # an object array: never unpickled
        with z.open("word_vecs.npy", "w") as f:
            np.lib.format.write_array(f, np.array([None, 1], dtype=object), allow_pickle=True)
        with z.open("vocab.npy", "w") as f:
            np.lib.format.write_array(f, _vocab_json(words=["a", "b"]))
    with pytest.raises(ValueError, match="not a readable fastnn word-vector file"):
        io.load_word_vectors(tmp_path / "o.npz")
