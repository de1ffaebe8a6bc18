"""REPORT.md's words: per study a table, the verdicts in plain words, convergence and gradient findings."""
from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pandas as pd

import stats
from analysis import (GRAD_STUDIES, GROWTH_STUDIES, TARGET_VAL_ACC, best_run, focus_rows, grad_ratios, layer_names,
                      natural_key)
from studies import LECUN98, best_rates, recipe_summary
from utils import atomic_path

COLLAPSE_FACTOR = 10  # early-layer gradients "collapse": first/last-layer ratio this many times below the reference's


# ---- words -----------------------------------------------------------------------------------------

def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def pp(x: float) -> str:
    return f"{100 * x:+.2f} pp"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "-"
    if p == 0:
        return "< 1e-300"  # below the smallest double: the binomial tail underflows
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def acc_cell(row: dict) -> str:
    if row["std"] is None:
        return f"{pct(row['mean'])} (1 seed)"
    return f"{100 * row['mean']:.2f} ± {100 * row['std']:.2f}% ({len(row['acc'])} seeds)"


def target_cell(epochs: list[float | None]) -> str:
    reached = [e for e in epochs if e is not None]
    if not reached:
        return "not reached"
    mean = f"{statistics.mean(reached):.2f}"
    return mean if len(reached) == len(epochs) else f"{mean} ({len(reached)} of {len(epochs)} seeds)"


def table(rows: list[dict], found: list[stats.Comparison]) -> list[str]:
    verdicts = {c.config: f"{c.verdict} than {c.reference}" if c.verdict != "tied" else f"tied with {c.reference}"
                for c in found}
    references = {c.reference for c in found}
    lines = ["| rank | config | parameters | test accuracy (mean ± std) | against its reference "
             f"| best val accuracy (mean) | epochs to {100 * TARGET_VAL_ACC:.0f}% val accuracy | wall time (mean) |",
             "|---:|---|---:|---:|---|---:|---:|---:|"]
    for i, row in enumerate(rows, 1):
        lines.append(f"| {i} | {row['name']} | {row['n_params']:,} | {acc_cell(row)} "
                     f"| {verdicts.get(row['name'], 'reference' if row['name'] in references else '-')} "
                     f"| {pct(row['best_val'])} | {target_cell(row['to_target'])} | {row['wall']:.1f} s |")
    return lines


def interval(c: stats.Comparison) -> str:
    if c.ci_low is None:
        return "no interval: fewer than 3 seeds"
    return f"95% CI {100 * c.ci_low:+.2f} to {100 * c.ci_high:+.2f} pp"


def comparison_sentence(c: stats.Comparison) -> str:
    """One verdict in plain words, with the evidence it rests on."""
    n = plural(len(c.seeds), "seed")
    if c.verdict == "tied":
        bound = (f"; the simultaneous 95% interval over this study's tests runs from {100 * c.sim_low:+.2f} to "
                 f"{100 * c.sim_high:+.2f} pp, so any effect is at most "
                 f"{100 * max(abs(c.sim_low), abs(c.sim_high)):.2f} pp"
                 if c.sim_low is not None else "; fewer than 3 seeds give no interval across seeds")
        return (f"{c.config} vs {c.reference}: no detectable difference ({pp(c.mean_diff)} over {n}, "
                f"Holm-adjusted p = {fmt_p(c.p_holm)}){bound}.")
    route = "the paired t-test across seeds" if c.route == "paired" else f"McNemar's test in each of the {n}"
    return (f"{c.config} is {c.verdict} than {c.reference}: {pp(c.mean_diff)} test accuracy over {n} "
            f"({interval(c)}); Holm-adjusted p = {fmt_p(c.p_holm)}, from {route}.")


def comparison_lines(study: str, found: list[stats.Comparison]) -> list[str]:
    if not found:
        return []
    counts = {v: sum(c.verdict == v for c in found) for v in ("better", "worse", "tied")}
    lines = [f"- Comparisons with the reference, paired by seed ({counts['better']} better, {counts['worse']} worse, "
             f"{counts['tied']} tied; Holm-Bonferroni over this study's {plural(len(found), 'comparison')}; "
             f"`{study}_comparisons.csv` has every p-value):"]
    return lines + [f"  - {comparison_sentence(c)}" for c in found]


