"""Checks the committed reference results against what issue 34 promises of them.

    python docs/results/check.py     # every folder's comparisons CSVs: seeds, verdicts, columns, and every
                                     # p-value, interval and verdict recomputed from its <view>_seeds.csv;
                                     # its runs all of today's code; its evidence (CHOICES.json) the CSVs'
                                     # comparisons; README.md's and README.zh-CN.md's findings and tables and
                                     # docs/results/FINDINGS.md are table.py's composition of the parts (a
                                     # difference named by file, line and word);
                                     # performance.md's precision table is precision_table.py's; the overview
                                     # figures are overview.py's drawing of the parts; no machine path
    python docs/results/check.py --results docs/results/mnist-quick LOGROOT
                                     # and plot.py remakes that folder byte for byte from LOGROOT/logs
                                     # (minutes: it reads every run)

docs/results/older/ is left out: the archive of older code's results (5 seeds, no sign-flip or bootstrap
columns), kept for the cells no part fills yet. A comparisons CSV of the columns before per-seed files
(LEGACY_COLUMNS) is checked for seeds, verdicts and columns and listed as not recomputable until its part
is made again.

Prints one line per problem and exits 1 if there is any, else prints what it checked and exits 0.
"""
from __future__ import annotations

import argparse
import filecmp
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
from analysis import COMPARISON_COLUMNS, View, comparison_rows  # noqa: E402
from dataset_facts import DATASETS  # noqa: E402
from recipes import RECIPES  # noqa: E402
from digest import code_digest, run_digest, source_at, source_digest  # noqa: E402
import stats  # noqa: E402
from stats import VERDICTS  # noqa: E402
from studies import OPTIM_STUDIES, RUN_STUDIES  # noqa: E402
from findings import EVIDENCE_KEY  # noqa: E402
from table import (FINDINGS, FINDINGS_MARK, README, README_MARK, README_ZH, RESULTS, findings_page, found,  # noqa: E402
                   table)
import overview  # noqa: E402
import precision_table  # noqa: E402

ARCHIVE = RESULTS / "older"
# Seeds per study and recipe, in docs/results/regenerate.sh's priority order; a study under the quick
# recipe not named here has 10.
SEEDS = {("precision", "full"): 5, ("base", "full"): 10, ("lecun98", "full"): 5, ("regularization", "full"): 5,
         ("best", "quick"): 5, ("activation", "full"): 5, ("optim", "full"): 5,
         ("depth", "full"): 10, ("width", "full"): 10, ("batch_size", "full"): 10}
QUICK_SEEDS = 10
# `confirmed` is only for better/worse; `mde` is empty where every seed gave the same difference
SOMETIMES_EMPTY = {"confirmed", "mde"}
# the comparisons CSVs made before per-seed files: no seed split, a Holm-adjusted TOST p, the two-level bootstrap
LEGACY_COLUMNS = ["study", "config", "reference", "seeds", "mean_diff", "ci_low", "ci_high", "sim_low", "sim_high",
                  "p_paired", "p_holm", "margin", "p_equiv_holm", "mde", "mcnemar_every_pair", "p_mcnemar_max",
                  "verdict", "within_margin", "p_signflip", "p_signflip_holm", "confirmed", "boot_low", "boot_high"]
REL, ABS = 1e-9, 1e-12  # a recomputed number matches the CSV's within these (the CSV holds every digit)
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


def is_legacy(table: pd.DataFrame) -> bool:
    """A comparisons CSV made before per-seed files (issue 52): its numbers cannot be recomputed."""
    return list(table.columns) == LEGACY_COLUMNS


def csv_problems(path: Path, views: dict[str, View]) -> list[str]:
    """What is wrong with one comparisons CSV: an unknown name, missing columns, seeds, verdicts, empty cells."""
    stem = path.name.removesuffix("_comparisons.csv")
    if stem not in views:
        return [f"{path.name}: no study, dataset and recipe gives this name"]
    table = read(path)
    columns = LEGACY_COLUMNS if is_legacy(table) else COMPARISON_COLUMNS
    missing = [c for c in columns if c not in table.columns]
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
        blank = [c for c in columns if c not in SOMETIMES_EMPTY and empty(row[c])]
        if row["verdict"] in ("better", "worse") and empty(row["confirmed"]):
            blank.append("confirmed")
        if blank:
            problems.append(f"{where}: empty {', '.join(blank)}")
    return problems


