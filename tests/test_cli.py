"""The command line as a user meets it (issue #25): every mistake in the options or data paths of ``fastnn train``
and ``fastnn gradcheck`` is one error line naming the option, exit status 2, before anything is loaded, compiled or
trained; ``--version``; ``--help`` with each default once; a mistyped option under its subcommand's usage; Ctrl-C
saving the last finished epoch (exit status 130); the compile note only on a cold numba cache; per-model defaults
that learn."""
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

import fastnn
from fastnn import _jit, cli, datasets
from fastnn.nets import MultiLayerNet
from terminal import restore_sigint

REPO = Path(__file__).resolve().parents[1]
COMPILE_NOTE = "compiling fastnn's kernels"


def _error_line(capsys, command="train"):
    """The one error line a refused command printed (its usage lines come before it); asserts that it is one line
    under that command's usage, with nothing on stdout and no traceback."""
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert captured.err.startswith(f"usage: fastnn {command} ")
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(errors) == 1 and captured.err.endswith(errors[0] + "\n"), captured.err
    assert errors[0].startswith(f"fastnn {command}: error: ")
    return errors[0]


def _refused(argv, capsys, command="train"):
    with pytest.raises(SystemExit) as info:
        cli.main([command, *argv])
    assert info.value.code == 2
    return _error_line(capsys, command)


@pytest.fixture
def paths(tmp_path):
    """{name: path} for the path mistakes: a plain file, an empty directory, a directory of four corrupt IDX
    files."""
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for name in datasets.MNIST_FILES.values():
        (corrupt / name).write_bytes(b"not an IDX file")
    (corrupt / (datasets.MNIST_FILES["train_img"] + ".gz")).write_bytes(b"\x1f\x8b truncated gzip")
    (tmp_path / "file.csv").write_text("1,2,3\n")
    (tmp_path / "empty").mkdir()
    return {"tmp": tmp_path, "file": tmp_path / "file.csv", "empty": tmp_path / "empty", "corrupt": corrupt}


TRAIN_MISTAKES = [  # (argv, words the error line must hold; {file}, {empty}... are paths from the fixture)
    (["--lr", "-1"], ["--lr", "> 0"]), (["--lr", "nan"], ["--lr", "finite"]), (["--lr", "fast"], ["--lr"]),
    (["--hidden", "0"], ["--hidden", ">= 1"]), (["--hidden", "100", "-5"], ["--hidden"]),
    (["--epochs", "-3"], ["--epochs", ">= 1"]), (["--epochs", "0"], ["--epochs", ">= 1"]),
    (["--batch-size", "0"], ["--batch-size", ">= 1"]), (["--threads", "0"], ["--threads", ">= 1"]),
    (["--batch-size", "100000"], ["--batch-size", "1437"]),
    (["--eval-samples", "0"], ["--eval-samples"]), (["--weight-decay", "-1"], ["--weight-decay", ">= 0"]),
    (["--weight-decay", "inf"], ["--weight-decay", "finite"]), (["--seed", "-1"], ["--seed"]),
    (["--filters", "0"], ["--filters", ">= 1"]), (["--filters", "8"], ["--filters", "simple-convnet only"]),
    (["--model", "simple-convnet", "--filter-size", "20"], ["--filter-size 20", "8x8", "at most 7"]),
    (["--model", "simple-convnet", "--hidden", "10", "10"], ["--hidden", "one hidden layer"]),
    (["--model", "simple-convnet", "--weight-decay", "0.1"], ["--weight-decay"]),
    (["--model", "simple-convnet", "--activation", "sigmoid"], ["--activation", "relu"]),
    (["--dataset", "mnist"], ["--dataset mnist", "--data DIR", "offered", "digits"]),
    (["--dataset", "cifar"], ["--dataset", "invalid choice"]),
    (["--data", "/nonexistent"], ["--data /nonexistent", "no such directory"]),
    (["--data", "{file}"], ["--data", "file.csv", "not a directory"]),
    (["--data", "{empty}"], ["--data", "missing", "train-images-idx3-ubyte"]),
    (["--data", "{corrupt}"], ["--data", "corrupt gzip"]),
    (["--data", "{empty}", "--dataset", "fashion-mnist"], ["--data", "--dataset", "one of them"]),
    (["--out", "model.txt"], ["--out model.txt", ".npz"]), (["--out", "{empty}"], ["--out", "is a directory"]),
    (["--out", "/nonexistent/m.npz"], ["--out", "/nonexistent", "does not exist"]),
    (["--out", "/proc/m.npz"], ["--out /proc/m.npz", "cannot write in /proc"]), (["--out", ""], ["--out"]),
    (["--plot", "curve.doc"], ["--plot curve.doc", ".png", ".svg"]), (["--plot", "{empty}"], ["--plot"]),
    (["--history-json", "{empty}"], ["--history-json", "is a directory"]),
]


