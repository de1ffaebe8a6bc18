"""One-off: the evidence of the parts committed before plot.py wrote it, read back from what plot.py wrote then.

    python docs/results/extract_evidence.py           # every part of docs/results but older/: CHOICES.json's "evidence"
    python docs/results/extract_evidence.py PART ...  # those parts only

A part's CHOICES.json holds, under "evidence", the numbers docs/results/table.py words README's findings and
FINDINGS.md from (findings.py says which). plot.py computes it from the logs (findings.view_evidence, "source":
"plot.py"). The parts committed before it did were made from logs that are no longer kept, so this script reads
the same numbers from the files plot.py generated from those logs then: each REPORT.md's tables and gradient
lines (rounded as printed there), each comparisons CSV (every digit), and each config's recipe from the
invocation its REPORT.md records, expanded by run.py's own planning (check.py holds the runs to today's code).
Nothing is typed: a number this script cannot find stays null ("source": "REPORT.md"). The train-to-validation
gap and the runs that did not learn were not printed then: null until the part is made again by plot.py.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
import run  # noqa: E402
from analysis import View  # noqa: E402
from dataset_facts import DATASETS, get_dataset  # noqa: E402
from findings import EVIDENCE_KEY, comparison_entry  # noqa: E402
from recipes import RECIPES  # noqa: E402
from studies import OPTIM_STUDIES, RUN_STUDIES  # noqa: E402
from utils import atomic_path  # noqa: E402

RESULTS = ROOT / "docs" / "results"
ARCHIVE = RESULTS / "older"
SCRIPTS = {"run.py": (RUN_STUDIES, "base"), "compare_optim.py": (OPTIM_STUDIES, "optim")}
ROW = re.compile(r"\| (?P<name>[^|]+?) \| (?P<params>[\d,]+) \| (?P<mean>[\d.]+) ± (?P<sd>[\d.]+)% \((?P<seeds>\d+) seeds?\) "
                 r"\| (?P<against>[^|]*) \| (?P<val>[\d.]+)% \| [^|]* \| (?P<wall>[\d.]+) s \|")
GRAD = re.compile(r"^  - (?P<name>\S+) (?P<ratio>[\d.e+-]+) \((?P<layers>\w+/\w+); seeds [^)]*\)"
                  r"(?:; over (?P<ref>\S+)'s: (?P<vs>[\d.e+-]+)x on average, (?P<low>[\d.e+-]+)x to (?P<high>[\d.e+-]+)x "
                  r"over (?P<n>\d+) seeds?)?\.$")
VIEWS = {View(s, d, r).title: View(s, d, r) for s in [*RUN_STUDIES, *OPTIM_STUDIES] for d in DATASETS for r in RECIPES}


def fraction(percent: str) -> float:
    """'98.78' (a percentage as REPORT.md prints it) as the fraction 0.9878, without binary noise."""
    return round(float(percent) / 100, 6)


def sections(text: str) -> dict[View, str]:
    """{view: its section of REPORT.md} for every '## <view title>' heading."""
    found = {}
    for piece in text.split("\n## ")[1:]:
        title, _, body = piece.partition("\n")
        if title in VIEWS:
            found[VIEWS[title]] = body
    return found


def planned_configs(command: str, dataset: str, study: str) -> dict[str, dict]:
    """{config name: its config (seed 0)} as run.py plans the recorded invocation: lr, batch, epochs, schedule."""
    words = shlex.split(command)
    studies, default = SCRIPTS[words[0]]
    args = run.build_parser(words[0], "", studies, default).parse_args(words[1:])
    if args.dataset != dataset:
        raise ValueError(f"the invocation `{command}` trains {args.dataset}, the section {dataset}")
    spec = run.selected_studies(args, studies, default)[study]
    return {c["name"]: c for c in run.expand(study, spec, args) if c["seed"] == 0}


def config_evidence(row: re.Match, config: dict, n_train: int) -> dict:
    """One table row of REPORT.md with its planned config."""
    against = row["against"].strip()
    reference = re.search(r"\(vs (\S+)\)$", against)
    steps_per_epoch = math.ceil(n_train / config["batch_size"])  # train.py's: the last batch may be short
    return {"name": row["name"], "reference": reference[1] if reference else None,
            "n_params": int(row["params"].replace(",", "")), "seeds": int(row["seeds"]),
            "test_mean": fraction(row["mean"]), "test_sd": fraction(row["sd"]), "val_mean": fraction(row["val"]),
            "wall_s": float(row["wall"]), "train_val_gap": None, "not_learned": None,
            **{key: config[key] for key in ("epochs", "batch_size", "optimizer", "lr", "schedule", "weight_decay",
                                            "augment", "label_smoothing")},
            "precision": config.get("precision"), "model": config["model"], "model_args": config["model_args"],
            "steps": config["epochs"] * steps_per_epoch, "grad": None, "comparison": None}


def grad_evidence(match: re.Match) -> dict:
    vs = {"vs_ref": float(match["vs"]), "vs_ref_low": float(match["low"]), "vs_ref_high": float(match["high"]),
          "vs_ref_seeds": int(match["n"])} if match["vs"] else {}
    return {"ratio": float(match["ratio"]), "layers": match["layers"], **vs}


def view_evidence(view: View, body: str, folder: Path) -> dict:
    """The evidence of one study section of REPORT.md and its comparisons CSV."""
    command = re.search(r"Configs of the latest invocation: `([^`]+)`", body)
    if not command:
        raise ValueError(f"{folder.name}: {view.title}: no recorded invocation")
    configs = planned_configs(command[1], view.dataset, view.study)
    n_train = get_dataset(view.dataset).n_train
    entries = {m["name"]: config_evidence(m, configs[m["name"]], n_train) for m in ROW.finditer(body)}
    for line in body.splitlines():
        match = GRAD.match(line)
        if match and match["name"] in entries:
            entries[match["name"]]["grad"] = grad_evidence(match)
    csv = folder / f"{view.name}_comparisons.csv"
    table = pd.read_csv(csv) if csv.exists() else pd.DataFrame()
    for row in table.to_dict("records"):
        entries[row["config"]]["comparison"] = comparison_entry(row)
    family = [e["comparison"] for e in entries.values() if e["comparison"]]
    holm = re.search(r"family: Holm over this study's (\d+) comparisons?", body)
    for c in family:
        c["family"] = int(holm[1]) if holm else None
    return {"study": view.study, "dataset": view.dataset, "recipe": view.recipe, "n_train": n_train,
            "margin": family[0]["margin"] if family else None,
            "diverged": 0 if "Diverged runs: none." in body else None, "configs": list(entries.values())}


def extract(folder: Path) -> Path:
    """Writes `folder`/CHOICES.json's evidence (the rest of the file kept); returns its path."""
    views = [view_evidence(view, body, folder) for view, body in sections((folder / "REPORT.md").read_text()).items()]
    path = folder / "CHOICES.json"
    kept = json.loads(path.read_text()) if path.exists() else {"cells": []}
    kept[EVIDENCE_KEY] = {"source": "REPORT.md", "extracted_by": "docs/results/extract_evidence.py", "views": views}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(kept, indent=1) + "\n")
    return path


def from_logs(folder: Path) -> bool:
    """A part plot.py made with its evidence from the logs: nothing to extract (a retrained part)."""
    try:
        return json.loads((folder / "CHOICES.json").read_text()).get("evidence", {}).get("source") == "plot.py"
    except (OSError, ValueError, AttributeError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="docs/results/extract_evidence.py", description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help="folders of docs/results (default: every one but older/)")
    args = parser.parse_args(argv)
    folders = [RESULTS / p for p in args.parts] if args.parts else sorted(
        d for d in RESULTS.iterdir() if d.is_dir() and d != ARCHIVE and (d / "REPORT.md").exists()
        and not from_logs(d))
    missing = [f.name for f in folders if not (f / "REPORT.md").exists()]
    if missing:
        parser.error(f"no REPORT.md in {', '.join(missing)}")
    try:
        for folder in folders:
            print(f"wrote {extract(folder).relative_to(ROOT)}")
    except (ValueError, KeyError) as e:
        print(f"extract_evidence.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
