"""Logs -> runs, per-config rows, paired comparisons and REPORT.md's words; every number computed from the logs."""
from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import stats
from studies import best_rates, recipe_summary, reference_map
from utils import atomic_path, load_predictions, read_json

TARGET_VAL_ACC = 0.98  # "epochs to reach 98% val accuracy"
COLLAPSE_FACTOR = 10  # early-layer gradients "collapse": first/last-layer ratio this many times below the reference's
GRAD_STUDIES = ("activation", "depth")  # studies whose figures and findings include per-layer gradient norms
GROWTH_STUDIES = ("depth", "width")  # studies that vary a size: their findings list accuracy by size
MANIFEST = "study.json"  # written by run.py: the configs of a study's latest invocation, and references
CSV_COLUMNS = ["study", "config", "name", "seed", "tag", "step", "epoch", "value"]
COMPARISON_COLUMNS = ["study", "config", "reference", "seeds", "mean_diff", "ci_low", "ci_high", "p_paired",
                      "p_mcnemar", "p_holm", "verdict"]
PROG = "plot.py"


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


# ---- loading -------------------------------------------------------------------------------------

def run_dirs(study_dir: Path) -> list[Path]:
    return sorted(p for p in study_dir.glob("*/seed*") if p.is_dir() and re.fullmatch(r"seed\d+", p.name))


def find_studies(logdir: Path) -> list[str]:
    """Directories of logdir holding at least one <config>/seed<k>/ run directory."""
    if not logdir.is_dir():
        return []
    return sorted(d.name for d in logdir.iterdir() if d.is_dir() and run_dirs(d))


def read_manifest(study_dir: Path) -> dict | None:
    """run.py's study.json, or None (logs written before it existed, or a damaged file)."""
    try:
        manifest = read_json(study_dir / MANIFEST)
        return manifest if isinstance(manifest.get("configs"), dict) else None
    except (OSError, ValueError, AttributeError):
        return None


def valid_result(r: object) -> bool:
    """A result.json whose fields the report uses are there and of the right kind."""
    try:
        ok = r["status"] == "ok"
        return (isinstance(r["name"], str) and isinstance(r["seed"], int) and isinstance(r["config"], dict)
                and isinstance(r["history"], list) and (not ok or isinstance(r["test_acc"], float)))
    except (KeyError, TypeError):
        return False


def load_runs(study_dir: Path, all_runs: bool = False) -> tuple[list[dict], list[Path]]:
    """(finished results of the study's latest invocation, or of every config with `all_runs`; partial runs).

    Each result gets `run_dir`, `config_dir` and `label` (its name, or its directory where two
    configs of the same name are shown together). A damaged result.json counts as partial.
    """
    manifest = None if all_runs else read_manifest(study_dir)
    wanted = set(manifest["configs"].values()) if manifest else None
    runs, partial = [], []
    for d in run_dirs(study_dir):
        if wanted is not None and d.parent.name not in wanted:
            continue
        try:
            r = read_json(d / "result.json")
        except (OSError, ValueError):  # absent or half-written: the run did not finish
            r = None
        if valid_result(r):
            runs.append({**r, "run_dir": d, "config_dir": d.parent.name})
        else:
            partial.append(d)
    names: dict[str, set] = {}
    for r in runs:
        names.setdefault(r["name"], set()).add(r["config_dir"])
    for r in runs:
        r["label"] = r["name"] if len(names[r["name"]]) == 1 else r["config_dir"]
    return runs, partial


def read_scalars(run_dir: Path) -> pd.DataFrame:
    """Every scalar of one run's event files as (tag, step, value) rows; none, with a warning, if unreadable."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    try:
        ea = EventAccumulator(str(run_dir), size_guidance={"scalars": 0}).Reload()  # 0: keep every event
        rows = [(tag, e.step, e.value) for tag in ea.Tags()["scalars"] for e in ea.Scalars(tag)]
    except Exception as e:  # a damaged event file: the rest of the report still stands
        warn(f"{run_dir}: unreadable event file, its curves are left out ({type(e).__name__})")
        rows = []
    return pd.DataFrame(rows, columns=["tag", "step", "value"])


def epochs_of(run: dict, frame: pd.DataFrame) -> pd.Series:
    """x in epochs for a run's scalars: every tag is logged against the step (older logs: per-epoch tags at the epoch)."""
    if run.get("steps_per_epoch"):
        return frame["step"] / run["steps_per_epoch"]
    n_steps = (frame["tag"] == "train/loss").sum()
    per_epoch = n_steps / run["epochs"] if run["epochs"] else 1
    return frame["step"].where(frame["tag"] != "train/loss", frame["step"] / per_epoch).astype(float)


def study_scalars(study: str, runs: list[dict]) -> pd.DataFrame:
    """The tidy table of a study: one row per (run, tag, step)."""
    frames = []
    for r in runs:
        frame = read_scalars(r["run_dir"])
        frames.append(frame.assign(study=study, config=r["config_dir"], name=r["label"], seed=r["seed"],
                                   epoch=epochs_of(r, frame)))
    if not frames:
        return pd.DataFrame(columns=CSV_COLUMNS)
    return pd.concat(frames, ignore_index=True)[CSV_COLUMNS]


