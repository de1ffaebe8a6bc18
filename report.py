"""REPORT.md's words: per study a table, the verdicts in plain words, convergence and gradient findings."""
from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path

import stats
from analysis import (CHANCE_MARGIN, best_run, code_name, did_not_learn, focus_rows, natural_key, run_dataset,
                      study_dataset, val_curve)
from dataset_facts import DATASETS, get_dataset
from studies import (BEST_RATE_HEADER, REFERENCES, TRAITS, best_rate_rows, margins_in_words, recipe_summary, references_in_words,
                     traits, unrun_words)
from recipes import RECIPES
from utils import LazyModule, atomic_path
from verdicts import (DAGGER, SIGN_ONLY, anchor, bound, confirmable, fmt_p, inside_margin, margin_words,  # noqa: F401
                      plural, pct, pp, shown_verdict, size_words, t_only, unconfirmable)

np, pd = LazyModule("numpy"), LazyModule("pandas")  # imported when first used: --help needs neither


# ---- words -----------------------------------------------------------------------------------------

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


def against(c: stats.Comparison) -> str:
    """The verdict against the reference with its size, in a few words (the report's table)."""
    return f"{size_words(c)}{DAGGER if t_only(c) else ''} (vs {c.reference})"


def target_text(rows: list[dict]) -> str:
    """The val-accuracy target of the rows' dataset (the registry's), as '98%'."""
    return f"{100 * study_dataset(rows[0]['runs']).target_val_acc:g}%"


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
             f"claimed among configs the tests do not tell apart. {DAGGER}: weak evidence, the sign-flip test "
             f"could have confirmed it at this seed count and did not (see the findings).", "",
             "| config | parameters | test accuracy (mean ± std) | against its reference "
             f"| best val accuracy (mean) | epochs to {target_text(rows)} val accuracy (median) | wall time (mean) |",
             "|---|---:|---:|---|---:|---:|---:|"]
    for row, group in grouped(rows, found):
        lines.append(f"| {row['name']} | {row['n_params']:,} | {acc_cell(row)} | {cells.get(row['name'], group)} "
                     f"| {pct(row['best_val'])} | {target_cell(row['to_target'])} | {row['wall']:.1f} s |")
    return lines


def span(low: float, high: float) -> str:
    """An interval in pp; an end at 0, or within SIGN_ONLY of it, prints as 0 and says that it claims the sign only."""
    ends = [f"{100 * x:+.2f}" if abs(x) >= SIGN_ONLY else "0" for x in (low, high)]
    cut = " (an end at 0: the sign is claimed there, not a size)" if "0" in ends else ""
    return f"{ends[0]} to {ends[1]} pp{cut}"


def seeds_text(c: stats.Comparison) -> str:
    n = plural(len(c.seeds), "paired seed")
    if not c.left_out:
        return n
    why = "; ".join(f"seed {seed}: {reason}" for seed, reason in c.left_out.items())
    return f"{n}, {len(c.left_out)} left out ({why})"


def seed_split(c: stats.Comparison) -> str:
    """How the paired seeds went, and the seed where the config did worst: 'better in 10 of 10 seeds, worst
    +0.02 pp', 'better in 6, worse in 3, equal in 1 of 10 seeds, worst -0.12 pp'."""
    n, up, down = len(c.seeds), c.seeds_better, c.seeds_worse
    worst = f"worst {pp(c.worst_seed_diff)}"
    if up == n or down == n:
        return f"{'better' if up == n else 'worse'} in {n} of {n} seeds, {worst}"
    ways = [f"better in {up}", f"worse in {down}"] + [f"equal in {n - up - down}"] * (up + down < n)
    return f"{', '.join(ways)} of {n} seeds, {worst}"


def signflip_text(c: stats.Comparison) -> str:
    """The sign-flip test's word on a better/worse verdict."""
    held = f"exact sign-flip test across seeds, Holm-adjusted p = {fmt_p(c.p_signflip_holm)}"
    if c.confirmed:
        return f"{held}: confirmed without the normal model"
    need = stats.signflip_seeds(c.family)
    if t_only(c):
        return (f"{held}: **t-test only**, weak evidence (with {plural(len(c.seeds), 'seed')} and "
                f"{plural(c.family, 'comparison')} the sign-flip test could have confirmed it and did not)")
    return (f"{held}: t-test only (with {plural(c.family, 'comparison')} the sign-flip test can confirm nothing "
            f"below {need} seeds, its smallest p being 2/2^n; it rests on the normal model of seed differences)")


