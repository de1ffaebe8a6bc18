"""Logs -> a tidy CSV per study, the comparisons CSV, figures and REPORT.md, every number computed from the logs.

    python plot.py                      # every study under logs/
    python plot.py --study activation   # that study's CSVs and figures; REPORT.md still covers every study
    python plot.py --all-runs           # every config ever run, not only each study's latest invocation
"""
from __future__ import annotations

import functools
import math
import statistics
import sys
import textwrap
from pathlib import Path
from typing import Callable

from analysis import (PROG, View, best_run, find_views, focus_rows, grad_ratios, layer_names, load_view, natural_key,
                      run_dataset, warn, write_comparisons, write_seeds)
import report
from report import plural, pct, write_choices, write_report
from studies import margins_in_words, traits
from cli import Parser, check_writable, exit_with, positive_float
from findings import NEGLIGIBLE, SYMBOLS
from utils import (LazyModule, UsageError, atomic_path, disk_full_message, is_disk_full, load_predictions,
                   write_between)


def _agg() -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed on servers and in CI


# imported when first used: `plot.py --help` and the modules that import this one for a constant wait for none
plt = LazyModule("matplotlib.pyplot", setup=_agg)
mcolors = LazyModule("matplotlib.colors", setup=_agg)
mlines = LazyModule("matplotlib.lines", setup=_agg)
mticker = LazyModule("matplotlib.ticker", setup=_agg)
np = LazyModule("numpy")
pd = LazyModule("pandas")

N_MISCLASSIFIED = 32


# ---- figures -------------------------------------------------------------------------------------
# Every figure is drawn for the width README and REPORT.md show it at: WIDTH inches at DPI is 900 px, with
# fonts sized for that width, so nothing is shrunk on the page.

DPI = 100
WIDTH = 9.0  # inches: 900 px
STYLE = {"font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9, "xtick.labelsize": 8.5, "ytick.labelsize": 8.5,
         "legend.fontsize": 8.5, "legend.title_fontsize": 8.5, "figure.titlesize": 10.5, "axes.grid": True,
         "grid.linewidth": 0.5, "grid.alpha": 0.35, "lines.linewidth": 1.4, "figure.dpi": DPI}
CURVE_POINTS = 400  # a smoothed curve is drawn through this many of its points: enough for the eye, quick to render
ERROR_FLOOR = 0.01  # % : a val error of 0 has no place on a log axis; drawn at this floor instead


def styled(draw_figure: Callable) -> Callable:
    """Draw the figure under STYLE (rc_context: other matplotlib users in the process keep their settings)."""
    @functools.wraps(draw_figure)
    def wrapper(*args, **kwargs):
        with plt.rc_context(STYLE):
            return draw_figure(*args, **kwargs)
    return wrapper


