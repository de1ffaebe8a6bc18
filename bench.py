"""Benchmark: the suite's pipeline against the classic DataLoader pipeline, and time to 99% test accuracy.

    python bench.py            # throughput of Net, LeNet, NetDeep and MLP, then the time-to-99% race
    python bench.py --quick    # throughput only, fewer steps (about a minute on 2 CPU cores)
    python bench.py --peak     # each network's training step in multiply-adds per second, as a share of the
                               # processor's own peak (a large matrix multiply), fp32 and bf16

Throughput: the same network and the same Adam, batch 64, trained a fixed number of steps through
each pipeline, alternating (ABBA order) in this one process, several repetitions; the median of each
and their ratio. A third column trains on one resident batch, with no pipeline at all: the ceiling
any pipeline could reach, so the best ratio possible for that network on this machine. The suite's side is train.train_epoch on the device-resident splits, that is, the
loop every run of the suite executes (with its loss bookkeeping, gradient norms and divergence
checks); the classic side is pytorch/examples' loop over torchvision's MNIST (FashionMNIST with
--dataset fashion-mnist) through a DataLoader (ToTensor and Normalize per sample, num_workers 0).

Time to 99%: wall seconds, data loading, training and test evaluations included, until a test
evaluation first reaches 99.0%. The suite runs its `speed` recipe (one epoch, evaluated at its end);
pytorch/examples runs its own recipe (its Net with dropout, Adadelta lr 1.0, StepLR gamma 0.7,
batch 64, a test evaluation after each epoch). The examples run stops at --examples-budget seconds;
if it has not reached 99% by then its time is a lower bound, and so is the ratio (said in the
output and in result/bench.json).
"""
from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cli import Parser, check_writable, exit_with, positive_float, positive_int
from dataloader import DATA_ROOT, DATASETS, DataError, Dataset, get_dataset, load_splits, prepare_raw, to_channels_last
from model import MODELS as NETWORKS, build_model, named_layers
from recipes import DEFAULT_DATASET, PRECISIONS, SPEED_RECIPE
from studies import BASE_NETWORKS, STUDY_DATASETS
from train import make_optimizer, train_epoch, train_run, train_step
from utils import (BF16_CPU_FLAGS, DEVICES, UsageError, cpu_flags, cpu_model, keep_freed_memory, native_bf16, pick_device,
                   usable_cpus, write_json)

MODELS = ("Net", "LeNet", "NetDeep", "MLP")
PEAK_MODELS = ("Net", "SpeedNet", "SpeedNetLite")  # --peak's default: the base network and the speed recipes'
PEAK_BATCH = 128  # --peak's batch: the speed recipes'
PEAK_N = 1024  # --peak's matrix multiply: n x n by n x n, 1.07 G multiply-adds, large enough to run at the peak
BATCH = 64  # pytorch/examples' batch size, used by both pipelines
TARGET_ACC = 0.99
EXAMPLES_MAX_EPOCHS = 14  # pytorch/examples' default --epochs


# ---- the classic pipeline and pytorch/examples' recipe ----------------------------------------

def torchvision_dataset(ds: Dataset, root: Path, train: bool, **kwargs):
    """torchvision's class for `ds` over root/<folder>/raw, never downloading."""
    import torchvision.datasets

    return getattr(torchvision.datasets, ds.folder)(str(root), train=train, download=False, **kwargs)


def classic_dataset(train: bool, dataset: str = DEFAULT_DATASET):
    """torchvision's dataset class (MNIST, FashionMNIST) with ToTensor and Normalize applied per sample, as in
    pytorch/examples."""
    from torchvision import transforms

    ds = get_dataset(dataset)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((ds.mean,), (ds.std,))])
    return torchvision_dataset(ds, DATA_ROOT, train, transform=transform)


def classic_loader(dataset, batch_size: int = BATCH, shuffle: bool = True):
    from torch.utils.data import DataLoader

    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=0)