@pytest.mark.parametrize("argv, words", TRAIN_MISTAKES, ids=[" ".join(argv) for argv, _ in TRAIN_MISTAKES])
def test_each_train_mistake_is_one_line_naming_the_option(argv, words, paths, capsys, monkeypatch):
    monkeypatch.delenv("FASTNN_MNIST_DIR", raising=False)
    monkeypatch.chdir(paths["tmp"])
    line = _refused([a.format(**paths) for a in argv], capsys)
    for word in words:
        assert word in line, line
    assert ".tmp-" not in line and not (paths["tmp"] / "fastnn-model.npz").exists()


def test_a_missing_fashion_mnist_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FASTNN_FASHION_MNIST_DIR", str(tmp_path))
    line = _refused(["--dataset", "fashion-mnist"], capsys)
    assert "--dataset fashion-mnist" in line and "apt-get install dataset-fashion-mnist" in line


@pytest.mark.parametrize("argv, words", [
    (["--batch-size", "0"], ["--batch-size", ">= 1"]), (["--batch-size", "5000"], ["--batch-size", "1437"]),
    (["--hidden", "0"], ["--hidden"]), (["--weight-decay", "nan"], ["--weight-decay"]), (["--seed", "x"], ["--seed"]),
])
def test_each_gradcheck_mistake_is_one_line_naming_the_option(argv, words, capsys):
    line = _refused(argv, capsys, "gradcheck")
    for word in words:
        assert word in line, line


@pytest.mark.parametrize("command", ["train", "gradcheck"])
def test_a_mistyped_option_shows_the_subcommands_usage(command, capsys):
    line = _refused(["--epocs", "3"], capsys, command)
    assert line == f"fastnn {command}: error: unrecognized arguments: --epocs 3"


