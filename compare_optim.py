"""The optimizer study: Net trained with each optimizer, each at its own default learning rate.

    python compare_optim.py              # every optimizer at its default rate (README has the table)
    python compare_optim.py --lr 0.01    # one rate for all (the original project's unfair setup)
    python compare_optim.py --lr-sweep   # a log-spaced grid per optimizer, best rate picked on val
"""
from __future__ import annotations

import argparse

import run
from studies import OPTIM_STUDIES, best_rates, traits
from utils import exit_with

STUDIES = OPTIM_STUDIES


def print_best_rates(results: list[dict], args) -> None:
    sweep = [r for r in results if traits(r.get("study") or "").best_rates and "config" in r]
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
    exit_with(main)