def colors_for(names: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def save(fig, path: Path) -> Path:
    """Save a figure atomically (readers never see half a PNG) at DPI: the same logs give the same bytes; a failed
    write (a full disk) leaves no part."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI)
    finally:
        plt.close(fig)
    return path


def smoothed(values: pd.Series) -> pd.Series:
    """Debiased exponential moving average over about 2.5% of the run (at least 4 steps), like TensorBoard's."""
    span = max(4, len(values) // 40)
    return values.ewm(span=span, adjust=True).mean()


def x_column(rows: list[dict]) -> str:
    """The curves' x: 'step' where the configs take different numbers of optimizer steps an epoch (batch size),
    else 'epoch'. Runs older than steps_per_epoch in result.json keep epochs."""
    per_epoch = {r.get("steps_per_epoch") for row in rows for r in row["runs"]}
    return "step" if len(per_epoch) > 1 and None not in per_epoch else "epoch"


def run_label(name: str, n: int, steps_per_epoch: int | None = None) -> str:
    """A curve's legend entry: n is the number of seeds averaged into it; the steps an epoch where x is in steps."""
    steps = f", {steps_per_epoch:,} steps/epoch" if steps_per_epoch else ""
    return f"{name} ({plural(n, 'seed')}{steps})"


def seed_curves(scalars: pd.DataFrame, name: str, tag: str, x: str, smooth: bool = False) -> pd.DataFrame:
    """One config's tag as a frame: index x ('step' or 'epoch'), a column per seed (NaN where a seed has no point)."""
    mine = scalars[(scalars["name"] == name) & (scalars["tag"] == tag)]
    curves = {}
    for seed, g in mine.groupby("seed"):
        g = g.sort_values("step").drop_duplicates("step", keep="last")
        values = smoothed(g["value"]) if smooth else g["value"]
        curves[seed] = pd.Series(values.to_numpy(), index=g[x].to_numpy())
    return pd.DataFrame(curves).sort_index()


def thinned(frame: pd.DataFrame, log_x: bool, n: int = CURVE_POINTS) -> pd.DataFrame:
    """At most about n of the frame's rows, evenly spaced along the axis the curve is drawn on (last row kept)."""
    if len(frame) <= n:
        return frame
    at = np.geomspace(1, len(frame), n) - 1 if log_x else np.linspace(0, len(frame) - 1, n)
    return frame.iloc[np.unique(np.round(at).astype(int))]


def log_band(ax, frame: pd.DataFrame, color, label: str, linestyle: str = "-") -> None:
    """Seeds' curves of a positive quantity on a log axis: their geometric mean, and a band of ±1 sd of the log
    (mean ± sd would reach below zero where the log axis has no place for it)."""
    logs = np.log(frame.clip(lower=1e-12))
    centre, spread = logs.mean(axis=1), logs.std(axis=1).fillna(0.0)
    x = frame.index.to_numpy(dtype=float)
    few = len(x) <= 20  # evaluations, not steps: mark each
    ax.plot(x, np.exp(centre), color=color, label=label, linestyle=linestyle, marker="o" if few else None,
            markersize=3)
    if frame.shape[1] > 1:
        ax.fill_between(x, np.exp(centre - spread), np.exp(centre + spread), color=color, alpha=0.18, linewidth=0)


def plain_numbers(v: float, _=None) -> str:
    """A log axis's tick label as the number a reader looks for: 0.05, 2, 1,000 (never 10^-1.3)."""
    return f"{v:,g}"


def log_axis(ax, which: str = "y") -> None:
    """A log scale labelled with plain numbers, 1-2-5 steps where the range spans two decades or less."""
    if not ax.has_data():  # nothing to scale: a log axis of no data cannot be drawn
        return
    getattr(ax, f"set_{which}scale")("log")
    low, high = getattr(ax, f"get_{which}lim")()
    decades = math.log10(high / low) if low > 0 else 9
    axis = ax.yaxis if which == "y" else ax.xaxis
    subs = (1.0, 2.0, 5.0) if decades <= 2.5 else (1.0,)
    if decades < 1.2:
        subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0) if decades >= 0.6 else (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)
    axis.set_major_locator(mticker.LogLocator(base=10, subs=subs))
    axis.set_major_formatter(mticker.FuncFormatter(plain_numbers))
    axis.set_minor_formatter(mticker.NullFormatter())


def x_axis(ax, x: str, epochs: float) -> None:
    """Optimizer steps on a log axis (batch sizes of 16 and 1,024 differ 64-fold in steps), or epochs from 0."""
    if x == "step":
        log_axis(ax, "x")
        ax.set_xlabel("optimizer steps (log scale)")
    else:
        ax.set_xlim(0, max(epochs, 1e-9) * 1.02)
        if epochs > 4:  # whole epochs; fewer get halves and quarters
            ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("epoch")


def steps_per_epoch(row: dict) -> int | None:
    return row["runs"][0].get("steps_per_epoch")


def plot_train_loss(ax, scalars: pd.DataFrame, rows: list[dict], colors, x: str = "epoch") -> None:
    """Training loss per step, each seed EMA-smoothed, on a log axis: late differences are where the answers are."""
    for row in rows:
        frame = seed_curves(scalars, row["name"], "train/loss", x, smooth=True)
        if frame.empty:  # a seed whose event file is unreadable has no curve
            continue
        log_band(ax, thinned(frame, x == "step"), colors[row["name"]],
                 run_label(row["name"], frame.shape[1], steps_per_epoch(row) if x == "step" else None))
    ax.set(title="train loss (EMA-smoothed per step)", ylabel="cross-entropy (log scale)")


def plot_curve(ax, scalars: pd.DataFrame, rows: list[dict], colors, tag: str, title: str, x: str = "epoch") -> None:
    """A tag logged several times an epoch: each config's seeds at each evaluation, on a log axis. val/acc is drawn
    as the error, 100 - accuracy (%): its early, low points stay on the chart and its late ones are told apart."""
    error = tag.endswith("/acc")
    for row in rows:
        frame = seed_curves(scalars, row["name"], tag, x)
        if frame.empty:
            continue
        if error:
            frame = (100 * (1 - frame)).clip(lower=ERROR_FLOOR)
        log_band(ax, frame, colors[row["name"]],
                 run_label(row["name"], frame.shape[1], steps_per_epoch(row) if x == "step" else None))
    ax.set(title=title, ylabel="error, 100 − accuracy (%, log scale)" if error else "cross-entropy (log scale)")


def plot_accuracy(ax, rows: list[dict], colors) -> None:
    """Test accuracy per config as a dot (mean) and a line (± sd over seeds), each seed a small dot: positions,
    not bar lengths, so an axis that starts above zero exaggerates nothing."""
    for i, row in enumerate(rows):
        acc = [100 * a for a in row["acc"]]
        mean, sd = statistics.mean(acc), statistics.stdev(acc) if len(acc) > 1 else 0.0
        ax.plot([mean - sd, mean + sd], [i, i], color=colors[row["name"]], linewidth=2.5, solid_capstyle="butt")
        ax.scatter(acc, [i] * len(acc), color="black", s=8, alpha=0.55, zorder=3, linewidths=0)
        ax.plot([mean], [i], marker="o", color=colors[row["name"]], markersize=7, zorder=4)
    ax.set_yticks(range(len(rows)), [row["name"] for row in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    every = [100 * a for row in rows for a in row["acc"]]
    pad = 0.15 * max(max(every) - min(every), 0.2)
    ax.set_xlim(min(every) - pad, min(max(every) + pad, 100.0))  # nothing above 100%
    ax.grid(axis="y", visible=False)
    ax.xaxis.set_major_locator(mticker.MaxNLocator(nbins=6))
    ax.set(title="test accuracy: mean ± sd (dots: seeds)", xlabel="test accuracy (%)")


SWEEP_METRICS = {"best_val_acc": "validation (picks each rate)", "test_acc": "test (reported, never picks)"}
# One marker and dash per optimizer: momentum and nesterov run nearly the same curve, and color alone hid one.
SWEEP_STYLES = [("o", "-"), ("s", "--"), ("^", "-."), ("v", ":"), ("D", "-"), ("P", "--"), ("X", "-."), ("*", ":")]


def plot_lr_sweep(ax, runs: list[dict], colors: dict[str, tuple], metric: str = "best_val_acc",
                  picked: dict[str, float] | None = None) -> None:
    """Mean error (100 - `metric`) against learning rate, one line per optimizer; rates with a diverged seed marked x,
    each optimizer's rate picked on validation (`picked`) ringed."""
    by_opt: dict[str, dict[float, list[dict]]] = {}
    for r in runs:
        by_opt.setdefault(r["config"]["optimizer"], {}).setdefault(r["config"]["lr"], []).append(r)
    for i, (opt, rates) in enumerate(sorted(by_opt.items())):
        color = colors.get(opt, plt.get_cmap("tab10")(i % 10))
        ok = sorted((lr, statistics.mean(r[metric] for r in rs)) for lr, rs in rates.items()
                    if all(r["status"] == "ok" for r in rs))
        bad = sorted(lr for lr, rs in rates.items() if any(r["status"] != "ok" for r in rs))
        marker, dash = SWEEP_STYLES[i % len(SWEEP_STYLES)]
        if ok:
            ax.plot([lr for lr, _ in ok], [100 * (1 - v) for _, v in ok], marker=marker, linestyle=dash, color=color,
                    label=opt, markerfacecolor="none" if i % 2 else color, alpha=0.9)
        if bad:
            ax.scatter(bad, [100] * len(bad), marker="x", color=color, label=f"{opt}: diverged (drawn at 100%)")
        best = dict(ok).get((picked or {}).get(opt))
        if best is not None:
            ax.scatter([picked[opt]], [100 * (1 - best)], s=160, facecolors="none", edgecolors=color, linewidths=1.5)
    log_axis(ax, "x")
    log_axis(ax, "y")
    ax.set(title=f"{SWEEP_METRICS[metric]}: error, mean over seeds", xlabel="learning rate (log scale)",
           ylabel="error, 100 − accuracy (%, log scale)")


def verdict_label(c) -> str:
    """The verdict the report words (report.shown_verdict) with the tables' symbol (▲ better, ▼ worse, △ ▽ and
    ', negligible' where its interval lies inside the margin, ≈ equivalent, ? inconclusive), and the report's dagger
    (weak evidence), a space apart."""
    shown = report.shown_verdict(c)
    small = report.inside_margin(c) and shown in ("better", "worse")
    return (f"{(NEGLIGIBLE if small else SYMBOLS)[shown]} {shown}{', negligible' if small else ''}"
            f"{' ' + report.DAGGER if report.t_only(c) else ''}")


def plot_differences(ax, found: list, colors) -> None:
    """Forest plot: each config minus its reference, mean over seeds, per-seed dots and verdict, with the
    simultaneous 95% interval over the study's comparisons (the one that agrees with the Holm-corrected
    verdicts, where a plain 95% interval would look significant) and the equivalence margin dotted."""
    for i, c in enumerate(found):
        color = colors.get(c.config, "gray")
        if c.sim_low is not None:
            ax.plot([100 * c.sim_low, 100 * c.sim_high], [i, i], color=color, linewidth=2.5, solid_capstyle="butt")
        ax.scatter([100 * d for d in c.diffs], [i] * len(c.diffs), color="black", s=8, alpha=0.55, zorder=3,
                   linewidths=0)
        ax.scatter([100 * c.mean_diff], [i], color=color, s=45, marker="D", zorder=4)
    ax.axvline(0, color="gray", linewidth=1, linestyle="--")
    for edge in (-1, 1):
        ax.axvline(edge * 100 * found[0].margin, color="gray", linewidth=1, linestyle=":")
    one_reference = len({c.reference for c in found}) == 1
    ax.set_yticks(range(len(found)), [f"{c.config}{'' if one_reference else ' vs ' + c.reference}   "
                                      f"{verdict_label(c)}" for c in found])
    ax.set_ylim(len(found) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    whose = f"{found[0].reference}'s" if one_reference else "the reference's"
    ax.set(title=f"test accuracy minus {whose}: mean (◆), simultaneous 95% interval over "
                 f"{plural(len(found), 'comparison')}\ndots: seeds; dotted: ±{100 * found[0].margin:.2f} pp "
                 f"equivalence margin" + (f"; {report.DAGGER}: weak evidence" if any(map(report.t_only, found)) else ""),
           xlabel="difference (percentage points)")


def legend_columns(labels: list[str]) -> int:
    """As many legend entries a row as fit 900 px."""
    return max(1, min(len(labels), 4 if max(map(len, labels), default=0) < 28 else 3))


def legend_row(ax, handles, labels) -> None:
    """The configs' legend in an axes of its own above the panels: with them, and never over the title."""
    ax.axis("off")
    if handles:
        ncol = legend_columns(labels)
        order = [i for column in range(ncol) for i in range(column, len(labels), ncol)]  # read row by row
        ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="center", ncol=ncol, frameon=False,
                  borderaxespad=0)


def wrapped(text: str, width: int = 100) -> str:
    return "\n".join(textwrap.wrap(text, width))


@styled
def plot_compare(view: View, runs: list[dict], rows: list[dict], scalars: pd.DataFrame, path: Path,
                 found: list | None = None) -> Path:
    """A study's answer: train loss, val loss and val error over training, test accuracy, and (where the study
    compares) each config's difference from its reference; one color per config."""
    colors, x, found = colors_for([row["name"] for row in rows]), x_column(rows), found or []
    names = [row["name"] for row in rows]
    legend_height = 0.22 * math.ceil(len(names) / legend_columns(names))
    heights = [legend_height + 5.6] + ([0.95 + 0.3 * len(found)] if found else [])
    fig = plt.figure(figsize=(WIDTH, sum(heights) + 0.5), layout="constrained")
    # subfigures: the forest's long labels must not push the curves' panels to the right
    curves, *forest = fig.subfigures(len(heights), 1, height_ratios=heights) if found else [fig]
    grid = curves.add_gridspec(3, 2, height_ratios=[legend_height, 2.7, 2.7])
    loss = curves.add_subplot(grid[1, 0])
    val_loss, val_error = curves.add_subplot(grid[1, 1], sharex=loss), curves.add_subplot(grid[2, 0], sharex=loss)
    plot_train_loss(loss, scalars, rows, colors, x)
    plot_curve(val_loss, scalars, rows, colors, "val/loss", "val loss", x)
    plot_curve(val_error, scalars, rows, colors, "val/acc", "val error", x)
    for ax in (loss, val_loss, val_error):
        log_axis(ax, "y")
        x_axis(ax, x, max(r["epochs"] for row in rows for r in row["runs"]))
    plot_accuracy(curves.add_subplot(grid[2, 1]), rows, colors)
    legend_row(curves.add_subplot(grid[0, :]), *loss.get_legend_handles_labels())
    if forest:  # a study of one config, or of no reference, has no comparison to draw
        plot_differences(forest[0].add_subplot(), found, colors)
    diverged = sorted({r["label"] for r in runs if r["status"] != "ok"}, key=natural_key)
    note = f"; diverged, not shown: {', '.join(diverged)}" if diverged else ""
    which = "each optimizer at its best rate on val" if traits(view.study).best_rates else plural(len(rows), "config")
    fig.suptitle(wrapped(f"study {view.title}: {which}{note}"))
    return save(fig, path)


@styled
def plot_sweep(view: View, runs: list[dict], rows: list[dict], path: Path) -> Path:
    """A learning-rate sweep: each optimizer's validation and test error against its rate, side by side, in the colors
    of plot_compare, the rate picked on validation ringed on both."""
    colors = colors_for([row["name"] for row in rows])
    by_optimizer = {row["config"]["optimizer"]: colors[row["name"]] for row in rows}  # same color as its best rate
    picked = {row["config"]["optimizer"]: row["config"]["lr"] for row in rows}  # each one's best rate on val
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 4.2), layout="constrained", sharey=True)
    for ax, metric in zip(axes, SWEEP_METRICS):
        plot_lr_sweep(ax, runs, by_optimizer, metric, picked)
    axes[1].set_ylabel("")
    axes[0].legend(ncol=2, fontsize="small")
    fig.suptitle(wrapped(f"study {view.title}: every rate of the sweep, each optimizer's rate picked on validation "
                         "ringed"))
    return save(fig, path)


def grad_layers(scalars: pd.DataFrame, name: str) -> tuple[pd.DataFrame, list[str]]:
    """A config's grad_norm/<layer> rows and its layer names, input side first."""
    mine = scalars[(scalars["name"] == name) & scalars["tag"].str.startswith("grad_norm/")]
    return mine, layer_names(mine["tag"].unique())


def over_training(scalars: pd.DataFrame, rows: list[dict]) -> bool:
    """Whether the logs hold gradient norms often enough to draw them over training: more than one value an epoch
    per layer. train.py logs one (the epoch's mean of samples every 10 steps); a curve of 2 points says nothing."""
    logged = scalars[scalars["tag"].str.startswith("grad_norm/")].groupby(["name", "seed", "tag"]).size()
    epochs = max(r["epochs"] for row in rows for r in row["runs"])
    return bool(len(logged)) and logged.max() > epochs


def plot_grad_profile(ax, scalars: pd.DataFrame, rows: list[dict], colors) -> None:
    """Each config's gradient norm by layer, input side first, averaged over training and seeds."""
    for row in rows:
        mine, layers = grad_layers(scalars, row["name"])
        means = [mine.loc[mine["tag"] == f"grad_norm/{layer}", "value"].mean() for layer in layers]
        ax.plot(range(1, len(layers) + 1), means, marker="o", color=colors[row["name"]], label=row["name"])
    log_axis(ax, "y")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set(title="mean over training, by layer", xlabel="layer (1 = input side)", ylabel="gradient L2 norm")
    ax.legend(fontsize=7.5, ncol=2 if len(rows) > 4 else 1, framealpha=0.7, handlelength=1.2, columnspacing=0.8,
              borderpad=0.3)


def plot_grad_ratios(ax, scalars: pd.DataFrame, rows: list[dict], colors) -> None:
    """Each config's first layer's gradient norm over its last layer's (REPORT.md's ratio): a dot per seed, the
    geometric mean marked; below 1, the gradient shrinks on its way to the input."""
    shown = [(row, grad_ratios(scalars, row)) for row in rows]
    shown = [(row, ratios) for row, ratios in shown if ratios]
    for i, (row, ratios) in enumerate(shown):
        values = list(ratios.values())
        ax.scatter(values, [i] * len(values), color="black", s=8, alpha=0.55, zorder=3, linewidths=0)
        ax.plot([math.exp(statistics.mean(map(math.log, values)))], [i], marker="o", markersize=7,
                color=colors[row["name"]], zorder=4)
    ax.axvline(1, color="gray", linewidth=1, linestyle="--")
    ax.set_yticks(range(len(shown)), [row["name"] for row, _ in shown])
    ax.set_ylim(len(shown) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    log_axis(ax, "x")
    ax.set(title="first layer's norm over last layer's (dots: seeds)", xlabel="ratio (log scale)")


@styled
def plot_grad_norms(view: View, rows: list[dict], scalars: pd.DataFrame, path: Path) -> Path:
    """Per-layer gradient norms: each config's profile from input to output and its first-to-last layer ratio;
    where the logs hold more than one value an epoch, each config's layers over training below."""
    colors, x = colors_for([row["name"] for row in rows]), x_column(rows)
    curves = over_training(scalars, rows)
    nrows = math.ceil(len(rows) / 3) if curves else 0
    fig = plt.figure(figsize=(WIDTH, 3.3 + 2.5 * nrows + 0.5), layout="constrained")
    top, *below = fig.subfigures(2, 1, height_ratios=[3.3, 2.5 * nrows]) if curves else [fig]
    profile, ratio = top.subplots(1, 2, width_ratios=[1.2, 1])
    plot_grad_profile(profile, scalars, rows, colors)
    plot_grad_ratios(ratio, scalars, rows, colors)
    if below:
        axes = below[0].subplots(nrows, 3, squeeze=False, sharex=True, sharey=True).ravel()
        for ax, row in zip(axes, rows):
            plot_layers_over_training(ax, scalars, row, x)
            ax.set_title(row["name"], color=colors[row["name"]])
        log_axis(axes[0], "y")
        for ax in axes[len(rows):]:
            ax.axis("off")
        for ax in axes[:len(rows)]:
            ax.xaxis.set_tick_params(labelbottom=True)
    logged = ("each layer's norm at every logged step, mean over seeds; the other panels average them" if curves else
              "the logs hold each layer's norm once an epoch (the mean of samples every 10 steps), too few to draw "
              "over training")
    fig.suptitle(wrapped(f"study {view.title}: per-layer gradient L2 norm; {logged}", 110))
    return save(fig, path)


def plot_layers_over_training(ax, scalars: pd.DataFrame, row: dict, x: str) -> None:
    """One config's layers over training, input side dark, output side yellow: mean over seeds at each logged step."""
    mine, layers = grad_layers(scalars, row["name"])
    for j, layer in enumerate(layers):
        g = mine[mine["tag"] == f"grad_norm/{layer}"].groupby(x)["value"].mean()
        ax.plot(g.index, g.to_numpy(), marker="o" if len(g) <= 20 else None, markersize=3, label=layer,
                color=plt.get_cmap("viridis")(j / max(len(layers) - 1, 1)))
    x_axis(ax, x, max(r["epochs"] for r in row["runs"]))
    ax.set_ylabel("gradient L2 norm")
    if layers:
        ax.legend(fontsize=7.5, ncol=2, framealpha=0.7, handlelength=1.2, columnspacing=0.8, borderpad=0.3)


@styled
def plot_quick_vs_full(quick: dict, full: dict, path: Path) -> Path:
    """Each config's val error under both recipes in a panel of its own, epochs and error on log axes, so that
    'learns slower' (the curves apart early) and 'ends worse' (apart at the end) are seen apart."""
    names = list(dict.fromkeys([row["name"] for row in full["rows"]] + [row["name"] for row in quick["rows"]]))
    colors = colors_for(names)
    n = len(names) + 1  # the last panel holds the key
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, 2.45 * nrows + 0.8), layout="constrained", squeeze=False,
                             sharex=True, sharey=True)
    axes = axes.ravel()
    styles = {"quick": ":", "full": "-"}
    for ax, name in zip(axes, names):
        for data in (quick, full):
            row = next((row for row in data["rows"] if row["name"] == name), None)
            frame = seed_curves(data["scalars"], name, "val/acc", "epoch") if row else pd.DataFrame()
            if not frame.empty:
                log_band(ax, (100 * (1 - frame)).clip(lower=ERROR_FLOOR), colors[name], data["view"].recipe,
                         styles[data["view"].recipe])
        ax.set_title(name, color=colors[name])
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.yaxis.set_tick_params(labelleft=True)
    for ax in axes[:len(names)]:
        log_axis(ax, "x")
        log_axis(ax, "y")
        ax.set(xlabel="epoch (log scale)", ylabel="val error (%)")
    key = axes[len(names)]
    key.axis("off")
    key.legend(handles=[mlines.Line2D([], [], color="black", linestyle=styles[d["view"].recipe],
                                      label=recipe_words(d)) for d in (quick, full)],
               loc="center", title="recipe (line: geometric mean\nover seeds, band: ±1 sd)", frameon=False)
    for ax in axes[len(names) + 1:]:
        ax.axis("off")
    view = full["view"]
    fig.suptitle(wrapped(f"study {view.study} on {run_dataset(full['runs'][0]).title}: val error under the quick "
                         "and the full recipe (error: 100 − accuracy)"))
    return save(fig, path)


