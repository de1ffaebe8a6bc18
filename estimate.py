"""A plan's wall time: from finished runs' wall times where there are any, else from timed steps and evaluations."""
from __future__ import annotations

import heapq
import json
import math
import statistics
import time
from pathlib import Path

import torch

from dataloader import Dataset, augmenter
from evaluate import evaluate
from model import build_model
from recipes import EVALS_PER_EPOCH
from train import make_optimizer, train_step
from utils import keep_freed_memory

# Settings that decide a run's time (lr, weight decay, schedule, seed do not); `evals_per_epoch` is added apart.
NETWORK_KEYS = ("model", "model_args", "dataset", "batch_size", "channels_last", "precision", "augment")
MATCH_KEYS = (*NETWORK_KEYS, "optimizer", "subset", "epochs")
STEPS, WARMUP = 12, 3  # timed train steps per network (the first ones warm caches and allocators up)
EVAL_IMAGES = 2048  # images of one timed evaluation: 8 of evaluate's batches

# The constants below were measured on this suite's 2-core Xeon (KVM, shared), batch 64, Adam, channels-last,
# one torch thread a run, on an otherwise idle machine.
# train_epoch's loop costs more than bare train_step calls (the batch gather, grad norms every 10 steps,
# loss bookkeeping, one TensorBoard scalar a step): a full MNIST epoch ran at 1.07x (Net: 23.5 against
# 22.0 ms a step) and 1.09x (MLP: 6.7 against 6.1 ms) the median of timed steps.
LOOP_OVERHEAD = 1.08
# Per run, outside result.json's wall_time_s: data split and normalisation, model build, the run store's
# config, TensorBoard writer, checkpoint and predictions: 0.3 s a full-data run (after a process's first).
RUN_S = 0.3
# Once per process that trains. Its first run costs 2.3-3.1 s more than the next (median 2.7 of 11:
# TensorBoard's import, the raw data read); `--jobs N` also spawns N workers, each importing run.py's modules first
# (`python -c "import run"`: 3.1 s). One job trains in this process: only the first-run cost.
WORKER_START_S, FIRST_RUN_S = 5.8, 2.7
# Two one-thread runs at once on two cores share caches and memory bandwidth. Two identical loops at once
# against one alone: train steps 1.00x (Net, NetDeep), 1.03x (MLP), 1.05x (LeNet); evaluation 1.00-1.10x;
# two full-epoch train_runs at once: 0.98-1.01x. (Other work on the machine is not foreseen: it slows runs more.)
CONTENTION = 1.05

# An evaluated image costs about a third of a trained one at batch 64 (measured: Net 0.43, LeNet 0.36,
# NetSigmoid 0.33, NetDeep 0.31, MLP 0.21): used only to scale finished runs to other epochs or subsets.
EVAL_WEIGHT = 0.35


def evals_of(config: dict) -> int:
    """Evaluations per epoch; runs from before the key was in the config evaluated at today's default."""
    return config.get("evals_per_epoch", EVALS_PER_EPOCH)


def _same(a: dict, b: dict, keys: tuple[str, ...]) -> bool:
    """True when configs a and b agree on `keys` and on evaluations per epoch."""
    return all(a.get(k) == b.get(k) for k in keys) and evals_of(a) == evals_of(b)


def work(config: dict, ds: Dataset) -> float:
    """A run's work in train-image units: images trained plus images evaluated, weighted by EVAL_WEIGHT."""
    n_train = config["subset"] or ds.n_train
    return config["epochs"] * n_train + EVAL_WEIGHT * n_evaluated(config, ds)


def n_evaluated(config: dict, ds: Dataset) -> int:
    """Images a run evaluates: the validation split at every evaluation point, the test set once."""
    return config["epochs"] * evals_of(config) * ds.n_val + ds.n_test


def finished_runs(logdir: str | Path | None) -> list[dict]:
    """Readable finished (status ok) result.json files, each run once: the store's (logdir/runs/<id>/seed<k>/) and
    those of the older layout (logdir/<study>/<config>/seed<k>/ without a view.json); a study's views are links."""
    runs = []
    paths = sorted(Path(logdir).glob("*/*/seed*/result.json")) if logdir else []
    for path in (p for p in paths if not (p.parent / "view.json").is_file()):
        try:
            result = json.loads(path.read_text())
            if result["status"] == "ok" and float(result["wall_time_s"]) > 0 and isinstance(result["config"], dict):
                runs.append(result)
        except (OSError, ValueError, TypeError, KeyError, AttributeError):  # half-written, altered, another format
            continue
    return runs


