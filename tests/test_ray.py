"""The Ray backend: same run store as the local one, a dead worker is one failed run, Ray stays optional."""
import json
import os
import sys

import pytest
import torch

import compare_optim
from conftest import run_dir_of
import run
import executors
import utils
from runstore import run_task

pytestmark = pytest.mark.xdist_group("ray")  # one process: its one Ray instance

COMMON = ["--model", "MLP", "--seeds", "2", "--epochs", "1", "--subset", "1000", "--device", "cpu", "--no-plot",
          "--quiet", "--threads", "1", "--evals-per-epoch", "1"]
METRICS = ("status", "config", "epochs", "test_loss", "test_acc", "test_per_class_acc", "test_confusion",
           "best_val_acc", "n_params", "git_commit")


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray instance of 2 CPUs for the module: starting one takes about 10 s."""
    ray = pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("RAY_ADDRESS", raising=False)
        assert executors.connect_ray(num_cpus=2)
    yield ray
    ray.shutdown()


def store(logdir):
    """Each run's files (event files by kind, their names hold host and time) and result.json."""
    runs = {}
    for result in sorted(logdir.glob("*/*/seed*/result.json")):
        files = sorted("events" if f.name.startswith("events.out") else f.name for f in result.parent.iterdir())
        runs[str(result.parent.relative_to(logdir))] = (files, json.loads(result.read_text()))
    return runs


def test_ray_backend_leaves_the_same_run_store_and_metrics_as_the_local_one(ray_session, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative --logdir: the workers, in another directory, must write here
    threads = torch.get_num_threads()
    try:
        assert run.main(COMMON + ["--logdir", "local", "--resultdir", "r"]) == 0
    finally:
        torch.set_num_threads(threads)
    assert run.main(COMMON + ["--backend", "ray", "--cpus-per-run", "1", "--logdir", "ray", "--resultdir", "r"]) == 0
    local, remote = store(tmp_path / "local"), store(tmp_path / "ray")
    view = run_dir_of(tmp_path / "local", "MLP", "MLP").parent.name
    run_id = view.split("-", 1)[1]  # the view is <name>-<run id>; the store keeps the run under its id alone
    assert list(local) == list(remote) == [f"MLP/{view}/seed0", f"MLP/{view}/seed1",
                                           f"runs/{run_id}/seed0", f"runs/{run_id}/seed1"]
    for key, (files, a) in local.items():
        files_b, b = remote[key]
        written = ["config.json", "events", "model.pt", "predictions.npy", "result.json"]
        assert files == files_b == (written + ["view.json"] if key.startswith("MLP/") else written)
        assert {k: a[k] for k in METRICS} == {k: b[k] for k in METRICS}
        assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
        assert [h["val_acc"] for h in a["history"]] == [h["val_acc"] for h in b["history"]]


def test_a_dead_worker_is_one_failed_run_and_a_rerun_redoes_only_it(ray_session, tmp_path, monkeypatch, capsys):
    def die_in_seed1(task):
        if task["config"]["seed"] == 1:  # the worker dies at the end of an epoch: a partial run is left
            task = {**task, "quiet": False, "log": lambda line: os._exit(1)}
        return run_task(task)

    argv = COMMON + ["--backend", "ray", "--logdir", str(tmp_path), "--resultdir", str(tmp_path / "r")]
    monkeypatch.setattr(run, "run_task", die_in_seed1)
    assert run.main(argv) == 1
    out = capsys.readouterr().out
    assert "failed: MLP seed 1 (worker died" in out
    seed0, seed1 = (run_dir_of(tmp_path, "MLP", "MLP", k) for k in (0, 1))
    assert (seed0 / "result.json").exists()
    assert (seed1 / "config.json").exists() and not (seed1 / "result.json").exists()

    monkeypatch.undo()
    assert run.main(argv) == 0
    assert "1 runs trained, 1 skipped" in capsys.readouterr().out
    assert (seed1 / "result.json").exists()


@pytest.mark.parametrize("main", [run.main, compare_optim.main])
def test_missing_ray_exits_2_with_the_install_command(main, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    with pytest.raises(SystemExit) as exit_info:
        main(["--backend", "ray", "--logdir", str(tmp_path), "--resultdir", str(tmp_path), "--dry-run"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "--backend ray needs Ray: pip install -r requirements-ray.txt" in err


@pytest.mark.parametrize("argv,expected,needs_ray", [
    (["--cpus-per-run", "0"], "must be a positive number", False),
    (["--cpus-per-run", "0.00001"], "smallest amount is 0.0001", False),
    (["--gpus-per-run", "-1"], "must be 0 or a positive number", False),
    (["--gpus-per-run", "x"], "'x' is not a number", False),
    (["--backend", "spark"], "choose from 'local', 'ray'", False),
    (["--ray-address", "head:6379"], "--ray-address needs --backend ray", False),
    (["--backend", "ray", "--jobs", "2"], "--jobs is for --backend local", True),
    (["--backend", "ray", "--device", "cuda"], "needs --gpus-per-run above 0", True),
    (["--backend", "ray", "--cpus-per-run", "4096"], "CPUs this process may use", True),
])
def test_bad_backend_values_exit_2_with_one_line(argv, expected, needs_ray, monkeypatch, capsys, tmp_path):
    if needs_ray:
        pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        run.main(argv + ["--logdir", str(tmp_path), "--resultdir", str(tmp_path), "--dry-run"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and expected in err and len(err.strip().splitlines()) == 1


def test_the_shipped_code_leaves_runs_caches_and_extracted_data_behind(tmp_path):
    env = executors.ray_runtime_env(keep_out=[utils.ROOT / "experiments", tmp_path, utils.ROOT])
    assert env["working_dir"] == str(utils.ROOT)
    assert {"logs/", "result/", "*.pt", "data/*/raw/*-ubyte", "/experiments/"} <= set(env["excludes"])
    # tmp_path lies outside the project and the project itself cannot be left out: nothing added for them
    assert len(env["excludes"]) == len(executors.RAY_EXCLUDES) + 1
    assert env["env_vars"][utils.GIT_COMMIT_ENV] == (utils.git_commit() or "")
