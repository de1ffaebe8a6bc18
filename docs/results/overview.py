"""README's results table as a picture: per dataset, every study's configs against their reference, quick and
full recipe side by side, drawn from the comparisons CSVs of the parts of docs/results (see table.py).

    python docs/results/overview.py     # writes docs/results/overview-<dataset>.png, one per dataset with a part

Each row: a config's test accuracy minus its reference's, mean over seeds (the mark, its verdict's shape and
color) with the simultaneous 95% interval over its study's comparisons (the line), the study's equivalence
margin shaded. The same CSVs draw the same bytes: docs/results/check.py draws them again and compares.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

import plot  # noqa: E402
from analysis import View  # noqa: E402
from dataset_facts import DATASETS, get_dataset  # noqa: E402
from findings import as_comparison  # noqa: E402
from recipes import RECIPES  # noqa: E402
from verdicts import DAGGER, inside_margin, shown_verdict, t_only, unconfirmable  # noqa: E402
from studies import TRAITS, unrun_words  # noqa: E402
from table import RESULTS, parts  # noqa: E402

# a verdict's mark and color; a better or worse verdict inside the margin (negligible) is drawn hollow
MARKS = {"better": ("^", "#1a9641"), "worse": ("v", "#d7191c"), "equivalent": ("o", "#404040"),
         "inconclusive": ("o", "#9a9a9a")}
RECIPE_WORDS = {"quick": "quick recipe (2 epochs)", "full": "full recipe (to convergence)"}


def comparisons(results: Path = RESULTS) -> dict[str, dict[tuple[str, str], pd.DataFrame]]:
    """{dataset: {(study, recipe): its comparisons}} of every part (a folder with a CHOICES.json), as table.py
    composes README's table; ValueError where two parts hold the same cell."""
    found: dict[str, dict[tuple[str, str], pd.DataFrame]] = {}
    for choices in parts(results):
        for cell in json.loads(choices.read_text())["cells"]:
            view = View(cell["study"], cell["dataset"], cell["recipe"])
            cells = found.setdefault(view.dataset, {})
            if (view.study, view.recipe) in cells:
                raise ValueError(f"two parts hold {view.title}")
            cells[(view.study, view.recipe)] = pd.read_csv(choices.parent / f"{view.name}_comparisons.csv")
    return found


def comparison(row: dict, family: int):
    """A CSV row as the stats.Comparison that report's words judge (shown_verdict, inside_margin, t_only), so that the
    figure's marks are the README table's symbols; `family`: the study's comparisons (older CSVs do not record it)."""
    values = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
    values["confirmed"] = str(values.get("confirmed")) == "True"
    values["within_margin"] = str(values.get("within_margin")) == "True"
    return as_comparison({"name": row["config"], "reference": row["reference"],
                          "comparison": {**values, "family": values.get("family") or family}})


