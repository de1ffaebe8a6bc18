"""Small defects found by trying the command lines (issue 49 item 6, issue 50 item 6): each as the user meets it."""
import errno
import re
import types

import pytest
import torch

import evaluate
import plot
import run
import utils
from model import build_model


def dry_run(capsys, tmp_path, *argv) -> str:
    assert run.main([*argv, "--dry-run", "--device", "cpu", "--logdir", str(tmp_path / "l"),
                     "--resultdir", str(tmp_path / "r")]) == 0
    return capsys.readouterr().out


def test_weight_decay_minus_zero_is_the_run_of_zero(tmp_path, capsys):
    planned = [re.findall(r"would train (\S+)", dry_run(capsys, tmp_path, "--model", "MLP", "--seeds", "1",
                                                        "--weight-decay", wd)) for wd in ("0", "-0", "-0.0")]
    assert len(planned[0]) == 1 and planned[0] == planned[1] == planned[2]


@pytest.mark.parametrize("flags, argv, line", [
    ({"avx2"}, [], "precision: fp32 (the default: no --precision given)\n"),
    ({"avx512_bf16"}, [], "precision: fp32 (the default: no --precision given; this CPU has avx512_bf16: "
                          "--precision auto would take bf16)\n"),
    ({"avx2"}, ["--precision", "fp32"], "precision: fp32 (--precision fp32)\n"),
    ({"avx2"}, ["--precision", "bf16"], "precision: bf16 (--precision bf16)\n")])
def test_the_precision_line_says_whether_it_is_the_default(monkeypatch, tmp_path, capsys, flags, argv, line):
    monkeypatch.setattr(utils, "cpu_flags", lambda: flags)
    out = dry_run(capsys, tmp_path, "--model", "MLP", "--seeds", "1", *argv)
    assert line in out


def test_the_precision_study_line_names_both_precisions(monkeypatch, tmp_path, capsys):
    out = dry_run(capsys, tmp_path, "--study", "precision", "--seeds", "1")
    assert "precision: fp32 and bf16, each config's own (the precision study sets them)\n" in out
    assert "precision varies (bf16, fp32)" in out  # the recipe line, from the planned configs: the same two


@pytest.mark.parametrize("config, precision", [({"precision": "bf16"}, "bf16"), ({"precision": "fp32"}, "fp32"),
                                               ({"amp": True}, "bf16"), (None, "fp32")])
def test_evaluate_uses_and_names_the_precision_the_run_trained_in(cli, monkeypatch, tmp_path, config, precision):
    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    saved = {"model": "MLPNet", "model_args": {"widths": "8"}, "dataset": "mnist",
             "state_dict": build_model("MLPNet", (1, 28, 28), 10, widths="8").state_dict()}
    torch.save({**saved, "config": config} if config else saved, path)  # None: a checkpoint older than configs
    used, real = [], evaluate.evaluate
    monkeypatch.setattr(evaluate, "evaluate", lambda *a, **k: used.append(k.get("precision")) or real(*a, **k))
    out = cli("evaluate.py", path, "--device", "cpu")
    assert out.returncode == 0, out.stderr
    assert used == [precision]
    assert f"on 10000 MNIST test images in {precision} (the precision it trained in): loss" in out.stdout


class FullDisk:
    """A file on a disk that fills after `room` bytes: writes past it fail with ENOSPC, as the kernel's do."""

    def __init__(self, path, mode, room=100):
        self.file, self.room = open(path, mode), room

    def write(self, data):
        if len(data) > self.room:
            self.file.write(bytes(data[:self.room]))
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)


def test_a_full_disk_while_plot_writes_a_figure_is_one_line_and_leaves_no_part(tmp_path, capsys, monkeypatch):
    import PIL.Image

    import analysis
    from test_plot import make_run, predictions

    labels = analysis.test_labels()
    logs, out = tmp_path / "logs", tmp_path / "result"
    for seed in range(2):
        make_run(logs, "activation", "relu", seed, predictions(labels, [(0, 100 + seed)]), labels, 2,
                 model_args={"act": "relu"})
    # Pillow opens the PNG it writes with builtins.open: that file is on the full disk, nothing else is
    monkeypatch.setattr(PIL.Image, "builtins",
                        types.SimpleNamespace(open=lambda path, mode="r", *a, **k: FullDisk(path, mode)))
    assert plot.main(["--logdir", str(logs), "--resultdir", str(out)]) == 1
    err = capsys.readouterr().err
    assert err == (f"plot.py: error: the disk is full: no space left to write in {out}; no file is half-written: "
                   "free some space and rerun\n")
    assert not list(out.glob("*.png")) and not list(out.glob(".tmp-*"))  # no figure, whole or in part