class ExamplesNet(nn.Module):
    """pytorch/examples mnist/main.py's Net: two 3x3 convs, dropout, a 128-unit layer, log-softmax."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = torch.flatten(self.dropout1(x), 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


def sync(device: torch.device) -> None:
    """Wait for queued device work, so that a timer stops after the work and not after its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


# ---- throughput ---------------------------------------------------------------------------------

def make_pair(name: str, device: torch.device, seed: int,
              dataset: str = DEFAULT_DATASET) -> tuple[nn.Module, torch.optim.Optimizer]:
    """A fresh network for the dataset's images and its Adam, the suite's default optimizer settings."""
    torch.manual_seed(seed)
    ds = get_dataset(dataset)
    model = build_model(name, ds.image_shape, ds.n_classes).to(device)
    return model, make_optimizer("adam", model.parameters(), 1e-3)


def suite_steps(model, optimizer, x: torch.Tensor, y: torch.Tensor, steps: int, generator,
                precision: str = "fp32") -> float:
    """Seconds for `steps` batches of train.train_epoch, the loop every suite run executes."""
    n = steps * BATCH
    if n > len(x):
        raise ValueError(f"{steps} steps of {BATCH} need {n} images; the split has {len(x)}")
    t0 = time.perf_counter()
    train_epoch(model, optimizer, None, False, named_layers(model), x[:n], y[:n], BATCH, generator, precision)
    sync(x.device)  # train_epoch already syncs once at its end (.tolist()); this keeps it explicit
    return time.perf_counter() - t0


def classic_steps(model, optimizer, loader, steps: int, device: torch.device) -> float:
    """Seconds for `steps` batches of pytorch/examples' loop over the DataLoader (a new shuffle each call)."""
    model.train()
    t0 = time.perf_counter()
    for step, (xb, yb) in enumerate(loader):
        if step == steps:
            break
        train_step(model, optimizer, xb.to(device), yb.to(device))
    sync(device)
    return time.perf_counter() - t0


def compute_steps(model, optimizer, xb: torch.Tensor, yb: torch.Tensor, steps: int, precision: str = "fp32") -> float:
    """Seconds for `steps` training steps on one resident batch: the network's cost with no data pipeline at all."""
    model.train()
    t0 = time.perf_counter()
    for _ in range(steps):
        train_step(model, optimizer, xb, yb, precision)
    sync(xb.device)
    return time.perf_counter() - t0


def throughput(name: str, steps: int, reps: int, device: torch.device, splits, loader,
               seed: int = 0, dataset: str = DEFAULT_DATASET) -> dict:
    """Samples per second of each pipeline for network `name`: medians over `reps` alternating runs.

    Also the ceiling: the same steps on one resident batch, the rate no data pipeline can beat, so
    classic_sps / compute_sps bounds what any pipeline's ratio can be for this network on this machine.
    """
    pairs = {k: make_pair(name, device, seed, dataset) for k in ("suite", "classic", "compute")}
    generator = torch.Generator().manual_seed(seed)
    x, y = splits.train_x, splits.train_y
    timers = {
        "suite": lambda n: suite_steps(*pairs["suite"], x, y, n, generator),
        "classic": lambda n: classic_steps(*pairs["classic"], loader, n, device),
        "compute": lambda n: compute_steps(*pairs["compute"], x[:BATCH], y[:BATCH], n),
    }
    for timer in timers.values():  # first calls pay for lazy initialisation (kernels, allocator, oneDNN plans)
        timer(min(5, steps))
    runs: dict[str, list[float]] = {k: [] for k in timers}
    for rep in range(reps):  # suite, classic, compute on even repetitions; the reverse on odd ones
        for k in (list(timers) if rep % 2 == 0 else list(timers)[::-1]):
            runs[k].append(steps * BATCH / timers[k](steps))
    sps = {k: statistics.median(v) for k, v in runs.items()}
    return {"suite_sps": sps["suite"], "classic_sps": sps["classic"], "ratio": sps["suite"] / sps["classic"],
            "compute_sps": sps["compute"], "max_ratio": sps["compute"] / sps["classic"],
            "suite_runs": runs["suite"], "classic_runs": runs["classic"], "compute_runs": runs["compute"]}


