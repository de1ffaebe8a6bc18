"""Worker processes, for real: none outlives a SIGKILLed parent, a SIGKILLed worker never hangs the study."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

ARGS = ["run.py", "--model", "MLP", "--seeds", "3", "--epochs", "2", "--subset", "2000", "--device", "cpu",
        "--jobs", "2", "--threads", "1", "--no-plot"]


def start(logdir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *ARGS, "--logdir", str(logdir), "--resultdir", str(logdir / "r")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen, fragment: str) -> None:
    """Read the study's output until a line holds `fragment`: a moment inside training."""
    for line in proc.stdout:
        if fragment in line:
            return
    raise AssertionError(f"the study ended before printing '{fragment}'")


def state(pid: int) -> str | None:
    """The process's state letter from /proc (Z: a zombie, dead), or None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def workers_of(parent: int) -> list[int]:
    """Pids of the parent's worker processes (its spawned children that are not Python's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and "multiprocessing" in cmdline and "resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return found


def finished(logdir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(logdir.glob("MLP/MLP-*/seed*/result.json"))]


def test_a_killed_worker_loses_only_its_run_and_a_killed_parent_takes_its_workers_along(tmp_path):
    # a SIGKILLed worker: its run is reported lost, the others finish, the study never hangs
    proc = start(tmp_path)
    wait_for(proc, "epoch 1/2")
    victim = workers_of(proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 1 and "Traceback" not in err, err
    lost = [line for line in out.splitlines() if line.startswith("failed:")]
    assert len(lost) == 1 and f"pid {victim}" in lost[0] and "SIGKILL" in lost[0], out
    assert len(finished(tmp_path)) == 2  # every other run still finished

    # a SIGKILLed parent, while it trains the lost run again: no orphan trains on
    proc = start(tmp_path)
    wait_for(proc, "3 runs, 2 finished, 1 to train")  # the rerun plans just the lost run
    wait_for(proc, "epoch 1/2")
    workers = workers_of(proc.pid)
    assert workers
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 3  # the kernel's SIGKILL takes a moment to land; an orphan trains on past it
    alive = lambda: [pid for pid in workers if state(pid) not in (None, "Z")]  # noqa: E731
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive() == []
    # resuming after a killed parent: tests/test_reliability_interrupt.py
