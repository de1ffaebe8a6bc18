"""REPORT.md's words: per study a table, the verdicts in plain words, convergence and gradient findings."""
from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path

import numpy as np
import pandas as pd

import stats
from analysis import (best_run, code_name, focus_rows, grad_ratios, layer_names, natural_key, run_dataset,
                      study_dataset, val_curve)
from dataloader import DATASETS, get_dataset
from studies import (BEST_RATE_HEADER, REFERENCES, TRAITS, best_rate_rows, margins_in_words, recipe_summary, references_in_words,
                     traits)
from recipes import RECIPES
from utils import atomic_path


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


def median_epochs(epochs: list[float | None]) -> float:
    """Median over every seed, a seed that never reached the target counting above every number (inf)."""
    return statistics.median(math.inf if e is None else e for e in epochs)


def target_cell(epochs: list[float | None]) -> str:
    median, missed = median_epochs(epochs), sum(e is None for e in epochs)
    if math.isinf(median):
        return f"not reached ({len(epochs) - missed} of {len(epochs)} seeds reached it)"
    return f"{median:.2f}" + (f" ({missed} of {len(epochs)} seeds not reached)" if missed else "")


DAGGER = "†"  # a better/worse verdict on the t-test's normal model alone


def margin_words(c: stats.Comparison) -> str:
    return f"±{100 * c.margin:g} pp"


def size_words(c: stats.Comparison) -> str:
    """A verdict with its size from the simultaneous interval: 'worse by 0.85 pp (0.59 to 1.11)', 'better (sign
    only; at most 0.19 pp), negligible within ±0.5 pp', 'equivalent within ±0.5 pp', 'inconclusive, within ±1.30 pp'."""
    if c.sim_low is None:
        return f"{c.verdict} (no test: {c.p_note})" if c.p_note else c.verdict
    near, far = sorted((abs(c.sim_low), abs(c.sim_high)))
    if c.verdict in ("better", "worse"):
        if c.no_spread:
            size = f"by {abs(100 * c.mean_diff):.2f} pp (every seed alike)"
        elif near == 0:  # Holm's step-down claims the sign where Bonferroni's interval still reaches 0
            size = f"(sign only; at most {100 * far:.2f} pp)"
        else:
            size = f"by {abs(100 * c.mean_diff):.2f} pp ({100 * near:.2f} to {100 * far:.2f})"
        return f"{c.verdict} {size}" + (f", negligible within {margin_words(c)}" if c.within_margin else "")
    if c.verdict == "equivalent":
        return f"equivalent within {margin_words(c)}"
    return f"inconclusive, within ±{100 * far:.2f} pp"


def t_only(c: stats.Comparison) -> bool:
    """A better/worse verdict the sign-flip test did not confirm."""
    return c.confirmed is False


def against(c: stats.Comparison) -> str:
    """The verdict against the reference with its size, in a few words (the report's table)."""
    return f"{size_words(c)}{DAGGER if t_only(c) else ''} (vs {c.reference})"


def target_text(rows: list[dict]) -> str:
    """The val-accuracy target of the rows' dataset (the registry's), as '98%'."""
    return f"{100 * study_dataset(rows[0]['runs']).target_val_acc:g}%"


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation but hyphens dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


TABLE_GROUPS = ("better", "reference", "equivalent", "inconclusive", "worse", "-")  # no rank within a group


def grouped(rows: list[dict], found: list[stats.Comparison]) -> list[tuple[dict, str]]:
    """(row, its group) in TABLE_GROUPS order, by mean within a group: configs no test tells apart get no rank."""
    verdict = {c.config: c.verdict for c in found}
    references = {c.reference for c in found}
    group = {row["name"]: verdict.get(row["name"], "reference" if row["name"] in references else "-") for row in rows}
    ordered = sorted(rows, key=lambda row: (TABLE_GROUPS.index(group[row["name"]]), -row["mean"]))
    return [(row, group[row["name"]]) for row in ordered]


