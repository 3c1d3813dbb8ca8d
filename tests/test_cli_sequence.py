"""``fastnn train --model seq2seq|rnnlm`` (fastnn.cli_sequence): short runs and clear errors."""
import contextlib
import re
import types

import numpy as np
import pytest

from fastnn import cli, sequence


def _words_file(path, n, seed):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(30)]
    path.write_text("".join(" " + " ".join(rng.choice(words, 12)) + " \n" for _ in range(n)))  # PTB: " w w \\n"


@pytest.fixture
def ptb_dir(tmp_path):
    d = tmp_path / "ptb"
    d.mkdir()
    _words_file(d / "ptb.train.txt", 200, 0)
    _words_file(d / "ptb.valid.txt", 60, 1)
    _words_file(d / "ptb.test.txt", 60, 2)
    return d


def test_seq2seq_trains_on_a_sequence_file(tmp_path, capsys):
    data = tmp_path / "add.txt"
    sequence.write_data(str(data), sequence.generate_addition(300, seed=0))
    out = tmp_path / "m.npz"
    assert cli.main(["train", "--model", "seq2seq", "--data", str(data), "--out", str(out), "--plot", "",
                     "--no-progress", "--hidden", "16"]) == 0
    text = capsys.readouterr().out
    assert "epoch   1  loss" in text and "test acc" in text and out.exists()


def test_rnnlm_trains_on_a_ptb_directory(ptb_dir, tmp_path, capsys):
    out = tmp_path / "lm.npz"
    assert cli.main(["train", "--model", "rnnlm", "--data", str(ptb_dir), "--epochs", "2", "--batch-size", "4",
                     "--hidden", "8", "--out", str(out), "--plot", "", "--no-progress"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2 and "valid perplexity" in lines[0] and out.exists()


def test_compiling_is_announced_and_kept_out_of_the_training_time(ptb_dir, tmp_path, capsys, monkeypatch):
    watched = []

    @contextlib.contextmanager
    def compile_watch(estimate_s):  # as if numba compiled for 2.5 s during the run
        watched.append(estimate_s)
        yield types.SimpleNamespace(seconds=2.5)

    monkeypatch.setattr(cli, "compile_watch", compile_watch)
    assert cli.main(["train", "--model", "rnnlm", "--data", str(ptb_dir), "--epochs", "1", "--batch-size", "4",
                     "--hidden", "8", "--out", str(tmp_path / "lm.npz"), "--plot", "", "--no-progress"]) == 0
    final = [line for line in capsys.readouterr().out.splitlines() if line.startswith("final")][0]
    assert watched == [cli.COMPILE_SECONDS["rnnlm"]]
    assert re.search(r"\(-?\d+\.\d\d s training; 2\.5 s compiling\)$", final), final


@pytest.mark.parametrize("argv, words", [
    (["--model", "rnnlm"], "needs a PTB-format directory"),
    (["--model", "rnnlm", "--data", "/nonexistent"], "no such directory"),
    (["--model", "seq2seq", "--data", "/nonexistent"], "no such file"),
    (["--model", "seq2seq", "--dataset", "digits"], "--dataset"),
    (["--model", "rnnlm", "--hidden", "4", "5"], "one LSTM layer"),
    (["--model", "seq2seq", "--weight-decay", "0.1"], "does not apply"),
])
def test_mistakes_are_one_line_errors(argv, words, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", *argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and words in err and "Traceback" not in err


def test_missing_ptb_files_are_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--model", "rnnlm", "--data", str(tmp_path)])
    assert "missing ptb.train.txt, ptb.valid.txt" in capsys.readouterr().err
