"""``fastnn train --model seq2seq`` and ``--model rnnlm``: the second book's sequence models as a main job.

seq2seq (chapter 7's PeekySeq2seq on reversed questions, the book's best) learns the addition task on data fastnn
generates itself (fastnn.sequence.generate_addition;
``--data FILE`` reads a file of that format instead: 'question_answer' lines of one width), Adam, gradients
clipped at 5 as the book; each epoch prints the mean loss and the test accuracy (greedy answers, all test
questions or ``--eval-samples``). rnnlm trains chapter 6's Rnnlm on a PTB-format directory (``--data DIR``,
fastnn.ptb), SGD with gradients clipped at 0.25 as the book, 35-word truncated backpropagation; each epoch prints
the training perplexity and the validation perplexity. Both show the progress bar and write the learning curve
(``--plot``) of ``fastnn train``.
"""
import os
import sys
import time

import numpy as np

TIME_SIZE = 35  # the book's truncated-BPTT length for the language model
WORDVEC_SIZE = 16  # the book's character vectors for the addition task
DEFAULTS = {"seq2seq": {"optimizer": "adam", "lr": 0.001, "epochs": 10, "max_grad": 5.0, "questions": 50000},
            "rnnlm": {"optimizer": "sgd", "lr": 20.0, "epochs": 4, "max_grad": 0.25}}
MODELS = tuple(DEFAULTS)


def check(args, cli):
    """Refuses (cli.UsageError) options a sequence model cannot honour; fills in its defaults. Returns the data
    path or None."""
    error = cli.UsageError
    if args.dataset is not None:
        raise error(f"--dataset: --model {args.model} reads no image data set (seq2seq: generated addition or "
                    f"--data FILE; rnnlm: --data DIR in PTB format)")
    if len(args.hidden) != 1:
        raise error(f"--hidden: --model {args.model} has one LSTM layer; got {len(args.hidden)} widths")
    for option, given in (("--weight-decay", args.weight_decay), ("--filters", args.filters),
                          ("--filter-size", args.filter_size), ("--activation", args.activation != "relu"),
                          ("--dtype", args.dtype != "float64")):
        if given:
            raise error(f"{option}: does not apply to --model {args.model}")
    for key, value in DEFAULTS[args.model].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.model == "rnnlm":
        _ptb_directory(args.data, error)
    elif args.data is not None and not os.path.isfile(args.data):
        raise error(f"--data {args.data}: {'not a regular file' if os.path.exists(args.data) else 'no such file'} "
                    f"(--model seq2seq reads a 'question_answer' sequence file)")
    cli._check_outputs(args)
    return args.data


def _ptb_directory(directory, error):
    from .ptb import FILES

    if directory is None:
        raise error("--data: --model rnnlm needs a PTB-format directory (ptb.train.txt, ptb.valid.txt; "
                    "'fastnn ptb-format' writes one)")
    if not os.path.isdir(directory):
        raise error(f"--data {directory}: {'not a directory' if os.path.exists(directory) else 'no such directory'}")
    missing = [FILES[k] for k in ("train", "valid") if not os.path.isfile(os.path.join(directory, FILES[k]))]
    if missing:
        raise error(f"--data {directory}: missing {', '.join(missing)} ('fastnn ptb-format' writes them)")


class _Run:
    """What fastnn.callbacks.ProgressBar reads of a trainer."""

    def __init__(self, epochs, per_epoch):
        self.epochs, self.per_epoch = epochs, max(per_epoch, 1)
        self.max_iter, self.current_iter = epochs * self.per_epoch, 0
        self.train_loss_list = []

    def epoch_of(self, iteration):
        return iteration // self.per_epoch + 1


def _optimizer(args):
    from . import optimizer
    from .trainer import OPTIMIZER_NAMES

    return getattr(optimizer, OPTIMIZER_NAMES[args.optimizer])(lr=args.lr)