def table(rows: list[dict], found: list[stats.Comparison]) -> list[str]:
    cells = {c.config: against(c) for c in found}
    lines = [f"Rows by verdict ({', '.join(TABLE_GROUPS[:-1])}), within a verdict by mean test accuracy: no rank is "
             f"claimed among configs the tests do not tell apart. {DAGGER}: the t-test alone (see the findings).", "",
             "| config | parameters | test accuracy (mean ± std) | against its reference "
             f"| best val accuracy (mean) | epochs to {target_text(rows)} val accuracy (median) | wall time (mean) |",
             "|---|---:|---:|---|---:|---:|---:|"]
    for row, group in grouped(rows, found):
        lines.append(f"| {row['name']} | {row['n_params']:,} | {acc_cell(row)} | {cells.get(row['name'], group)} "
                     f"| {pct(row['best_val'])} | {target_cell(row['to_target'])} | {row['wall']:.1f} s |")
    return lines


def span(low: float, high: float) -> str:
    """An interval in pp; an end cut at 0 (a Holm verdict Bonferroni's interval alone would not reach) says so."""
    ends = [f"{100 * x:+.2f}" if x else "0" for x in (low, high)]
    cut = " (cut at 0: Holm's step-down claims the sign there, not a size)" if 0 in (low, high) else ""
    return f"{ends[0]} to {ends[1]} pp{cut}"


def seeds_text(c: stats.Comparison) -> str:
    n = plural(len(c.seeds), "paired seed")
    if not c.left_out:
        return n
    why = "; ".join(f"seed {seed}: {reason}" for seed, reason in c.left_out.items())
    return f"{n}, {len(c.left_out)} left out ({why})"


def signflip_text(c: stats.Comparison) -> str:
    """The sign-flip test's word on a better/worse verdict."""
    held = f"exact sign-flip test across seeds, Holm-adjusted p = {fmt_p(c.p_signflip_holm)}"
    if c.confirmed:
        return f"{held}: confirmed without the normal model"
    return (f"{held}: **t-test only** (assumes normal seed differences; with {plural(c.family, 'comparison')} the "
            f"sign-flip test can confirm from {c.signflip_seeds} seeds, its smallest p being 2/2^n)")


def boot_text(c: stats.Comparison) -> str:
    if c.boot_low is None:
        return ""
    return f"; on new test digits too (bootstrap over seeds and test images, 95%): {span(c.boot_low, c.boot_high)}"


def comparison_sentence(c: stats.Comparison) -> str:
    """One verdict in plain words, with its size and the evidence it rests on."""
    head = f"{c.config} vs {c.reference}: {pp(c.mean_diff)} over {seeds_text(c)}"
    if c.p_holm is None:
        return f"{head}: inconclusive, no test ({c.p_note})."
    if c.no_spread:
        tests = (f"every seed gave the same difference, so the t-test is at its limit (the difference is certain "
                 f"under its normal model); sign-flip p = {fmt_p(c.p_signflip)} is the p to quote")
    else:
        tests = f"paired t-test across seeds, Holm-adjusted p = {fmt_p(c.p_holm)}"
    interval = f"simultaneous 95% interval {span(c.sim_low, c.sim_high)}"
    equiv = f"equivalence (TOST, {margin_words(c)}) Holm-adjusted p = {fmt_p(c.p_equiv_holm)}"
    if c.verdict in ("better", "worse"):
        return (f"{head}: **{size_words(c)}** ({tests}; {interval}; {equiv}; {signflip_text(c)}{boot_text(c)}).")
    if c.verdict == "equivalent":
        return f"{head}: **{size_words(c)}** ({equiv}; {tests}; {interval}{boot_text(c)})."
    detectable = f"the smallest effect detectable at 80% power at this spread is {100 * c.mde:.2f} pp" \
        if c.mde is not None else "no spread across seeds to plan from"
    needed = (f"about {c.seeds_needed} seeds would resolve a difference of this size" if c.seeds_needed else
              f"more than {stats.MAX_SEEDS} seeds would be needed to resolve it" if c.mde is not None else "")
    return (f"{head}: **{size_words(c)}** ({tests}; {equiv}; {interval}{boot_text(c)}); {detectable}"
            + (f"; {needed}." if needed else "."))


def mcnemar_text(c: stats.Comparison) -> str:
    if c.mcnemar_every_pair is None:
        return ""
    said = "every trained pair differs the same way" if c.mcnemar_every_pair else "not every trained pair differs"
    return f"{c.config}: {said} (largest p {fmt_p(c.p_mcnemar_max)})"


