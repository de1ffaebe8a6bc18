"""The run store: reuse only by the same config and code, CPUs found, names, imports without fcntl (the digest: test_digest.py)."""
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import run
import runstore
from conftest import ROOT, run_cli
from dataloader import get_dataset
from model import build_model
from recipes import OPTIMIZERS, SCHEDULES, make_config
from train import make_optimizer, make_scheduler
from utils import usable_cpus

TINY = ["--model", "MLP", "--epochs", "1", "--seeds", "1", "--subset", "500", "--device", "cpu", "--jobs", "1",
        "--no-plot", "--quiet"]


def test_a_run_of_other_code_is_not_reused_and_stays_beside_the_new_one(tmp_path, capsys, monkeypatch):
    argv = [*TINY, "--logdir", str(tmp_path), "--resultdir", str(tmp_path / "r")]
    assert run.main(argv) == 0
    first = sorted(tmp_path.glob("runs/*/seed0/result.json"))
    real = runstore.run_digest_of(json.loads(first[0].read_text())["config"])
    assert len(first) == 1 and json.loads(first[0].read_text())["run_digest"] == real
    before = first[0].read_bytes()
    capsys.readouterr()
    assert run.main(argv) == 0
    assert "0 runs trained, 1 skipped" in capsys.readouterr().out

    other = "0123456789abcdef"  # as if the training code had been edited
    monkeypatch.setattr(runstore, "run_digest_of", lambda config, source=None: other)
    monkeypatch.setattr(run, "run_digest_of", lambda config, source=None: other)
    assert run.main(argv) == 0
    assert "1 runs trained, 0 skipped" in capsys.readouterr().out  # its one seed is the probe
    both = sorted(tmp_path.glob("runs/*/seed0/result.json"))
    assert len(both) == 2 and first[0] in both and first[0].read_bytes() == before
    assert {json.loads(p.read_text())["run_digest"] for p in both} == {other, real}
    assert len(list(tmp_path.glob("MLP/MLP-*/seed0"))) == 2  # a view of each
    manifest = json.loads((tmp_path / "MLP" / "study-mnist-quick.json").read_text())
    assert manifest["code_digest"] == runstore.code_digest()  # the numeric code as a whole, as REPORT.md names it


def test_a_worker_whose_code_differs_from_the_plan_refuses_to_train(tmp_path):
    task = planned_task(tmp_path)
    result = runstore.run_task({**task, "run_digest": "not-this-code"})
    assert result["status"] == "failed" and "the code changed on disk" in result["error"]
    assert not list(tmp_path.rglob("result.json"))


def planned_task(tmp_path, **config) -> dict:
    config = make_config(**{"model": "MLP", "name": "MLP", "seed": 0, "subset": 200, "epochs": 1, "device": "cpu",
                            "study": "s", "evals_per_epoch": 1, **config})
    return runstore.make_task(config, tmp_path, get_dataset(config["dataset"]), runstore.run_digest_of(config),
                              runstore.environment("cpu"), quiet=True)


@pytest.mark.parametrize("damage, why", [
    (lambda t: {**t, "run_dir": t["run_dir"].replace("seed0", "seed1")}, "is not the view of this config"),
    (lambda t: {**t, "store_dir": t["store_dir"].replace("seed0", "seed1")}, "is not the store directory"),
    (lambda t: {**t, "config": {**t["config"], "lr": 0.5}}, "is not the store directory of this config"),
    (lambda t: {**t, "config": {k: v for k, v in t["config"].items() if k != "evals_per_epoch"}}, "not normalised"),
    (lambda t: {**t, "dataset": get_dataset("fashion-mnist")}, "carries dataset 'fashion-mnist'"),
    (lambda t: {**t, "env": {**t["env"], "torch": "0.0"}}, "planned for torch 0.0"),
])
def test_a_worker_trains_only_the_run_the_planner_resolved(tmp_path, damage, why):
    task = damage(planned_task(tmp_path))
    result = runstore.run_task(task)
    assert result["status"] == "failed" and why in result["error"]
    assert not list(tmp_path.rglob("result.json"))