def _fit(args, model, batches, evaluate, cli):
    """The training loop: per epoch, every batch (forward, backward, remove_duplicate, clip, update), then
    ``evaluate()`` -> (name, value); prints a line per epoch; returns the history."""
    from .callbacks import ProgressBar
    from .trainer2 import train_step

    optimizer, first = _optimizer(args), batches(0)
    run = _Run(args.epochs, len(first))
    bar = ProgressBar() if cli._progress(args) else None
    history = {"train_loss": [], "eval": []}
    if bar:
        bar.on_train_begin(run)
    for epoch in range(1, args.epochs + 1):
        losses = []
        for xs, ts in (first if epoch == 1 else batches(epoch - 1)):
            losses.append(float(train_step(model, optimizer, xs, ts, args.max_grad)))
            run.train_loss_list.append(losses[-1])
            run.current_iter += 1
            if bar:
                bar.on_step_end(run, run.current_iter - 1, losses[-1])
        if bar:
            bar.on_epoch_end(run, epoch, {})
        name, value = evaluate()
        history["train_loss"].append(float(np.mean(losses)))
        history["eval"].append(value)
        train_part = (f"train perplexity {np.exp(history['train_loss'][-1]):.2f}" if args.model == "rnnlm"
                      else f"loss {history['train_loss'][-1]:.4f}")
        print(f"epoch {epoch:3d}  {train_part}  {name} {value:.4f}", flush=True)
    if bar:
        bar.on_train_end(run)
    return history, name


# --- seq2seq -------------------------------------------------------------------------------------------------------
def _addition(args, error):
    from . import sequence

    if args.data is None:
        lines = sequence.generate_addition(args.questions, seed=args.seed)
        return sequence.split_data(lines, seed=args.seed), f"addition (generated, {len(lines)} questions)"
    try:
        data = sequence.load_data(os.path.abspath(args.data), seed=args.seed)
    except (OSError, ValueError) as exc:
        raise error(f"--data {args.data}: {exc}") from None
    return data, "sequence file " + args.data


def _accuracy(model, x, t):
    """The share of questions whose greedy answer (after the start mark t[:, 0]) is t[:, 1:] exactly."""
    right = 0
    for q, a in zip(x, t):
        guess = model.generate(q[None, :], int(a[0]), len(a) - 1)
        right += list(guess) == [int(v) for v in a[1:]]
    return right / len(x)


def train_seq2seq(args, cli):
    """Returns 0 after training, saving and plotting."""
    from . import sequence
    from .nets import PeekySeq2seq

    np.random.seed(args.seed)
    ((x_train, t_train), (x_test, t_test)), name = _addition(args, cli.UsageError)
    if args.batch_size > len(x_train):
        raise cli.UsageError(f"--batch-size {args.batch_size}: larger than the {len(x_train)} training questions")
    V = len(sequence.get_vocab()[0])
    model = PeekySeq2seq(V, WORDVEC_SIZE, args.hidden[0])
    # the book's two improvements of chapter 7: questions read backwards, the encoder's state fed to every step
    x_train, x_test = x_train[:, ::-1], x_test[:, ::-1]
    x_eval, t_eval = x_test[:args.eval_samples], t_test[:args.eval_samples]
    n = len(x_train) // args.batch_size * args.batch_size
    print(f"data: {name}: {len(x_train)} train / {len(x_test)} test questions, vocabulary {V}")
    print(f"net: PeekySeq2seq({V}, {WORDVEC_SIZE}, {args.hidden[0]}) on reversed questions; optimizer "
          f"{args.optimizer} lr {args.lr}, batch "
          f"{args.batch_size}, {args.epochs} epoch{'s' if args.epochs > 1 else ''}")

    def batches(epoch):
        order = np.random.permutation(n)
        return [(x_train[order[i:i + args.batch_size]], t_train[order[i:i + args.batch_size]])
                for i in range(0, n, args.batch_size)]

    return _fit_and_finish(args, model, batches, lambda: ("test acc", _accuracy(model, x_eval, t_eval)), cli)