def comparison_lines(study: str, found: list[stats.Comparison], margin_set: str) -> list[str]:
    if not found:
        return []
    counts = ", ".join(f"{sum(c.verdict == v for c in found)} {v}" for v in stats.VERDICTS)
    lines = [f"- Comparisons with the reference, paired by seed ({counts}); family: Holm over this study's "
             f"{plural(found[0].family, 'comparison')}; equivalence margin {margin_words(found[0])}, "
             f"{margin_set}; `{study}_comparisons.csv` has every number:"]
    lines += [f"  - {comparison_sentence(c)}" for c in found]
    described = [text for text in map(mcnemar_text, found) if text]
    if described:
        lines.append("- McNemar's exact test per seed on the test predictions, a description of the seeds trained "
                     f"(conditional on them; it decides no verdict): {'; '.join(described)}.")
    return lines


def ranking_lines(rows: list[dict], found: list[stats.Comparison]) -> list[str]:
    """Mean test accuracy, with ">" only where a test says so: better configs > their reference > worse ones."""
    acc = {row["name"]: f"{row['name']} ({pct(row['mean'])})" for row in rows}
    if not found:
        return [f"Mean test accuracy (no comparisons, so no order is claimed): {', '.join(acc.values())}.", ""]
    lines = []
    for ref in dict.fromkeys(c.reference for c in found):
        mine = [c for c in found if c.reference == ref]
        group = {v: ", ".join(acc[c.config] for c in mine if c.verdict == v) for v in stats.VERDICTS}
        chain = " > ".join(part for part in (group["better"], acc[ref], group["worse"]) if part)
        loose = ", ".join(part for part in (group["equivalent"], group["inconclusive"]) if part)
        lines.append(f"Ranking against {ref} by the tests (\">\" only where significant; within a group, by mean, "
                     f"no order claimed): {chain}" + (f"; not ordered against {ref}: {loose}." if loose else "."))
    return lines + [""]


def growth_lines(study: str, rows: list[dict]) -> list[str]:
    """Mean test accuracy by size in each network family (descriptive: the comparisons above carry the evidence)."""
    arg = traits(study).growth
    families: dict[str, list[dict]] = {}
    for row in rows:
        if arg in row["config"]["model_args"]:
            families.setdefault(row["config"]["model"], []).append(row)
    lines = []
    for model, members in families.items():
        members = sorted(members, key=lambda row: row["config"]["model_args"][arg])
        sizes = ", ".join(f"{row['name']} {pct(row['mean'])}" for row in members)
        lines.append(f"- {model} by {arg}: mean test accuracy {sizes} (descriptive; the verdicts above say which "
                     f"differences the seeds support).")
    return lines


def convergence_lines(rows: list[dict]) -> list[str]:
    target = target_text(rows)
    medians = {row["name"]: median_epochs(row["to_target"]) for row in rows}
    reached = {name: m for name, m in medians.items() if not math.isinf(m)}
    lines = []
    if reached:
        fastest = min(reached.values())
        names = [name for name, m in reached.items() if m == fastest]
        missed = [f"{row['name']} ({sum(e is None for e in row['to_target'])} of {len(row['to_target'])})"
                  for row in rows if None in row["to_target"]]
        lines.append(f"- Convergence (validation evaluated {evals_per_epoch(rows)} times an epoch; median over every "
                     f"seed, a seed that never reached the target counting as slower than any): fastest to {target} "
                     f"val accuracy: {', '.join(names)} (epoch {fastest:.2f})"
                     + (f"; seeds that did not reach it: {', '.join(missed)}." if missed else
                        "; every seed of every config reached it."))
    else:
        epochs = max(r["epochs"] for row in rows for r in row["runs"])
        lines.append(f"- Convergence: no config reached {target} val accuracy in half its seeds within "
                     f"{plural(epochs, 'epoch')}.")
    first = {row["name"]: statistics.mean(curve_at(r, 1.0) for r in row["runs"]) for row in rows}
    hi, lo = max(first, key=first.get), min(first, key=first.get)
    if len(first) > 1:
        lines.append(f"- After one epoch (mean over seeds, descriptive) val accuracy was highest for {hi} "
                     f"({pct(first[hi])}) and lowest for {lo} ({pct(first[lo])}).")
    return lines


def evals_per_epoch(rows: list[dict]) -> str:
    values = {r.get("evals_per_epoch", 1) for row in rows for r in row["runs"]}
    return str(values.pop()) if len(values) == 1 else "several"


def curve_at(run: dict, epoch: float) -> float:
    """Val accuracy at the last evaluation no later than `epoch`."""
    return [p["val_acc"] for p in val_curve(run) if p["epoch"] <= epoch + 1e-9][-1]


