"""The second book's chapter-4 modules loaded in this process, the book's way or with their imports switched to
fastnn, for tests and tools/measure_word2vec.py (a script's run as a whole is tests/book_scripts.py's business).

``book_module("ch04/negative_sampling_layer.py")`` runs a file with the book's own ``common``;
``model_class(kind, "cbow")`` gives the book's unchanged ``CBOW`` class (or ``SkipGram``) with the names its import
lines bind taken from the book (kind "book"), from fastnn with the book's ``negative_sampling_layer.py``
("common"), from fastnn with ``fastnn.negative_sampling_layer`` ("fastnn"), or ``fastnn.nets``' own ("nets"),
together with the Trainer and Adam classes of that kind. sys.path and sys.modules are restored after each load.
"""
import contextlib
import importlib
import importlib.util
import sys
import types

import numpy as np

import book_scripts

BOOK2 = book_scripts.shared_dir() / "book2"
SCRIPTS = {"cbow": ("ch04/cbow.py", "CBOW"), "skipgram": ("ch04/skip_gram.py", "SkipGram")}
KINDS = ("book", "common", "fastnn", "nets")
_BOOK_PACKAGES = ("common", "ch04", "dataset")


@contextlib.contextmanager
def _isolated_imports(packages, paths, modules=None):
    """Inside: no module whose top name is in ``packages`` is in sys.modules except ``modules`` (name -> module),
    and ``paths`` come first on sys.path. Afterwards sys.path and those sys.modules entries are as before."""
    saved_path = list(sys.path)
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k.split(".")[0] in packages}
    sys.modules.update(modules or {})
    sys.path[:0] = [str(p) for p in paths]
    try:
        yield
    finally:
        sys.path[:] = saved_path
        for k in [k for k in sys.modules if k.split(".")[0] in packages]:
            del sys.modules[k]
        sys.modules.update(saved)


def _execute(path, name, modules, book_path):
    """Run the file ``path`` as module ``name`` with ``modules`` in sys.modules (and the book's directory first on
    sys.path when book_path); returns the module."""
    with _isolated_imports(_BOOK_PACKAGES, [BOOK2] if book_path else [], modules):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def book_module(relative):
    """The book's file ``relative`` (e.g. "ch04/negative_sampling_layer.py") run with the book's ``common``."""
    path = BOOK2 / relative
    if not path.is_file():
        raise FileNotFoundError(f"the book's code is missing: {path} (set FASTNN_SHARED)")
    return _execute(path, "book2_" + path.stem, {}, book_path=True)


def _package(name, **attrs):
    module = types.ModuleType(name)
    module.__path__ = []
    vars(module).update(attrs)
    return module


def model_class(kind, model):
    """(model class, Trainer, Adam) of ``kind`` (one of KINDS) for ``model`` ("cbow" or "skipgram")."""
    script, name = SCRIPTS[model]
    if kind == "nets":
        from fastnn import nets, optimizer, trainer
        return getattr(nets, name), trainer.Trainer, optimizer.Adam
    if kind == "book":
        common = book_module("common/trainer.py"), book_module("common/optimizer.py")
        book = book_module("ch04/" + script.split("/")[1])
        return getattr(book, name), common[0].Trainer, common[1].Adam
    from fastnn import layers, optimizer, trainer
    switched = {"common": _package("common"), "common.np": importlib.import_module("fastnn.np"),
                "common.layers": layers}
    if kind == "common":
        nsl = _execute(BOOK2 / "ch04/negative_sampling_layer.py", "common_nsl", switched, book_path=False)
    else:
        nsl = importlib.import_module("fastnn.negative_sampling_layer")
    modules = dict(switched, ch04=_package("ch04"), **{"ch04.negative_sampling_layer": nsl})
    cls = getattr(_execute(BOOK2 / script, f"{kind}_{model}", modules, book_path=False), name)
    return cls, trainer.Trainer, optimizer.Adam


def zipf_corpus(vocab, words, seed=1):
    """Every id of ``vocab`` once (so the sampler sees them all), then Zipf(1)-distributed ids, shuffled."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab + 1)
    corpus = np.concatenate([np.arange(vocab), rng.choice(vocab, size=words - vocab, p=p / p.sum())])
    rng.shuffle(corpus)
    return corpus


def contexts_target(corpus, window):
    """What the book's create_contexts_target returns: (contexts (N, 2 * window), target (N,)), int64."""
    cols = [corpus[window + t:len(corpus) - window + t] for t in range(-window, window + 1) if t]
    return np.stack(cols, axis=1), corpus[window:-window].copy()


# --- chapters 5-8: the book's chapter-local models, on the book's common or switched to fastnn ----------------------
RECURRENT_KINDS = ("book", "common", "attention")  # attention: common and ch08's attention_layer switched
_CHAPTERS = ("ch05", "ch06", "ch07", "ch08")
_switched_roots = {}


def _switched_root(kind):
    """A temporary copy of chapters 5-8's .py files with their ``common`` imports switched to fastnn (and, for
    "attention", chapter 8's attention_layer import too), made once per process."""
    if kind not in _switched_roots:
        import atexit
        import shutil
        import tempfile
        from pathlib import Path

        root = Path(tempfile.mkdtemp(prefix=f"fastnn-book2-{kind}-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        for chapter in _CHAPTERS:
            (root / chapter).mkdir()
            for src in (BOOK2 / chapter).glob("*.py"):
                text = book_scripts.switch_imports(src.read_text(encoding="utf-8"))
                if kind == "attention":
                    text = text.replace(*book_scripts.BOOK_ATTENTION)
                (root / chapter / src.name).write_text(text, encoding="utf-8")
        _switched_roots[kind] = root
    return _switched_roots[kind]


def chapter_class(kind, relative, name):
    """The class ``name`` of the book's chapter module ``relative`` (e.g. "ch06/rnnlm.py", "Rnnlm"), its text
    unchanged except for the import lines of ``kind`` (one of RECURRENT_KINDS). The module runs with its chapter
    directory and the book's root first on sys.path, as the chapter's scripts run it; sys.path and sys.modules are
    restored afterwards (the class keeps its module's globals)."""
    if kind not in RECURRENT_KINDS:
        raise ValueError(f"kind must be one of {RECURRENT_KINDS}, got {kind!r}")
    root = BOOK2 if kind == "book" else _switched_root(kind)
    chapter, file_name = relative.split("/")
    local = {p.stem for c in _CHAPTERS for p in (BOOK2 / c).glob("*.py")}
    ours = set(_BOOK_PACKAGES) | set(_CHAPTERS) | local
    with _isolated_imports(ours, [root / chapter, root]):
        return getattr(importlib.import_module(file_name[:-3]), name)


def common_module(kind, name):
    """The second book's ``common/<name>.py`` (kind "book") or fastnn's module of that name (any other kind)."""
    if kind == "book":
        return book_module(f"common/{name}.py")
    return importlib.import_module(f"fastnn.{name}")
