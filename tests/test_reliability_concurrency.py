"""Concurrency: two invocations on one --logdir never corrupt each other's runs."""
import json
import subprocess
import sys
from pathlib import Path

import run
from conftest import ROOT
from dataloader import get_dataset
from recipes import make_config
from runstore import make_task, run_digest_of, run_lock, run_task

ARGS = ["run.py", "--model", "MLP", "--seeds", "3", "--epochs", "1", "--subset", "1000", "--device", "cpu",
        "--jobs", "1", "--threads", "1", "--evals-per-epoch", "1", "--no-plot", "--quiet"]


def test_a_locked_run_is_left_alone(tmp_path):
    config = make_config(model="MLP", name="MLP", seed=0, subset=500, epochs=1, device="cpu", evals_per_epoch=1)
    task = make_task(config, tmp_path, get_dataset("mnist"), run_digest_of(config), quiet=True)
    run_dir = Path(task["run_dir"])
    run_dir.mkdir(parents=True)
    with run_lock(Path(task["store_dir"])) as mine:
        assert mine
        (run_dir / "events.partial").write_text("being written by the holder")
        result = run_task(task)
        assert result["status"] == "busy"
        assert (run_dir / "events.partial").exists()  # the holder's files were not cleaned away
        with run_lock(Path(task["store_dir"])) as second:
            assert not second
    assert run_task(task)["status"] == "ok"


def test_two_invocations_at_once_leave_every_run_whole(tmp_path, capsys):
    cmd = [sys.executable, *ARGS, "--logdir", str(tmp_path), "--resultdir", str(tmp_path / "r")]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode in (0, 1) and "Traceback" not in err, err
        if p.returncode == 1:  # it met a run the other one held, and said so
            assert "busy:" in out and "another invocation is training it" in out
    results = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("MLP/MLP-*/seed*/result.json"))]
    assert [r["seed"] for r in results] == [0, 1, 2] and all(r["status"] == "ok" for r in results)
    trained = sum(int(out.split(" runs trained")[0].split()[-1]) for out, _ in outs)
    assert trained == 3  # each run trained exactly once between the two
    capsys.readouterr()
    assert run.main(cmd[2:]) == 0 and "0 runs trained, 3 skipped" in capsys.readouterr().out
