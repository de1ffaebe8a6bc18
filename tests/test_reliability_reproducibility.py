"""Reproducibility: --deterministic runs are bit-identical; config.json records where a run came from."""
import json
import subprocess

import pytest
import torch

import train
from conftest import ROOT
from train import train_run

CONFIG = {"model": "LeNet", "subset": 640, "epochs": 2, "device": "cpu", "deterministic": True, "seed": 3,
          "evals_per_epoch": 1}


def strip_times(result):
    return {k: v for k, v in result.items() if k not in ("wall_time_s", "samples_per_s", "history")} | {
        "history": [{k: v for k, v in h.items() if k != "seconds"} for h in result["history"]]}


def test_deterministic_runs_are_bit_identical(tmp_path):
    a = train_run(CONFIG, tmp_path / "a")
    b = train_run(CONFIG, tmp_path / "b")
    torch.use_deterministic_algorithms(False)
    assert strip_times(a) == strip_times(b)  # exact float equality, not approx
    stored = [json.loads((tmp_path / d / "result.json").read_text()) for d in "ab"]
    assert strip_times(stored[0]) == strip_times(stored[1])
    weights = [torch.load(tmp_path / d / "model.pt", weights_only=True)["state_dict"] for d in "ab"]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.mark.parametrize("deterministic", [True, False])
def test_the_deterministic_flag_sets_the_mode_the_steps_train_in(tmp_path, monkeypatch, deterministic):
    """On a CPU both modes give the same bits, so what can fail is the mode itself, seen from inside a step."""
    seen, step = [], train.train_step

    def recording_step(*args, **kwargs):
        seen.append((torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark))
        return step(*args, **kwargs)
    monkeypatch.setattr(train, "train_step", recording_step)
    torch.use_deterministic_algorithms(not deterministic)  # the previous run's mode must not leak into this one
    try:
        train_run({**CONFIG, "epochs": 1, "subset": 128, "deterministic": deterministic})
    finally:
        torch.use_deterministic_algorithms(False)
    assert seen and set(seen) == {(deterministic, not deterministic)}


def test_another_seed_gives_other_numbers(tmp_path):
    a = train_run({**CONFIG, "epochs": 1, "subset": 128}, tmp_path / "a")
    b = train_run({**CONFIG, "epochs": 1, "subset": 128, "seed": 4}, tmp_path / "b")
    torch.use_deterministic_algorithms(False)
    assert a["history"][0]["train_loss"] != b["history"][0]["train_loss"]


def test_config_json_records_torch_device_and_commit(tmp_path):
    train_run({**CONFIG, "epochs": 1, "subset": 128, "deterministic": False}, tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    assert meta["torch_version"] == torch.__version__ and meta["device"] == "cpu"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    assert meta["git_commit"] == (head.stdout.strip() if head.returncode == 0 else None)
    assert meta["config"]["deterministic"] is False and meta["config"]["seed"] == 3