def calibrated_seconds(config: dict, ds: Dataset, runs: list[dict]) -> float | None:
    """Median wall time of finished runs of these settings, else of this network scaled by work; None if neither."""
    same = [r["wall_time_s"] for r in runs if _same(r["config"], config, MATCH_KEYS)]
    if same:
        return statistics.median(same)
    # a run of the same network has the same dataset (it is one of NETWORK_KEYS)
    scaled = [r["wall_time_s"] * work(config, ds) / work(r["config"], ds) for r in runs
              if all(r["config"].get(k) == config.get(k) for k in NETWORK_KEYS)]
    return statistics.median(scaled) if scaled else None


def timed_costs(config: dict, ds: Dataset, device: torch.device) -> tuple[float, float]:
    """(seconds per train step, seconds per evaluated image) of config's network, timed on random data."""
    model = build_model(config["model"], ds.image_shape, ds.n_classes, **config["model_args"]).to(device)
    x = torch.randn(config["batch_size"], *ds.image_shape, device=device)
    xe = torch.randn(EVAL_IMAGES, *ds.image_shape, device=device)
    if config["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
        x, xe = (t.contiguous(memory_format=torch.channels_last) for t in (x, xe))
    y = torch.randint(0, ds.n_classes, (config["batch_size"],), device=device)
    ye = torch.randint(0, ds.n_classes, (EVAL_IMAGES,), device=device)
    optimizer = make_optimizer(config["optimizer"], model.parameters(), config["lr"], config["weight_decay"])
    augment = augmenter(config.get("augment", "none"), ds, 0)
    steps = []
    for _ in range(STEPS):
        t0 = time.perf_counter()
        loss, _ = train_step(model, optimizer, augment(x) if augment else x, y, config["precision"])
        loss.item()  # a sync, so that GPU time is counted
        steps.append(time.perf_counter() - t0)
    evals = []
    for n in (256, EVAL_IMAGES):  # the first warms evaluation's own shapes up
        t0 = time.perf_counter()
        evaluate(model, xe[:n], ye[:n], precision=config["precision"])  # ends in a host sync
        evals.append((time.perf_counter() - t0) / n)
    return statistics.median(steps[WARMUP:]), evals[-1]


def timed_seconds(config: dict, ds: Dataset, step_s: float, eval_s: float, contention: float = 1.0) -> float:
    """A run's wall time from its per-step and per-image costs: training, every evaluation, the fixed cost."""
    n_train = config["subset"] or ds.n_train
    steps = config["epochs"] * math.ceil(n_train / config["batch_size"])
    return contention * (LOOP_OVERHEAD * step_s * steps + eval_s * n_evaluated(config, ds)) + RUN_S


def pack(durations: list[float], jobs: int, start_s: float = 0.0) -> float:
    """Finish time of runs started in plan order, each on the first free of `jobs` workers that start in start_s."""
    free_at = [start_s] * max(1, min(jobs, len(durations)))
    for seconds in durations:  # 3 equal runs on 2 workers take 2 run times
        heapq.heappush(free_at, heapq.heappop(free_at) + seconds)
    return max(free_at) if durations else 0.0


def estimate_seconds(tasks: list[dict], device: torch.device, jobs: int, threads: int,
                     logdir: str | Path | None = None) -> tuple[float, str]:
    """(wall time of training the planned `tasks` on `jobs` workers, how it was estimated: a phrase for the plan)."""
    runs = [r for r in finished_runs(logdir) if str(r.get("device", device.type)).split(":")[0] == device.type]
    parallel = jobs > 1 and len(tasks) > 1
    contention = CONTENTION if parallel and device.type == "cpu" else 1.0
    costs: dict[str, tuple[float, float]] = {}
    durations, n_calibrated, n_scaled = [], 0, 0
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(threads)  # a one-thread run of a 2-job plan is slower than this process on every core
    try:
        for task in tasks:
            c, ds = task["config"], task["dataset"]
            seconds = calibrated_seconds(c, ds, runs)
            if seconds is not None:
                durations.append(seconds + RUN_S)
                n_calibrated += 1
                n_scaled += not any(_same(r["config"], c, MATCH_KEYS) for r in runs)
                continue
            if not costs:
                keep_freed_memory()  # as every run does: the allocator's behaviour is part of a step's time
            key = repr([c[k] for k in (*NETWORK_KEYS, "optimizer")])
            if key not in costs:
                costs[key] = timed_costs(c, ds, device)
            durations.append(timed_seconds(c, ds, *costs[key], contention))
    finally:
        torch.set_num_threads(before)
    seconds = pack(durations, jobs, WORKER_START_S if jobs > 1 else FIRST_RUN_S)
    if n_calibrated == len(tasks):
        how = f"from {len(runs)} finished runs' wall times"
        if n_scaled:  # another optimizer, epochs or subset of the same network: its time scaled by the work
            how += f", {n_scaled} of the {len(tasks)} scaled from other settings of the network"
    elif n_calibrated:
        how = f"{n_calibrated} of {len(tasks)} runs from finished runs' wall times, the rest from timed steps"
    else:
        how = "from timed steps, evaluation included"
    return seconds, how
