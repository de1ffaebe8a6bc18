"""The best study's candidates, timed: a training step of each, fp32 and bf16, as docs/best.md's table.

    python docs/best_cost.py            # prints the table
    python docs/best_cost.py --write    # and puts it into docs/best.md between its two <!-- best_cost --> lines

Batch 128 with the study's augmentation and label smoothing, channels-last, one torch thread, AdamW;
the networks and precisions alternate in one process (6 rounds of 8 steps), and each time is the median.
"""
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from dataloader import augmenter, get_dataset, load_splits  # noqa: E402
from model import build_model, count_parameters  # noqa: E402
from recipes import BEST_RECIPE  # noqa: E402
from studies import best_recipe  # noqa: E402
from train import make_optimizer, train_step  # noqa: E402
from utils import cpu_flags, cpu_model, write_between  # noqa: E402

MARK = "<!-- best_cost -->"
CANDIDATES = {
    "Net (the seed's CNN)": ("Net", {}),
    "ConvNet, 3 blocks of 16-32-64, batch norm": ("ConvNet", {"depth": 3, "width": 16, "hidden": 256, "bn": True}),
    "ConvNet, 3 blocks of 24-48-96, batch norm": ("ConvNet", {"depth": 3, "width": 24, "hidden": 256, "bn": True}),
    "**ConvNet, 3 blocks of 32-64-128, batch norm (the best study's on MNIST)**": (BEST_RECIPE["model"],
                                                                                  BEST_RECIPE["model_args"]),
    "**ConvNet, 3 blocks of 48-96-192, batch norm (the best study's on Fashion-MNIST)**": (
        BEST_RECIPE["model"], best_recipe("fashion-mnist")["model_args"]),
}
ROUNDS, STEPS = 6, 8


def main() -> None:
    torch.set_num_threads(1)
    ds = get_dataset("mnist")
    splits = load_splits(ds, subset=BEST_RECIPE["batch_size"])
    x = splits.train_x.contiguous(memory_format=torch.channels_last)
    augment = augmenter("shift_rotate", ds, 0)
    nets = {k: build_model(m, ds.image_shape, ds.n_classes, **a).to(memory_format=torch.channels_last)
            for k, (m, a) in CANDIDATES.items()}
    optimizers = {k: make_optimizer("adamw", n.parameters(), BEST_RECIPE["lr"], BEST_RECIPE["weight_decay"])
                  for k, n in nets.items()}
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(ROUNDS):
        for k, net in nets.items():
            for precision in ("fp32", "bf16"):
                t0 = time.perf_counter()
                for _ in range(STEPS):
                    train_step(net, optimizers[k], augment(x), splits.train_y, precision,
                               label_smoothing=BEST_RECIPE["label_smoothing"])
                times.setdefault((k, precision), []).append((time.perf_counter() - t0) / STEPS)
    median = {key: statistics.median(v) for key, v in times.items()}
    net = median[(next(iter(CANDIDATES)), "fp32")]
    flags = sorted(cpu_flags() & {"avx512_bf16", "amx_bf16"}) or ["no native bf16"]
    lines = [f"{cpu_model() or 'CPU'} ({', '.join(flags)}):", "",
             "| network | parameters | fp32 ms a step | x Net's fp32 | bf16 ms a step | fp32 / bf16 |",
             "|---|---:|---:|---:|---:|---:|"]
    for k, n in nets.items():
        fp32, bf16 = median[(k, "fp32")], median[(k, "bf16")]
        lines.append(f"| {k} | {count_parameters(n):,} | {1000 * fp32:.0f} | {fp32 / net:.2f}x | {1000 * bf16:.0f} "
                     f"| {fp32 / bf16:.2f}x |")
    table = "\n".join(lines)
    print(table)
    if "--write" in sys.argv[1:]:
        path = ROOT / "docs" / "best.md"
        write_between(path, MARK, table + "\n")
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