def read(path: Path) -> pd.DataFrame:
    """A results CSV with only empty cells as missing (a config may be named 'None' or 'NA')."""
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def seeds_path(path: Path) -> Path:
    """The per-seed CSV beside a comparisons CSV."""
    return path.with_name(path.name.removesuffix("_comparisons.csv") + "_seeds.csv")


def normal(value):
    """A CSV cell or a recomputed value in one form: None, a bool, a str or a float."""
    if empty(value):
        return None
    if isinstance(value, str):
        return {"True": True, "False": False}.get(value, value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return float(value)


def same(a, b) -> bool:
    a, b = normal(a), normal(b)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=REL, abs_tol=ABS)
    return a == b


def counts_of(seeds: pd.DataFrame, config: str, reference: str, row: dict) -> stats.ImageCounts | None:
    """A comparison's McNemar counts from the per-seed CSV, with image_ss and test_images from its CSV row."""
    paired = seeds[(seeds["config"] == config) & (seeds["reference"] == reference) & seeds["only_config"].notna()]
    if paired.empty or empty(row["image_ss"]) or empty(row["test_images"]):
        return None
    return stats.ImageCounts(int(row["test_images"]), dict(zip(paired["seed"], paired["only_config"].astype(int))),
                             dict(zip(paired["seed"], paired["only_reference"].astype(int))), int(row["image_ss"]))


def recompute(path: Path) -> tuple[int, list[str]]:
    """(rows checked, mismatches): every number and verdict of a comparisons CSV recomputed with stats.decide from
    the per-seed test accuracies and McNemar counts of its <view>_seeds.csv (image_ss, the one sum over the test
    images, is taken from the row: it needs the predictions). Also each seed's counts against its accuracies."""
    table, seeds = read(path), read(seeds_path(path))
    acc = {config: dict(zip(group["seed"], group["test_acc"])) for config, group in seeds.groupby("config")}
    rows = table.to_dict("records")
    problems = []
    found = []
    for row in rows:
        counts = counts_of(seeds, row["config"], row["reference"], row)
        mine, theirs = acc.get(row["config"], {}), acc.get(row["reference"], {})
        for seed, n01 in (counts.only_config.items() if counts else ()):
            by_counts = (n01 - counts.only_reference[seed]) / counts.n_images
            if seed in theirs and not math.isclose(by_counts, mine[seed] - theirs[seed], abs_tol=1e-9):
                problems.append(f"{path.name}: {row['config']}: seed {seed}: only_config - only_reference gives "
                                f"{by_counts:+.6f}, test_acc {mine[seed] - theirs[seed]:+.6f}")
        found.append(stats.compare(row["config"], row["reference"], mine, theirs, float(row["margin"]), counts=counts))
    again = comparison_rows(rows[0]["study"] if rows else "", stats.decide(found))
    for row, new in zip(rows, again):
        problems += [f"{path.name}: {row['config']}: {column} is {row[column]}, recomputed from "
                     f"{seeds_path(path).name}: {new[column]}"
                     for column in COMPARISON_COLUMNS if not same(row[column], new[column])]
    return len(rows), problems


def recompute_problems(csvs: list[Path]) -> tuple[list[str], list[str]]:
    """(problems, a summary line) of recomputing every comparisons CSV that has per-seed files to recompute from."""
    checked, mismatches, problems, legacy = 0, [], [], []
    for path in csvs:
        if is_legacy(read(path)):
            legacy.append(f"{path.parent.name}/{path.name}")
        elif not seeds_path(path).exists():
            problems.append(f"{path.name}: no {seeds_path(path).name} to recompute it from")
        else:
            n, found = recompute(path)
            checked, mismatches = checked + n, mismatches + found
    line = f"recomputed from the per-seed files: {checked} rows checked, {len(mismatches)} mismatches"
    if legacy:
        line += (f"; made before per-seed files, not recomputable until their part is made again: "
                 f"{len(legacy)} CSVs ({', '.join(legacy)})")
    return problems + mismatches, line