def test_evals_per_epoch_is_part_of_the_run_identity(tmp_path):
    four, one = planned_task(tmp_path, evals_per_epoch=4), planned_task(tmp_path, evals_per_epoch=1)
    assert four["run_dir"] != one["run_dir"] and four["store_dir"] != one["store_dir"]
    without_key = {k: v for k, v in four["config"].items() if k != "evals_per_epoch"}  # as configs were before
    assert runstore.config_id(without_key) == four["config_id"]  # the default adds nothing to an identity
    assert runstore.run_task(one)["evals_per_epoch"] == 1
    env, code = one["env"], one["run_digest"]
    assert runstore.stored_result(Path(one["store_dir"]), one["config"], code, env) is not None
    assert runstore.stored_result(Path(one["store_dir"]), four["config"], code, env) is None
    assert runstore.stored_result(Path(one["store_dir"]), one["config"], code, {**env, "device_type": "cuda"}) is None


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_trains_under_every_schedule_with_its_own_weight_decay(optimizer, schedule):
    config = make_config(optimizer=optimizer, schedule=schedule, recipe="full")
    assert config["weight_decay"] == (0.05 if optimizer == "adamw" else 0.0)  # the recipe's decay is AdamW's
    torch.manual_seed(0)
    model = build_model("MLP", (1, 28, 28), 10)
    opt = make_optimizer(optimizer, model.parameters(), config["lr"], config["weight_decay"])
    scheduler, per_batch = make_scheduler(schedule, opt, config["lr"], epochs=2, steps_per_epoch=3)
    assert opt.param_groups[0]["weight_decay"] == config["weight_decay"]
    momentum_before = {k: opt.param_groups[0].get(k) for k in ("momentum", "betas")}
    before = [p.detach().clone() for p in model.parameters()]
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    for _ in range(2):
        for _ in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            if per_batch:
                scheduler.step()
        if scheduler is not None and not per_batch:
            scheduler.step()
    assert torch.isfinite(loss) and any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    # one-cycle moves momentum (or beta1) only where the optimizer has one; others keep their update rule
    moved = {k: opt.param_groups[0].get(k) for k in ("momentum", "betas")} != momentum_before
    has_momentum = OPTIMIZERS[optimizer][2].get("momentum", 0) > 0 or optimizer in ("adam", "adamw")
    assert moved == (schedule == "onecycle" and has_momentum)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cpus_come_from_the_affinity_mask_and_the_cgroup_quota(tmp_path):
    n_affinity = usable_cpus(tmp_path / "none", tmp_path / "none")[0]
    v2 = tmp_path / "v2"
    write(v2 / "proc", "0::/box/job\n")
    write(v2 / "fs" / "box" / "cpu.max", "100000 100000\n")  # the parent's quota is the tighter one
    write(v2 / "fs" / "box" / "job" / "cpu.max", "max 100000\n")
    cpus, how = usable_cpus(v2 / "fs", v2 / "proc")
    assert cpus == 1 and "cpu.max 100000/100000" in how and str(n_affinity) in how
    v1 = tmp_path / "v1"
    write(v1 / "proc", "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n")
    write(v1 / "fs" / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "150000\n")
    write(v1 / "fs" / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_period_us", "100000\n")
    assert usable_cpus(v1 / "fs", v1 / "proc")[0] == 1  # 1.5 CPUs: one whole
    write(v1 / "fs" / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us", "-1\n")
    assert usable_cpus(v1 / "fs", v1 / "proc")[0] == n_affinity  # no quota: the affinity mask


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", "."])
def test_a_grid_name_that_is_not_one_folder_exits_2(cli, tmp_path, name):
    out = cli("run.py", "--grid", "act=relu,gelu", "--name", name, "--dry-run", "--logdir", tmp_path / "l")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "one folder name" in out.stderr


def test_the_suite_imports_without_fcntl():
    out = run_cli("-c", "import sys; sys.modules['fcntl'] = None; import run, plot, compare_optim, evaluate, bench, "
                        "runstore")
    assert out.returncode == 0, out.stderr
