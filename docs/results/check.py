"""Checks the committed reference results against what issue 34 promises of them.

    python docs/results/check.py     # every folder's comparisons CSVs: seeds, verdicts, columns; its runs all of
                                     # today's code; README's table is table.py's composition of the parts,
                                     # with its line of links to each part's REPORT.md; performance.md's precision
                                     # table is precision_table.py's; the overview figures are
                                     # overview.py's drawing of the parts; no machine path
    python docs/results/check.py --results docs/results/mnist-quick LOGROOT
                                     # and plot.py remakes that folder byte for byte from LOGROOT/logs
                                     # (minutes: it reads every run)

docs/results/older/ is left out: the archive of older code's results (5 seeds, no sign-flip or bootstrap
columns), kept for the cells no part fills yet.

Prints one line per problem and exits 1 if there is any, else prints what it checked and exits 0.
"""
from __future__ import annotations

import argparse
import filecmp
import math
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
from analysis import COMPARISON_COLUMNS, View  # noqa: E402
from dataloader import DATASETS  # noqa: E402
from recipes import RECIPES  # noqa: E402
from runstore import code_digest  # noqa: E402
from stats import VERDICTS  # noqa: E402
from studies import OPTIM_STUDIES, RUN_STUDIES  # noqa: E402
from table import README, README_MARK, RESULTS, table  # noqa: E402
import overview  # noqa: E402
import precision_table  # noqa: E402

ARCHIVE = RESULTS / "older"
# Seeds per study and recipe, in docs/results/regenerate.sh's priority order; a study under the quick
# recipe not named here has 10.
SEEDS = {("precision", "full"): 5, ("base", "full"): 10, ("lecun98", "full"): 5, ("regularization", "full"): 5,
         ("best", "quick"): 5, ("activation", "full"): 5, ("optim", "full"): 5}
QUICK_SEEDS = 10
# `confirmed` is only for better/worse; `mde` is empty where every seed gave the same difference
SOMETIMES_EMPTY = {"confirmed", "mde"}
# an absolute path of a machine, built in two parts so that this file does not match itself
MACHINE_PATH = re.compile("/" + r"(tmp|work|home|Users|root|mnt)/[\w.-]")


def views_by_name() -> dict[str, View]:
    """{file stem: View} for every study, dataset and recipe plot.py could write."""
    studies = [*RUN_STUDIES, *OPTIM_STUDIES]
    return {v.name: v for v in (View(s, d, r) for s in studies for d in DATASETS for r in RECIPES)}


def expected_seeds(view: View) -> int:
    return SEEDS.get((view.study, view.recipe), QUICK_SEEDS if view.recipe == "quick" else 5)