def machine_paths() -> list[str]:
    """Committed lines that name a machine's absolute path (tests build theirs from tmp_path, so they are left out)."""
    found = subprocess.run(["git", "grep", "-n", "-I", "-E", MACHINE_PATH.pattern, "--", ".", ":!tests"],
                           cwd=ROOT, capture_output=True, text=True).stdout
    return [f"machine path: {line[:160]}" for line in found.splitlines()]


# A part's code digest -> a commit whose numeric code it names: the older digest of before digest.py (a hash of whole
# modules), and the digests of today's rules at the commits the parts were trained from.
CODE_COMMITS = {"74fbfa7c": "392ca93", "303c61eb": "a844838"}


def part_configs(folder: Path) -> list[dict]:
    """The configs a part's runs computed, as their run digest reads them (network, its arguments, optimizer, dataset),
    from its CHOICES.json evidence."""
    path = folder / "CHOICES.json"
    if not path.exists():
        return []
    views = json.loads(path.read_text())["evidence"]["views"]
    return [{"model": c["model"], "model_args": c["model_args"], "optimizer": c["optimizer"], "dataset": v["dataset"]}
            for v in views for c in v["configs"]]


def is_today(code: str, today: str, configs: list[dict]) -> bool:
    """Whether runs of code digest `code` are today's runs: the same numeric code, or code that has changed since
    only where none of `configs` reaches (a network added, say), each config's run digest then and now equal."""
    if code == today:
        return True
    source = source_at(CODE_COMMITS[code]) if code in CODE_COMMITS else None
    if source is None:
        return False
    return source_digest(source)[:8] == today or bool(configs) and all(
        run_digest(c, source) == run_digest(c) for c in configs)


def code_problems(folder: Path) -> list[str]:
    """A folder whose REPORT.md has runs of code other than today's (digest.code_digest) for its configs, or of
    several versions."""
    report = folder / "REPORT.md"
    if not report.exists():
        return [f"{folder.name}: no REPORT.md"]
    text, today, configs = report.read_text(), code_digest()[:8], part_configs(folder)
    older = sorted(c for c in set(re.findall(r"Code digest of every run: `(\w+)`", text))
                   if not is_today(c, today, configs))
    mixed = "code versions, labelled by code digest" in text
    return ([f"{folder.name}: runs of code {', '.join(older)}, today's is {today}"] * bool(older)
            + [f"{folder.name}: a study with runs of several code versions"] * mixed)


def holds(path: Path, mark: str, text: str) -> bool:
    """Whether `path` holds exactly `text` between its two `mark` lines (as utils.write_between puts it)."""
    pieces = path.read_text().split(mark)
    return len(pieces) == 3 and pieces[1].lstrip("\n") == text