def recipe_words(data: dict) -> str:
    """'quick: 2 epochs, batch 64' of a loaded view, from its runs' configs."""
    def span(key: str) -> str:
        values = sorted({r["config"][key] for r in data["runs"]})
        return f"{values[0]}" if len(values) == 1 else f"{values[0]} to {values[-1]}"
    return f"{data['view'].recipe}: {span('epochs')} epochs, batch {span('batch_size')}"


@styled
def plot_confusion(view: View, run: dict, path: Path) -> Path:
    confusion = np.array(run["test_confusion"])
    fig, ax = plt.subplots(figsize=(7.2, 6.4), layout="constrained")
    # a power norm: the diagonal holds ~1000 per cell, the errors a few; both should be visible
    image = ax.imshow(confusion, cmap="Blues", norm=mcolors.PowerNorm(0.3))
    for (i, j), v in np.ndenumerate(confusion):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=7.5,
                color="white" if v > confusion.max() / 3 else "black")
    dataset = run_dataset(run)
    ax.set_xticks(range(dataset.n_classes), dataset.classes, rotation=90 if max(map(len, dataset.classes)) > 2 else 0)
    ax.set_yticks(range(dataset.n_classes), dataset.classes)
    ax.grid(visible=False)
    ax.set(xlabel="predicted class", ylabel="true class",
           title=f"{view.title}:\n{run['label']} seed {run['seed']}, test accuracy {pct(run['test_acc'])}")
    fig.colorbar(image, ax=ax, label="test images")
    return save(fig, path)


