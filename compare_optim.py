"""The optimizer study: Net trained with each optimizer, each at its own default learning rate.

    python compare_optim.py              # every optimizer at its default rate (README has the table)
    python compare_optim.py --lr 0.01    # one rate for all (the original project's unfair setup)
    python compare_optim.py --lr-sweep   # a log-spaced grid per optimizer, best rate picked on val
"""
from __future__ import annotations

import argparse
import statistics
import sys

import run
from train import OPTIMIZERS

SWEEP_FACTORS = (0.1, 10**-0.5, 1.0, 10**0.5, 10.0)  # x the optimizer's default rate: 2 decades


def study_optim(args) -> run.Spec:
    return [(name, {"model": "Net", "optimizer": name, "lr": args.lr or default})
            for name, (_, default, _) in OPTIMIZERS.items()]


def sweep_rates(center: float) -> list[float]:
    return [float(f"{center * f:.3g}") for f in SWEEP_FACTORS]


def study_optim_sweep(args) -> run.Spec:
    return [(f"{name}_lr{lr:g}", {"model": "Net", "optimizer": name, "lr": lr})
            for name, (_, default, _) in OPTIMIZERS.items() for lr in sweep_rates(args.lr or default)]


STUDIES: dict[str, run.Study] = {"optim": study_optim, "optim_sweep": study_optim_sweep}


def best_rates(results: list[dict]) -> list[dict]:
    """Per optimizer, the rate with the best mean validation accuracy, and the test accuracy there.

    Diverged runs count as failures at that rate: a rate where any seed diverged is never picked.
    """
    by_rate: dict[tuple[str, float], list[dict]] = {}
    for r in results:
        by_rate.setdefault((r["config"]["optimizer"], r["config"]["lr"]), []).append(r)
    best: dict[str, dict] = {}
    for (opt, lr), runs in by_rate.items():
        if any(r["status"] != "ok" for r in runs):
            continue
        val = statistics.mean(r["best_val_acc"] for r in runs)
        if opt not in best or val > best[opt]["val_acc"]:
            test = [r["test_acc"] for r in runs]
            best[opt] = {"optimizer": opt, "lr": lr, "val_acc": val, "test_acc": statistics.mean(test),
                         "test_std": statistics.stdev(test) if len(test) > 1 else None, "seeds": len(runs)}
    return sorted(best.values(), key=lambda b: -b["val_acc"])


def print_best_rates(results: list[dict], args) -> None:
    sweep = [r for r in results if r.get("study") == "optim_sweep" and "config" in r]
    if not sweep:
        return
    print("\nlr sweep: each optimizer at its best rate on val (a fair comparison)")
    print(f"{'optimizer':<10} {'best lr':>9} {'val acc':>9} {'test acc':>16}")
    for b in best_rates(sweep):
        std = f" ± {100 * b['test_std']:.2f}" if b["test_std"] is not None else ""
        print(f"{b['optimizer']:<10} {b['lr']:>9g} {100 * b['val_acc']:>8.2f}% {100 * b['test_acc']:.2f}%{std:>8}")


class SweepAction(argparse.Action):
    def __init__(self, **kwargs):
        super().__init__(nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.study = "optim_sweep"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lr-sweep", action=SweepAction,
                        help="same as --study optim_sweep: a grid of 5 rates per optimizer, best picked on val")


def main(argv: list[str] | None = None) -> int:
    return run.main(argv, studies=STUDIES, default_study="optim", prog="compare_optim.py",
                    description=__doc__.splitlines()[0], add_arguments=add_arguments, after=print_best_rates)


if __name__ == "__main__":
    sys.exit(main())