def growth_lines(study: str, rows: list[dict]) -> list[str]:
    """Mean test accuracy by size in each network family (the comparisons above carry the evidence)."""
    families: dict[str, list[dict]] = {}
    for row in rows:
        if study in row["config"]["model_args"]:
            families.setdefault(row["config"]["model"], []).append(row)
    lines = []
    for model, members in families.items():
        members = sorted(members, key=lambda row: row["config"]["model_args"][study])
        sizes = ", ".join(f"{row['name']} {pct(row['mean'])}" for row in members)
        best = max(members, key=lambda row: row["mean"])
        lines.append(f"- {model} by {study}: mean test accuracy {sizes}; highest at {study} "
                     f"{best['config']['model_args'][study]} ({best['name']}).")
    return lines


def convergence_lines(rows: list[dict]) -> list[str]:
    target = f"{100 * TARGET_VAL_ACC:.0f}%"
    full = [row for row in rows if all(e is not None for e in row["to_target"])]
    lines = []
    if full:
        fastest = min(statistics.mean(row["to_target"]) for row in full)
        names = [row["name"] for row in full if statistics.mean(row["to_target"]) == fastest]
        missing = [row["name"] for row in rows if not any(row is f for f in full)]
        lines.append(f"- Convergence (validation evaluated {evals_per_epoch(rows)} times an epoch): fastest to {target} "
                     f"val accuracy: {', '.join(names)} (epoch {fastest:.2f}, mean over seeds); {len(full)} of "
                     f"{len(rows)} configs reached it in every seed"
                     + (f"; not in every seed: {', '.join(missing)}." if missing else "."))
    else:
        epochs = max(r["epochs"] for row in rows for r in row["runs"])
        lines.append(f"- Convergence: no config reached {target} val accuracy in every seed within "
                     f"{plural(epochs, 'epoch')}.")
    first = {row["name"]: statistics.mean(curve_at(r, 1.0) for r in row["runs"]) for row in rows}
    hi, lo = max(first, key=first.get), min(first, key=first.get)
    if len(first) > 1:
        lines.append(f"- After one epoch (mean over seeds) val accuracy was highest for {hi} ({pct(first[hi])}) "
                     f"and lowest for {lo} ({pct(first[lo])}).")
    return lines


def evals_per_epoch(rows: list[dict]) -> str:
    values = {r.get("evals_per_epoch", 1) for row in rows for r in row["runs"]}
    return str(values.pop()) if len(values) == 1 else "several"


def curve_at(run: dict, epoch: float) -> float:
    """Val accuracy at the last evaluation no later than `epoch`."""
    curve = run.get("val_curve") or [{"epoch": h["epoch"], "val_acc": h["val_acc"]} for h in run["history"]]
    return [p["val_acc"] for p in curve if p["epoch"] <= epoch + 1e-9][-1]


def gradient_lines(study: str, rows: list[dict], scalars: pd.DataFrame, refs: dict[str, str]) -> list[str]:
    """First-to-last layer gradient-norm ratios (descriptive): vanishing gradients show as a ratio far below the reference's."""
    ratios = {row["name"]: grad_ratios(scalars, row) for row in rows}
    ratios = {name: r for name, r in ratios.items() if r}
    if not ratios:
        return []
    layers = {name: layer_names(scalars.loc[scalars["name"] == name, "tag"].unique()) for name in ratios}
    listing = ", ".join(f"{name} {statistics.mean(r):.3g} ({layers[name][0]}/{layers[name][-1]}; seeds "
                        f"{min(r):.3g} to {max(r):.3g})" for name, r in ratios.items())
    lines = [f"- Gradient norms (descriptive, no test): first-layer over last-layer gradient L2 norm, each averaged "
             f"over training, then over seeds: {listing}."]
    for name, r in ratios.items():
        ref = refs.get(name)
        if ref not in ratios:
            continue
        factor = statistics.mean(ratios[ref]) / statistics.mean(r)
        if name == "sigmoid" or factor >= COLLAPSE_FACTOR:
            verdict = "collapse" if factor >= COLLAPSE_FACTOR else "do not collapse"
            lines.append(f"  - {name}: ratio {statistics.mean(r):.3g}, {factor:.3g}x below {ref}'s "
                         f"{statistics.mean(ratios[ref]):.3g}. By this report's criterion (at least {COLLAPSE_FACTOR}x "
                         f"below the reference's), {name}'s early-layer gradients {verdict}.")
    return lines


