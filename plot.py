"""Logs -> a tidy CSV per study, comparison figures and REPORT.md, every number computed from the logs.

    python plot.py                      # every study under logs/
    python plot.py --study activation   # that study's CSV and figures; REPORT.md still covers every study
"""
from __future__ import annotations

import argparse
import math
import re
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from studies import best_rates, recipe_summary as recipe  # noqa: E402
from utils import Parser, check_writable  # noqa: E402
from utils import UsageError, atomic_path, read_json  # noqa: E402

PROG = "plot.py"
TARGET_VAL_ACC = 0.98  # "epochs to reach 98% val accuracy"
ALPHA = 0.05  # significance level of the t-tests
COLLAPSE_FACTOR = 10  # early-layer gradients "collapse": first/last-layer ratio this many times below the reference's
REFERENCES = {"activation": "relu"}  # t-tests against this config; in other studies against the top-ranked one
GRAD_STUDIES = ("activation", "depth")  # studies whose figures and findings include per-layer gradient norms
GROWTH_STUDIES = ("depth", "width")  # "did more help": each size against the next smaller one of its family
N_MISCLASSIFIED = 32
CSV_COLUMNS = ["study", "name", "seed", "tag", "step", "value"]


# ---- loading -------------------------------------------------------------------------------------

def run_dirs(study_dir: Path) -> list[Path]:
    return sorted(p for p in study_dir.glob("*/seed*") if p.is_dir() and re.fullmatch(r"seed\d+", p.name))


def find_studies(logdir: Path) -> list[str]:
    """Directories of logdir holding at least one <config>/seed<k>/ run directory."""
    if not logdir.is_dir():
        return []
    return sorted(d.name for d in logdir.iterdir() if d.is_dir() and run_dirs(d))


def load_runs(study_dir: Path) -> tuple[list[dict], list[Path]]:
    """(finished results, each with its run_dir added; run directories without a readable result.json)."""
    runs, partial = [], []
    for d in run_dirs(study_dir):
        try:
            runs.append({**read_json(d / "result.json"), "run_dir": d})
        except (OSError, ValueError):  # absent or half-written: the run did not finish
            partial.append(d)
    return runs, partial


def read_scalars(run_dir: Path) -> pd.DataFrame:
    """Every scalar of one run's event file as (tag, step, value) rows."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(run_dir), size_guidance={"scalars": 0}).Reload()  # 0: keep every event
    rows = [(tag, e.step, e.value) for tag in ea.Tags()["scalars"] for e in ea.Scalars(tag)]
    return pd.DataFrame(rows, columns=["tag", "step", "value"])


def study_scalars(study: str, runs: list[dict]) -> pd.DataFrame:
    """The tidy table of a study: one row per (run, tag, step)."""
    frames = [read_scalars(r["run_dir"]).assign(study=study, name=r["name"], seed=r["seed"]) for r in runs]
    if not frames:
        return pd.DataFrame(columns=CSV_COLUMNS)
    return pd.concat(frames, ignore_index=True)[CSV_COLUMNS]


# ---- statistics ----------------------------------------------------------------------------------

def welch_t_test(a: list[float], b: list[float]) -> tuple[float, float]:
    """Welch's unequal-variance t-test: (t, two-sided p); (nan, nan) when both samples have zero variance."""
    from scipy.special import stdtr  # the t distribution's CDF; scipy.stats takes seconds to import

    if len(a) < 2 or len(b) < 2:
        raise ValueError("Welch's t-test needs at least 2 values per sample")
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:
        return math.nan, math.nan
    t = (statistics.mean(a) - statistics.mean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))  # Welch-Satterthwaite
    return t, float(2 * stdtr(df, -abs(t)))


def natural_key(name: str) -> list:
    """conv_w8 before conv_w16, adam_lr0.000316 before adam_lr0.001: numbers compare as numbers."""
    parts = re.split(r"(\d+(?:\.\d+)?(?:e-?\d+)?)", name)
    return [(0, float(p), "") if i % 2 else (1, 0.0, p) for i, p in enumerate(parts)]


def epochs_to_target(history: list[dict]) -> int | None:
    """The first epoch whose val accuracy reaches TARGET_VAL_ACC, or None."""
    return next((h["epoch"] for h in history if h["val_acc"] >= TARGET_VAL_ACC), None)


