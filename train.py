"""One run: train_run(config) -> result. The epoch loop, logging and divergence handling."""
from __future__ import annotations

import hashlib
import inspect
import math
import os
import platform
import random
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dataloader import Dataset, augmenter, batches, epoch_order, get_dataset, load_splits, to_channels_last
from evaluate import autocast, evaluate
from model import build_model, count_parameters, named_layers
from recipes import OPTIMIZERS, make_config
from utils import (git_commit, keep_freed_memory, pick_device, save_checkpoint, save_predictions, write_json,
                   write_run_hparams)

CHECK_EVERY = 50  # steps between divergence checks (each one is a host sync)
PREDICTIONS = "predictions.npy"  # a run's 10,000 predicted test labels (uint8), for paired tests image by image
GRAD_EVERY = 10  # steps between per-layer gradient-norm samples


def digest(tensors) -> str:
    """12 hex digits of the tensors' bytes: equal digests mean equal values (weights, batch orders)."""
    h = hashlib.sha1()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def make_optimizer(name: str, params, lr: float, weight_decay: float | None = None) -> torch.optim.Optimizer:
    """Optimizer `name` (weight decay: its own default unless given), fused where torch has a kernel for the device.

    The fused step is the same update computed in one kernel for all parameters; on a CPU it makes
    an MLP's Adam step about 20-40% faster than the default per-parameter loop.
    """
    class_name, _, extra = OPTIMIZERS[name]
    cls = getattr(torch.optim, class_name)
    if weight_decay is not None:
        extra = {**extra, "weight_decay": weight_decay}
    params = list(params)
    if "fused" in inspect.signature(cls.__init__).parameters:
        try:
            return cls(params, lr=lr, fused=True, **extra)
        except RuntimeError:  # torch < 2.4 has no fused CPU kernels; some devices have none
            pass
    return cls(params, lr=lr, **extra)


def make_scheduler(name: str, optimizer, lr: float, epochs: int, steps_per_epoch: int):
    """(scheduler, steps it per batch?) or (None, False).

    One-cycle cycles momentum (or Adam's beta1) against the rate only where the optimizer has one:
    plain SGD, RMSprop without momentum, Adagrad and Adadelta keep their update rule.
    """
    if name == "onecycle":
        has_momentum = optimizer.defaults.get("momentum", 0) > 0 or "betas" in optimizer.defaults
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=epochs, steps_per_epoch=steps_per_epoch,
                                                   cycle_momentum=has_momentum), True
    if name == "step":  # pytorch/examples mnist: x0.7 per epoch
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7), False
    return None, False


def grad_norms(layers: list[tuple[str, nn.Module]]) -> torch.Tensor:
    """L2 norm of each layer's gradient (weights and bias together), on the device."""
    return torch.stack([
        torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in m.parameters(recurse=False)]))
        for _, m in layers])