# ---- rows ----------------------------------------------------------------------------------------

def natural_key(name: str) -> list:
    """conv_w8 before conv_w16, adam_lr0.000316 before adam_lr0.001: numbers compare as numbers."""
    parts = re.split(r"(\d+(?:\.\d+)?(?:e-?\d+)?)", name)
    return [(0, float(p), "") if i % 2 else (1, 0.0, p) for i, p in enumerate(parts)]


def epochs_to_target(run: dict) -> float | None:
    """The first evaluation, in epochs, whose val accuracy reaches TARGET_VAL_ACC (val curve, else per epoch)."""
    curve = run.get("val_curve") or [{"epoch": h["epoch"], "val_acc": h["val_acc"]} for h in run["history"]]
    return next((p["epoch"] for p in curve if p["val_acc"] >= TARGET_VAL_ACC), None)


def config_rows(runs: list[dict]) -> list[dict]:
    """Per config with a non-diverged finished run: its numbers over seeds; best mean test accuracy first."""
    by_label: dict[str, list[dict]] = {}
    for r in sorted(runs, key=lambda r: (natural_key(r["label"]), r["seed"])):
        by_label.setdefault(r["label"], []).append(r)
    rows = []
    for label, group in by_label.items():
        ok = [r for r in group if r["status"] == "ok"]
        if not ok:
            continue
        acc = [r["test_acc"] for r in ok]
        rows.append({"name": label, "runs": ok, "config": ok[0]["config"], "n_params": ok[0]["n_params"],
                     "acc": acc, "mean": statistics.mean(acc), "std": statistics.stdev(acc) if len(acc) > 1 else None,
                     "best_val": statistics.mean(r["best_val_acc"] for r in ok),
                     "to_target": [epochs_to_target(r) for r in ok],
                     "wall": statistics.mean(r["wall_time_s"] for r in ok)})
    return sorted(rows, key=lambda row: -row["mean"])  # stable: ties keep the natural order


def focus_rows(study: str, rows: list[dict], runs: list[dict]) -> list[dict]:
    """The configs a study's figures and tests compare: in a rate sweep, each optimizer at its best rate on val."""
    if study != "optim_sweep":
        return rows
    best = {(b["optimizer"], b["lr"]) for b in best_rates(runs)}
    return [row for row in rows if (row["config"]["optimizer"], row["config"]["lr"]) in best]


def best_run(rows: list[dict]) -> dict | None:
    """The finished run with the highest best val accuracy (chosen on val, not on test)."""
    runs = [r for row in rows for r in row["runs"]]
    return max(runs, key=lambda r: (r["best_val_acc"], r["test_acc"]), default=None)


# ---- comparisons ---------------------------------------------------------------------------------

def references(study: str, rows: list[dict], manifest: dict | None) -> dict[str, str]:
    """{config label: its reference's label} among the rows: run.py's record, else the study's built-in choice."""
    labels = {row["name"] for row in rows}
    if study == "optim_sweep":  # each optimizer at its best rate against adam at its best rate
        adam = next((row["name"] for row in rows if row["config"]["optimizer"] == "adam"), None)
        return {row["name"]: adam for row in rows if adam and row["name"] != adam}
    if manifest and manifest.get("references"):
        pairs = manifest["references"]
    else:
        pairs = reference_map(study, {row["name"]: row["config"]["model"] for row in rows})
    return {c: ref for c, ref in pairs.items() if c in labels and ref in labels}


def test_labels() -> np.ndarray:
    """The 10,000 test labels, in the order every run's predictions follow."""
    from dataloader import load_mnist

    return load_mnist("cpu", subset=1).test_y.numpy()


def predictions_of(row: dict) -> dict[int, np.ndarray]:
    """{seed: predicted test labels} for the runs of a config that kept them."""
    out = {}
    for r in row["runs"]:
        if r.get("predictions"):
            try:
                out[r["seed"]] = load_predictions(r["run_dir"] / r["predictions"])
            except (OSError, ValueError) as e:
                warn(f"{r['run_dir']}: unreadable predictions, McNemar's test skips this seed ({type(e).__name__})")
    return out


def comparisons(study: str, rows: list[dict], manifest: dict | None) -> list[stats.Comparison]:
    """Each config against its reference, paired by seed, Holm-adjusted over the study: stats.decide's verdicts."""
    pairs = references(study, rows, manifest)
    if not pairs:
        return []
    by_name = {row["name"]: row for row in rows}
    preds = {name: predictions_of(by_name[name]) for name in {*pairs, *pairs.values()}}
    labels = test_labels() if any(preds.values()) else None
    found = []
    for name in sorted(pairs, key=lambda n: [row["name"] for row in rows].index(n)):
        ref = pairs[name]
        acc = {r["seed"]: r["test_acc"] for r in by_name[name]["runs"]}
        ref_acc = {r["seed"]: r["test_acc"] for r in by_name[ref]["runs"]}
        found.append(stats.compare(name, ref, acc, ref_acc, preds[name], preds[ref], labels))
    return stats.decide(found)