def config_rows(runs: list[dict]) -> list[dict]:
    """Per config with a non-diverged finished run: its numbers over seeds; best mean test accuracy first."""
    by_name: dict[str, list[dict]] = {}
    for r in sorted(runs, key=lambda r: (natural_key(r["name"]), r["seed"])):
        by_name.setdefault(r["name"], []).append(r)
    rows = []
    for name, group in by_name.items():
        ok = [r for r in group if r["status"] == "ok"]
        if not ok:
            continue
        acc = [r["test_acc"] for r in ok]
        rows.append({"name": name, "runs": ok, "config": ok[0]["config"], "n_params": ok[0]["n_params"],
                     "acc": acc, "mean": statistics.mean(acc), "std": statistics.stdev(acc) if len(acc) > 1 else None,
                     "best_val": statistics.mean(r["best_val_acc"] for r in ok),
                     "to_target": [epochs_to_target(r["history"]) for r in ok],
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


# ---- formatting ----------------------------------------------------------------------------------

def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def acc_cell(row: dict) -> str:
    if row["std"] is None:
        return f"{pct(row['mean'])} (1 seed)"
    return f"{100 * row['mean']:.2f} ± {100 * row['std']:.2f}% ({len(row['acc'])} seeds)"


def target_cell(epochs: list[int | None]) -> str:
    reached = [e for e in epochs if e is not None]
    if not reached:
        return "not reached"
    mean = f"{statistics.mean(reached):.1f}"
    return mean if len(reached) == len(epochs) else f"{mean} ({len(reached)} of {len(epochs)} seeds)"


def fmt_p(p: float) -> str:
    return f"p = {p:.2g}" if p < 0.001 else f"p = {p:.3f}"


def compare_line(a: dict, b: dict, what: str = "test accuracy") -> tuple[str, bool | None]:
    """One comparison of two configs' test accuracies: (the sentence, significant? or None when untestable)."""
    head = (f"{a['name']} vs {b['name']}: {what} {pct(a['mean'])} vs {pct(b['mean'])} "
            f"({100 * (a['mean'] - b['mean']):+.2f} pp)")
    if min(len(a["acc"]), len(b["acc"])) < 2:
        return f"{head}; a single seed supports no test.", None
    t, p = welch_t_test(a["acc"], b["acc"])
    if math.isnan(p):
        return f"{head}; no variance across seeds in either config: the t-test is undefined.", None
    verdict = f"significant at p < {ALPHA}" if p < ALPHA else f"not significant at p < {ALPHA}"
    return f"{head}; Welch's t = {t:.2f}, {fmt_p(p)}: {verdict}.", p < ALPHA


# ---- figures -------------------------------------------------------------------------------------

def colors_for(names: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def save(fig, path: Path) -> Path:
    """Save a figure atomically: readers never see half a PNG."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def band(ax, x, mean, std, color, label, dodge: float = 0.0) -> None:
    """A mean line with a band of plus or minus one std; a single point gets an error bar instead."""
    x = np.asarray(x, dtype=float) + dodge
    std = np.nan_to_num(np.asarray(std, dtype=float))
    ax.plot(x, mean, color=color, label=label, marker="o" if len(x) <= 20 else None, markersize=4)
    if len(x) == 1:
        ax.errorbar(x, mean, yerr=std, color=color, capsize=3)
    else:
        ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)


def smoothed(values: pd.Series) -> pd.Series:
    """Debiased exponential moving average over about 2.5% of the run (at least 4 steps), like TensorBoard's."""
    span = max(4, len(values) // 40)
    return values.ewm(span=span, adjust=True).mean()


def run_label(row: dict) -> str:
    n = len(row["runs"])
    return f"{row['name']} ({n} seed{'s' if n > 1 else ''})"


def plot_train_loss(ax, scalars: pd.DataFrame, rows: list[dict], colors) -> None:
    for row in rows:
        curves = []
        for r in row["runs"]:
            s = scalars[(scalars["name"] == row["name"]) & (scalars["seed"] == r["seed"])
                        & (scalars["tag"] == "train/loss")].sort_values("step")
            steps_per_epoch = len(s) / r["epochs"]  # x in epochs: batch sizes with different step counts align
            curves.append(pd.Series(smoothed(s["value"]).to_numpy(), index=s["step"].to_numpy() / steps_per_epoch))
        if not curves:
            continue
        frame = pd.concat(curves, axis=1)
        band(ax, frame.index, frame.mean(axis=1), frame.std(axis=1), colors[row["name"]], run_label(row))
    ax.set(title="train loss per step (EMA-smoothed), mean ± std", xlabel="epoch", ylabel="cross-entropy")


def plot_epoch_tag(ax, scalars: pd.DataFrame, rows: list[dict], colors, tag: str, title: str,
                   percent: bool = False) -> None:
    n_epochs = max(r["epochs"] for row in rows for r in row["runs"])
    for i, row in enumerate(rows):
        s = scalars[(scalars["name"] == row["name"]) & (scalars["tag"] == tag)]
        g = s.groupby("step")["value"]
        scale = 100 if percent else 1
        dodge = (i - (len(rows) - 1) / 2) * 0.03 if n_epochs == 1 else 0.0  # keep single points apart
        band(ax, g.mean().index, scale * g.mean(), scale * g.std(), colors[row["name"]], run_label(row), dodge)
    ax.set(title=title, xlabel="epoch", ylabel="accuracy (%)" if percent else "cross-entropy")
    epoch_axis(ax, n_epochs)


def epoch_axis(ax, n_epochs: int) -> None:
    """Whole epochs on the x axis; a single epoch centered rather than spread over fractional ticks."""
    ax.xaxis.get_major_locator().set_params(integer=True)
    if n_epochs == 1:
        ax.set_xlim(0.7, 1.3)
        ax.set_xticks([1])


def plot_bars(ax, rows: list[dict], colors, values, title: str, ylabel: str, zoom: bool) -> None:
    """Mean per config as a bar with a ± std error bar, each seed as a dot."""
    names = [row["name"] for row in rows]
    means = [statistics.mean(v) for v in values]
    stds = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
    x = np.arange(len(rows))
    ax.bar(x, means, yerr=stds, capsize=4, color=[colors[n] for n in names], alpha=0.85)
    for xi, v in zip(x, values):
        ax.scatter([xi] * len(v), v, color="black", s=10, zorder=3)
    ax.set_xticks(x, names, rotation=30 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center")
    low = math.floor(min(min(v) for v in values) - max(stds + [0.1]))
    if zoom and low >= 50:  # accuracies that cluster near the top: start the axis lower down so differences show
        ax.set_ylim(low, min(100, ax.get_ylim()[1]))
        title += f"\n(axis starts at {low}%)"
    ax.set(title=title, ylabel=ylabel)


def plot_lr_sweep(ax, runs: list[dict], colors: dict[str, tuple]) -> None:
    """Mean best val accuracy against learning rate, one line per optimizer; rates with a diverged seed marked x."""
    by_opt: dict[str, dict[float, list[dict]]] = {}
    for r in runs:
        by_opt.setdefault(r["config"]["optimizer"], {}).setdefault(r["config"]["lr"], []).append(r)
    for i, (opt, rates) in enumerate(sorted(by_opt.items())):
        color = colors.get(opt, plt.get_cmap("tab10")(i % 10))
        ok = sorted((lr, statistics.mean(r["best_val_acc"] for r in rs)) for lr, rs in rates.items()
                    if all(r["status"] == "ok" for r in rs))
        bad = sorted(lr for lr, rs in rates.items() if any(r["status"] != "ok" for r in rs))
        if ok:
            ax.plot([lr for lr, _ in ok], [100 * v for _, v in ok], marker="o", color=color, label=opt)
        if bad:
            ax.scatter(bad, [0] * len(bad), marker="x", color=color, label=f"{opt}: diverged (drawn at 0)")
    ax.set_xscale("log")
    ax.set(title="learning-rate sweep: best val accuracy (mean over seeds)", xlabel="learning rate",
           ylabel="val accuracy (%)")
    ax.legend(fontsize=7, ncol=2)


def plot_compare(study: str, runs: list[dict], rows: list[dict], scalars: pd.DataFrame, path: Path) -> Path:
    """Curves, test accuracy and wall time of a study's configs, one color per config."""
    colors = colors_for([row["name"] for row in rows])
    sweep = study == "optim_sweep"
    fig = plt.figure(figsize=(17, 13 if sweep else 9), layout="constrained")
    grid = fig.add_gridspec(3 if sweep else 2, 3)
    axes = [fig.add_subplot(grid[i // 3, i % 3]) for i in range(6)]
    plot_train_loss(axes[0], scalars, rows, colors)
    plot_epoch_tag(axes[1], scalars, rows, colors, "val/loss", "val loss per epoch, mean ± std")
    plot_epoch_tag(axes[2], scalars, rows, colors, "val/acc", "val accuracy per epoch, mean ± std", percent=True)
    plot_bars(axes[3], rows, colors, [[100 * a for a in row["acc"]] for row in rows],
              "test accuracy, mean ± std (dots: seeds)", "accuracy (%)", zoom=True)
    plot_bars(axes[4], rows, colors, [[r["wall_time_s"] for r in row["runs"]] for row in rows],
              "wall time per run (dots: seeds)", "seconds", zoom=False)
    axes[5].axis("off")
    handles, labels = axes[0].get_legend_handles_labels()
    axes[5].legend(handles, labels, loc="center", title="config", ncol=2 if len(labels) > 12 else 1)
    if sweep:
        by_optimizer = {row["config"]["optimizer"]: colors[row["name"]] for row in rows}  # same color as its best rate
        plot_lr_sweep(fig.add_subplot(grid[2, :]), runs, by_optimizer)
    diverged = sorted({r["name"] for r in runs if r["status"] != "ok"}, key=natural_key)
    note = f"; diverged, not shown: {', '.join(diverged)}" if diverged else ""
    which = "each optimizer at its best rate on val" if sweep else f"{len(rows)} configs"
    fig.suptitle(f"study {study}: {which}{note}")
    return save(fig, path)


def plot_grad_norms(study: str, rows: list[dict], scalars: pd.DataFrame, path: Path) -> Path:
    """Per-layer gradient norms: each config's profile from input to output, and each layer over the epochs."""
    colors = colors_for([row["name"] for row in rows])
    n = len(rows) + 1
    ncols = min(n, 4)
    nrows = math.ceil(n / ncols)
    # one shared y axis: a layer whose gradients are 100x smaller than in another config must look it
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.3 * ncols, 3.6 * nrows), layout="constrained", squeeze=False,
                             sharey=True)
    axes = axes.ravel()
    profile = axes[0]
    for ax, row in zip(axes[1:], rows):
        mine = scalars[(scalars["name"] == row["name"]) & scalars["tag"].str.startswith("grad_norm/")]
        layers = layer_names(mine["tag"].unique())
        means = []
        for j, layer in enumerate(layers):
            g = mine[mine["tag"] == f"grad_norm/{layer}"].groupby("step")["value"].mean()
            ax.plot(g.index, g.to_numpy(), marker="o", markersize=4, label=layer,
                    color=plt.get_cmap("viridis")(j / max(len(layers) - 1, 1)))
            means.append(g.mean())
        profile.plot(range(1, len(layers) + 1), means, marker="o", color=colors[row["name"]], label=row["name"])
        ax.set_yscale("log")
        ax.set(title=f"{row['name']}: per layer", xlabel="epoch", ylabel="gradient L2 norm")
        epoch_axis(ax, max(r["epochs"] for r in row["runs"]))
        if layers:
            ax.legend(fontsize=7, title="layer (input first)", title_fontsize=7, ncol=2, framealpha=0.6)
        ax.yaxis.set_tick_params(labelleft=True)
    profile.set_yscale("log")
    profile.set(title="mean over training, by layer", xlabel="layer position (1 = input side)",
                ylabel="gradient L2 norm")
    profile.xaxis.get_major_locator().set_params(integer=True)
    profile.legend(fontsize=7)
    for ax in axes[n:]:
        ax.axis("off")
    fig.suptitle(f"study {study}: per-layer gradient norms (mean over each epoch and over seeds)")
    return save(fig, path)


def plot_confusion(study: str, run: dict, path: Path) -> Path:
    confusion = np.array(run["test_confusion"])
    fig, ax = plt.subplots(figsize=(6.5, 5.8), layout="constrained")
    # a power norm: the diagonal holds ~1000 per cell, the errors a few; both should be visible
    image = ax.imshow(confusion, cmap="Blues", norm=matplotlib.colors.PowerNorm(0.3))
    for (i, j), v in np.ndenumerate(confusion):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                color="white" if v > confusion.max() / 3 else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set(xlabel="predicted digit", ylabel="true digit",
           title=f"{study}: {run['name']} seed {run['seed']}, test accuracy {pct(run['test_acc'])}")
    fig.colorbar(image, ax=ax, label="test images")
    return save(fig, path)


def misclassified(run: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, true labels, predictions) of the first N_MISCLASSIFIED test errors of a run's saved model."""
    import torch

    from dataloader import MEAN, STD, load_mnist
    from evaluate import load_checkpoint

    model, _ = load_checkpoint(str(run["run_dir"] / "model.pt"), torch.device("cpu"))
    model.eval()
    data = load_mnist("cpu", subset=1)  # subset=1: only the test split is needed, skip normalizing 55,000 images
    x, y, preds, wrong = data.test_x, data.test_y, [], 0
    with torch.no_grad():
        for i in range(0, len(x), 500):  # stop once enough errors are found: a CPU pass over all 10,000 is slow
            preds.append(model(x[i:i + 500]).argmax(1))
            wrong += int((preds[-1] != y[i:i + 500]).sum())
            if wrong >= N_MISCLASSIFIED:
                break
    pred = torch.cat(preds)
    shown = (pred != y[:len(pred)]).nonzero().flatten()[:N_MISCLASSIFIED]
    images = (x[shown, 0] * STD + MEAN).clamp(0, 1)  # undo the normalization for display
    return images.numpy(), y[shown].numpy(), pred[shown].numpy()


def plot_misclassified(study: str, run: dict, path: Path) -> Path:
    images, true, pred = misclassified(run)
    confusion = np.array(run["test_confusion"])
    n_wrong = int(confusion.sum() - confusion.trace())
    ncols = 8
    nrows = max(1, math.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.5 * ncols, 1.75 * nrows + 0.5), layout="constrained",
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, t, p in zip(axes.ravel(), images, true, pred):
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"true {t}, pred {p}", fontsize=8, color="firebrick")
    fig.suptitle(f"{study}: {run['name']} seed {run['seed']}: the first {len(images)} of its {n_wrong} "
                 f"misclassified test digits")
    return save(fig, path)


# ---- report ----------------------------------------------------------------------------------------

def table(rows: list[dict]) -> list[str]:
    lines = ["| rank | config | parameters | test accuracy (mean ± std) | best val accuracy (mean) "
             f"| epochs to {100 * TARGET_VAL_ACC:.0f}% val accuracy | wall time (mean) |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for i, row in enumerate(rows, 1):
        lines.append(f"| {i} | {row['name']} | {row['n_params']:,} | {acc_cell(row)} | {pct(row['best_val'])} "
                     f"| {target_cell(row['to_target'])} | {row['wall']:.1f} s |")
    return lines


def diverged_lines(runs: list[dict]) -> list[str]:
    bad = sorted((r for r in runs if r["status"] != "ok"), key=lambda r: (natural_key(r["name"]), r["seed"]))
    if not bad:
        return ["Diverged runs: none."]
    lines = ["Diverged runs (no accuracy: left out of the numbers above, the ranking and the figures):", "",
             "| config | seed | status | at step | optimizer | lr |", "|---|---:|---|---:|---|---:|"]
    for r in bad:
        step = r.get("diverged_at_step")
        lines.append(f"| {r['name']} | {r['seed']} | {r['status']} | {step if step is not None else '-'} "
                     f"| {r['config']['optimizer']} | {r['config']['lr']:g} |")
    return lines


def significance_lines(study: str, rows: list[dict]) -> list[str]:
    """Each config against the reference (REFERENCES, else the top-ranked config), Welch's t-test on test accuracy."""
    ref = next((row for row in rows if row["name"] == REFERENCES.get(study)), rows[0])
    others = [row for row in rows if row is not ref]
    if not others:
        return []
    why = "the reference" if ref["name"] == REFERENCES.get(study) else "the top-ranked config"
    lines = [f"- Significance: Welch's t-test on test accuracy across seeds, each config against {ref['name']} "
             f"({why}):"]
    outcomes = []
    for row in others:
        text, significant = compare_line(row, ref)
        lines.append(f"  - {text}")
        outcomes.append(significant)
    tested = [s for s in outcomes if s is not None]
    if tested:
        lines.append(f"  - {sum(tested)} of {plural(len(tested), 'tested difference')} significant at p < {ALPHA} "
                     f"(not corrected for multiple comparisons).")
    return lines


def growth_lines(study: str, rows: list[dict]) -> list[str]:
    """Did more depth or width help: each size against the next smaller one of the same network family."""
    families: dict[str, list[dict]] = {}
    for row in rows:
        if study in row["config"]["model_args"]:
            families.setdefault(row["config"]["model"], []).append(row)
    lines = []
    for model, members in families.items():
        members = sorted(members, key=lambda row: row["config"]["model_args"][study])
        sizes = ", ".join(f"{row['name']} {pct(row['mean'])}" for row in members)
        best = max(members, key=lambda row: row["mean"])
        lines.append(f"- More {study} in {model}: mean test accuracy by {study}: {sizes}; highest at "
                     f"{study} {best['config']['model_args'][study]} ({best['name']}).")
        for smaller, larger in zip(members, members[1:]):
            text, _ = compare_line(larger, smaller)
            lines.append(f"  - {text}")
    return lines


def convergence_lines(rows: list[dict]) -> list[str]:
    target = f"{100 * TARGET_VAL_ACC:.0f}%"
    full = [row for row in rows if all(e is not None for e in row["to_target"])]
    lines = []
    if full:
        fastest = min(statistics.mean(row["to_target"]) for row in full)
        names = [row["name"] for row in full if statistics.mean(row["to_target"]) == fastest]
        missing = [row["name"] for row in rows if not any(row is f for f in full)]
        lines.append(f"- Convergence: fastest to {target} val accuracy: {', '.join(names)} (epoch {fastest:g}, "
                     f"mean over seeds); {len(full)} of {len(rows)} configs reached it in every seed"
                     + (f"; not in every seed: {', '.join(missing)}." if missing else "."))
    else:
        epochs = max(r["epochs"] for row in rows for r in row["runs"])
        lines.append(f"- Convergence: no config reached {target} val accuracy in every seed within {epochs} "
                     f"epoch{'s' if epochs > 1 else ''}.")
    first = {row["name"]: statistics.mean(r["history"][0]["val_acc"] for r in row["runs"]) for row in rows}
    hi, lo = max(first, key=first.get), min(first, key=first.get)
    if len(first) > 1:
        lines.append(f"- After epoch 1 (mean over seeds) val accuracy was highest for {hi} ({pct(first[hi])}) "
                     f"and lowest for {lo} ({pct(first[lo])}).")
    return lines


def gradient_lines(study: str, rows: list[dict], scalars: pd.DataFrame) -> list[str]:
    """First-to-last layer gradient-norm ratios: vanishing gradients show as a ratio far below the reference's."""
    ratios = {row["name"]: grad_ratios(scalars, row) for row in rows}
    ratios = {name: r for name, r in ratios.items() if r}
    if not ratios:
        return []
    layers = {name: layer_names(scalars.loc[scalars["name"] == name, "tag"].unique()) for name in ratios}
    listing = ", ".join(f"{name} {statistics.mean(r):.3g} ({layers[name][0]}/{layers[name][-1]})"
                        for name, r in ratios.items())
    lines = [f"- Gradient norms: first-layer over last-layer gradient L2 norm (each averaged over the epochs, "
             f"then over seeds): {listing}."]
    ref = REFERENCES.get(study)
    if ref in ratios:
        base = statistics.mean(ratios[ref])
        for name, r in ratios.items():
            if name == ref:
                continue
            factor = base / statistics.mean(r)
            test = ""
            if min(len(r), len(ratios[ref])) >= 2:
                t, p = welch_t_test(r, ratios[ref])
                if not math.isnan(p):
                    verdict = "significant" if p < ALPHA else "not significant"
                    test = f"; Welch's t on the ratio {t:.2f}, {fmt_p(p)} ({verdict} at p < {ALPHA})"
            if name == "sigmoid" or factor >= COLLAPSE_FACTOR:
                verdict = "collapse" if factor >= COLLAPSE_FACTOR else "do not collapse"
                lines.append(f"  - {name}: ratio {statistics.mean(r):.3g}, {factor:.3g}x below {ref}'s {base:.3g}"
                             f"{test}. By this report's criterion (at least {COLLAPSE_FACTOR}x below {ref}'s), "
                             f"{name}'s early-layer gradients {verdict}.")
    if study in GROWTH_STUDIES:
        for model in dict.fromkeys(row["config"]["model"] for row in rows):
            members = sorted((row for row in rows if row["config"]["model"] == model and row["name"] in ratios),
                             key=lambda row: row["config"]["model_args"].get(study, 0))
            if len(members) > 1:
                lo, hi = members[0], members[-1]
                change = statistics.mean(ratios[hi["name"]]) / statistics.mean(ratios[lo["name"]])
                lines.append(f"  - {model}: the ratio at {hi['name']} is {change:.3g}x the ratio at {lo['name']}.")
    return lines


def best_run_lines(run: dict | None) -> list[str]:
    if run is None:
        return []
    confusion = np.array(run["test_confusion"])
    errors = confusion - np.diag(np.diag(confusion))
    i, j = np.unravel_index(errors.argmax(), errors.shape)
    return [f"- Best run (highest best val accuracy): {run['name']} seed {run['seed']}, "
            f"val {pct(run['best_val_acc'])}, test {pct(run['test_acc'])}; "
            f"{int(errors.sum()):,} of {int(confusion.sum()):,} test digits misclassified, "
            f"most often true {i} as {j} ({int(errors[i, j])} times)."]


def sweep_lines(runs: list[dict]) -> list[str]:
    lines = ["Each optimizer at its best learning rate, picked on val accuracy (a rate where a seed diverged is "
             "never picked):", "", "| optimizer | best lr | val accuracy (mean) | test accuracy (mean ± std) |",
             "|---|---:|---:|---:|"]
    for b in best_rates(runs):
        std = f" ± {100 * b['test_std']:.2f}" if b["test_std"] is not None else ""
        lines.append(f"| {b['optimizer']} | {b['lr']:g} | {pct(b['val_acc'])} | {100 * b['test_acc']:.2f}{std}% |")
    return lines + [""]


def study_section(study: str, data: dict, resultdir: Path) -> list[str]:
    runs, rows = data["runs"], data["rows"]
    lines = [f"## {study}", ""]
    if not runs:
        return lines + [f"No finished runs ({len(data['partial'])} partial).", ""]
    seeds = sorted({r["seed"] for r in runs})
    lines += [f"Recipe: {recipe([r['config'] for r in runs])}; seeds {', '.join(map(str, seeds))}; "
              f"{plural(len(runs), 'finished run')}.", ""]
    for name in (f"compare_{study}.png", f"grad_norms_{study}.png", f"confusion_{study}.png",
                 f"misclassified_{study}.png"):
        if (resultdir / name).exists():
            lines += [f"![{name}]({name})", ""]
    if rows:
        focus = focus_rows(study, rows, runs)
        lines += table(rows) + [""]
        if study == "optim_sweep":
            lines += sweep_lines(runs)
        ranked = " > ".join(f"{row['name']} ({pct(row['mean'])})" for row in focus)
        lines += [f"Ranking by mean test accuracy{' (best rates)' if study == 'optim_sweep' else ''}: {ranked}.",
                  "", "Findings:", ""]
        lines += growth_lines(study, focus) if study in GROWTH_STUDIES else significance_lines(study, focus)
        lines += convergence_lines(focus)
        if data.get("scalars") is not None and study in GRAD_STUDIES:
            lines += gradient_lines(study, focus, data["scalars"])
        lines += best_run_lines(best_run(focus)) + [""]
    return lines + diverged_lines(runs) + [""]


def write_report(logdir: Path, loaded: dict[str, dict], resultdir: Path) -> Path:
    n_runs = sum(len(d["runs"]) for d in loaded.values())
    n_partial = sum(len(d["partial"]) for d in loaded.values())
    lines = ["# Report", "",
             f"Computed by plot.py from the runs under `{logdir}`: {plural(n_runs, 'finished run')} in "
             f"{len(loaded)} stud{'y' if len(loaded) == 1 else 'ies'}; {plural(n_partial, 'partial run')} "
             f"(no result.json) left out. Accuracies are on the 10,000 test "
             f"images unless marked val; ± is one standard deviation across seeds; 'pp' is percentage points.", ""]
    for study, data in loaded.items():
        lines += study_section(study, data, resultdir)
    path = resultdir / "REPORT.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines).rstrip() + "\n")
    return path


# ---- command line ----------------------------------------------------------------------------------

def draw(study: str, data: dict, resultdir: Path) -> list[Path]:
    """The CSV and figures of one study; a figure that cannot be made is skipped with a warning."""
    runs, rows, scalars = data["runs"], data["rows"], data["scalars"]
    csv = resultdir / f"{study}_scalars.csv"
    with atomic_path(csv) as tmp:
        scalars.to_csv(tmp, index=False)
    written = [csv]
    if not rows:
        warn(f"{study}: every run diverged: no figures")
        return written
    focus = focus_rows(study, rows, runs)
    written.append(plot_compare(study, runs, focus, scalars, resultdir / f"compare_{study}.png"))
    if study in GRAD_STUDIES:
        written.append(plot_grad_norms(study, focus, scalars, resultdir / f"grad_norms_{study}.png"))
    best = best_run(focus)
    written.append(plot_confusion(study, best, resultdir / f"confusion_{study}.png"))
    try:
        written.append(plot_misclassified(study, best, resultdir / f"misclassified_{study}.png"))
    except (OSError, ValueError, RuntimeError) as e:  # no model.pt, or MNIST missing: the rest still stands
        warn(f"{study}: no misclassified-digit figure ({type(e).__name__}: {e})")
    return written


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def load_study(logdir: Path, study: str, with_scalars: bool) -> dict:
    runs, partial = load_runs(logdir / study)
    return {"runs": runs, "partial": partial, "rows": config_rows(runs),
            "scalars": study_scalars(study, runs) if with_scalars else None}


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog=PROG, description=__doc__.splitlines()[0],
                    formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--study", action="append", metavar="NAME",
                        help="redraw only this study's CSV and figures (repeatable; default: every study)")
    parser.add_argument("--logdir", default="logs", help="where the runs are")
    parser.add_argument("--resultdir", default="result", help="where the CSVs, figures and REPORT.md go")
    args = parser.parse_args(argv)
    logdir, resultdir = Path(args.logdir), Path(args.resultdir)
    studies = find_studies(logdir)
    if not studies:
        print(f"{PROG}: error: no runs under {logdir}/ (expected <study>/<config>/seed<k>/): train some with "
              f"run.py or compare_optim.py, or pass --logdir", file=sys.stderr)
        return 1
    unknown = [s for s in args.study or [] if s not in studies]
    if unknown:
        print(f"{PROG}: error: no runs of study '{unknown[0]}' under {logdir}/; studies there: "
              f"{', '.join(studies)}", file=sys.stderr)
        return 1
    try:
        check_writable(str(resultdir), "--resultdir")
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    selected = args.study or studies
    # every study goes into REPORT.md; event files are read only where a figure or a finding needs them
    loaded = {s: load_study(logdir, s, s in selected or s in GRAD_STUDIES) for s in studies}
    partial = [p for d in loaded.values() for p in d["partial"]]
    if partial:
        warn(f"{len(partial)} partial run{'s' if len(partial) > 1 else ''} (no result.json) left out: "
             f"{', '.join(map(str, partial[:5]))}{', ...' if len(partial) > 5 else ''}")
    written = []
    for study in selected:
        if not loaded[study]["runs"]:
            warn(f"{study}: no finished runs: nothing to draw")
            continue
        written += draw(study, loaded[study], resultdir)
    written.append(write_report(logdir, loaded, resultdir))
    print(f"{PROG}: wrote {', '.join(str(p) for p in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