def empty(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def csv_problems(path: Path, views: dict[str, View]) -> list[str]:
    """What is wrong with one comparisons CSV: an unknown name, missing columns, seeds, verdicts, empty cells."""
    stem = path.name.removesuffix("_comparisons.csv")
    if stem not in views:
        return [f"{path.name}: no study, dataset and recipe gives this name"]
    table = pd.read_csv(path)
    missing = [c for c in COMPARISON_COLUMNS if c not in table.columns]
    if missing:
        return [f"{path.name}: no column {', '.join(missing)}"]
    want = expected_seeds(views[stem])
    problems = []
    for row in table.to_dict("records"):
        where = f"{path.name}: {row['config']}"
        if row["seeds"] != want:
            problems.append(f"{where}: {row['seeds']} seeds, {want} expected")
        if row["verdict"] not in VERDICTS:
            problems.append(f"{where}: verdict {row['verdict']!r} is none of {', '.join(VERDICTS)}")
        blank = [c for c in COMPARISON_COLUMNS if c not in SOMETIMES_EMPTY and empty(row[c])]
        if row["verdict"] in ("better", "worse") and empty(row["confirmed"]):
            blank.append("confirmed")
        if blank:
            problems.append(f"{where}: empty {', '.join(blank)}")
    return problems


def machine_paths() -> list[str]:
    """Committed lines that name a machine's absolute path (tests build theirs from tmp_path, so they are left out)."""
    found = subprocess.run(["git", "grep", "-n", "-I", "-E", MACHINE_PATH.pattern, "--", ".", ":!tests"],
                           cwd=ROOT, capture_output=True, text=True).stdout
    return [f"machine path: {line[:160]}" for line in found.splitlines()]


def code_problems(folder: Path) -> list[str]:
    """A folder whose REPORT.md has runs of code other than today's (runstore.code_digest), or of several versions."""
    report = folder / "REPORT.md"
    if not report.exists():
        return [f"{folder.name}: no REPORT.md"]
    text, today = report.read_text(), code_digest()[:8]
    older = sorted(set(re.findall(r"Code digest of every run: `(\w+)`", text)) - {today})
    mixed = "code versions, labelled by code digest" in text
    return ([f"{folder.name}: runs of code {', '.join(older)}, today's is {today}"] * bool(older)
            + [f"{folder.name}: a study with runs of several code versions"] * mixed)


def holds(path: Path, mark: str, text: str) -> bool:
    """Whether `path` holds exactly `text` between its two `mark` lines (as utils.write_between puts it)."""
    pieces = path.read_text().split(mark)
    return len(pieces) == 3 and pieces[1].lstrip("\n") == text


def readme_problems() -> list[str]:
    """README's table and its links against table.py's composition of the parts."""
    try:
        composed = table()
    except ValueError as e:
        return [f"parts: {e}"]
    if not holds(README, README_MARK, composed):
        return ["README.md: its results table is not table.py's (python docs/results/table.py --write)"]
    return []


def precision_problems() -> list[str]:
    """docs/performance.md's precision table against precision_table.py's, from docs/results/precision."""
    if not holds(precision_table.PERFORMANCE, precision_table.MARK, precision_table.table()):
        return ["docs/performance.md: its precision table is not precision_table.py's "
                "(python docs/results/precision_table.py --write)"]
    return []


def overview_problems(results: Path = RESULTS) -> list[str]:
    """The committed overview figures against what overview.py draws from the parts' comparisons CSVs now."""
    with tempfile.TemporaryDirectory() as tmp:
        made = overview.write(results, Path(tmp))
        return [f"{path.name}: not overview.py's drawing of the parts' comparisons (python docs/results/overview.py)"
                for path in made if not (results / path.name).is_file()
                or not filecmp.cmp(path, results / path.name, shallow=False)]


def regeneration_problems(logroot: Path, results: Path) -> list[str]:
    """Files that plot.py, run on LOGROOT/logs, writes otherwise than `results` holds."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results"
        done = subprocess.run([sys.executable, str(ROOT / "plot.py"), "--logdir", "logs", "--resultdir", str(out)],
                              cwd=logroot, capture_output=True, text=True)
        if done.returncode:
            return [f"plot.py failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"]
        made = {p.name for p in out.iterdir() if not p.name.endswith("_scalars.csv")}
        committed = {p.name for p in results.iterdir() if p.is_file() and p.suffix in (".csv", ".png", ".md", ".json")
                     and not p.name.endswith("_scalars.csv")}
        problems = [f"{name}: committed, not made from the logs" for name in sorted(committed - made)]
        problems += [f"{name}: made from the logs, not committed" for name in sorted(made - committed)]
        problems += [f"{name}: differs from the one plot.py makes" for name in sorted(made & committed)
                     if not filecmp.cmp(out / name, results / name, shallow=False)]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="docs/results/check.py", description=__doc__.splitlines()[0])
    parser.add_argument("logroot", nargs="?", type=Path, help="the folder whose logs/ made the --results folder")
    parser.add_argument("--results", type=Path, help="the one folder to check (default: every folder of docs/results "
                                                     "but older/); with LOGROOT, the folder its logs made")
    args = parser.parse_args(argv)
    if args.logroot and not (args.logroot / "logs").is_dir():
        parser.error(f"{args.logroot} has no logs/ folder")
    if args.logroot and not args.results:
        parser.error("LOGROOT needs --results: the folder of docs/results its logs made")
    folders = [args.results.resolve()] if args.results else sorted(
        d for d in RESULTS.iterdir() if d.is_dir() and d != ARCHIVE and not d.name.startswith("_"))
    views = views_by_name()
    csvs = sorted(path for folder in folders for path in folder.glob("*_comparisons.csv"))
    problems = [p for path in csvs for p in csv_problems(path, views)]
    problems += [p for folder in folders for p in code_problems(folder)] + machine_paths() + readme_problems()
    problems += precision_problems() + overview_problems()
    if args.logroot:
        problems += regeneration_problems(args.logroot.resolve(), folders[0])
    for line in problems:
        print(line)
    if not problems:
        print(f"ok: {len(csvs)} comparisons CSVs in {', '.join(f.name for f in folders)}; README's table is the "
              "parts' and links each; performance.md's precision table is the precision folder's; the overview figures "
              "are overview.py's"
              + (f"; {folders[0].name} made again byte for byte" if args.logroot else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