def first_difference(where: str, committed: str, generated: str) -> str:
    """The first line where committed text differs from the generated, and its first differing word, named."""
    old, new = committed.splitlines(), generated.splitlines()
    i = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
    if i >= len(old) or i >= len(new):
        return f"{where}: {abs(len(old) - len(new))} lines {'missing' if len(old) < len(new) else 'too many'} from line {i + 1}"
    a, b = old[i].split(), new[i].split()
    j = next((j for j, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    said, wanted = (words[j] if j < len(words) else "(nothing)" for words in (a, b))
    return f"{where} line {i + 1}: '{said}' where the results give '{wanted}'"


def block_difference(path: Path, mark: str, what: str, generated: str) -> str:
    """The first difference of a README's block between its `mark`s from the generated one, by file, line and word."""
    pieces = path.read_text().split(mark) if path.exists() else []
    committed = pieces[1].lstrip("\n") if len(pieces) == 3 else ""
    return first_difference(f"{path.name}, {what}", committed, generated)


def readme_problems() -> list[str]:
    """README's findings and table, and FINDINGS.md, against table.py's composition of the parts."""
    regenerate = "(python docs/results/table.py --write)"
    try:
        composed, findings, page = table(), found(), findings_page()
    except ValueError as e:
        return [f"parts: {e}"]
    problems = []
    if not holds(README, README_MARK, composed):
        problems.append(f"README.md: its results table is not table.py's {regenerate}")
    if not holds(README, FINDINGS_MARK, findings):
        problems.append(f"{block_difference(README, FINDINGS_MARK, 'What we found', findings)} {regenerate}")
    # README.zh-CN.md: the same numbers in Chinese, so it cannot fall behind the English page
    for mark, what, text in ((FINDINGS_MARK, "我们的发现", found(lang="zh")), (README_MARK, "table", table(lang="zh"))):
        if not holds(README_ZH, mark, text):
            problems.append(f"{block_difference(README_ZH, mark, what, text)} {regenerate}")
    committed = FINDINGS.read_text() if FINDINGS.exists() else ""
    if committed != page:
        problems.append(f"{first_difference('docs/results/FINDINGS.md', committed, page)} {regenerate}")
    return problems


def unrun_cells(composed: str) -> list[str]:
    """README's table's "not run" cells, each as 'study (column)': what the reference parts still lack."""
    lines = [line.strip("| ").split(" | ") for line in composed.splitlines() if line.startswith("| ")]
    header, rows = lines[0], lines[2:]
    return [f"{row[0].split('`')[1]} ({header[i]})" for row in rows for i, cell in enumerate(row) if cell == "not run"]


def evidence_problems(folder: Path) -> list[str]:
    """A part's evidence (CHOICES.json) whose comparisons are not its comparisons CSVs': the findings would word
    numbers the tests did not give."""
    path = folder / "CHOICES.json"
    if not path.exists():
        return []
    problems = []
    for view in json.loads(path.read_text()).get(EVIDENCE_KEY, {}).get("views", []):
        stem = View(view["study"], view["dataset"], view["recipe"]).name
        csv = folder / f"{stem}_comparisons.csv"
        rows = {row["config"]: row for row in read(csv).to_dict("records")} if csv.exists() else {}
        for e in view["configs"]:
            c, row = e.get("comparison"), rows.get(e["name"])
            if (c is None) != (row is None) or (c and (c["verdict"] != row["verdict"]
                                                       or not math.isclose(c["mean_diff"], row["mean_diff"]))):
                problems.append(f"{folder.name}/CHOICES.json: {stem}: {e['name']}'s evidence is not "
                                f"{csv.name}'s comparison")
    return problems


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
        out = Path(tmp) / results.name
        for sibling in results.parent.glob("*/CHOICES.json"):  # the other parts, whose evidence REPORT.md cites
            if sibling.parent != results:
                (Path(tmp) / sibling.parent.name).mkdir()
                shutil.copy(sibling, Path(tmp) / sibling.parent.name / sibling.name)
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
    recomputed, summary = recompute_problems(csvs)
    problems += recomputed
    problems += [p for folder in folders for p in code_problems(folder) + evidence_problems(folder)]
    problems += machine_paths() + readme_problems()
    problems += precision_problems() + overview_problems()
    if args.logroot:
        problems += regeneration_problems(args.logroot.resolve(), folders[0])
    for line in problems:
        print(line)
    print(summary)
    try:
        unrun = unrun_cells(table())
        print(f"README's table: {len(unrun)} 'not run' cells" + (f" ({', '.join(unrun)})" if unrun else ""))
    except ValueError:
        pass  # reported above, under 'parts'
    if not problems:
        print(f"ok: {len(csvs)} comparisons CSVs in {', '.join(f.name for f in folders)}, each part's evidence theirs; "
              "README.md's and README.zh-CN.md's findings and table and FINDINGS.md are the parts'; performance.md's "
              "precision table is the precision folder's; the overview figures are overview.py's"
              + (f"; {folders[0].name} made again byte for byte" if args.logroot else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
