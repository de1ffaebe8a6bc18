"""Reproducibility: --deterministic runs are bit-identical; config.json records where a run came from."""
import json
import subprocess

import torch

from conftest import ROOT
from train import train_run

CONFIG = {"model": "LeNet", "subset": 640, "epochs": 2, "device": "cpu", "deterministic": True, "seed": 3}


def strip_times(result):
    return {k: v for k, v in result.items() if k not in ("wall_time_s", "samples_per_s", "history")} | {
        "history": [{k: v for k, v in h.items() if k != "seconds"} for h in result["history"]]}


def test_deterministic_runs_are_bit_identical(tmp_path):
    a = train_run(CONFIG, tmp_path / "a", evals_per_epoch=1)
    b = train_run(CONFIG, tmp_path / "b", evals_per_epoch=1)
    torch.use_deterministic_algorithms(False)
    assert strip_times(a) == strip_times(b)  # exact float equality, not approx
    stored = [json.loads((tmp_path / d / "result.json").read_text()) for d in "ab"]
    assert strip_times(stored[0]) == strip_times(stored[1])
    weights = [torch.load(tmp_path / d / "model.pt", weights_only=True)["state_dict"] for d in "ab"]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_another_seed_gives_other_numbers(tmp_path):
    a = train_run({**CONFIG, "epochs": 1, "subset": 128}, tmp_path / "a", evals_per_epoch=1)
    b = train_run({**CONFIG, "epochs": 1, "subset": 128, "seed": 4}, tmp_path / "b", evals_per_epoch=1)
    torch.use_deterministic_algorithms(False)
    assert a["history"][0]["train_loss"] != b["history"][0]["train_loss"]


def test_config_json_records_torch_device_and_commit(tmp_path):
    train_run({**CONFIG, "epochs": 1, "subset": 128, "deterministic": False}, tmp_path, evals_per_epoch=1)
    meta = json.loads((tmp_path / "config.json").read_text())
    assert meta["torch_version"] == torch.__version__ and meta["device"] == "cpu"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    assert meta["git_commit"] == (head.stdout.strip() if head.returncode == 0 else None)
    assert meta["config"]["deterministic"] is False and meta["config"]["seed"] == 3