def precision_compare(name: str, steps: int, reps: int, device: torch.device, splits, seed: int = 0,
                      dataset: str = DEFAULT_DATASET) -> dict:
    """Training samples per second of network `name` in fp32 and in bf16 autocast, through the suite's loop
    (channels-last on a CPU, as its runs), medians over `reps` alternating repetitions, and bf16 over fp32."""
    channels_last = device.type == "cpu"
    pairs = {p: make_pair(name, device, seed, dataset) for p in PRECISIONS}
    if channels_last:
        pairs = {p: (m.to(memory_format=torch.channels_last), o) for p, (m, o) in pairs.items()}
        splits = to_channels_last(splits)
    generator = torch.Generator().manual_seed(seed)
    x, y = splits.train_x, splits.train_y
    for p in PRECISIONS:  # first calls pay for lazy initialisation (kernels, allocator, oneDNN plans)
        suite_steps(*pairs[p], x, y, min(5, steps), generator, p)
    runs: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    for rep in range(reps):  # fp32 first on even repetitions, bf16 first on odd ones
        for p in (PRECISIONS if rep % 2 == 0 else PRECISIONS[::-1]):
            runs[p].append(steps * BATCH / suite_steps(*pairs[p], x, y, steps, generator, p))
    sps = {p: statistics.median(v) for p, v in runs.items()}
    return {"fp32_sps": sps["fp32"], "bf16_sps": sps["bf16"], "ratio": sps["bf16"] / sps["fp32"],
            "fp32_runs": runs["fp32"], "bf16_runs": runs["bf16"]}


def precision_table(results: dict[str, dict]) -> str:
    lines = [f"{'network':<12} {'fp32 /s':>9} {'bf16 /s':>9} {'bf16 / fp32':>11}"]
    lines += [f"{name:<12} {r['fp32_sps']:>9,.0f} {r['bf16_sps']:>9,.0f} {r['ratio']:>10.2f}x" for name, r in results.items()]
    return "\n".join(lines)


# ---- the training step against the processor's peak ---------------------------------------------------

def layer_macs(model: nn.Module, in_shape: tuple[int, ...]) -> list[int]:
    """Multiply-adds of each convolution and linear layer for one image's forward pass, input side first."""
    macs: list[int] = []

    def count(module: nn.Module, _, out: torch.Tensor) -> None:
        weight = module.weight
        per_output = weight[0].numel()  # a conv's k*k*c_in (groups of 1), a linear layer's inputs
        macs.append(per_output * out[0].numel())

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *in_shape))
    finally:
        for h in hooks:
            h.remove()
    return macs


def training_macs(model: nn.Module, in_shape: tuple[int, ...]) -> int:
    """Multiply-adds of one image's training step: the forward pass, each layer's weight gradient (as many as its
    forward) and its input gradient (as many again) but the first layer's, which no one needs."""
    macs = layer_macs(model, in_shape)
    return 3 * sum(macs) - macs[0]


