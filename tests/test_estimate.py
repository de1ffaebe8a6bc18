"""estimate.py: calibration on finished runs' wall times, packing on workers, and the timing fallback's formula."""
import json
import math

import pytest
import torch

import estimate
from dataloader import get_dataset
from recipes import make_config

CPU = torch.device("cpu")
MNIST = get_dataset("mnist")


def config(model="MLP", seed=0, **overrides):
    return make_config(**{"model": model, "seed": seed, "name": model, "study": "base", "epochs": 2, "subset": 5000,
                          "channels_last": True, **overrides})


def write_result(logdir, cfg, wall, status="ok", study="base"):
    """logdir/<study>/<name>-<a digest of cfg>/seed<k>/result.json, as the run store lays runs out."""
    trial = f"{cfg['name']}-{abs(hash(repr(sorted(cfg.items())))) % 10**8:08d}"
    run_dir = logdir / study / trial / f"seed{cfg['seed']}"
    run_dir.mkdir(parents=True)
    (run_dir / "result.json").write_text(json.dumps({"status": status, "config": cfg, "wall_time_s": wall}))
    return run_dir / "result.json"


def tasks(*configs):
    """The planned tasks of configs, as far as the estimate reads them: the config and its dataset entry."""
    return [{"config": c, "dataset": get_dataset(c["dataset"])} for c in configs]


@pytest.fixture
def no_timing(monkeypatch):
    """Fail the test if the timing fallback runs."""
    monkeypatch.setattr(estimate, "timed_costs", lambda *a: pytest.fail("timed a network that has finished runs"))


def test_the_calibrated_path_packs_the_median_wall_times_of_matching_runs(tmp_path, no_timing):
    for seed, wall in enumerate([10.0, 12.0, 30.0]):  # median 12
        write_result(tmp_path, config("MLP", seed), wall)
    write_result(tmp_path, config("LeNet"), 20.0)
    plan = [config("MLP", 0), config("MLP", 1), config("LeNet", 0), config("LeNet", 1)]
    seconds, how = estimate.estimate_seconds(tasks(*plan), CPU, jobs=2, threads=1, logdir=tmp_path)
    run = [12 + estimate.RUN_S] * 2 + [20 + estimate.RUN_S] * 2
    # 2 workers: MLP, MLP; then LeNet after each
    assert seconds == pytest.approx(estimate.WORKER_START_S + run[0] + run[2])
    assert how == "from 4 finished runs' wall times"


def test_the_plan_says_how_many_runs_were_scaled_from_other_settings(tmp_path, no_timing):
    write_result(tmp_path, config("MLP", 0), 10.0)
    plan = [config("MLP", 1), config("MLP", 0, epochs=4)]  # the second: another number of epochs, scaled
    seconds, how = estimate.estimate_seconds(tasks(*plan), CPU, jobs=1, threads=1, logdir=tmp_path)
    assert how == "from 1 finished runs' wall times, 1 of the 2 scaled from other settings of the network"


def test_runs_of_other_training_settings_do_not_match(tmp_path, no_timing):
    """Another batch size is another per-image cost: neither matched nor scaled; timed instead."""
    write_result(tmp_path, config("MLP", batch_size=128), 5.0)
    assert estimate.calibrated_seconds(config("MLP"), MNIST, estimate.finished_runs(tmp_path)) is None
    write_result(tmp_path, config("MLP", evals_per_epoch=1), 5.0)  # another number of evaluations: scaled by work
    expected = 5.0 * estimate.work(config("MLP"), MNIST) / estimate.work(config("MLP", evals_per_epoch=1), MNIST)
    assert estimate.calibrated_seconds(config("MLP"), MNIST, estimate.finished_runs(tmp_path)) == pytest.approx(expected)
    assert expected > 5.0


def test_finished_runs_of_the_network_with_other_epochs_scale_by_work(tmp_path, no_timing):
    write_result(tmp_path, config("Net", epochs=1, subset=10000), 40.0)
    cfg = config("Net", epochs=4, subset=10000)
    evals = lambda c: c["epochs"] * 4 * 5000 + 10000  # noqa: E731 (val at 4 points an epoch, test once)
    work = lambda c: c["epochs"] * 10000 + estimate.EVAL_WEIGHT * evals(c)  # noqa: E731
    assert estimate.calibrated_seconds(cfg, MNIST, estimate.finished_runs(tmp_path)) == pytest.approx(
        40.0 * work(cfg) / work(config("Net", epochs=1, subset=10000)))


def test_unreadable_and_unfinished_results_are_ignored(tmp_path, no_timing):
    write_result(tmp_path, config("MLP", 0), 10.0)
    write_result(tmp_path, config("MLP", 1), 1000.0, status="diverged")
    write_result(tmp_path, config("MLP", 2), 1000.0).write_text('{"status": "ok", "config": ')  # half-written
    write_result(tmp_path, config("MLP", 3), 1000.0).write_text('[1, 2]')
    write_result(tmp_path, config("MLP", 4), 1000.0).write_text('{"status": "ok", "wall_time_s": 1000}')
    assert [r["wall_time_s"] for r in estimate.finished_runs(tmp_path)] == [10.0]
    seconds, _ = estimate.estimate_seconds(tasks(config("MLP")), CPU, jobs=1, threads=1, logdir=tmp_path)
    assert seconds == pytest.approx(estimate.FIRST_RUN_S + 10.0 + estimate.RUN_S)