def misclassified(run: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, true labels, predictions) of a run's first N_MISCLASSIFIED test errors, from its stored predictions.

    ValueError for a run without them (older logs): the figures read the files, never a network."""
    import torch

    from dataloader import load_splits

    dataset = run_dataset(run)
    data = load_splits(dataset.name, "cpu", subset=1)  # subset=1: only the test split is needed, skip normalizing 55,000
    x, y = data.test_x, data.test_y
    if not run.get("predictions"):
        raise ValueError("the run kept no test predictions")
    pred = torch.from_numpy(load_predictions(run["run_dir"] / run["predictions"]).astype(np.int64))
    shown = (pred != y).nonzero().flatten()[:N_MISCLASSIFIED]
    images = (x[shown, 0] * dataset.std + dataset.mean).clamp(0, 1)  # undo the normalization for display
    return images.numpy(), y[shown].numpy(), pred[shown].numpy()


@styled
def plot_misclassified(view: View, run: dict, path: Path) -> Path:
    """The run's first misclassified test images, 8 a row, each under its true and predicted class. One image of
    tiles, not an axes each: 32 axes cost seconds of layout."""
    images, true, pred = misclassified(run)
    dataset = run_dataset(run)
    confusion = np.array(run["test_confusion"])
    n_wrong = int(confusion.sum() - confusion.trace())
    ncols, (h, w) = 8, images.shape[1:] if len(images) else (28, 28)
    nrows = max(1, math.ceil(len(images) / ncols))
    gap, above = w // 3, h // 2 + 4  # room between tiles and for the two lines of words above each
    tiles = np.zeros((nrows * (h + above), ncols * (w + gap)))
    fig, ax = plt.subplots(figsize=(WIDTH, 1.45 * nrows + 0.45), layout="constrained")
    for k, (image, t, p) in enumerate(zip(images, true, pred)):
        top, left = (k // ncols) * (h + above) + above, (k % ncols) * (w + gap) + gap // 2
        tiles[top:top + h, left:left + w] = image
        ax.text(left + w / 2, top - 1, f"true {dataset.classes[t]}\npred {dataset.classes[p]}", ha="center",
                va="bottom", fontsize=8, color="firebrick")
    ax.imshow(tiles, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    fig.suptitle(wrapped(f"{view.title}: {run['label']} seed {run['seed']}: the first {len(images)} of its "
                         f"{n_wrong:,} misclassified test {dataset.item_word}"))
    return save(fig, path)


# ---- command line ----------------------------------------------------------------------------------

def draw(data: dict, resultdir: Path) -> list[Path]:
    """The CSVs and figures of one study on one dataset under one recipe (files named by View.name); a figure
    that cannot be made is skipped with a warning."""
    view, runs, rows, scalars = data["view"], data["runs"], data["rows"], data["scalars"]
    name = view.name
    csv = resultdir / f"{name}_scalars.csv"
    with atomic_path(csv) as tmp:  # every run of the study on this dataset and recipe, older configs included
        data["every_scalar"].to_csv(tmp, index=False)
    written = [csv, write_comparisons(resultdir / f"{name}_comparisons.csv", view.study, data["comparisons"]),
               write_seeds(resultdir / f"{name}_seeds.csv", view, rows, data["comparisons"])]
    if not rows:
        warn(f"{name}: every run diverged: no figures")
        return written
    focus = focus_rows(view.study, rows, runs)
    written.append(plot_compare(view, runs, focus, scalars, resultdir / f"compare_{name}.png", data["comparisons"]))
    if traits(view.study).best_rates:
        written.append(plot_sweep(view, runs, focus, resultdir / f"lr_sweep_{name}.png"))
    if traits(view.study).gradients and scalars["tag"].str.startswith("grad_norm/").any():
        written.append(plot_grad_norms(view, focus, scalars, resultdir / f"grad_norms_{name}.png"))
    elif traits(view.study).gradients:  # older logs: an empty figure would say nothing
        warn(f"{name}: no gradient norms in its logs: no gradient-norm figure")
    best = best_run(focus)
    written.append(plot_confusion(view, best, resultdir / f"confusion_{name}.png"))
    try:
        written.append(plot_misclassified(view, best, resultdir / f"misclassified_{name}.png"))
    except (OSError, ValueError, RuntimeError) as e:  # no predictions, or the data missing
        if is_disk_full(e):  # not this figure's problem: main says it once
            raise
        warn(f"{name}: no misclassified-images figure ({type(e).__name__}: {e})")
    return written


def recipe_pairs(views, selected) -> list[tuple[View, View]]:
    """(quick, full): the two views of a study on one dataset, where the logs hold both and either is drawn."""
    full = {(v.study, v.dataset): v for v in views if v.recipe == "full"}
    return [(v, full[(v.study, v.dataset)]) for v in views
            if v.recipe == "quick" and (v.study, v.dataset) in full and not traits(v.study).own_recipe
            and {v, full[(v.study, v.dataset)]} & set(selected)]


def quick_vs_full_path(resultdir: Path, full: View) -> Path:
    """quick_vs_full_<study>[-<dataset>].png: the view's file stem without its recipe (REPORT.md links it so)."""
    return resultdir / f"quick_vs_full_{full.name.removesuffix('-full')}.png"