def eval_points(n_steps: int, evals: int) -> set[int]:
    """Steps of an epoch (1-based) after which to evaluate: `evals` evenly spaced, the last at the epoch's end."""
    return {math.ceil(k * n_steps / evals) for k in range(1, evals + 1)} if evals > 0 else set()


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor,
               precision: str = "fp32", before_update: Callable[[], None] | None = None,
               label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimization step on a batch: (its loss, its logits), left on the device (no host sync).

    The one step that train_epoch runs and that run.py's time estimate and bench.py time.
    `before_update` runs between the backward pass and the update, while the gradients are there.
    The loss is against targets smoothed by `label_smoothing` (evaluation's loss never is).
    """
    with autocast(xb.device, precision):
        logits = model(xb)
    loss = F.cross_entropy(logits.float(), yb, label_smoothing=label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if before_update:
        before_update()
    optimizer.step()
    return loss, logits


def train_epoch(model, optimizer, scheduler, per_batch, layers, x, y, batch_size, generator, precision,
                evals: int = 0, on_eval: Callable[[int], None] | None = None,
                augment: Callable[[torch.Tensor], torch.Tensor] | None = None, label_smoothing: float = 0.0) -> dict:
    """One pass over (x, y). Losses and counts stay on the device; a sync every CHECK_EVERY steps.

    With `on_eval`, calls on_eval(steps done) at `evals` evenly spaced points, the last after the final step.
    `augment` transforms each batch before the step (the training accuracy is then on the transformed images).
    """
    n_steps = math.ceil(len(x) / batch_size)
    at = eval_points(n_steps, evals) if on_eval else set()
    step_losses = torch.zeros(n_steps, device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    norm_sum = torch.zeros(len(layers), device=x.device)
    n_norms = 0

    def add_grad_norms() -> None:
        nonlocal n_norms
        norm_sum.add_(grad_norms(layers))
        n_norms += 1

    model.train()
    for step, (xb, yb) in enumerate(batches(x, y, batch_size, generator)):
        if augment:
            xb = augment(xb)
        loss, logits = train_step(model, optimizer, xb, yb, precision, add_grad_norms if step % GRAD_EVERY == 0 else None,
                                  label_smoothing)
        if per_batch:
            scheduler.step()
        step_losses[step] = loss.detach()
        correct += (logits.argmax(1) == yb).sum()
        if (step + 1) % CHECK_EVERY == 0 and not torch.isfinite(step_losses[step + 1 - CHECK_EVERY:step + 1]).all():
            return {"step_losses": step_losses[:step + 1].tolist(), "diverged": True}
        if step + 1 in at:
            on_eval(step + 1)
    losses = step_losses.tolist()
    return {
        "step_losses": losses,
        "diverged": not all(math.isfinite(v) for v in losses),
        "loss": sum(losses) / len(losses),
        "acc": correct.item() / len(x),
        "grad_norms": (norm_sum / max(n_norms, 1)).tolist(),
    }


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_determinism(deterministic: bool, device: torch.device) -> None:
    """Deterministic algorithms on or off for this run, and cuDNN autotuning only when off.

    Set both ways: a process that trains several runs must not inherit the previous run's mode.
    """
    if deterministic and device.type == "cuda":
        # PyTorch refuses cuBLAS calls in deterministic mode unless cuBLAS has a fixed workspace;
        # a value the user exported wins. It should be set before the process's first cuBLAS call.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.benchmark = not deterministic


def train_run(config: dict, run_dir: str | Path | None = None, log: Callable[[str], None] | None = None,
              identity: dict | None = None, dataset: Dataset | None = None) -> dict:
    """Train one network as `config` says; with `run_dir`, write the run store there (result.json last).

    `identity` (runstore.identity): the config id and code digest recorded in config.json and
    result.json, and the HParams trial that groups the seeds of one config. `dataset`: the registry
    entry the planner resolved (config["dataset"] names it); looked up here only when not given.

    Common random numbers: with seed k, every config sees the same batch order (a generator seeded
    with k, one permutation per epoch), and configs whose parameters have the same shapes start from
    the same weights (the global RNG seeded with k just before the model is built). Augmentation
    draws from a third generator seeded with k, so configs of one seed and batch size see the same
    transformed images; dropout draws from the global RNG. result.json records the weights and the
    batch order as digests under `shared`, so a comparison can check that it is paired.
    """
    config = make_config(**config)
    device = pick_device(config["device"])
    set_determinism(config["deterministic"], device)
    keep_freed_memory()
    dataset = dataset or get_dataset(config["dataset"])
    if dataset.name != config["dataset"]:
        raise ValueError(f"the config names dataset '{config['dataset']}', the task carries '{dataset.name}'")
    evals_per_epoch = config["evals_per_epoch"]
    data = load_splits(dataset, device, config["subset"])
    seed_everything(config["seed"])
    model = build_model(config["model"], dataset.image_shape, dataset.n_classes, **config["model_args"]).to(device)
    shared = {"seed": config["seed"], "init_digest": digest(model.state_dict().values()),
              "batch_order_digest": digest([epoch_order(len(data.train_x),
                                                        torch.Generator().manual_seed(config["seed"]))])}
    if config["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
        data = to_channels_last(data)
    layers = named_layers(model)
    optimizer = make_optimizer(config["optimizer"], model.parameters(), config["lr"], config["weight_decay"])
    steps_per_epoch = math.ceil(len(data.train_x) / config["batch_size"])
    scheduler, per_batch = make_scheduler(config["schedule"], optimizer, config["lr"], config["epochs"], steps_per_epoch)
    generator = torch.Generator().manual_seed(config["seed"])
    augment = augmenter(config["augment"], dataset, config["seed"])  # ValueError for flips the dataset forbids
    ids = {k: v for k, v in (identity or {}).items() if k != "trial"}  # config_id, code_digest
    meta = {"torch_version": torch.__version__, "device": str(device), "git_commit": git_commit(),
            "host": platform.node()}

    writer = None
    if run_dir is not None:
        from torch.utils.tensorboard import SummaryWriter
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "config.json", {"config": config, **ids, **meta})
        writer = SummaryWriter(str(run_dir))
        write_run_hparams(writer, config, (identity or {}).get("trial", config["name"]))

    history, val_curve, status, step, train_seconds = [], [], "ok", 0, 0.0

    def evaluate_val(steps_done: int) -> None:
        """A validation point, logged against the global training step (train/loss's x axis)."""
        val = evaluate(model, data.val_x, data.val_y, precision=config["precision"])
        point = {"step": step + steps_done, "epoch": (step + steps_done) / steps_per_epoch,
                 "val_loss": val["loss"], "val_acc": val["acc"]}
        val_curve.append(point)
        if writer and math.isfinite(val["loss"]):  # a NaN is never logged
            writer.add_scalar("val/loss", val["loss"], point["step"])
            writer.add_scalar("val/acc", val["acc"], point["step"])

    start = time.perf_counter()
    try:
        for epoch in range(1, config["epochs"] + 1):
            t0 = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            out = train_epoch(model, optimizer, scheduler, per_batch, layers, data.train_x, data.train_y,
                              config["batch_size"], generator, config["precision"], evals_per_epoch, evaluate_val,
                              augment, config["label_smoothing"])
            train_seconds += time.perf_counter() - t0
            losses = out["step_losses"]
            n_finite = next((i for i, v in enumerate(losses) if not math.isfinite(v)), len(losses))
            if writer:  # a NaN is never logged: the steps before it are the evidence
                for i, v in enumerate(losses[:n_finite]):
                    writer.add_scalar("train/loss", v, step + i + 1)
            step += n_finite
            if out["diverged"]:
                status, step = "diverged", step + 1  # the first step whose loss is not finite
                if log:
                    log(f"{config['name']} seed {config['seed']}: loss is not finite at step {step}: diverged")
                break
            if scheduler is not None and not per_batch:
                scheduler.step()
            val = val_curve[-1]  # the evaluation after the epoch's last step
            seconds = time.perf_counter() - t0
            history.append({"epoch": epoch, "train_loss": out["loss"], "train_acc": out["acc"],
                            "val_loss": val["val_loss"], "val_acc": val["val_acc"], "lr": lr, "seconds": seconds})
            if writer:  # per-epoch values at the epoch's last step: one x axis (steps) for every tag
                for tag, v in [("train/loss_epoch", out["loss"]), ("train/acc", out["acc"]), ("lr", lr),
                               ("time/epoch_s", seconds)]:
                    writer.add_scalar(tag, v, step)
                for (name, _), v in zip(layers, out["grad_norms"]):
                    writer.add_scalar(f"grad_norm/{name}", v, step)
            if log:
                log(f"{config['name']} seed {config['seed']} epoch {epoch}/{config['epochs']}: "
                    f"train loss {out['loss']:.4f}, val loss {val['val_loss']:.4f}, "
                    f"val acc {100 * val['val_acc']:.2f}% ({seconds:.1f}s)")

        test = evaluate(model, data.test_x, data.test_y, precision=config["precision"]) if status == "ok" else None
        n_samples = len(data.train_x) * len(history) if status == "ok" else step * config["batch_size"]
        result = {
            "status": status, "study": config["study"], "name": config["name"], "seed": config["seed"],
            "config": config, **ids, "epochs": len(history), "history": history,
            "steps_per_epoch": steps_per_epoch, "evals_per_epoch": evals_per_epoch, "val_curve": val_curve,
            "test_loss": test["loss"] if test else None, "test_acc": test["acc"] if test else None,
            "test_per_class_acc": test["per_class_acc"] if test else None,
            "test_confusion": test["confusion"] if test else None,
            "predictions": PREDICTIONS if test and run_dir is not None else None,
            "best_val_acc": max((h["val_acc"] for h in history), default=None),
            "n_params": count_parameters(model), "wall_time_s": time.perf_counter() - start,
            "samples_per_s": n_samples / train_seconds if train_seconds else None,
            "diverged_at_step": step if status == "diverged" else None, "shared": shared, **meta,
        }
        if writer:
            if test:
                writer.add_scalar("test/loss", test["loss"], step)
                writer.add_scalar("test/acc", test["acc"], step)
            writer.flush()
    finally:
        if writer:
            writer.close()
    if run_dir is not None:
        if status == "ok":
            save_predictions(run_dir / PREDICTIONS, test["predictions"])
            save_checkpoint(run_dir / "model.pt", {"model": config["model"], "model_args": config["model_args"],
                                                   "dataset": dataset.name, "state_dict": model.state_dict(),
                                                   "config": config})
        write_json(run_dir / "result.json", result)  # last: its presence means the run finished
    return result
