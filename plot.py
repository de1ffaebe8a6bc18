"""Logs -> a tidy CSV per study, the comparisons CSV, figures and REPORT.md, every number computed from the logs.

    python plot.py                      # every study under logs/
    python plot.py --study activation   # that study's CSVs and figures; REPORT.md still covers every study
    python plot.py --all-runs           # every config ever run, not only each study's latest invocation
"""
from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

from analysis import (PROG, View, best_run, find_views, focus_rows, layer_names, load_view, natural_key, run_dataset,
                      warn, write_comparisons, write_seeds)
import report
from report import pct, write_choices, write_report
from studies import margins_in_words, traits
from cli import Parser, check_writable, exit_with, positive_float
from utils import (LazyModule, UsageError, atomic_path, disk_full_message, is_disk_full, load_predictions,
                   write_between)


def _agg() -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed on servers and in CI


# imported when first used: `plot.py --help` and the modules that import this one for a constant wait for none
plt = LazyModule("matplotlib.pyplot", setup=_agg)
mcolors = LazyModule("matplotlib.colors", setup=_agg)
np = LazyModule("numpy")
pd = LazyModule("pandas")

N_MISCLASSIFIED = 32


# ---- figures -------------------------------------------------------------------------------------

def colors_for(names: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def save(fig, path: Path) -> Path:
    """Save a figure atomically: readers never see half a PNG, and a failed write (a full disk) leaves no part."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    finally:
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


def run_label(name: str, n: int) -> str:
    """A curve's legend entry: n is the number of seeds averaged into it."""
    return f"{name} ({n} seed{'s' if n != 1 else ''})"


def plot_train_loss(ax, scalars: pd.DataFrame, rows: list[dict], colors) -> None:
    for row in rows:
        curves = []
        for r in row["runs"]:
            s = scalars[(scalars["name"] == row["name"]) & (scalars["seed"] == r["seed"])
                        & (scalars["tag"] == "train/loss")].sort_values("step")
            curves.append(pd.Series(smoothed(s["value"]).to_numpy(), index=s["epoch"].to_numpy()))
        curves = [c for c in curves if len(c)]  # a seed whose event file is unreadable has no curve
        if not curves:
            continue
        frame = pd.concat(curves, axis=1)  # x in epochs: batch sizes with different step counts align
        band(ax, frame.index, frame.mean(axis=1), frame.std(axis=1), colors[row["name"]],
             run_label(row["name"], frame.shape[1]))
    ax.set(title="train loss per step (EMA-smoothed), mean ± std", xlabel="epoch", ylabel="cross-entropy")


def plot_curve(ax, scalars: pd.DataFrame, rows: list[dict], colors, tag: str, title: str,
               percent: bool = False) -> None:
    """A tag logged several times an epoch, against epochs: mean ± std over seeds at each evaluation."""
    for row in rows:
        s = scalars[(scalars["name"] == row["name"]) & (scalars["tag"] == tag)]
        g = s.groupby("epoch")["value"]
        scale = 100 if percent else 1
        band(ax, g.mean().index, scale * g.mean(), scale * g.std(), colors[row["name"]],
             run_label(row["name"], s["seed"].nunique()))
    ax.set(title=title, xlabel="epoch", ylabel="accuracy (%)" if percent else "cross-entropy")


def zoom_accuracy(ax, scalars: pd.DataFrame, rows: list[dict]) -> None:
    """Val accuracy curves crowd near 100%: start the axis just below the lowest point of the last epoch's half."""
    s = scalars[scalars["name"].isin([row["name"] for row in rows]) & (scalars["tag"] == "val/acc")]
    if s.empty:
        return
    late = s[s["epoch"] >= s["epoch"].max() / 2]["value"]
    low = 100 * late.min()
    if low > 50:
        bottom = max(0.0, low - 2 * (100 - low) / 3)
        ax.set_ylim(bottom, 100 - (100 - s["value"].max() * 100) / 3)
        if 100 * s["value"].min() < bottom:  # say so: a reader must not take a cut point for a missing one
            ax.set_title(ax.get_title() + f"\n(axis from {bottom:.1f}%: earlier, lower points are cut)")


def epoch_axis(ax, n_epochs: int) -> None:
    """Whole epochs on the x axis."""
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


def plot_differences(ax, found: list, colors) -> None:
    """Forest plot: each config minus its reference, mean over seeds, per-seed dots and verdict, with the
    simultaneous 95% interval over the study's comparisons (the one that agrees with the Holm-corrected
    verdicts, where a plain 95% interval would look significant) and the equivalence margin dotted."""
    if not found:
        ax.axis("off")
        return
    for i, c in enumerate(found):
        color = colors.get(c.config, "gray")
        if c.sim_low is not None:
            ax.plot([100 * c.sim_low, 100 * c.sim_high], [i, i], color=color, linewidth=2)
        ax.scatter([100 * d for d in c.diffs], [i] * len(c.diffs), color="black", s=10, zorder=3)
        ax.scatter([100 * c.mean_diff], [i], color=color, s=40, marker="D", zorder=4)
    ax.axvline(0, color="gray", linewidth=1, linestyle="--")
    for edge in (-1, 1):
        ax.axvline(edge * 100 * found[0].margin, color="gray", linewidth=1, linestyle=":")
    ax.set_yticks(range(len(found)), [f"{c.config} vs {c.reference}\n{verdict_label(c)}" for c in found], fontsize=8)
    ax.invert_yaxis()
    ax.set(title=f"test accuracy minus the reference's (pp): mean, simultaneous 95% CI\nover "
                 f"{found[0].family} comparisons, dots: seeds, dotted: ±{100 * found[0].margin:.2f} pp margin"
                 + (f", {report.DAGGER}: weak evidence" if any(map(report.t_only, found)) else ""),
           xlabel="difference (percentage points)")


def verdict_label(c) -> str:
    """The verdict the report words (report.shown_verdict) with a mark (▲ better, ▼ worse, ≈ equivalent,
    ? inconclusive), ', negligible' where its interval lies inside the margin, and the report's dagger (weak evidence)."""
    shown = report.shown_verdict(c)
    negligible = ", negligible" if report.inside_margin(c) and shown in ("better", "worse") else ""
    return (f"{dict(better='▲', worse='▼', equivalent='≈', inconclusive='?')[shown]} {shown}{negligible}"
            f"{report.DAGGER if report.t_only(c) else ''}")


def plot_compare(view: View, runs: list[dict], rows: list[dict], scalars: pd.DataFrame, path: Path,
                 found: list | None = None) -> Path:
    """Curves, test accuracy, differences from the reference and wall time of a study's configs, one color per config."""
    colors = colors_for([row["name"] for row in rows])
    sweep = traits(view.study).best_rates
    fig = plt.figure(figsize=(22, 13 if sweep else 9), layout="constrained")
    grid = fig.add_gridspec(3 if sweep else 2, 4, width_ratios=[1, 1, 1, 0.55])
    axes = [fig.add_subplot(grid[i // 3, i % 3]) for i in range(6)]
    plot_train_loss(axes[0], scalars, rows, colors)
    plot_curve(axes[1], scalars, rows, colors, "val/loss", "val loss, mean ± std over seeds")
    plot_curve(axes[2], scalars, rows, colors, "val/acc", "val accuracy, mean ± std over seeds", percent=True)
    zoom_accuracy(axes[2], scalars, rows)
    plot_bars(axes[3], rows, colors, [[100 * a for a in row["acc"]] for row in rows],
              "test accuracy, mean ± std (dots: seeds)", "accuracy (%)", zoom=True)
    plot_differences(axes[4], found or [], colors)
    plot_bars(axes[5], rows, colors, [[r["wall_time_s"] for r in row["runs"]] for row in rows],
              "wall time per run (dots: seeds)", "seconds", zoom=False)
    legend = fig.add_subplot(grid[:2, 3])
    legend.axis("off")
    handles, labels = axes[0].get_legend_handles_labels()
    legend.legend(handles, labels, loc="center", title="config", ncol=2 if len(labels) > 16 else 1)
    if sweep:
        by_optimizer = {row["config"]["optimizer"]: colors[row["name"]] for row in rows}  # same color as its best rate
        plot_lr_sweep(fig.add_subplot(grid[2, :]), runs, by_optimizer)
    diverged = sorted({r["label"] for r in runs if r["status"] != "ok"}, key=natural_key)
    note = f"; diverged, not shown: {', '.join(diverged)}" if diverged else ""
    which = "each optimizer at its best rate on val" if sweep else f"{len(rows)} configs"
    fig.suptitle(f"study {view.title}: {which}{note}")
    return save(fig, path)


def plot_grad_norms(view: View, rows: list[dict], scalars: pd.DataFrame, path: Path) -> Path:
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
            g = mine[mine["tag"] == f"grad_norm/{layer}"].groupby("epoch")["value"].mean()
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
    fig.suptitle(f"study {view.title}: per-layer gradient norms "
                 "(mean over each epoch and over seeds)")
    return save(fig, path)


def plot_confusion(view: View, run: dict, path: Path) -> Path:
    confusion = np.array(run["test_confusion"])
    fig, ax = plt.subplots(figsize=(6.5, 5.8), layout="constrained")
    # a power norm: the diagonal holds ~1000 per cell, the errors a few; both should be visible
    image = ax.imshow(confusion, cmap="Blues", norm=mcolors.PowerNorm(0.3))
    for (i, j), v in np.ndenumerate(confusion):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                color="white" if v > confusion.max() / 3 else "black")
    dataset = run_dataset(run)
    ax.set_xticks(range(dataset.n_classes), dataset.classes, rotation=90 if max(map(len, dataset.classes)) > 2 else 0)
    ax.set_yticks(range(dataset.n_classes), dataset.classes)
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


def plot_misclassified(view: View, run: dict, path: Path) -> Path:
    images, true, pred = misclassified(run)
    dataset = run_dataset(run)
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
        ax.set_title(f"true {dataset.classes[t]}\npred {dataset.classes[p]}", fontsize=8, color="firebrick")
    fig.suptitle(f"{view.title}: {run['label']} seed {run['seed']}: the first {len(images)} of its "
                 f"{n_wrong} misclassified test {dataset.item_word}")
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
    if traits(view.study).gradients:
        written.append(plot_grad_norms(view, focus, scalars, resultdir / f"grad_norms_{name}.png"))
    best = best_run(focus)
    written.append(plot_confusion(view, best, resultdir / f"confusion_{name}.png"))
    try:
        written.append(plot_misclassified(view, best, resultdir / f"misclassified_{name}.png"))
    except (OSError, ValueError, RuntimeError) as e:  # no predictions, or the data missing
        if is_disk_full(e):  # not this figure's problem: main says it once
            raise
        warn(f"{name}: no misclassified-images figure ({type(e).__name__}: {e})")
    return written


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
    loaded = {v.name: load_view(v, found, v in selected or traits(v.study).gradients, args.margin)
              for v, found in views.items()}
    partial = [p for d in loaded.values() for p in d["partial"]]
    if partial:
        warn(f"{len(partial)} partial run{'s' if len(partial) > 1 else ''} (no readable result.json) left out: "
             f"{', '.join(map(str, partial[:5]))}{', ...' if len(partial) > 5 else ''}")
    try:
        written = write_results(selected, loaded, logdir, resultdir, args.readme)
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
                  readme: str | None) -> list[Path]:
    """The selected views' CSVs and figures, REPORT.md, the choices table (and README's copy): the paths written."""
    written = []
    for view in selected:
        if not loaded[view.name]["runs"]:
            warn(f"{view.name}: no finished runs: nothing to draw")
            continue
        written += draw(loaded[view.name], resultdir)
    written.append(write_report(logdir, loaded, resultdir))
    choices = write_choices(loaded, resultdir)
    written += choices
    if choices and readme:
        written.append(write_between(readme, README_MARK, choices[0].read_text()))
    return written


if __name__ == "__main__":
    exit_with(main)
