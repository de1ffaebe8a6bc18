"""Interruption: SIGINT or SIGKILL at any moment loses no finished run and leaves no half-written result."""
import json
import signal
import subprocess
import sys
import time

import run
from conftest import ROOT, run_dir_of

ARGS = ["run.py", "--model", "MLP", "--seeds", "2", "--epochs", "2", "--subset", "2000", "--device", "cpu",
        "--threads", "1", "--jobs", "1", "--no-plot"]


def start(logdir):
    return subprocess.Popen([sys.executable, *ARGS, "--logdir", str(logdir), "--resultdir", str(logdir / "r")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_epoch_line(proc, count):
    """Read stdout until `count` epoch lines were printed: a moment inside training."""
    seen = 0
    for line in proc.stdout:
        seen += " epoch " in line
        if seen >= count:
            return
    raise AssertionError("the run ended before the interruption point")


def metrics(logdir):
    """Every run's metrics, without wall times (they differ between any two runs)."""
    out = {}
    for path in sorted(logdir.glob("MLP/MLP-*/seed*/result.json")):
        r = json.loads(path.read_text())
        out[path.parent.name] = (r["status"], r["test_acc"], r["test_loss"],
                                 [(h["train_loss"], h["val_loss"], h["val_acc"]) for h in r["history"]])
    return out


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path, capsys):
    # the uninterrupted run, in this process (the same code and one torch thread, so the same numbers)
    assert run.main([*ARGS[1:], "--quiet", "--logdir", str(tmp_path / "ref"), "--resultdir", str(tmp_path / "r")]) == 0

    logdir = tmp_path / "killed"
    proc = start(logdir)
    wait_for_epoch_line(proc, 3)  # seed 0 finished, seed 1 inside its first epoch
    proc.kill()
    proc.wait()
    assert (run_dir_of(logdir, "MLP", "MLP", 0) / "result.json").exists()
    assert not (run_dir_of(logdir, "MLP", "MLP", 1) / "result.json").exists()
    for path in logdir.rglob("*.json"):
        json.loads(path.read_text())  # every JSON file there is whole
    capsys.readouterr()
    # resumed in this process, as the reference: one torch thread both
    assert run.main([*ARGS[1:], "--quiet", "--logdir", str(logdir), "--resultdir", str(logdir / "r")]) == 0
    assert "1 runs trained, 1 skipped (already finished)" in capsys.readouterr().out
    assert metrics(logdir) == metrics(tmp_path / "ref") and len(metrics(logdir)) == 2
    assert not [p for p in logdir.rglob(".tmp-pid*")]  # the killed writer's temporaries are gone


def test_sigint_exits_promptly_and_says_how_to_resume(tmp_path):
    proc = start(tmp_path)
    wait_for_epoch_line(proc, 1)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 10
    assert proc.returncode == 130
    assert "interrupted" in err and "rerun the same command to resume" in err and "Traceback" not in err
    finished = list(tmp_path.glob("MLP/MLP-*/seed*/result.json"))
    assert all(json.loads(p.read_text())["status"] == "ok" for p in finished)
    assert len(finished) < 2
