"""Faults that lose nothing: a full disk, a damaged result.json, a checkpoint whose weights do not fit its network."""
import errno
import json
import shutil
import subprocess

import pytest
import torch

import run
from conftest import run_dir_of
from model import build_model
from utils import is_disk_full

TINY = ["--model", "MLP", "--epochs", "1", "--seeds", "1", "--subset", "500", "--device", "cpu", "--jobs", "1",
        "--no-plot", "--quiet"]


def test_disk_full_is_recognised_through_the_exception_chain():
    full = OSError(errno.ENOSPC, "No space left on device")
    try:
        try:
            raise full
        except OSError as e:
            raise RuntimeError("writing the checkpoint failed") from e
    except RuntimeError as wrapped:
        assert is_disk_full(wrapped)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied")) and not is_disk_full(None)


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KB tmpfs: room for a run's small files, not for Net's 900 KB checkpoint. Needs root (CI has it)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                                                       capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_stops_in_one_line_and_the_next_run_with_space_completes(cli, small_disk, tmp_path):
    argv = ["run.py", "--model", "Net", "--epochs", "1", "--seeds", "1", "--subset", "500", "--device", "cpu",
            "--jobs", "1", "--evals-per-epoch", "1", "--no-plot", "--quiet", "--logdir", small_disk / "logs",
            "--resultdir", tmp_path / "r"]
    out = cli(*argv)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "the disk is full" in out.stderr and str(small_disk / "logs") in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not list(small_disk.rglob("result.json")) and not list(small_disk.rglob("*.tmp"))
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    again = cli(*argv)
    assert again.returncode == 0, again.stderr
    assert json.loads((run_dir_of(small_disk / "logs", "Net", "Net") / "result.json").read_text())["status"] == "ok"


@pytest.mark.parametrize("damage", ["{\"status\": \"ok\", \"test_acc\"", "{}", "[1, 2]"])
def test_a_damaged_result_json_is_redone_never_trusted(tmp_path, capsys, damage):
    argv = [*TINY, "--logdir", str(tmp_path), "--resultdir", str(tmp_path / "r")]
    assert run.main(argv) == 0
    result = run_dir_of(tmp_path, "MLP", "MLP") / "result.json"
    good = json.loads(result.read_text())
    result.write_text(damage)
    capsys.readouterr()
    assert run.main(argv) == 0
    assert "1 runs trained, 0 skipped" in capsys.readouterr().out
    redone = json.loads(result.read_text())
    assert redone["test_acc"] == good["test_acc"] and redone["config"] == good["config"]


def test_a_run_directory_holding_another_configs_finished_run_is_left_untouched(tmp_path, capsys):
    argv = [*TINY, "--logdir", str(tmp_path), "--resultdir", str(tmp_path / "r")]
    assert run.main(argv) == 0
    result = run_dir_of(tmp_path, "MLP", "MLP") / "result.json"
    other = json.loads(result.read_text())
    other["config"]["lr"] = 0.5  # as if another config had been written here (a hash collision)
    result.write_text(json.dumps(other))
    capsys.readouterr()
    assert run.main(argv) == 1
    assert "holds a finished run of another config or other code; left untouched" in capsys.readouterr().out
    assert json.loads(result.read_text()) == other


def test_evaluate_refuses_a_checkpoint_whose_weights_do_not_fit_its_network(cli, tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"model": "Net", "model_args": {}, "state_dict": build_model("MLP", (1, 28, 28), 10).state_dict(), "config": {}}, path)
    out = cli("evaluate.py", path, "--device", "cpu")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert "its weights do not fit a Net {} network" in out.stderr