README_MARK = "<!-- what each choice does: generated by plot.py -->"




def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--study", action="append", metavar="NAME",
                        help="redraw only this study's CSVs and figures (repeatable; default: every study)")
    parser.add_argument("--logdir", default="logs", help="where the runs are")
    parser.add_argument("--resultdir", default="result", help="where the CSVs, figures and REPORT.md go")
    parser.add_argument("--all-runs", action="store_true",
                        help="every finished config under a study, not only those of its latest invocation")
    parser.add_argument("--margin", type=positive_float, metavar="PP",
                        help="equivalence margin in percentage points for every study, set after the runs (the "
                             "report says so; default: the one recorded when the runs were planned, else the one "
                             f"declared for the runs' recipe: {margins_in_words()})")
    parser.add_argument("--readme", metavar="PATH",
                        help="also put the 'what each choice does' table into this file, between its two "
                             f"'{README_MARK}' lines (the project's README.md)")
    args = parser.parse_args(argv)
    if args.readme and not (Path(args.readme).is_file() and Path(args.readme).read_text().count(README_MARK) == 2):
        parser.error(f"--readme {args.readme} has no pair of '{README_MARK}' lines to put the table between")
    logdir, resultdir = Path(args.logdir), Path(args.resultdir)
    views = find_views(logdir, args.all_runs)
    if not views:
        print(f"{PROG}: error: no runs under {logdir}/ (expected <study>/<config>/seed<k>/): train some with "
              f"run.py or compare_optim.py, or pass --logdir", file=sys.stderr)
        return 1
    known = {v.study for v in views} | {v.name for v in views}
    unknown = [s for s in args.study or [] if s not in known]
    if unknown:
        print(f"{PROG}: error: no runs of study '{unknown[0]}' under {logdir}/; studies there: "
              f"{', '.join(dict.fromkeys(v.name for v in views))}", file=sys.stderr)
        return 1
    try:
        check_writable(str(resultdir), "--resultdir")
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    selected = [v for v in views if not args.study or {v.study, v.name} & set(args.study)]
    if args.margin is not None:
        print(f"{PROG}: equivalence margin ±{args.margin:g} pp for every study: margin set after the runs "
              "(REPORT.md says so)")
    # every study goes into REPORT.md; event files are read only where a figure or a finding needs them
    pairs = recipe_pairs(views, selected)
    paired = {v for pair in pairs for v in pair}
    loaded = {v.name: load_view(v, found, v in selected or v in paired or traits(v.study).gradients, args.margin)
              for v, found in views.items()}
    partial = [p for d in loaded.values() for p in d["partial"]]
    if partial:
        warn(f"{len(partial)} partial run{'s' if len(partial) > 1 else ''} (no readable result.json) left out: "
             f"{', '.join(map(str, partial[:5]))}{', ...' if len(partial) > 5 else ''}")
    try:
        written = write_results(selected, loaded, logdir, resultdir, args.readme, pairs)
    except OSError as e:
        if not is_disk_full(e):
            raise
        # every file is written atomically: each one is whole, as it was before or new
        print(f"{PROG}: error: {disk_full_message(resultdir)}; no file is half-written: free some space and rerun",
              file=sys.stderr)
        return 1
    print(f"{PROG}: wrote {', '.join(str(p) for p in written)}")
    return 0


def write_results(selected: list[View], loaded: dict[str, dict], logdir: Path, resultdir: Path,
                  readme: str | None, pairs: list[tuple[View, View]] = ()) -> list[Path]:
    """The selected views' CSVs and figures, each (quick, full) pair's figure, REPORT.md, the choices table (and
    README's copy): the paths written."""
    written = []
    for view in selected:
        if not loaded[view.name]["runs"]:
            warn(f"{view.name}: no finished runs: nothing to draw")
            continue
        written += draw(loaded[view.name], resultdir)
    for quick, full in pairs:
        if loaded[quick.name]["rows"] and loaded[full.name]["rows"]:
            written.append(plot_quick_vs_full(loaded[quick.name], loaded[full.name],
                                              quick_vs_full_path(resultdir, full)))
    written.append(write_report(logdir, loaded, resultdir))
    choices = write_choices(loaded, resultdir)
    written += choices
    if choices and readme:
        written.append(write_between(readme, README_MARK, choices[0].read_text()))
    return written


if __name__ == "__main__":
    exit_with(main)