def write_comparisons(path: Path, study: str, found: list[stats.Comparison]) -> Path:
    """result/<study>_comparisons.csv: one row per comparison, accuracy differences as fractions."""
    rows = [{"study": study, "config": c.config, "reference": c.reference, "seeds": len(c.seeds),
             "mean_diff": c.mean_diff, "ci_low": c.ci_low, "ci_high": c.ci_high, "p_paired": c.p_paired,
             "p_mcnemar": c.p_mcnemar, "p_holm": c.p_holm, "verdict": c.verdict} for c in found]
    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=COMPARISON_COLUMNS).to_csv(tmp, index=False)
    return path


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
    lines = ["| rank | config | parameters | test accuracy (mean ± std) | against its reference "
             f"| best val accuracy (mean) | epochs to {100 * TARGET_VAL_ACC:.0f}% val accuracy | wall time (mean) |",
             "|---:|---|---:|---:|---|---:|---:|---:|"]
    for i, row in enumerate(rows, 1):
        lines.append(f"| {i} | {row['name']} | {row['n_params']:,} | {acc_cell(row)} "
                     f"| {verdicts.get(row['name'], 'reference' if any(c.reference == row['name'] for c in found) else '-')} "
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


def comparison_lines(found: list[stats.Comparison]) -> list[str]:
    if not found:
        return []
    counts = {v: sum(c.verdict == v for c in found) for v in ("better", "worse", "tied")}
    lines = [f"- Comparisons with the reference, paired by seed ({counts['better']} better, {counts['worse']} worse, "
             f"{counts['tied']} tied; Holm-Bonferroni over this study's {plural(len(found), 'comparison')}; "
             f"`{{study}}_comparisons.csv` has every p-value):"]
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


def layer_names(tags) -> list[str]:
    """Layer names of grad_norm/<layer> tags, input side first: every network here has its convs before its linears."""
    names = {t.split("/", 1)[1] for t in tags if t.startswith("grad_norm/")}
    kind_order = {"conv": 0, "fc": 1}

    def key(name: str):
        kind, number = re.fullmatch(r"(\D+)(\d*)", name).groups()
        return kind_order.get(kind, 2), kind, int(number or 0)
    return sorted(names, key=key)


def grad_ratios(scalars: pd.DataFrame, row: dict) -> list[float]:
    """Per run of a config: first layer's over last layer's gradient norm, each averaged over the epochs."""
    ratios = []
    for r in row["runs"]:
        mine = scalars[(scalars["name"] == row["name"]) & (scalars["seed"] == r["seed"])]
        layers = layer_names(mine["tag"].unique())
        if len(layers) < 2:
            continue
        first, last = (mine.loc[mine["tag"] == f"grad_norm/{layer}", "value"].mean() for layer in (layers[0], layers[-1]))
        ratios.append(first / last)
    return ratios


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


def study_section(study: str, data: dict, resultdir: Path) -> list[str]:
    runs, rows = data["runs"], data["rows"]
    lines = [f"## {study}", ""]
    if not runs:
        return lines + [f"No finished runs ({len(data['partial'])} partial).", ""]
    seeds = sorted({r["seed"] for r in runs})
    lines += [f"Recipe: {recipe_summary([r['config'] for r in runs])}; seeds {', '.join(map(str, seeds))}; "
              f"{plural(len(runs), 'finished run')}.", ""]
    if data.get("manifest"):
        lines += [f"Configs of the latest invocation: `{data['manifest'].get('command', '?')}`.", ""]
    for name in (f"compare_{study}.png", f"grad_norms_{study}.png", f"confusion_{study}.png",
                 f"misclassified_{study}.png"):
        if (resultdir / name).exists():
            lines += [f"![{name}]({name})", ""]
    if rows:
        focus = focus_rows(study, rows, runs)
        found = data.get("comparisons", [])
        lines += table(rows, found) + [""]
        if study == "optim_sweep":
            lines += sweep_lines(runs)
        ranked = " > ".join(f"{row['name']} ({pct(row['mean'])})" for row in focus)
        lines += [f"Ranking by mean test accuracy{' (best rates)' if study == 'optim_sweep' else ''}: {ranked}.",
                  "", "Findings:", ""]
        lines += comparison_lines(found)
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
             f"(no readable result.json) left out.", "", METHOD.replace("\n", " "), ""]
    for study, data in loaded.items():
        lines += study_section(study, data, resultdir)
    path = resultdir / "REPORT.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines).rstrip() + "\n")
    return path


def load_study(logdir: Path, study: str, with_scalars: bool, all_runs: bool = False) -> dict:
    runs, partial = load_runs(logdir / study, all_runs)
    rows = config_rows(runs)
    manifest = None if all_runs else read_manifest(logdir / study)
    return {"runs": runs, "partial": partial, "rows": rows, "manifest": manifest,
            "comparisons": comparisons(study, focus_rows(study, rows, runs), manifest),
            "scalars": study_scalars(study, runs) if with_scalars else None}