def test_no_logdir_or_an_empty_one_has_no_finished_runs(tmp_path):
    assert estimate.finished_runs(None) == []
    assert estimate.finished_runs(tmp_path / "absent") == []


@pytest.mark.parametrize("jobs, expected", [(1, 3 + 1 + 2), (2, 3), (3, 3), (8, 3)])
def test_pack_starts_runs_in_plan_order_on_the_first_free_worker(jobs, expected):
    assert estimate.pack([3.0, 1.0, 2.0], jobs) == expected  # 2 workers: 3 | 1, then 2 on the second: 3 | 3
    assert estimate.pack([1.0, 3.0, 2.0, 2.0], 2) == 5  # 1 | 3, 2 after the 1 (at 3), 2 after the 3 (at 5)


def test_pack_adds_the_workers_start_once_per_worker():
    assert estimate.pack([3.0, 1.0, 2.0], 2, start_s=5.0) == 8.0
    assert estimate.pack([3.0, 1.0, 2.0], 1, start_s=5.0) == 11.0
    assert estimate.pack([], 2, start_s=5.0) == 0.0


def test_the_timing_fallback_counts_training_and_every_evaluation(monkeypatch):
    """Fixed per-step and per-image costs: the estimate is the formula, evaluation of val and test included."""
    calls = []
    monkeypatch.setattr(estimate, "timed_costs", lambda c, ds, device: calls.append(c["model"]) or (0.01, 0.001))
    cfg = config("Net", epochs=2, subset=6400, evals_per_epoch=3)  # 100 steps an epoch
    plan = [cfg, config("Net", 1, epochs=2, subset=6400, evals_per_epoch=3)]
    n_eval = 2 * 3 * 5000 + 10000
    run = estimate.CONTENTION * (estimate.LOOP_OVERHEAD * 0.01 * 200 + 0.001 * n_eval) + estimate.RUN_S
    seconds, how = estimate.estimate_seconds(tasks(*plan), CPU, jobs=2, threads=1)
    assert seconds == pytest.approx(estimate.WORKER_START_S + run)  # one run on each worker
    assert how == "from timed steps, evaluation included"
    assert calls == ["Net"]  # one timing per network, not per seed
    serial, _ = estimate.estimate_seconds(tasks(*plan), CPU, jobs=1, threads=1)  # one job: no contention, no spawned workers
    one = (estimate.LOOP_OVERHEAD * 0.01 * 200 + 0.001 * n_eval) + estimate.RUN_S
    assert serial == pytest.approx(estimate.FIRST_RUN_S + 2 * one)
    assert 0.001 * n_eval > 0.01 * 200  # evaluation is no rounding error here: 40 s of it against 2 s of steps


def test_runs_without_finished_ones_are_timed_and_the_phrase_says_both(tmp_path, monkeypatch):
    monkeypatch.setattr(estimate, "timed_costs", lambda c, ds, device: (0.0, 0.0))
    write_result(tmp_path, config("MLP"), 7.0)
    seconds, how = estimate.estimate_seconds(tasks(config("MLP"), config("LeNet")), CPU, jobs=1, threads=1,
                                             logdir=tmp_path)
    assert seconds == pytest.approx(estimate.FIRST_RUN_S + 7.0 + 2 * estimate.RUN_S)
    assert how == "1 of 2 runs from finished runs' wall times, the rest from timed steps"


def test_timed_costs_are_positive_and_restore_the_thread_count():
    before = torch.get_num_threads()
    step_s, eval_s = estimate.timed_costs(config("MLP"), MNIST, CPU)
    assert step_s > 0 and eval_s > 0 and math.isfinite(step_s + eval_s)
    estimate.estimate_seconds(tasks(config("MLP")), CPU, jobs=1, threads=2)
    assert torch.get_num_threads() == before


def test_finished_runs_on_another_device_do_not_calibrate(tmp_path, monkeypatch):
    monkeypatch.setattr(estimate, "timed_costs", lambda c, ds, device: (0.0, 0.0))
    path = write_result(tmp_path, config("MLP"), 7.0)
    path.write_text(json.dumps({**json.loads(path.read_text()), "device": "cuda:0"}))
    seconds, how = estimate.estimate_seconds(tasks(config("MLP")), CPU, jobs=1, threads=1, logdir=tmp_path)
    assert how == "from timed steps, evaluation included"
    assert seconds == pytest.approx(estimate.FIRST_RUN_S + estimate.RUN_S)


def test_each_network_is_timed_once_with_the_threads_each_worker_will_have(monkeypatch):
    timed = []
    monkeypatch.setattr(estimate, "timed_costs",
                        lambda c, ds, device: timed.append((c["model"], torch.get_num_threads())) or (0.01, 0.0))
    before = torch.get_num_threads()
    plan = tasks(config("MLP"), config("MLP", 1), config("LeNet"), config("LeNet", 1))
    estimate.estimate_seconds(plan, CPU, jobs=2, threads=1)
    assert timed == [("MLP", 1), ("LeNet", 1)] and torch.get_num_threads() == before
