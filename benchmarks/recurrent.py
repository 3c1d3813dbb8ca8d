"""The second book's recurrent models (chapters 6-8) per training iteration and per ``eval_seq2seq`` question: the
book's code, the book's chapter models on fastnn's layers (only the ``common`` import lines switched; for the
attention model, ``attention_layer`` too), and PyTorch CPU (optional competitor, never a dependency) on the same
sizes, in one process, interleaved rounds, medians.

    python -m benchmarks.recurrent [--models rnnlm,seq2seq,...] [--rounds 5] [--no-torch] [--markdown PATH]

An iteration is the body of the book's ``Trainer.fit``/``RnnlmTrainer.fit``: forward, backward,
``remove_duplicate``, ``clip_grads`` and the optimizer's update (PyTorch: forward, backward,
``clip_grad_norm_``, ``step``). One BLAS thread and ``torch.set_num_threads(1)`` unless ``--threads``. The book's
chapter modules are loaded from ../shared/book2 (``FASTNN_SHARED``) by tests/book2_modules.py.
"""
import argparse
import contextlib
import io
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

ADDITION_VOCAB, DATE_VOCAB = 13, 59  # characters of the book's addition.txt and date.txt
# name: (chapter module, class, constructor arguments, batch, input length, target length, optimizer, max_grad)
MODELS = {
    "rnnlm": ("ch06/rnnlm.py", "Rnnlm", (10000, 100, 100), 20, 35, 35, ("SGD", 20.0), 0.25),
    "better_rnnlm": ("ch06/better_rnnlm.py", "BetterRnnlm", (10000, 650, 650, 0.5), 20, 35, 35, ("SGD", 20.0), 0.25),
    "seq2seq": ("ch07/seq2seq.py", "Seq2seq", (ADDITION_VOCAB, 16, 128), 128, 7, 5, ("Adam", 0.001), 5.0),
    "peeky": ("ch07/peeky_seq2seq.py", "PeekySeq2seq", (ADDITION_VOCAB, 16, 128), 128, 7, 5, ("Adam", 0.001), 5.0),
    "attention": ("ch08/attention_seq2seq.py", "AttentionSeq2seq", (DATE_VOCAB, 16, 256), 128, 29, 11,
                  ("Adam", 0.001), 5.0),
}
LANGUAGE_MODELS = ("rnnlm", "better_rnnlm")
QUESTIONS = 50  # single questions per eval_seq2seq pass


def batch(name, seed=0):
    """Random ids of the model's sizes: (xs, ts)."""
    _, _, args, n, t_in, t_out, _, _ = MODELS[name]
    rng = np.random.default_rng(seed)
    vocab = args[0]
    if name in LANGUAGE_MODELS:
        ids = rng.integers(0, vocab, size=(n, t_in + 1))
        return ids[:, :-1].astype(np.int32), ids[:, 1:].astype(np.int32)
    return rng.integers(0, vocab, size=(n, t_in)), rng.integers(0, vocab, size=(n, t_out))


def model_class(kind, name):
    """The model class: the book's chapter model with ``kind``'s layers (book2_modules.RECURRENT_KINDS), or
    fastnn.nets' own (kind "nets")."""
    import book2_modules as bm

    module, cls_name = MODELS[name][:2]
    if kind == "nets":
        from fastnn import nets

        return getattr(nets, cls_name)
    return bm.chapter_class(kind, module, cls_name)


def numpy_step(kind, name):
    """One training iteration of model ``name`` of ``kind`` (see model_class)."""
    import book2_modules as bm

    _, _, args, _, _, _, (opt_name, lr), max_grad = MODELS[name]
    np.random.seed(0)
    model = model_class(kind, name)(*args)
    util = bm.common_module(kind, "util")
    optimizer = getattr(bm.common_module(kind, "optimizer"), opt_name)(lr)
    # the book keeps remove_duplicate in common/trainer.py, fastnn in fastnn.util
    remove_duplicate = bm.common_module(kind, "trainer" if kind == "book" else "util").remove_duplicate
    xs, ts = batch(name)

    def step():
        model.forward(xs, ts)
        model.backward()
        params, grads = remove_duplicate(model.params, model.grads)
        util.clip_grads(grads, max_grad)
        optimizer.update(params, grads)

    return step, model, util


def eval_pass(kind, name, questions=None):
    """``eval_seq2seq`` over ``questions`` single questions (the chapter scripts' test loop), verbose off."""
    questions = questions or QUESTIONS
    _, model, util = numpy_step(kind, name)
    xs, ts = batch(name, seed=1)
    id_to_char = {i: chr(ord("a") + i % 26) for i in range(MODELS[name][2][0])}

    def run():
        with contextlib.redirect_stdout(io.StringIO()):
            for i in range(questions):
                util.eval_seq2seq(model, xs[[i]], ts[[i]], id_to_char)

    return run


def torch_step(name):
    """The same model, sizes and update in PyTorch (float32)."""
    from . import _torch_recurrent

    return _torch_recurrent.training_step(name, MODELS[name], batch(name))


def per_call(fn, min_time=0.5):
    """Seconds per call of ``fn`` (calls repeated for at least ``min_time``)."""
    fn()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / calls


def interleaved(candidates, rounds):
    """{label: median seconds per call} of the candidates timed in turn, ``rounds`` times."""
    times = {label: [] for label in candidates}
    for _ in range(rounds):
        for label, fn in candidates.items():
            times[label].append(per_call(fn))
    return {label: statistics.median(v) for label, v in times.items()}


def rows_for(name, rounds, with_torch):
    kinds = ("book", "common") + (("attention",) if name == "attention" else ()) + ("nets",)
    steps = {f"train {kind}": numpy_step(kind, name)[0] for kind in kinds}
    if with_torch:
        steps["train torch"] = torch_step(name)
    result = interleaved(steps, rounds)
    if name not in LANGUAGE_MODELS:
        result.update(interleaved({f"eval {kind}": eval_pass(kind, name) for kind in kinds}, rounds))
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--markdown")
    args = p.parse_args(argv)
    from fastnn.threads import threads

    with_torch = not args.no_torch
    if with_torch:
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            with_torch = False
    lines = [f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, threads {args.threads}",
             "| model | book ms | common switched ms | ratio | attention switched ms | ratio | fastnn.nets ms | "
             "ratio | PyTorch ms | eval book ms/question | eval switched | ratio | eval fastnn.nets | ratio |",
             "|---|" + "---:|" * 13]
    with threads(args.threads):
        for name in args.models.split(","):
            r = rows_for(name, args.rounds, with_torch)
            ms = {k: v * 1e3 for k, v in r.items()}
            book, common = ms["train book"], ms["train common"]
            att, own = ms.get("train attention"), ms["train nets"]
            eval_book, eval_fast = ms.get("eval book"), ms.get("eval attention", ms.get("eval common"))
            eval_own = ms.get("eval nets")
            cells = [name, f"{book:.2f}", f"{common:.2f}", f"{book / common:.2f}x",
                     f"{att:.2f}" if att else "", f"{book / att:.2f}x" if att else "",
                     f"{own:.2f}", f"{book / own:.2f}x", f"{ms['train torch']:.2f}" if "train torch" in ms else ""]
            if eval_book:
                cells += [f"{eval_book / QUESTIONS:.3f}", f"{eval_fast / QUESTIONS:.3f}",
                          f"{eval_book / eval_fast:.1f}x", f"{eval_own / QUESTIONS:.3f}",
                          f"{eval_book / eval_own:.1f}x"]
            else:
                cells += [""] * 5
            lines.append("| " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    main()