def gradient_lines(rows: list[dict], scalars: pd.DataFrame, refs: dict[str, str]) -> list[str]:
    """First-to-last layer gradient-norm ratios, each config's beside its reference's, seed by seed (descriptive)."""
    ratios = {row["name"]: grad_ratios(scalars, row) for row in rows}
    ratios = {name: r for name, r in ratios.items() if r}
    if not ratios:
        return []
    layers = {name: layer_names(scalars.loc[scalars["name"] == name, "tag"].unique()) for name in ratios}
    lines = ["- Gradient norms (descriptive, no test): first-layer over last-layer gradient L2 norm, each averaged "
             "over training; per config the mean over seeds (range over seeds), and where its reference has the "
             "same seeds, the config's ratio over the reference's, seed by seed:"]
    for name, r in ratios.items():
        text = (f"{name} {statistics.mean(r.values()):.3g} ({layers[name][0]}/{layers[name][-1]}; seeds "
                f"{min(r.values()):.3g} to {max(r.values()):.3g})")
        ref = refs.get(name)
        paired = [r[seed] / ratios[ref][seed] for seed in r if ref in ratios and seed in ratios[ref]]
        if paired:
            text += (f"; over {ref}'s: {statistics.mean(paired):.3g}x on average, {min(paired):.3g}x to "
                     f"{max(paired):.3g}x over {plural(len(paired), 'seed')}")
        lines.append(f"  - {text}.")
    return lines


def best_run_lines(run: dict | None) -> list[str]:
    if run is None:
        return []
    confusion = np.array(run["test_confusion"])
    errors = confusion - np.diag(np.diag(confusion))
    i, j = np.unravel_index(errors.argmax(), errors.shape)
    dataset = run_dataset(run)
    return [f"- Best run (highest best val accuracy): {run['label']} seed {run['seed']}, "
            f"val {pct(run['best_val_acc'])}, test {pct(run['test_acc'])}; "
            f"{int(errors.sum()):,} of {int(confusion.sum()):,} test {dataset.item_word} misclassified, "
            f"most often true {dataset.classes[i]} as {dataset.classes[j]} ({int(errors[i, j])} times)."]


def diverged_lines(runs: list[dict]) -> list[str]:
    bad = sorted((r for r in runs if r["status"] != "ok"), key=lambda r: (natural_key(r["label"]), r["seed"]))
    if not bad:
        return ["Diverged runs: none."]
    lines = ["Diverged runs (no accuracy: left out of the numbers above, the curves, the figures and the "
             "comparisons, which pair only seeds where both configs finished):", "",
             "| config | seed | status | at step | optimizer | lr |", "|---|---:|---|---:|---|---:|"]
    for r in bad:
        step = r.get("diverged_at_step")
        lines.append(f"| {r['label']} | {r['seed']} | {r['status']} | {step if step is not None else '-'} "
                     f"| {r['config']['optimizer']} | {r['config']['lr']:g} |")
    return lines


def sweep_lines(runs: list[dict]) -> list[str]:
    lines = ["Each optimizer at its best learning rate, picked on val accuracy (a rate where a seed diverged is "
             "never picked):", "", f"| {' | '.join(BEST_RATE_HEADER)} |", "|---|---:|---:|---:|"]
    lines += [f"| {' | '.join(row)} |" for row in best_rate_rows(runs)]
    return lines + [""]


METHOD = f"""How to read the verdicts. Each config is compared with its study's reference (the seed network's
choice: {references_in_words()}; a grid's first config), paired by seed: with seed k both trained on the same batches in the same order, from the
same initial weights where their parameters have the same shapes. Only seeds where both configs finished
are paired. Every verdict is about the config across training seeds and states its size. `better` or
`worse`: the paired t-test across seeds, Holm-adjusted over the study's comparisons (the family size is
stated), is below 0.05; its size is the simultaneous 95% interval over the family ("sign only; at most
x pp" where Holm's step-down claims the sign but the interval reaches 0). "Negligible": the difference is
also inside the study's equivalence margin ({margins_in_words()}, recorded when the runs are planned;
the report says when `plot.py --margin` set it after the runs). `equivalent`: two one-sided t-tests,
Holm-adjusted likewise, put the mean difference inside the margin. `inconclusive`: neither; the interval
says what it excludes, and the report gives the smallest effect the study could have detected (80% power
at the observed spread) and about how many seeds would resolve the observed difference; it is not
evidence of no effect. The exact sign-flip test across seeds (Holm over the same family) checks every
better/worse without the normal model: `confirmed`, or {DAGGER} "t-test only" with the seeds it would
need (with n seeds its smallest p is 2/2^n, so 5 seeds confirm nothing). Where every seed gives the
same difference the t-test is at its limit and the sign-flip p is the one to quote. Beside the interval
across seeds, a two-level bootstrap over seeds and test images gives the interval for new test digits.
McNemar's exact test on each seed's test predictions only describes the trained pairs ("every pair
differs the same way") and decides nothing. Accuracies are on the 10,000 test images unless marked val;
± is one standard deviation across seeds; 'pp' is percentage points (docs/statistics.md)."""


