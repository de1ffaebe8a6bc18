"""The optimizer study: Net trained with each optimizer, each at its own default learning rate.

    python compare_optim.py              # every optimizer at its default rate (README has the table)
    python compare_optim.py --lr 0.01    # one rate for all (the original project's unfair setup)
    python compare_optim.py --lr-sweep   # a log-spaced grid per optimizer, best rate picked on val

A front of run.py: its planning, run store and flags, over the optimizer studies; the flags that would do
nothing here (--optimizer, --model, --grid, --name, --scale-lr) are refused with a line naming run.py.
"""
from __future__ import annotations

import run
from cli import exit_with
from studies import OPTIM_STUDIES


def main(argv: list[str] | None = None) -> int:
    return run.main(argv, studies=OPTIM_STUDIES, default_study="optim", prog="compare_optim.py",
                    description=__doc__.splitlines()[0])


if __name__ == "__main__":
    exit_with(main)