def digits_text(c: stats.Comparison) -> str:
    """The interval for new seeds and new test digits; 'too' only where it excludes 0 on the verdict's side."""
    if c.new_low is None:
        return ""
    what = "seeds and test images both random, simultaneous 95%"
    verdict = shown_verdict(c)
    if verdict in ("better", "worse"):
        if (c.new_low > 0) if verdict == "better" else (c.new_high < 0):
            return f"; on new test digits too ({what}): {span(c.new_low, c.new_high)}"
        return f"; not shown on new test digits ({what}: {span(c.new_low, c.new_high)}, which includes 0)"
    return f"; on new test digits ({what}): {span(c.new_low, c.new_high)}"


def comparison_sentence(c: stats.Comparison) -> str:
    """One verdict in plain words, with its size, how its seeds went and the evidence it rests on."""
    head = f"{c.config} vs {c.reference}: {pp(c.mean_diff)} over {seeds_text(c)}"
    if c.p_holm is None:
        return f"{head}: inconclusive, no test ({c.p_note})."
    head += f"; {seed_split(c)}"
    if c.no_spread:
        tests = (f"every seed gave the same difference, so the t-test is at its limit (the difference is certain "
                 f"under its normal model); sign-flip p = {fmt_p(c.p_signflip)} is the p to quote")
    else:
        tests = f"paired t-test across seeds, Holm-adjusted p = {fmt_p(c.p_holm)}"
    interval = f"simultaneous 95% interval {span(c.sim_low, c.sim_high)}"
    equiv = (f"equivalence: that interval {'lies inside' if inside_margin(c) else 'is not inside'} the margin "
             f"{margin_words(c)} (TOST at its level, adjusted p = {fmt_p(c.p_equiv_adj)})")
    verdict = shown_verdict(c)
    if verdict in ("better", "worse"):
        return (f"{head}: **{size_words(c)}** ({tests}; {interval}; {equiv}; {signflip_text(c)}{digits_text(c)}).")
    if verdict == "equivalent":
        return f"{head}: **{size_words(c)}** ({interval}; {equiv}; {tests}{digits_text(c)})."
    detectable = f"the smallest effect detectable at 80% power at this spread is {100 * c.mde:.2f} pp" \
        if c.mde is not None else "no spread across seeds to plan from"
    needed = (f"about {c.seeds_needed} seeds would resolve a difference of this size" if c.seeds_needed else
              f"more than {stats.MAX_SEEDS} seeds would be needed to resolve it" if c.mde is not None else "")
    return (f"{head}: **{size_words(c)}** ({tests}; {interval}; {equiv}{digits_text(c)}); {detectable}"
            + (f"; {needed}." if needed else "."))


def mcnemar_text(c: stats.Comparison) -> str:
    if c.mcnemar_every_pair is None:
        return ""
    said = "every trained pair differs the same way" if c.mcnemar_every_pair else "not every trained pair differs"
    return f"{c.config}: {said} (largest p {fmt_p(c.p_mcnemar_max)})"


def margin_text(found: list[stats.Comparison]) -> str:
    """The margin beside each reference's test error rate, so that a reader sees what 'equivalent' allows:
    '±0.5 pp (41% of relu's 1.22% test error)'."""
    errors = {c.reference: 1 - c.ref_mean for c in found if c.ref_mean is not None}
    shares = [f"{margin_share(found[0].margin, error)} of {ref}'s {pct(error)} test error"
              for ref, error in errors.items()]
    return margin_words(found[0]) + (f" ({', '.join(shares)})" if shares else "")


def margin_share(margin: float, error: float) -> str:
    return f"{100 * margin / error:.0f}%" if error > 0 else "any share"