def draw_cell(ax, table: pd.DataFrame | None, configs: list[str], unrun: str = "not run") -> None:
    """One study under one recipe: a row per config, or `unrun` (studies.unrun_words)."""
    ax.set_yticks(range(len(configs)), configs)
    ax.set_ylim(len(configs) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    if table is None:
        ax.text(0.5, 0.5, unrun, transform=ax.transAxes, ha="center", va="center", color="0.45")
        return
    margin = 100 * table["margin"].iloc[0]
    ax.axvspan(-margin, margin, color="0.9", zorder=0, linewidth=0)
    for row in table.to_dict("records"):
        y, c = configs.index(row["config"]), comparison(row, len(table))
        verdict = shown_verdict(c)
        marker, color = MARKS[verdict]
        if not math.isnan(row["sim_low"]):
            ax.plot([100 * row["sim_low"], 100 * row["sim_high"]], [y, y], color=color, linewidth=1.8,
                    solid_capstyle="butt")
        hollow = verdict in ("better", "worse") and inside_margin(c)
        ax.plot([100 * row["mean_diff"]], [y], marker=marker, markersize=6.5, color=color, zorder=3,
                markerfacecolor="white" if hollow else color)
        if verdict in ("better", "worse") and t_only(c):
            right = row["sim_high"] if not math.isnan(row["sim_high"]) else row["mean_diff"]
            ax.annotate(DAGGER, (100 * right, y), xytext=(4, 0), textcoords="offset points", va="center",
                        color=color)


def few_seeds(table: pd.DataFrame | None) -> str:
    """', 5 seeds: t-test only' where the seeds are too few for the sign-flip test to confirm any verdict."""
    if table is None:
        return ""
    few = sorted({int(row["seeds"]) for row in table.to_dict("records")
                  if unconfirmable(comparison(row, len(table))) and shown_verdict(comparison(row, len(table)))
                  in ("better", "worse")})
    return f", {'/'.join(map(str, few))} seeds: t-test only" if few else ""


def x_limits(tables: list[pd.DataFrame]) -> tuple[float, float]:
    """A study's x range in pp: every interval, mean and margin of both recipes, and zero."""
    values = [0.0]
    for table in tables:
        values += [100 * v for column in ("sim_low", "sim_high", "mean_diff") for v in table[column].dropna()]
        values += [100 * table["margin"].iloc[0], -100 * table["margin"].iloc[0]]
    pad = 0.12 * (max(values) - min(values))
    return min(values) - pad, max(values) + 1.6 * pad  # room for a dagger on the right


def key_handles() -> list:
    marks = [Line2D([], [], marker=MARKS[v][0], color=MARKS[v][1], linestyle="", markersize=6.5, label=v)
             for v in ("better", "worse", "equivalent", "inconclusive")]
    return marks + [
        Line2D([], [], marker="v", color=MARKS["worse"][1], markerfacecolor="white", linestyle="", markersize=6.5,
               label="hollow: negligible (inside the margin)"),
        Line2D([], [], color="0.3", linewidth=1.8, label="simultaneous 95% interval"),
        Patch(color="0.9", label="equivalence margin"),
        Line2D([], [], linestyle="", label=f"{DAGGER}  weak evidence (sign-flip test could confirm, did not)")]


@plot.styled
def draw(dataset: str, cells: dict[tuple[str, str], pd.DataFrame], path: Path) -> Path:
    """The overview of one dataset: a row of two panels (quick, full) per study that answers a question."""
    studies = [s for s, kind in TRAITS.items() if kind.question and any((s, r) in cells for r in RECIPES)]
    configs = {s: list(dict.fromkeys(c for r in RECIPES if (s, r) in cells for c in cells[(s, r)]["config"]))
               for s in studies}
    heights = [0.5] + [0.72 + 0.16 * len(configs[s]) for s in studies]
    fig = plt.figure(figsize=(plot.WIDTH, sum(heights) + 1.0), layout="constrained")
    key, *rows = fig.subfigures(len(heights), 1, height_ratios=heights)
    key.legend(handles=key_handles(), loc="center", ncol=4, frameon=False, handletextpad=0.4, columnspacing=1.2)
    for sub, study in zip(rows, studies):
        tables = [cells.get((study, recipe)) for recipe in RECIPES]
        references = " / ".join(dict.fromkeys(r for t in tables if t is not None for r in t["reference"]))
        sub.suptitle(f"{TRAITS[study].question} ({study}), against {references}", x=0.01, ha="left",
                     fontsize=plot.STYLE["axes.titlesize"], fontweight="bold")
        axes = sub.subplots(1, 2, sharex=True, sharey=True)
        for ax, recipe, table in zip(axes, RECIPES, tables):
            draw_cell(ax, table, configs[study], unrun_words(study, recipe))
            ax.set_title(RECIPE_WORDS.get(recipe, recipe) + few_seeds(table), fontsize=plot.STYLE["xtick.labelsize"],
                         color="0.35")
        axes[0].set_xlim(*x_limits([t for t in tables if t is not None]))
        axes[1].tick_params(labelleft=False)
    for ax in rows[-1].axes:
        ax.set_xlabel("test accuracy minus the reference's (pp)")
    fig.suptitle(f"{get_dataset(dataset).title}: what each choice does, every study against its reference")
    return plot.save(fig, path)


def write(results: Path = RESULTS, out: Path | None = None) -> list[Path]:
    """overview-<dataset>.png in `out` (default: `results`) for each dataset that a part holds, in registry order."""
    found = comparisons(results)
    out = out or results
    return [draw(dataset, found[dataset], out / f"overview-{dataset}.png") for dataset in DATASETS if dataset in found]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="docs/results/overview.py", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    try:
        written = write()
    except (ValueError, OSError) as e:
        print(f"overview.py: {e}", file=sys.stderr)
        return 1
    print(f"overview.py: wrote {', '.join(str(p.relative_to(ROOT)) for p in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