def paper_lines(paper: dict[str, tuple[dict, float]], rows: list[dict]) -> list[str]:
    """The paper's test error beside this suite's, for the networks of LeCun et al. 1998's table."""
    lines = ["LeCun et al. 1998 (Gradient-based learning applied to document recognition), test error without "
             "distortions, beside this suite's (mean ± std over seeds):", "",
             "| network | parameters | paper's test error | this suite's test error |", "|---|---:|---:|---:|"]
    for name, (_, error) in paper.items():
        row = next((row for row in rows if row["name"] == name), None)
        if row:
            errors = [1 - a for a in row["acc"]]
            spread = f" ± {100 * statistics.stdev(errors):.2f}" if len(errors) > 1 else ""
            lines.append(f"| {name} | {row['n_params']:,} | {100 * error:.2f}% "
                         f"| {100 * statistics.mean(errors):.2f}{spread}% |")
    return lines + [""]


def published_lines(published: dict[str, tuple[tuple[str, float], ...]], rows: list[dict], dataset: str) -> list[str]:
    """The study's test accuracy beside published ones on the same test set, with parameters and wall time per run."""
    lines = [f"Beside published results on the {get_dataset(dataset).title} test set (sources in docs/best.md):", "",
             "| result | test accuracy | parameters | wall time per run |", "|---|---:|---:|---:|"]
    for row in rows:
        spread = f" ± {100 * row['std']:.2f}" if row["std"] is not None else ""
        lines.append(f"| this suite: {row['name']}, {plural(len(row['acc']), 'seed')} | {100 * row['mean']:.2f}{spread}% "
                     f"({pct(min(row['acc']))} to {pct(max(row['acc']))}) | {row['n_params']:,} | {row['wall'] / 60:.1f} min |")
    lines += [f"| {source} | {pct(acc)} | | |" for source, acc in published.get(dataset, ())]
    return lines + [""]


def headline(data: dict) -> str:
    """One line per study, dataset and recipe: its configs grouped by verdict against the reference, no winner crowned."""
    study, rows, found = data["study"], data["rows"], data.get("comparisons", [])
    heading = data["view"].title
    link = f"**[{heading}](#{anchor(heading)})**"
    if not rows:
        return f"- **{heading}**: no finished runs."
    if not found:
        means = ", ".join(f"{row['name']} {pct(row['mean'])}" for row in focus_rows(study, rows, data["runs"]))
        return f"- {link}: no comparisons; mean test accuracy {means}."
    order = sorted(found, key=lambda c: stats.VERDICTS.index(c.verdict))
    members = "; ".join(f"{c.config} {size_words(c)}{DAGGER if t_only(c) else ''}" for c in order)
    refs = " / ".join(dict.fromkeys(c.reference for c in found))
    return (f"- {link} against {refs} ({plural(found[0].family, 'comparison')}, margin "
            f"{margin_words(found[0])}): {members}.")


def code_line(runs: list[dict]) -> str:
    """Which code trained the study's runs: their code digests (runstore.code_digest), with run counts."""
    counts: dict[str, int] = {}
    for r in runs:
        counts[code_name(r)] = counts.get(code_name(r), 0) + 1
    if len(counts) == 1:
        return f"Code digest of every run: `{next(iter(counts))}`."
    listed = ", ".join(f"`{code}` ({plural(n, 'run')})" for code, n in sorted(counts.items()))
    return f"Runs of {len(counts)} code versions, labelled by code digest where a config repeats: {listed}."