def comparison_lines(study: str, found: list[stats.Comparison], margin_set: str) -> list[str]:
    if not found:
        return []
    counts = ", ".join(f"{sum(shown_verdict(c) == v for c in found)} {v}" for v in stats.VERDICTS)
    lines = [f"- Comparisons with the reference, paired by seed ({counts}); family: {family_words(found)}; "
             f"equivalence margin {margin_text(found)}, "
             f"{margin_set}; `{study}_comparisons.csv` has every number, `{study}_seeds.csv` every seed's:"]
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
    from findings import grad_summary  # findings words with this module's words: imported when used

    summary = grad_summary(rows, scalars, refs)
    if not summary:
        return []
    lines = ["- Gradient norms (descriptive, no test): first-layer over last-layer gradient L2 norm, each averaged "
             "over training; per config the mean over seeds (range over seeds), and where its reference has the "
             "same seeds, the config's ratio over the reference's, seed by seed:"]
    for name, g in summary.items():
        text = f"{name} {g['ratio']:.3g} ({g['layers']}; seeds {g['low']:.3g} to {g['high']:.3g})"
        if "vs_ref" in g:
            text += (f"; over {refs[name]}'s: {g['vs_ref']:.3g}x on average, {g['vs_ref_low']:.3g}x to "
                     f"{g['vs_ref_high']:.3g}x over {plural(g['vs_ref_seeds'], 'seed')}")
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


def not_learned_lines(runs: list[dict]) -> list[str]:
    """Finished runs at chance whatever their loss did (analysis.did_not_learn), named apart from diverged ones:
    their accuracy counts in every number above."""
    idle = sorted((r for r in runs if did_not_learn(r)), key=lambda r: (natural_key(r["label"]), r["seed"]))
    if not idle:
        return []
    chance = 1 / run_dataset(idle[0]).n_classes
    listed = ", ".join(f"{r['label']} seed {r['seed']} ({pct(r['test_acc'])})" for r in idle)
    return ["", f"Runs that did not learn (finished, but test accuracy within {100 * CHANCE_MARGIN:g} points of "
            f"chance, {pct(chance)}; counted in every number above): {listed}."]


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
x pp" where Holm's step-down claims the sign but the interval reaches 0, or comes within 0.005 pp of it).
"Negligible": that interval also lies inside the study's equivalence margin ({margins_in_words()}, recorded
when the runs are planned; the report says when `plot.py --margin` set it after the runs, and states it
beside the reference's error rate). `equivalent`: no difference found, and the same interval lies inside the
margin (two one-sided t-tests at its level). `inconclusive`: neither; the interval
says what it excludes, and the report gives the smallest effect the study could have detected (80% power
at the observed spread) and about how many seeds would resolve the observed difference; it is not
evidence of no effect. Each comparison says in how many seeds the config did better and worse, and its
worst seed. The exact sign-flip test across seeds (Holm over the same family) checks every
better/worse without the normal model: `confirmed`; {DAGGER} marks weak evidence, a verdict it could have
confirmed at that seed count and did not; with too few seeds to confirm anything (its smallest p is 2/2^n,
so 5 seeds confirm nothing) the words say "t-test only". Where every seed gives the
same difference the t-test is at its limit and the sign-flip p is the one to quote. Beside the interval
across seeds, a second interval treats the seeds and the test images both as random (crossed variance
components): "on new test digits too" only where it excludes 0.
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
    """One line per study, dataset and recipe, linking its section: its reference's test accuracy and each config's
    with its verdict's symbol (findings.cell), no winner crowned."""
    from findings import cell, view_evidence  # findings words with this module's words: imported when used

    study, rows, found = data["study"], data["rows"], data.get("comparisons", [])
    heading = data["view"].title
    link = f"**[{heading}](#{anchor(heading)})**"
    if not rows:
        return f"- **{heading}**: no finished runs."
    if not found:
        means = ", ".join(f"{row['name']} {pct(row['mean'])}" for row in focus_rows(study, rows, data["runs"]))
        return f"- {link}: no comparisons; mean test accuracy {means}."
    return f"- {link} ({family_words(found)}, margin {margin_words(found[0])}): {cell(view_evidence(data))}."


def family_words(found: list[stats.Comparison]) -> str:
    """The Holm family as the report states it: the comparisons a test could be run for, of how many."""
    tested = sum(c.p_paired is not None for c in found)
    if tested == len(found):
        return f"Holm over this study's {plural(tested, 'comparison')}"
    if not tested:
        return (f"no test for any of its {plural(len(found), 'comparison')}: each needs {stats.MIN_PAIRED_SEEDS} "
                "paired seeds, so no Holm family")
    return (f"Holm over the {plural(tested, 'comparison')} of its {len(found)} with {stats.MIN_PAIRED_SEEDS} or "
            "more paired seeds")


