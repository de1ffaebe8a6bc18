"""README's commands table: each command's run count and wall times, from the reference runs' own times.

    python docs/results/command_times.py LOGROOT            # prints the table
    python docs/results/command_times.py LOGROOT --write    # and puts it into README.md between its two marks
    python docs/results/command_times.py LOGROOT --write --reset   # blanking the times LOGROOT does not give

A command's time is `<command> --force --dry-run` on LOGROOT/logs (the reference runs that
docs/results/regenerate.sh trained alone on the cores, two at a time): run.py plans the command's runs
as from nothing finished, and the estimate takes each run's time from the finished reference runs of the
same settings, packed onto the command's workers. Where a run of the command has no reference run of its
settings in LOGROOT, the cell keeps what README has (the time from another part's LOGROOT), or with
`--reset` is blanked (when the code changed and every time must come again); a "-" cell (a study that does
not apply to the dataset) stays "-".
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
from utils import write_between  # noqa: E402

README = ROOT / "README.md"
MARK = "<!-- commands table: `python docs/results/command_times.py LOGROOT --write` fills its runs and times -->"
RUNS_COLUMN = 3  # cells of a row split at "|": 1 the command, 2 what it compares, 3 runs, 4 MNIST, 5 Fashion-MNIST
DATASET_COLUMNS = {4: [], 5: ["--dataset", "fashion-mnist"]}
PLANNED = re.compile(r"^plan: .* = (\d+) runs,", re.M)
ESTIMATED = re.compile(r"^estimated time: (.+) with --jobs \d+ \((.+)\)$", re.M)
CALIBRATED = re.compile(r"from \d+ finished runs' wall times")  # every run from a reference run (estimate.py)


def command_args(cell: str) -> list[str]:
    """'`python run.py --study batch_size [--scale-lr]`' -> ['run.py', '--study', 'batch_size'] (options dropped)."""
    words = re.sub(r"\[[^]]*\]", "", cell.strip().strip("`")).split()
    if len(words) < 2 or words[0] != "python":
        raise ValueError(f"not a command: {cell.strip()}")
    return words[1:]


def estimate(args: list[str], logroot: Path) -> tuple[int, str | None]:
    """(runs the command plans, its estimated time where every run is calibrated by a reference run, else None)."""
    script, *rest = args
    done = subprocess.run([sys.executable, str(ROOT / script), *rest, "--force", "--dry-run", "--logdir", "logs"],
                          cwd=logroot, capture_output=True, text=True)
    planned = PLANNED.search(done.stdout)
    if done.returncode or not planned:
        raise RuntimeError(f"{' '.join(args)}: {(done.stderr.strip().splitlines() or ['no plan'])[-1]}")
    timed = ESTIMATED.search(done.stdout)
    return int(planned.group(1)), timed.group(1) if timed and CALIBRATED.fullmatch(timed.group(2)) else None


def filled_row(line: str, logroot: Path, reset: bool = False) -> str:
    """One table row with its run count and its MNIST and Fashion-MNIST times from the reference runs (the
    cell as it was where they have none, blank with `reset`)."""
    cells = line.split("|")
    args = command_args(cells[1])
    counts = []
    for column, dataset in DATASET_COLUMNS.items():
        if cells[column].strip() == "-":
            continue
        runs, minutes = estimate(args + dataset, logroot)
        counts.append(runs)
        if minutes or reset:
            cells[column] = f" {minutes} " if minutes else " "
    if counts:  # the same on either dataset but for a study whose configs depend on it
        cells[RUNS_COLUMN] = f" {counts[0]} "
    return "|".join(cells)


def commands_table(readme: str, logroot: Path, reset: bool = False) -> str:
    """The table between README's two marks, its rows filled (the header and rule as they are)."""
    parts = readme.split(MARK)
    if len(parts) != 3:
        raise ValueError(f"README.md has not two '{MARK}' lines")
    lines = parts[1].strip("\n").splitlines()
    return "\n".join(lines[:2] + [filled_row(line, logroot, reset) for line in lines[2:]]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="docs/results/command_times.py", description=__doc__.splitlines()[0])
    parser.add_argument("logroot", type=Path, help="the folder whose logs/ hold the reference runs")
    parser.add_argument("--write", action="store_true", help="put the table into README.md")
    parser.add_argument("--reset", action="store_true", help="blank the times that LOGROOT's runs do not give")
    args = parser.parse_args(argv)
    if not (args.logroot / "logs").is_dir():
        parser.error(f"{args.logroot} has no logs/ folder")
    readme = README.read_text()
    try:
        table = commands_table(readme, args.logroot.resolve(), args.reset)
    except (ValueError, RuntimeError) as e:
        print(f"command_times.py: {e}", file=sys.stderr)
        return 1
    print(table, end="")
    if args.write:
        write_between(README, MARK, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