def study_section(data: dict, resultdir: Path) -> list[str]:
    study, name, runs, rows = data["study"], data["view"].name, data["runs"], data["rows"]
    lines = [f"## {data['view'].title}", ""]
    if not runs:
        return lines + [f"No finished runs ({len(data['partial'])} partial).", ""]
    seeds = sorted({r["seed"] for r in runs})
    recipe = recipe_summary([r["config"] for r in runs], data["view"].recipe_words)
    lines += [f"Trained with {recipe}; seeds {', '.join(map(str, seeds))}; {plural(len(runs), 'finished run')}.", ""]
    lines += [code_line(runs), ""]
    if data.get("latest_only"):
        lines += [f"Configs of the latest invocation: `{data['manifest'].get('command', '?')}`.", ""]
    for figure in (f"compare_{name}.png", f"lr_sweep_{name}.png", f"grad_norms_{name}.png",
                   f"quick_vs_full_{name.removesuffix('-full').removesuffix('-quick')}.png", f"confusion_{name}.png",
                   f"misclassified_{name}.png"):
        if (resultdir / figure).exists():
            lines += [f"![{figure}]({figure})", ""]
    if rows:
        kind, focus = traits(study), focus_rows(study, rows, runs)
        found = data.get("comparisons", [])
        lines += table(rows, found) + [""]
        if kind.paper:
            lines += paper_lines(kind.paper, rows)
        if kind.published:
            lines += published_lines(kind.published, rows, data["view"].dataset)
        if kind.best_rates:
            lines += sweep_lines(runs)
        lines += ranking_lines(focus, found) + ["Findings:", ""]
        lines += comparison_lines(name, found, data.get("margin_set", "declared for the study and recipe before any run"))
        if kind.growth:
            lines += growth_lines(study, focus)
        lines += convergence_lines(focus)
        if data.get("scalars") is not None and kind.gradients:
            lines += gradient_lines(focus, data["scalars"], {c.config: c.reference for c in found})
        lines += best_run_lines(best_run(focus)) + [""]
    return lines + diverged_lines(runs) + [""]


def verdict_words(found: list[stats.Comparison]) -> str:
    """A study's verdicts in a few words, each with its size: 'sigmoid worse by 1.02 pp (0.80 to 1.24)†;
    5 others equivalent within ±0.5 pp; tanh inconclusive, within ±0.62 pp'."""
    def names(members: list[str], others: bool) -> str:
        return ", ".join(members) if len(members) <= 3 else f"{len(members)} {'others' if others else 'configs'}"
    parts = [f"{c.config} {size_words(c)}{DAGGER if t_only(c) else ''}"
             for verdict in ("worse", "better") for c in found if c.verdict == verdict]
    equivalent = [c.config for c in found if c.verdict == "equivalent"]
    inconclusive = [c for c in found if c.verdict == "inconclusive"]
    if equivalent:
        parts.append(f"{names(equivalent, bool(parts))} equivalent within {margin_words(found[0])}")
    if len(inconclusive) == 1:
        parts.append(f"{inconclusive[0].config} {size_words(inconclusive[0])}")
    elif inconclusive:
        tested = [c for c in inconclusive if c.sim_low is not None]
        widest = max((max(abs(c.sim_low), abs(c.sim_high)) for c in tested), default=None)
        bound = f", each within ±{100 * widest:.2f} pp" if widest is not None and len(tested) == len(inconclusive) else ""
        parts.append(f"{names([c.config for c in inconclusive], bool(parts))} inconclusive{bound}")
    return "; ".join(parts)


def choices_footnote(dagger_seeds: set[int]) -> list[str]:
    """The dagger's meaning under README's table, where a cell carries one (the seed counts of those cells)."""
    if not dagger_seeds:
        return []
    return ["", f"{DAGGER} On the t-test's normal model alone: the exact sign-flip test across seeds did not confirm "
            f"it (with n seeds its smallest p is 2/2^n, {', '.join(f'{2 / 2 ** n:.3g} at {n}' for n in sorted(dagger_seeds))}; "
            f"REPORT.md gives the seeds each study would need). Sizes are simultaneous 95% intervals over each "
            f"study's comparisons; 'negligible': significant, yet inside the study's equivalence margin."]


def choice_cells(loaded: dict[str, dict]) -> list[dict]:
    """README's table's cells, one per study that answers a question and has comparisons: its study, dataset and
    recipe, its verdicts in a few words, its references, and the seed counts of its dagger verdicts."""
    return [{"study": d["study"], "dataset": d["view"].dataset, "recipe": d["view"].recipe,
             "words": verdict_words(d["comparisons"]),
             "reference": " / ".join(dict.fromkeys(c.reference for c in d["comparisons"])),
             "dagger_seeds": sorted({len(c.seeds) for c in d["comparisons"] if t_only(c)})}
            for d in loaded.values() if d.get("comparisons") and traits(d["study"]).question]