def code_line(runs: list[dict]) -> str:
    """Which code trained the study's runs: the digests of the numeric code as a whole (analysis.code_name), with run
    counts."""
    counts: dict[str, int] = {}
    for r in runs:
        counts[code_name(r)] = counts.get(code_name(r), 0) + 1
    if len(counts) == 1:
        return f"Code digest of every run: `{next(iter(counts))}`."
    listed = ", ".join(f"`{code}` ({plural(n, 'run')})" for code, n in sorted(counts.items()))
    return f"Runs of {len(counts)} code versions, labelled by code digest where a config repeats: {listed}."


def study_section(data: dict, resultdir: Path, evidence=None) -> list[str]:
    """A study's section: what it found in plain words (findings.py, from `evidence`: a findings.Evidence of every
    view the report holds) and its figure, then the table of configs; below them how it trained and what else was
    measured. Its tests and p-values are in the report's closing section (method_section)."""
    from findings import Evidence, found_lines  # findings words with this module's words: imported when used

    study, view, runs, rows = data["study"], data["view"], data["runs"], data["rows"]
    name = view.name
    lines = [f"## {view.title}", ""]
    if not runs:
        return lines + [f"No finished runs ({len(data['partial'])} partial).", ""]
    if evidence is not None:  # the study on this dataset under every recipe the report holds: quick against full
        lines += found_lines(Evidence(evidence.of(study, dataset=view.dataset)), study)
    for figure in (f"compare_{name}.png", f"lr_sweep_{name}.png",
                   f"quick_vs_full_{name.removesuffix('-full').removesuffix('-quick')}.png"):
        lines += figure_lines(resultdir, figure)
    found = data.get("comparisons", [])
    kind, focus = traits(study), focus_rows(study, rows, runs)
    if rows:
        lines += table(rows, found) + [""]
    seeds = sorted({r["seed"] for r in runs})
    recipe = recipe_summary([r["config"] for r in runs], view.recipe_words)
    lines += [f"Trained with {recipe}; seeds {', '.join(map(str, seeds))}; {plural(len(runs), 'finished run')}.", "",
              code_line(runs), ""]
    if data.get("latest_only"):
        lines += [f"Configs of the latest invocation: `{data['manifest'].get('command', '?')}`.", ""]
    if rows:
        if kind.paper:
            lines += paper_lines(kind.paper, rows)
        if kind.published:
            lines += published_lines(kind.published, rows, view.dataset)
        if kind.best_rates:
            lines += sweep_lines(runs)
        lines += ranking_lines(focus, found)
        lines += ["Also measured (descriptive; every test and p-value: [How the verdicts were computed]"
                  f"(#{anchor(METHOD_HEADING)})):", ""]
        if kind.growth:
            lines += growth_lines(study, focus)
        lines += convergence_lines(focus)
        if data.get("scalars") is not None and kind.gradients:
            lines += gradient_lines(focus, data["scalars"], {c.config: c.reference for c in found})
        lines += best_run_lines(best_run(focus)) + [""]
    for figure in (f"grad_norms_{name}.png", f"confusion_{name}.png", f"misclassified_{name}.png"):
        lines += figure_lines(resultdir, figure)
    return lines + diverged_lines(runs) + not_learned_lines(runs) + [""]


def figure_lines(resultdir: Path, figure: str) -> list[str]:
    return [f"![{figure}]({figure})", ""] if (resultdir / figure).exists() else []


METHOD_HEADING = "How the verdicts were computed"


def method_section(loaded: dict[str, dict]) -> list[str]:
    """The report's closing section: the method in words, then every study's comparisons with all their p-values."""
    lines = [f"## {METHOD_HEADING}", "", METHOD.replace("\n", " "), ""]
    for data in loaded.values():
        found = data.get("comparisons", [])
        if found:
            lines += [f"### {data['view'].title}: every comparison", "",
                      *comparison_lines(data["view"].name, found, data.get(
                          "margin_set", "declared for the study and recipe before any run")), ""]
    return lines