# --- rnnlm ---------------------------------------------------------------------------------------------------------
def train_rnnlm(args, cli):
    """Returns 0 after training, saving and plotting."""
    from . import ptb
    from .nets import Rnnlm
    from .trainer2 import corpus_batch
    from .util import eval_perplexity

    np.random.seed(args.seed)
    try:
        corpus, word_to_id, _ = ptb.load_data("train", args.data)
        corpus_val, _, _ = ptb.load_data("valid", args.data)
    except (OSError, ValueError) as exc:
        raise cli.UsageError(f"--data {args.data}: {exc}") from None
    V, N, H = len(word_to_id), args.batch_size, args.hidden[0]
    steps = (len(corpus) - 1) // (N * TIME_SIZE)
    if not steps:
        raise cli.UsageError(f"--batch-size {N}: the {len(corpus)} training words make no batch of {N} x "
                             f"{TIME_SIZE}")
    corpus_val = corpus_val[:args.eval_samples]
    if len(corpus_val) - 1 < TIME_SIZE * 10:
        raise cli.UsageError(f"--data {args.data}: ptb.valid.txt has {len(corpus_val)} words; the validation "
                             f"perplexity needs at least {TIME_SIZE * 10 + 1}")
    model = Rnnlm(V, H, H)
    print(f"data: PTB format {args.data}: {len(corpus)} training words, {len(corpus_val)} validation words, "
          f"vocabulary {V}")
    print(f"net: Rnnlm({V}, {H}, {H}); optimizer {args.optimizer} lr {args.lr}, batch {N} x {TIME_SIZE} words, "
          f"{args.epochs} epoch{'s' if args.epochs > 1 else ''}")
    xs, ts = corpus[:-1], corpus[1:]

    def batches(epoch):  # the book's RnnlmTrainer positions, moving on by TIME_SIZE each batch
        return [corpus_batch(xs, ts, N, TIME_SIZE, (epoch * steps + k) * TIME_SIZE) for k in range(steps)]

    def validation():
        model.reset_state()
        with _quiet():
            ppl = eval_perplexity(model, corpus_val)
        model.reset_state()
        return "valid perplexity", float(ppl)

    return _fit_and_finish(args, model, batches, validation, cli)


class _quiet:
    """Swallows eval_perplexity's progress lines."""

    def __enter__(self):
        self.saved, sys.stdout = sys.stdout, open(os.devnull, "w")

    def __exit__(self, *exc):
        sys.stdout.close()
        sys.stdout = self.saved


# --- the end of a run ----------------------------------------------------------------------------------------------
def _fit_and_finish(args, model, batches, evaluate, cli):
    """_fit, then _finish; returns 0. A cold numba cache's compiling is announced (cli.compile_watch) and its
    seconds are kept out of the training time, as for the first book's models."""
    with cli.compile_watch(cli.COMPILE_SECONDS[args.model]) as compiling:
        start = time.perf_counter()
        history, label = _fit(args, model, batches, evaluate, cli)
        seconds = time.perf_counter() - start - compiling.seconds
    return _finish(args, model, history, label, seconds, compiling.seconds, cli)


def _finish(args, model, history, label, seconds, compile_seconds, cli):
    from . import io

    compiled = f"; {compile_seconds:.1f} s compiling" if compile_seconds else ""
    print(f"final {label} {history['eval'][-1]:.4f} ({seconds:.2f} s training{compiled})")
    io.save_arrays(args.out, {str(i): p for i, p in enumerate(model.params)})
    print(f"weights: {args.out} (load with {type(model).__name__}(...).load_params({args.out!r}))")
    if args.history_json:
        import json

        io.write_atomically(args.history_json, lambda f: json.dump(history, f), text=True, name="--history-json")
    if args.plot:
        _plot(history, label, args.plot)
    return 0


def _plot(history, label, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(history["train_loss"]) + 1)
    fig, (ax_loss, ax_eval) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, history["train_loss"])
    ax_loss.set(xlabel="epoch", ylabel="mean train loss", title="loss")
    ax_eval.plot(epochs, history["eval"])
    ax_eval.set(xlabel="epoch", ylabel=label, title=label)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"learning curve: {path}")


def train(args, cli):
    """``fastnn train --model seq2seq|rnnlm``: checks, then trains; returns the exit status."""
    check(args, cli)
    run = train_seq2seq if args.model == "seq2seq" else train_rnnlm
    if args.threads is None:
        return run(args, cli)
    from .threads import threads

    with threads(args.threads):
        return run(args, cli)