def render_choices(cells: list[dict], every_question: bool = False) -> list[str]:
    """README's 'what each choice does': a row per study that answers a question, a column per dataset and
    recipe, each cell the study's verdicts in a few words, computed from the comparisons, never typed.

    `every_question` (README's table): every such study and every dataset and recipe, "not run" where no runs
    are; else (REPORT.md's) only the studies, datasets and recipes the cells hold.
    """
    if not cells:
        return []
    columns = sorted({(ds, r) for ds in DATASETS for r in RECIPES} if every_question
                     else {(c["dataset"], c["recipe"]) for c in cells},
                     key=lambda c: (RECIPES.index(c[1]) if c[1] in RECIPES else len(RECIPES), list(DATASETS).index(c[0])))
    studies = ([s for s, kind in TRAITS.items() if kind.question] if every_question
               else sorted({c["study"] for c in cells}, key=list(TRAITS).index))
    by_key = {(c["study"], c["dataset"], c["recipe"]): c for c in cells}
    lines = ["| choice (against) | " + " | ".join(f"{get_dataset(ds).title}, {recipe} recipe" for ds, recipe in columns)
             + " |", "|---|" + "---|" * len(columns)]
    for study in studies:
        found = next((c for c in cells if c["study"] == study), None)
        refs = found["reference"] if found else " / ".join(REFERENCES.get(study, ()))
        row = [by_key[(study, *column)]["words"] if (study, *column) in by_key else "not run" for column in columns]
        lines.append(f"| {traits(study).question} (`{study}`, against {refs}) | " + " | ".join(row) + " |")
    return lines + choices_footnote({n for c in cells for n in c["dagger_seeds"]})


def compose_choices(paths: list[Path]) -> list[str]:
    """README's table from the CHOICES.json of several results folders (each made by plot.py from its own
    logs); a cell that two of them fill is an error, as the table could show only one."""
    cells, source = [], {}
    for path in paths:
        for cell in json.loads(path.read_text())["cells"]:
            key = (cell["study"], cell["dataset"], cell["recipe"])
            if key in source:
                raise ValueError(f"{path} and {source[key]} both hold {cell['study']} on {cell['dataset']}, "
                                 f"recipe {cell['recipe']}")
            source[key] = path
            cells.append(cell)
    return render_choices(cells, every_question=True)


def choices_section(loaded: dict[str, dict]) -> list[str]:
    table_lines = render_choices(choice_cells(loaded))
    if not table_lines:
        return []
    return ["## What each choice does", "", "Each cell: the verdicts of a study against its reference, paired by seed "
            "(details in its section below).", "", *table_lines, ""]


def write_choices(loaded: dict[str, dict], resultdir: Path) -> list[Path]:
    """resultdir/CHOICES.md, the 'what each choice does' table alone as README.md holds it, and CHOICES.json,
    its cells, from which docs/results/table.py composes README's table out of several results folders."""
    cells = choice_cells(loaded)
    if not cells:
        return []
    paths = [resultdir / "CHOICES.md", resultdir / "CHOICES.json"]
    for path, text in zip(paths, ["\n".join(render_choices(cells, every_question=True)) + "\n",
                                  json.dumps({"cells": cells}, indent=1) + "\n"]):
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    return paths


def write_report(logdir: Path, loaded: dict[str, dict], resultdir: Path) -> Path:
    n_runs = sum(len(d["runs"]) for d in loaded.values())
    n_partial = sum(len(d["partial"]) for d in loaded.values())
    lines = ["# Report", "",
             f"Computed by plot.py from the runs under `{logdir}`: {plural(n_runs, 'finished run')} in "
             f"{len(loaded)} stud{'y' if len(loaded) == 1 else 'ies'} (a study: one dataset, one recipe); "
             f"{plural(n_partial, 'partial run')} (no readable result.json) left out.", "", METHOD.replace("\n", " "),
             "", *choices_section(loaded), "## Headlines", "", *(headline(data) for data in loaded.values()), ""]
    for data in loaded.values():
        lines += study_section(data, resultdir)
    path = resultdir / "REPORT.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines).rstrip() + "\n")
    return path