def verdict_words(found: list[stats.Comparison]) -> str:
    """A study's verdicts in a few words, each with its size, every config named: 'sigmoid worse by 1.02 pp (0.80
    to 1.24)†; elu, gelu equivalent (each within ±0.14 pp, margin ±0.5 pp); tanh inconclusive, within ±0.62 pp'.
    Where the seeds are too few for the sign-flip test to confirm anything, the cell says so once."""
    parts = [f"{c.config} {size_words(c)}{DAGGER if t_only(c) else ''}"
             for verdict in ("worse", "better") for c in found if shown_verdict(c) == verdict]
    for verdict in ("equivalent", "inconclusive"):
        group = [c for c in found if shown_verdict(c) == verdict]
        tested = [c for c in group if c.sim_low is not None]
        if len(group) == 1 or (group and len(tested) < len(group)):
            parts += [f"{c.config} {size_words(c)}" for c in group]
        elif group:
            widest = bound(max(max(abs(c.sim_low), abs(c.sim_high)) for c in group))
            names = ", ".join(c.config for c in group)
            parts.append(f"{names} equivalent (each within ±{widest} pp, margin {margin_words(group[0])})"
                         if verdict == "equivalent" else f"{names} inconclusive, each within ±{widest} pp")
    few = sorted({len(c.seeds) for c in found if unconfirmable(c)})
    note = (f" (better/worse on the t-test only: {' or '.join(map(str, few))} seeds are too few for a sign-flip check)"
            if few else "")
    return "; ".join(parts) + note


def choices_footnote(dagger_seeds: set[int]) -> list[str]:
    """The dagger's meaning under README's table, where a cell carries one (the seed counts of those cells)."""
    if not dagger_seeds:
        return []
    never = sorted(n for n in dagger_seeds if 2 / 2 ** n >= stats.ALPHA)  # cells worded before the mark meant weak
    lines = [f"{DAGGER} Weak evidence: at its seed count the exact sign-flip test across seeds could have confirmed "
             f"the verdict without the t-test's normal model, and did not (its smallest p is 2/2^n: "
             f"{', '.join(f'{2 / 2 ** n:.3g} at {n} seeds' for n in sorted(dagger_seeds))}; REPORT.md gives its p)."]
    if never:
        lines.append(f"At {' or '.join(map(str, never))} seeds that test can confirm nothing, so a {DAGGER} there says "
                     f"only that the verdict rests on the t-test alone.")
    lines.append("A cell whose seeds are too few for that test says so in words. Sizes are simultaneous 95% intervals "
                 "over each study's comparisons; 'equivalent' and 'negligible': that interval lies inside the study's "
                 "equivalence margin.")
    return ["", " ".join(lines)]


def evidence_cell(view: dict) -> dict:
    """README's table cell of one view's evidence (findings.view_evidence): its study, dataset and recipe, its
    reference's accuracy and each config's with its verdict's symbol (findings.cell), its references, and the seed
    counts of its dagger verdicts."""
    from findings import cell, cell_references, compared, dagger  # imported when used: findings imports this module

    return {"study": view["study"], "dataset": view["dataset"], "recipe": view["recipe"], "words": cell(view),
            "reference": " / ".join(cell_references(view)),
            "dagger_seeds": sorted({e["comparison"]["seeds"] or e["seeds"] for e in compared(view) if dagger(e)})}


def question_views(views: list[dict]) -> list[dict]:
    """The views that fill a cell of README's table: a study that answers a question, with comparisons."""
    return [v for v in views if traits(v["study"]).question and any(e.get("comparison") for e in v["configs"])]


def choice_cells(loaded: dict[str, dict]) -> list[dict]:
    """README's table's cells of the loaded views, one per study that answers a question and has comparisons."""
    from findings import view_evidence

    return [evidence_cell(v) for v in question_views([view_evidence(d) for d in loaded.values() if d["rows"]])]


def render_choices(cells: list[dict], every_question: bool = False) -> list[str]:
    """README's 'what each choice does': a row per study that answers a question, a column per dataset and
    recipe, each cell the study's verdicts in a few words, computed from the comparisons, never typed.

    `every_question` (README's table): every such study and every dataset and recipe, studies.unrun_words where no
    runs are; else (REPORT.md's) only the studies, datasets and recipes the cells hold.
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
        row = [by_key[(study, *column)]["words"] if (study, *column) in by_key else unrun_words(study, column[1])
               for column in columns]
        lines.append(f"| {traits(study).question} (`{study}`, against {refs}) | " + " | ".join(row) + " |")
    return lines + ["", *legend_lines()]


def legend_lines() -> list[str]:
    from findings import legend

    return [f"- {line}" for line in legend()]


def part_views(path: Path) -> list[dict]:
    """The evidence views of a results folder's CHOICES.json (none in a file from before plot.py wrote evidence)."""
    from findings import EVIDENCE_KEY

    return json.loads(path.read_text()).get(EVIDENCE_KEY, {}).get("views", [])