def peak_macs_per_s(precision: str, device: torch.device, n: int = PEAK_N, reps: int = 5) -> float:
    """The processor's own rate: an n x n by n x n matrix multiply in `precision`, median of `reps` (after one)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    times = []
    for _ in range(reps + 1):  # the first warms oneDNN and the allocator up
        t0 = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        times.append(time.perf_counter() - t0)
    return n ** 3 / statistics.median(times[1:])


def step_rate(name: str, precision: str, steps: int, reps: int, device: torch.device, seed: int = 0) -> dict:
    """Network `name`'s training step on one resident batch of PEAK_BATCH (channels-last on a CPU, as the suite's
    runs): images and multiply-adds per second, medians of `reps`."""
    ds = get_dataset(DEFAULT_DATASET)
    model, optimizer = make_pair(name, device, seed)
    macs = training_macs(model, ds.image_shape)
    x = torch.randn(PEAK_BATCH, *ds.image_shape, device=device)
    y = torch.randint(0, ds.n_classes, (PEAK_BATCH,), device=device)
    if device.type == "cpu":
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    compute_steps(model, optimizer, x, y, min(5, steps), precision)  # lazy initialisation
    images_per_s = statistics.median(steps * PEAK_BATCH / compute_steps(model, optimizer, x, y, steps, precision)
                                     for _ in range(reps))
    return {"train_macs_per_image": macs, "images_per_s": images_per_s, "macs_per_s": macs * images_per_s}


def peak_fractions(models: list[str], steps: int, reps: int, device: torch.device) -> dict:
    """For each precision: the processor's peak and each network's step rate as a share of it, measured in
    alternation (peak, networks, peak again) so that a change in the machine's speed shows in the two peaks."""
    out: dict[str, dict] = {}
    native = native_bf16(device)[0]
    for precision in PRECISIONS:
        hardware = precision == "fp32" or native  # else torch emulates bf16 at about 1% of fp32's rate: a smaller n
        n = PEAK_N if hardware else PEAK_N // 2
        before = peak_macs_per_s(precision, device, n)
        nets = {name: step_rate(name, precision, steps, reps, device) for name in models}
        after = peak_macs_per_s(precision, device, n)
        peak = max(before, after)
        out[precision] = {"peak_macs_per_s": peak, "peak_runs": [before, after], "peak_n": n,
                          "peak_is_hardware": hardware,
                          "networks": {k: {**v, "fraction_of_peak": v["macs_per_s"] / peak} for k, v in nets.items()}}
    return out


def peak_table(results: dict[str, dict]) -> str:
    lines = [f"{'network':<13} {'precision':<9} {'M MACs/image':>12} {'images/s':>9} {'G MACs/s':>9} {'of peak':>8}"]
    for precision, r in results.items():
        for name, n in r["networks"].items():
            lines.append(f"{name:<13} {precision:<9} {n['train_macs_per_image'] / 1e6:>12.2f} {n['images_per_s']:>9,.0f} "
                         f"{n['macs_per_s'] / 1e9:>9.2f} {100 * n['fraction_of_peak']:>7.1f}%")
        lines.append(f"{'(peak: mm)':<13} {precision:<9} {'':>12} {'':>9} {r['peak_macs_per_s'] / 1e9:>9.2f} {'100.0%':>8}")
    if not results["bf16"]["peak_is_hardware"]:
        lines.append("bf16: this processor has no native bf16, so its bf16 matrix multiply is emulated, not a hardware "
                     "peak, and a network's share of it can pass 100%")
    return "\n".join(lines)


def compare_with_peak(args, report: dict, device: torch.device, steps: int, reps: int) -> int:
    """bench.py --peak: each network's training step against the processor's peak, fp32 and bf16; the JSON."""
    print(f"precision: {report['machine']['native_bf16']}; batch {PEAK_BATCH}, one resident batch; peak: a square "
          "matrix multiply, before and after the networks (the larger is the peak)", flush=True)
    report["peak"] = peak_fractions(args.models or list(PEAK_MODELS), steps, reps, device)
    print("\ntraining step in multiply-adds (MACs) per second: forward, weight and input gradients "
          f"({args.threads} torch thread(s)), {report['machine'].get('gpu', report['machine']['cpu'])}:\n"
          + peak_table(report["peak"]))
    return write_report(args.out, report)


# ---- time to 99% --------------------------------------------------------------------------------

def suite_time_to_99(device: torch.device, seed: int = 0) -> dict:
    """The speed recipe from scratch (data loading included): its one test evaluation, and when it came."""
    from dataloader import _load_cpu

    _load_cpu.cache_clear()  # the suite reads its files again, as the examples run below does
    config = {**SPEED_RECIPE, "study": "bench", "name": "speed", "seed": seed, "device": str(device)}
    t0 = time.perf_counter()
    result = train_run(config)
    seconds = time.perf_counter() - t0
    reached = result["status"] == "ok" and result["test_acc"] >= TARGET_ACC
    return {"suite_s": seconds if reached else None, "suite_test_acc": result["test_acc"],
            "suite_reached": reached, "suite_epochs": result["epochs"], "suite_recipe": result["config"]}