def best_run_lines(run: dict | None) -> list[str]:
    if run is None:
        return []
    confusion = np.array(run["test_confusion"])
    errors = confusion - np.diag(np.diag(confusion))
    i, j = np.unravel_index(errors.argmax(), errors.shape)
    return [f"- Best run (highest best val accuracy): {run['label']} seed {run['seed']}, "
            f"val {pct(run['best_val_acc'])}, test {pct(run['test_acc'])}; "
            f"{int(errors.sum()):,} of {int(confusion.sum()):,} test digits misclassified, "
            f"most often true {i} as {j} ({int(errors[i, j])} times)."]


def diverged_lines(runs: list[dict]) -> list[str]:
    bad = sorted((r for r in runs if r["status"] != "ok"), key=lambda r: (natural_key(r["label"]), r["seed"]))
    if not bad:
        return ["Diverged runs: none."]
    lines = ["Diverged runs (no accuracy: left out of the numbers above, the ranking and the figures):", "",
             "| config | seed | status | at step | optimizer | lr |", "|---|---:|---|---:|---|---:|"]
    for r in bad:
        step = r.get("diverged_at_step")
        lines.append(f"| {r['label']} | {r['seed']} | {r['status']} | {step if step is not None else '-'} "
                     f"| {r['config']['optimizer']} | {r['config']['lr']:g} |")
    return lines


def sweep_lines(runs: list[dict]) -> list[str]:
    lines = ["Each optimizer at its best learning rate, picked on val accuracy (a rate where a seed diverged is "
             "never picked):", "", "| optimizer | best lr | val accuracy (mean) | test accuracy (mean ± std) |",
             "|---|---:|---:|---:|"]
    for b in best_rates(runs):
        std = f" ± {100 * b['test_std']:.2f}" if b["test_std"] is not None else ""
        lines.append(f"| {b['optimizer']} | {b['lr']:g} | {pct(b['val_acc'])} | {100 * b['test_acc']:.2f}{std}% |")
    return lines + [""]


METHOD = """How to read the verdicts. Each config is compared with its study's reference (the seed network's
choice: relu, Net, adam, batch 64, 2 conv blocks or 2 hidden layers, 32 channels or 512 neurons; a grid's
first config), paired by seed: with seed k both trained on the same batches in the same order, from the
same initial weights where their parameters have the same shapes. Two tests, two sources of noise:
the paired t-test across seeds (only with at least 3 seeds, so at least 2 degrees of freedom) asks
whether the effect holds over training seeds; McNemar's exact test on the 10,000 test predictions
asks, for one seed, whether the two trained models differ on digits like the test set's, and
counts only when it holds in every seed with the same sign (an intersection-union test, whose p is
the largest per-seed p). Holm-Bonferroni adjusts both kinds of p-value together over each study's
comparisons, so a study's family-wise error rate stays at 5% although a verdict may rest on either
test. A config is `better` or `worse` when its smaller adjusted p is below 0.05, else `tied`: no
detectable difference, bounded by the t interval of the mean per-seed difference made simultaneous
over the study's tests (Bonferroni), so that the bound agrees with the corrected tests; `better` and
`worse` come with the plain 95% interval. Both intervals describe seed-to-seed variation on this
fixed test set.
Accuracies are on the 10,000 test images unless marked val; ± is one standard deviation across seeds;
'pp' is percentage points."""