def test_a_refused_run_ends_before_loading_or_compiling(tmp_path):
    """The console entry point with a bad --out and a cold numba cache: status 2, usage and one error line, no
    compile note, nothing on stdout (no data or network line)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cold-cache"),
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-m", "fastnn", "train", "--out", str(tmp_path / "model.pkl")], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines()[-1] == (f"fastnn train: error: --out {tmp_path / 'model.pkl'}: the file name must "
                                           f"end in .npz; got .pkl")
    assert "Traceback" not in run.stderr and COMPILE_NOTE not in run.stderr
    assert not (tmp_path / "cold-cache").exists()


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"fastnn {fastnn.__version__}\n"


def _help_entries(text):
    """{first option string: its help text (lines joined)} from an argparse help page."""
    entries, current = {}, None
    for line in text.splitlines():
        match = re.match(r"  (-[-\w]+)", line)
        if match:
            current = match.group(1)
            entries[current] = line
        elif current and line.startswith("    "):
            entries[current] += " " + line.strip()
        else:
            current = None
    return entries


@pytest.mark.parametrize("command", ["train", "gradcheck"])
def test_help_shows_each_default_once(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    entries = _help_entries(capsys.readouterr().out)
    _, subparsers = cli.build_parser()
    options = [a for a in subparsers[command]._actions if a.option_strings]
    assert sorted(entries) == sorted(a.option_strings[0] for a in options)
    for action in options:
        text = entries[action.option_strings[0]]
        flag = action.nargs == 0
        assert text.count("default") == (0 if flag else 1), text
        assert "(default: None)" not in text and "%(" not in text
    if command == "train":  # the per-model defaults and the ones that were missing
        for option, shown in [("--optimizer", "sgd for mlp, adam for simple-convnet"), ("--lr", "0.1 for mlp, 0.01"),
                              ("--epochs", "40 for mlp, 10 for simple-convnet"), ("--batch-size", "(default: 32)"),
                              ("--activation", "(default: relu)"), ("--dtype", "(default: float64)"),
                              ("--hidden", "(default: 100)")]:
            assert shown in entries[option], entries[option]


def test_top_level_help_has_no_markup_or_module_names(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    assert "``" not in text and not re.search(r"fastnn\.\w|python -m|benchmarks\.", text)
    for command in ("train", "gradcheck", "sweep", "bench"):
        assert re.search(rf"^    {command}\b", text, re.M), command


def test_no_install_hint_names_the_distribution_fastnn():
    """'fastnn' on PyPI is another project: a hint must name the packages an extra holds, never fastnn[...]."""
    sources = [p for p in (REPO / "fastnn").rglob("*.py")] + [REPO / "docs" / "sweeps.md"]
    for path in sources:
        assert "fastnn[" not in path.read_text(encoding="utf-8"), path


# --- the compile note -------------------------------------------------------------------------------------------
@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="with NUMBA_DISABLE_JIT=1 nothing compiles")
def test_the_compile_note_comes_once_and_only_when_numba_compiles(capsys):
    @_jit.kernel(cache=False)  # a fresh kernel: certainly not in any cache
    def plus_one(x):
        return x + 1

    with cli.compile_watch(7) as watch:
        assert plus_one(1) == 2
        assert plus_one(2.5) == 3.5  # a second signature compiles again: no second note
        assert plus_one(3) == 4  # compiled already
    err = capsys.readouterr().err
    assert err.count(COMPILE_NOTE) == 1 and "about 7 s" in err
    assert watch.seconds > 0
    with cli.compile_watch(7) as watch:
        assert plus_one(4) == 5
    assert capsys.readouterr().err == "" and watch.seconds == 0


def _train_process(tmp_path, *argv, cache=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    if cache is not None:
        env["NUMBA_CACHE_DIR"] = str(cache)
    return [sys.executable, "-m", "fastnn", "train", "--plot", "", "--no-progress", *argv], env


@pytest.mark.slow  # compiles the training kernels from scratch (seconds; minutes with NUMBA_DISABLE_JIT=1)
def test_a_cold_cache_says_it_compiles_and_a_warm_one_does_not(tmp_path):
    cmd, env = _train_process(tmp_path, "--epochs", "1", "--hidden", "5", cache=tmp_path / "cache")
    cold = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    warm = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert cold.returncode == warm.returncode == 0, cold.stderr + warm.stderr
    assert cold.stderr.count(COMPILE_NOTE) == 1 and COMPILE_NOTE not in warm.stderr
    cold_final = [line for line in cold.stdout.splitlines() if line.startswith("final test accuracy")][0]
    warm_final = [line for line in warm.stdout.splitlines() if line.startswith("final test accuracy")][0]
    assert re.search(r"\(\d+\.\d\d s training; \d+\.\d s compiling\)$", cold_final), cold_final
    assert re.search(r"\(\d+\.\d\d s training\)$", warm_final), warm_final


# --- Ctrl-C -------------------------------------------------------------------------------------------------------
@pytest.mark.slow  # trains (compiled: seconds)
def test_ctrl_c_saves_the_last_finished_epoch_and_exits_130(tmp_path):
    out = tmp_path / "model.npz"
    cmd, env = _train_process(tmp_path, "--epochs", "100000", "--out", str(out))
    run = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=restore_sigint)
    try:
        for line in run.stdout:
            if line.startswith("epoch"):
                break
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, stderr
    lines = [line for line in stderr.splitlines() if not line.startswith(COMPILE_NOTE)]
    assert len(lines) == 1 and re.fullmatch(rf"interrupted: saved the weights of epoch \d+ to {re.escape(str(out))}",
                                            lines[0]), stderr
    net = MultiLayerNet(64, [100], 10)
    net.load_params(out)
    assert all(np.isfinite(v).all() for v in net.params.values())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def _without_compile_note(err):
    """stderr less the compile note, which a run alone on a cold cache prints first."""
    return "".join(line for line in err.splitlines(keepends=True) if not line.startswith(COMPILE_NOTE))


def test_ctrl_c_after_an_epoch_saves_that_epochs_weights(tmp_path, capsys, monkeypatch):
    """KeyboardInterrupt raised while the second epoch's line prints: the file holds the weights of that epoch
    (kept before its line is printed, so the last epoch a user saw is the one saved)."""
    seen = {}

    def interrupting(trainer, epoch, logs):
        seen[epoch] = {key: value.copy() for key, value in trainer.network.params.items()}
        if epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_print_epoch", interrupting)
    out = tmp_path / "m.npz"
    assert cli.main(["train", "--hidden", "4", "--batch-size", "479", "--out", str(out), "--plot", "",
                     "--no-progress"]) == 130
    assert _without_compile_note(capsys.readouterr().err) == f"interrupted: saved the weights of epoch 2 to {out}\n"
    net = MultiLayerNet(64, [4], 10)
    net.load_params(out)
    np.testing.assert_equal(dict(net.params), seen[2])
    assert not all(np.array_equal(seen[1][key], seen[2][key]) for key in seen[1])  # epoch 2 trained further


def test_ctrl_c_before_the_first_epoch_saves_nothing(tmp_path, capsys, monkeypatch):
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr("fastnn.trainer.Trainer.train", interrupted)
    out = tmp_path / "m.npz"
    assert cli.main(["train", "--hidden", "4", "--out", str(out), "--plot", "", "--no-progress"]) == 130
    assert _without_compile_note(capsys.readouterr().err) == ("interrupted before the first epoch finished: nothing "
                                                             "saved\n")
    assert not out.exists()


# --- a whole run --------------------------------------------------------------------------------------------------
def test_a_run_writes_the_weights_history_and_plot_where_asked(tmp_path, capsys):
    """... and draws no progress bar when stderr is not a terminal (carriage returns would clutter a log)."""
    pytest.importorskip("matplotlib")
    out, plot, history = tmp_path / "m.npz", tmp_path / "curve.svg", tmp_path / "h.json"
    assert cli.main(["train", "--hidden", "4", "--epochs", "2", "--batch-size", "479", "--out", str(out), "--plot",
                     str(plot), "--history-json", str(history)]) == 0
    captured = capsys.readouterr()
    assert "2 epochs" in captured.out and "final test accuracy" in captured.out
    assert [line for line in captured.err.splitlines() if not line.startswith(COMPILE_NOTE)] == []
    assert out.stat().st_size and plot.read_text().startswith("<?xml") and '"test_acc"' in history.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.svg", "h.json", "m.npz"]


@pytest.mark.slow  # trains the convolutional net (compiled: seconds)
def test_simple_convnet_defaults_learn_in_one_epoch(tmp_path, capsys):
    """With the MLP's SGD at 0.1 the convolutional net stayed at 0.08 after an epoch; its own defaults (Adam,
    0.01) reach 0.78 with seed 0 (0.69-0.81 over seeds 0-3)."""
    assert cli.main(["train", "--model", "simple-convnet", "--epochs", "1", "--out", str(tmp_path / "c.npz"),
                     "--plot", "", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "optimizer adam lr 0.01" in printed
    assert float(printed.split("final test accuracy ")[1].split()[0]) >= 0.6