@torch.no_grad()
def examples_test(model: nn.Module, loader, device: torch.device) -> float:
    """pytorch/examples' test(): accuracy over the test DataLoader (batch 1000)."""
    model.eval()
    correct = 0
    for xb, yb in loader:
        xb, yb = xb.to(device), yb.to(device)
        correct += int((model(xb).argmax(1) == yb).sum())
    return correct / len(loader.dataset)


def examples_time_to_99(device: torch.device, budget_s: float, seed: int = 0) -> dict:
    """pytorch/examples' recipe until a test evaluation (after each epoch) reaches 99%, or `budget_s` runs out.

    examples_s is the time it ran: the time to 99% when examples_reached, else a lower bound of it.
    """
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    train = classic_loader(classic_dataset(train=True))
    test = classic_loader(classic_dataset(train=False), batch_size=1000, shuffle=False)
    model = ExamplesNet().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    acc, epochs = None, 0.0
    for epoch in range(1, EXAMPLES_MAX_EPOCHS + 1):
        model.train()
        for step, (xb, yb) in enumerate(train):
            if time.perf_counter() - t0 > budget_s:
                elapsed = time.perf_counter() - t0
                acc = examples_test(model, test, device)  # where it stood when time ran out (not timed)
                return {"examples_s": elapsed, "examples_test_acc": acc, "examples_reached": False,
                        "examples_epochs": epoch - 1 + step / len(train)}
            # cross entropy of log-probabilities is examples' nll_loss: log_softmax leaves them as they are
            train_step(model, optimizer, xb.to(device), yb.to(device))
        acc, epochs = examples_test(model, test, device), epoch
        scheduler.step()
        if acc >= TARGET_ACC:
            break
    return {"examples_s": time.perf_counter() - t0, "examples_test_acc": acc,
            "examples_reached": acc >= TARGET_ACC, "examples_epochs": epochs}


def time_to_99(device: torch.device, budget_s: float, seed: int = 0) -> dict:
    """Both recipes, the suite's first, and examples_s / suite_s (a lower bound if examples ran out of time).

    Both train with every usable core's thread, as `run.py --study speed` trains its one run at a time."""
    before, threads = torch.get_num_threads(), usable_cpus()[0]
    torch.set_num_threads(threads)
    try:
        suite = suite_time_to_99(device, seed)
        examples = examples_time_to_99(device, budget_s, seed)
    finally:
        torch.set_num_threads(before)
    ratio = examples["examples_s"] / suite["suite_s"] if suite["suite_reached"] else None
    return {**suite, **examples, "ratio": ratio, "ratio_is_lower_bound": not examples["examples_reached"],
            "examples_budget_s": budget_s, "target_acc": TARGET_ACC, "threads": threads}


# ---- report ---------------------------------------------------------------------------------------

def throughput_table(results: dict[str, dict]) -> str:
    lines = [f"{'model':<8} {'suite/s':>8} {'classic/s':>10} {'ratio':>7} {'no pipeline/s':>14} {'max ratio':>10}"]
    for name, r in results.items():
        lines.append(f"{name:<8} {r['suite_sps']:>8,.0f} {r['classic_sps']:>10,.0f} {r['ratio']:>6.2f}x "
                     f"{r['compute_sps']:>14,.0f} {r['max_ratio']:>9.2f}x")
    return "\n".join(lines)