def compose_choices(paths: list[Path]) -> list[str]:
    """README's table from the evidence in the CHOICES.json of several results folders (each made by plot.py from
    its own logs); a cell that two of them fill is an error, as the table could show only one."""
    cells, source = [], {}
    for path in paths:
        for view in question_views(part_views(path)):
            key = (view["study"], view["dataset"], view["recipe"])
            if key in source:
                raise ValueError(f"{path} and {source[key]} both hold {view['study']} on {view['dataset']}, "
                                 f"recipe {view['recipe']}")
            source[key] = path
            cells.append(evidence_cell(view))
    return render_choices(cells, every_question=True)


def write_choices(loaded: dict[str, dict], resultdir: Path) -> list[Path]:
    """resultdir/CHOICES.md, the 'what each choice does' table alone as README.md holds it (where a study answers a
    question), and CHOICES.json: its cells and the evidence of every view (findings.view_evidence), from which
    docs/results/table.py composes README's table and findings out of several results folders."""
    from findings import EVIDENCE_KEY, view_evidence

    views = [view_evidence(d) for d in loaded.values() if d["rows"]]
    if not views:
        return []
    cells = [evidence_cell(v) for v in question_views(views)]
    texts = {resultdir / "CHOICES.md": "\n".join(render_choices(cells, every_question=True)) + "\n"} if cells else {}
    texts[resultdir / "CHOICES.json"] = json.dumps({"cells": cells, EVIDENCE_KEY: {"source": "plot.py", "views": views}},
                                                   indent=1) + "\n"
    for path, text in texts.items():
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    return list(texts)


def counterparts(resultdir: Path, views: list[dict]) -> list[dict]:
    """The evidence of the results folders beside `resultdir` (docs/results' parts) of the studies and datasets the
    report holds under a recipe it does not: a quick part's findings then say how its gaps end at convergence."""
    own = {(v["study"], v["dataset"]) for v in views}
    mine = {(v["study"], v["dataset"], v["recipe"]) for v in views}
    folder = resultdir.resolve()
    return [v for path in sorted(folder.parent.glob("*/CHOICES.json")) if path.parent != folder
            for v in sibling_views(path) if (v["study"], v["dataset"]) in own
            and (v["study"], v["dataset"], v["recipe"]) not in mine]


def sibling_views(path: Path) -> list[dict]:
    """A neighbouring folder's evidence views, or none where its CHOICES.json is unreadable or not plot.py's: a
    stranger's file beside the results folder must not stop the report."""
    try:
        views = part_views(path)
    except (OSError, ValueError, AttributeError):  # unreadable, not JSON, not an object
        return []
    keys = {"study", "dataset", "recipe", "configs"}
    return [v for v in views if isinstance(v, dict) and keys <= v.keys()] if isinstance(views, list) else []


def write_report(logdir: Path, loaded: dict[str, dict], resultdir: Path) -> Path:
    """REPORT.md: the headlines, then a section per study opening with its finding (beside the same study under the
    other recipe in the folders next to `resultdir`, where there is one: counterparts), then how the verdicts were
    computed, with every p-value."""
    from findings import Evidence, view_evidence

    views = [view_evidence(d) for d in loaded.values() if d["rows"]]
    evidence = Evidence(views + counterparts(resultdir, views))
    n_runs = sum(len(d["runs"]) for d in loaded.values())
    n_partial = sum(len(d["partial"]) for d in loaded.values())
    lines = ["# Report", "",
             f"Computed by plot.py from the runs under `{logdir}`: {plural(n_runs, 'finished run')} in "
             f"{len(loaded)} stud{'y' if len(loaded) == 1 else 'ies'} (a study: one dataset, one recipe); "
             f"{plural(n_partial, 'partial run')} (no readable result.json) left out. Each study's section opens "
             f"with what it found; the method and every p-value close the report ([{METHOD_HEADING}]"
             f"(#{anchor(METHOD_HEADING)})).", "",
             "## Headlines", "", *(headline(data) for data in loaded.values()), "", *legend_lines(), ""]
    for data in loaded.values():
        lines += study_section(data, resultdir, evidence)
    lines += method_section(loaded)
    path = resultdir / "REPORT.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines).rstrip() + "\n")
    return path
