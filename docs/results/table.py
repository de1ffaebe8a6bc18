"""README's results table, composed from the parts of docs/results: each a folder that plot.py made from the
reference runs of one LOGROOT (one session's training; a file outside the clone does not outlive it here).

    python docs/results/table.py            # prints the table
    python docs/results/table.py --write    # and puts it into README.md between its two marks

A part is a folder of docs/results with a CHOICES.json (plot.py writes it beside CHOICES.md); the table has
every question and every dataset and recipe, "not run" where no part has the study, and a line under it links
each part's REPORT.md. Two parts with the same cell are an error. docs/results/check.py checks that README.md
holds this table.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
from plot import README_MARK  # noqa: E402
from report import compose_choices  # noqa: E402
from utils import write_between  # noqa: E402

RESULTS = ROOT / "docs" / "results"
README = ROOT / "README.md"


def parts(results: Path = RESULTS) -> list[Path]:
    """The CHOICES.json of every part, in folder order."""
    return sorted(results.glob("*/CHOICES.json"))


def links(paths: list[Path]) -> str:
    """The line that links each part's REPORT.md (from README.md): the reader's way from a cell to its runs."""
    named = [f"[{path.parent.name}](docs/results/{path.parent.name}/REPORT.md)" for path in paths]
    return f"The parts, each a folder plot.py made with its REPORT.md: {', '.join(named)}."


def table(results: Path = RESULTS) -> str:
    """The table and its links as README.md holds them between its marks ('' with no part)."""
    paths = parts(results)
    lines = compose_choices(paths)
    return "\n".join([*lines, "", links(paths)]) + "\n" if lines else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="docs/results/table.py", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="put the table into README.md")
    args = parser.parse_args(argv)
    try:
        text = table()
    except ValueError as e:
        print(f"table.py: {e}", file=sys.stderr)
        return 1
    print(text, end="")
    if args.write:
        write_between(README, README_MARK, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