def time_table(t: dict) -> str:
    def seconds(key: str, reached: bool) -> str:
        return "-" if t[key] is None else f"{'' if reached else '>'}{t[key]:.1f}"

    def acc(key: str) -> str:
        return "-" if t[key] is None else f"{100 * t[key]:.2f}%"

    lines = [f"{'recipe':<18} {'seconds to 99%':>15} {'epochs':>7} {'test acc':>9}",
             f"{'suite speed':<18} {seconds('suite_s', t['suite_reached']):>15} {t['suite_epochs']:>7} "
             f"{acc('suite_test_acc'):>9}",
             f"{'pytorch/examples':<18} {seconds('examples_s', t['examples_reached']):>15} "
             f"{t['examples_epochs']:>7.2f} {acc('examples_test_acc'):>9}"]
    if t["ratio"] is None:
        lines.append("ratio: - (the speed recipe did not reach 99% test accuracy)")
    elif t["ratio_is_lower_bound"]:
        lines.append(f"ratio: >{t['ratio']:.1f}x (pytorch/examples had not reached 99% when its "
                     f"{t['examples_budget_s']:g} s budget ran out; its accuracy then is shown)")
    else:
        lines.append(f"ratio: {t['ratio']:.1f}x sooner")
    return "\n".join(lines)


