"""Divergence: a learning rate that blows up gives status "diverged", never a NaN as an accuracy."""
import json

import run
from train import train_run

TINY = ["--epochs", "1", "--seeds", "2", "--subset", "1000", "--device", "cpu", "--jobs", "1", "--no-plot", "--quiet",
        "--evals-per-epoch", "1"]


def test_sgd_at_lr_1e3_is_recorded_as_diverged_with_valid_json(tmp_path):
    result = train_run({"model": "Net", "optimizer": "sgd", "lr": 1e3, "subset": 1000, "epochs": 1,
                        "device": "cpu"}, tmp_path)
    text = (tmp_path / "result.json").read_text()
    assert "NaN" not in text and "Infinity" not in text  # strict JSON that every reader accepts
    stored = json.loads(text)
    assert result["status"] == stored["status"] == "diverged"
    assert stored["test_acc"] is None and stored["best_val_acc"] is None and stored["history"] == []
    assert 0 < stored["diverged_at_step"] <= 16 and not (tmp_path / "model.pt").exists()


def test_diverged_runs_are_listed_apart_and_never_win(tmp_path, capsys):
    studies = {"lr": lambda args: [("lr1e3", {"model": "MLP", "optimizer": "sgd", "lr": 1e3}),
                                   ("lr0.1", {"model": "MLP", "optimizer": "sgd", "lr": 0.1})]}
    assert run.main(["--study", "lr", "--logdir", str(tmp_path), "--resultdir", str(tmp_path / "r"), *TINY],
                    studies=studies) == 0
    out = capsys.readouterr().out
    table = out[out.index("study "):]
    row = next(line for line in table.splitlines() if line.split()[1:2] == ["lr1e3"])
    assert row.split()[2] == "0" and "-" in row.split()  # no finished runs, no accuracy shown
    assert "diverged: lr1e3 seed 0 (loss not finite at step" in out and "diverged: lr1e3 seed 1" in out
    assert "nan" not in out.lower()
    # a rerun does not retrain a diverged run: it is a finished result, not a partial one
    assert run.main(["--study", "lr", "--logdir", str(tmp_path), "--resultdir", str(tmp_path / "r"), *TINY],
                    studies=studies) == 0
    assert "0 runs trained, 4 skipped" in capsys.readouterr().out