def lecun98_lines(rows: list[dict]) -> list[str]:
    """The paper's test error beside this suite's, for the networks of LeCun et al. 1998's table."""
    lines = ["LeCun et al. 1998 (Gradient-based learning applied to document recognition), test error without "
             "distortions, beside this suite's (mean ± std over seeds):", "",
             "| network | parameters | paper's test error | this suite's test error |", "|---|---:|---:|---:|"]
    for name, (_, paper) in LECUN98.items():
        row = next((row for row in rows if row["name"] == name), None)
        if row:
            errors = [1 - a for a in row["acc"]]
            spread = f" ± {100 * statistics.stdev(errors):.2f}" if len(errors) > 1 else ""
            lines.append(f"| {name} | {row['n_params']:,} | {100 * paper:.2f}% "
                         f"| {100 * statistics.mean(errors):.2f}{spread}% |")
    return lines + [""]


def headline(study: str, data: dict) -> str:
    """One line per study: the best config and each verdict, for the top of the report and README."""
    rows, found = data["rows"], data.get("comparisons", [])
    if not rows:
        return f"- **{study}**: no finished runs."
    top = focus_rows(study, rows, data["runs"])[0]
    verdicts = [f"{c.config} {'tied with' if c.verdict == 'tied' else c.verdict + ' than'} {c.reference} "
                f"({pp(c.mean_diff)})" for c in found]
    against = f"; {', '.join(verdicts)}" if found else ""
    return f"- **[{study}](#{study.lower()})**: highest mean test accuracy {top['name']} ({pct(top['mean'])}){against}."


def study_section(study: str, data: dict, resultdir: Path) -> list[str]:
    runs, rows = data["runs"], data["rows"]
    lines = [f"## {study}", ""]
    if not runs:
        return lines + [f"No finished runs ({len(data['partial'])} partial).", ""]
    seeds = sorted({r["seed"] for r in runs})
    lines += [f"Trained with {recipe_summary([r['config'] for r in runs])}; seeds {', '.join(map(str, seeds))}; "
              f"{plural(len(runs), 'finished run')}.", ""]
    if data.get("latest_only"):
        lines += [f"Configs of the latest invocation: `{data['manifest'].get('command', '?')}`.", ""]
    for name in (f"compare_{study}.png", f"grad_norms_{study}.png", f"confusion_{study}.png",
                 f"misclassified_{study}.png"):
        if (resultdir / name).exists():
            lines += [f"![{name}]({name})", ""]
    if rows:
        focus = focus_rows(study, rows, runs)
        found = data.get("comparisons", [])
        lines += table(rows, found) + [""]
        if study == "lecun98":
            lines += lecun98_lines(rows)
        if study == "optim_sweep":
            lines += sweep_lines(runs)
        ranked = " > ".join(f"{row['name']} ({pct(row['mean'])})" for row in focus)
        lines += [f"Ranking by mean test accuracy{' (best rates)' if study == 'optim_sweep' else ''}: {ranked}.",
                  "", "Findings:", ""]
        lines += comparison_lines(study, found)
        if study in GROWTH_STUDIES:
            lines += growth_lines(study, focus)
        lines += convergence_lines(focus)
        if data.get("scalars") is not None and study in GRAD_STUDIES:
            lines += gradient_lines(study, focus, data["scalars"], {c.config: c.reference for c in found})
        lines += best_run_lines(best_run(focus)) + [""]
    return lines + diverged_lines(runs) + [""]


def write_report(logdir: Path, loaded: dict[str, dict], resultdir: Path) -> Path:
    n_runs = sum(len(d["runs"]) for d in loaded.values())
    n_partial = sum(len(d["partial"]) for d in loaded.values())
    lines = ["# Report", "",
             f"Computed by plot.py from the runs under `{logdir}`: {plural(n_runs, 'finished run')} in "
             f"{len(loaded)} stud{'y' if len(loaded) == 1 else 'ies'}; {plural(n_partial, 'partial run')} "
             f"(no readable result.json) left out.", "", METHOD.replace("\n", " "), "", "## Headlines", "",
             *(headline(study, data) for study, data in loaded.items()), ""]
    for study, data in loaded.items():
        lines += study_section(study, data, resultdir)
    path = resultdir / "REPORT.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines).rstrip() + "\n")
    return path