def machine(device: torch.device, threads: int) -> dict:
    info = {"device": str(device), "torch_version": torch.__version__, "threads": threads,
            "cpu_count": os.cpu_count(), "cpu": cpu_model(),
            "cpu_bf16_flags": [f for f in BF16_CPU_FLAGS if f in cpu_flags()], "native_bf16": native_bf16(device)[1],
            "python": platform.python_version(), "host": platform.node()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    if hasattr(os, "getloadavg"):
        info["loadavg_1min_start"] = os.getloadavg()[0]
    return info


def write_report(out: str, report: dict) -> int:
    """The JSON, with the load average at its end beside the one at its start; exit code 0."""
    if hasattr(os, "getloadavg"):
        report["machine"]["loadavg_1min_end"] = os.getloadavg()[0]
    write_json(out, report)
    print(f"\nwrote {out}")
    return 0


def build_parser() -> Parser:
    p = Parser(prog="bench.py", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="throughput only, fewer steps (about a minute)")
    p.add_argument("--precision-compare", action="store_true",
                   help="only fp32 against bf16 autocast, samples per second of the suite's loop for every base network "
                        f"({', '.join(BASE_NETWORKS)} unless --models), as a ratio, with the CPU or GPU that gave it")
    p.add_argument("--peak", action="store_true",
                   help="only each network's training step (batch %d, resident) in multiply-adds per second, as a share "
                        "of the processor's peak (a large matrix multiply), fp32 and bf16, with --threads threads; "
                        "networks: %s unless --models" % (PEAK_BATCH, ", ".join(PEAK_MODELS)))
    p.add_argument("--dataset", default=DEFAULT_DATASET, choices=list(DATASETS),
                   help="the images both pipelines train on; the time-to-99%% race is MNIST's only (use --quick)")
    p.add_argument("--models", nargs="+", choices=list(NETWORKS), metavar="MODEL",
                   help=f"networks to measure (default: {' '.join(MODELS)}; with --precision-compare, the base ones; "
                        "with --peak, its own)")
    p.add_argument("--steps", type=positive_int, help="training steps per repetition (default 50; 20 with --quick)")
    p.add_argument("--reps", type=positive_int, help="repetitions per pipeline (default 5; 3 with --quick)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch threads (default 1: one core per pipeline, as each run of --jobs 2 on 2 cores)")
    p.add_argument("--examples-budget", type=positive_float, default=240.0,
                   help="seconds the pytorch/examples recipe may run; past it, its time is a lower bound (default 240)")
    p.add_argument("--device", default="auto", choices=DEVICES, help="default: auto (cuda, mps, then cpu)")
    p.add_argument("--out", default="result/bench.json", help="where the JSON goes (the reference copy: docs/results/bench.json)")
    return p


def compare_precisions(args, report: dict, device: torch.device, steps: int, reps: int, splits) -> int:
    """bench.py --precision-compare: fp32 against bf16 for each network, the table, the JSON."""
    print(f"precision: {report['machine']['native_bf16']}")
    results = {}
    for name in args.models or BASE_NETWORKS:
        results[name] = precision_compare(name, steps, reps, device, splits, dataset=args.dataset)
        print(f"  {name}: fp32 {results[name]['fp32_sps']:,.0f}/s, bf16 {results[name]['bf16_sps']:,.0f}/s, "
              f"{results[name]['ratio']:.2f}x", flush=True)
    report["precision_compare"] = results
    print("\ntraining samples per second through the suite's loop (median of alternating repetitions), "
          f"{report['machine']['cpu'] if device.type == 'cpu' else report['machine'].get('gpu')}:\n"
          + precision_table(results))
    return write_report(args.out, report)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    steps = args.steps or (20 if args.quick else 50)
    reps = args.reps or (3 if args.quick else 5)
    n_train = get_dataset(args.dataset).n_train
    if steps * BATCH > n_train:
        parser.error(f"--steps {steps} needs {steps * BATCH} training images; the split has {n_train} "
                     f"(at most {n_train // BATCH})")
    # the race's 99% target is the speed study's
    if args.peak and args.dataset != DEFAULT_DATASET:
        parser.error("--peak measures on MNIST's image shape only")
    if not (args.quick or args.precision_compare or args.peak) and args.dataset not in STUDY_DATASETS["speed"]:
        parser.error(f"the time-to-{100 * TARGET_ACC:.0f}% race is for "
                     f"{', '.join(get_dataset(d).title for d in STUDY_DATASETS['speed'])} only: "
                     f"add --quick to measure throughput on {get_dataset(args.dataset).title}")
    try:
        device = pick_device(args.device)
        check_writable(str(Path(args.out).parent), "--out")
    except UsageError as e:
        parser.error(str(e))
    try:
        prepare_raw(dataset=args.dataset)
    except DataError as e:
        print(f"bench.py: error: {e}", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as every suite run does (train.train_run); both pipelines share this process
    report = {"command": " ".join(["python", "bench.py", *(sys.argv[1:] if argv is None else argv)]),
              "machine": machine(device, args.threads),
              "settings": {"dataset": args.dataset, "batch_size": BATCH, "steps": steps, "reps": reps,
                           "quick": args.quick, "precision_compare": args.precision_compare, "peak": args.peak}}
    print(f"bench: {get_dataset(args.dataset).title} on {device} "
          f"({report['machine'].get('gpu', report['machine']['cpu'])}), "
          f"{args.threads} torch thread(s), batch {PEAK_BATCH if args.peak else BATCH}, {steps} steps x {reps} "
          f"repetitions per {'network' if args.peak else 'pipeline'}")
    if args.peak:
        return compare_with_peak(args, report, device, steps, reps)
    splits = load_splits(args.dataset, device)
    if args.precision_compare:
        return compare_precisions(args, report, device, steps, reps, splits)
    loader = classic_loader(classic_dataset(train=True, dataset=args.dataset))
    results = {}
    for name in args.models or MODELS:
        results[name] = throughput(name, steps, reps, device, splits, loader, dataset=args.dataset)
        r = results[name]
        print(f"  {name}: suite {r['suite_sps']:,.0f}/s, classic {r['classic_sps']:,.0f}/s, {r['ratio']:.2f}x",
              flush=True)
    report["throughput"] = results
    print("\nthroughput, training samples per second (median of repetitions); 'no pipeline': one resident batch,\n"
          "the ceiling of any pipeline; max ratio: that ceiling over the classic pipeline\n" + throughput_table(results))
    if not args.quick:
        del splits, loader  # the race below loads its own data, as each recipe does from scratch
        print(f"\ntime to {100 * TARGET_ACC:.0f}% test accuracy: the speed recipe, then pytorch/examples "
              f"(at most {args.examples_budget:g} s), each with {usable_cpus()[0]} torch thread(s) ...", flush=True)
        report["time_to_99"] = time_to_99(device, args.examples_budget)
        print(time_table(report["time_to_99"]))
    return write_report(args.out, report)


if __name__ == "__main__":
    exit_with(main)
