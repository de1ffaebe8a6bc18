"""plot.py's figures drawn for 900 px: every kind rendered from hand-made logs, its axes, labels, glyphs and size."""
import math
import shutil
import struct

import numpy as np
import pandas as pd
import pytest
from matplotlib import font_manager
from matplotlib.ft2font import FT2Font
from matplotlib.text import Text

import analysis
import plot
import report
import stats
from conftest import results_script
from recipes import make_config
from runstore import config_dir
from utils import write_json

pytestmark = pytest.mark.xdist_group("figures")  # one process: its module fixtures are costly

EVALS = 4  # val evaluations an epoch


@pytest.fixture(scope="module")
def labels():
    return analysis.test_labels()


def write_run(logdir, study, name, seed, acc, labels, *, epochs=2, batch_size=64, steps_per_epoch=8, recipe="quick",
              grads=None, grad_every=0, **overrides):
    """A finished run as train.py writes it: train/loss every step, val/* EVALS times an epoch at global steps,
    grad_norm/<layer> once an epoch (train.py's log) or every `grad_every` steps, predictions wrong on the first
    round((1 - acc) * 10,000) test images."""
    from torch.utils.tensorboard import SummaryWriter

    config = make_config(study=study, name=name, seed=seed, epochs=epochs, batch_size=batch_size, recipe=recipe,
                         subset=1000, model="MLPNet", **overrides)
    d = logdir / study / config_dir(config) / f"seed{seed}"
    d.mkdir(parents=True)
    write_json(d / "config.json", {"config": config})
    n, every = epochs * steps_per_epoch, steps_per_epoch // EVALS
    curve = [{"step": s, "epoch": s / steps_per_epoch, "val_loss": 0.03 + 2 * math.exp(-3 * s / steps_per_epoch),
              "val_acc": acc - (acc - 0.1) * math.exp(-4 * s / steps_per_epoch) - 0.001 * seed}
             for s in range(every, n + 1, every)]
    pred = labels.copy()
    wrong = round((1 - acc) * len(labels))
    pred[:wrong] = (labels[:wrong] + 1) % 10
    with SummaryWriter(str(d)) as w:
        for step in range(1, n + 1):
            w.add_scalar("train/loss", 0.02 + 2.3 * math.exp(-step / steps_per_epoch) * (1.1 + 0.1 * math.sin(step)),
                         step)
        for p in curve:
            w.add_scalar("val/loss", p["val_loss"], p["step"])
            w.add_scalar("val/acc", p["val_acc"], p["step"])
        for step in range(grad_every or steps_per_epoch, n + 1, grad_every or steps_per_epoch):
            for layer, value in (grads or {}).items():
                w.add_scalar(f"grad_norm/{layer}", value * (1 + 0.2 * math.cos(step + seed)), step)
        w.add_scalar("test/acc", float(np.mean(pred == labels)), n)
    np.save(d / "predictions.npy", pred.astype(np.uint8))
    history = [{"epoch": e, "train_loss": 0.1, "train_acc": 0.9, "val_loss": curve[e * EVALS - 1]["val_loss"],
                "val_acc": curve[e * EVALS - 1]["val_acc"], "lr": config["lr"], "seconds": 1.0}
               for e in range(1, epochs + 1)]
    write_json(d / "result.json", {
        "status": "ok", "study": study, "name": name, "seed": seed, "config": config, "epochs": epochs,
        "history": history, "steps_per_epoch": steps_per_epoch, "evals_per_epoch": EVALS, "val_curve": curve,
        "test_loss": 0.1, "test_acc": float(np.mean(pred == labels)),
        "test_confusion": np.bincount(10 * labels + pred, minlength=100).reshape(10, 10).tolist(),
        "predictions": "predictions.npy", "best_val_acc": max(h["val_acc"] for h in history), "n_params": 1000,
        "wall_time_s": 5.0 + seed, "shared": {"seed": seed}})


@pytest.fixture(scope="module")
def logs(tmp_path_factory, labels):
    """Every kind of study the figures treat differently, 2 seeds each."""
    logs = tmp_path_factory.mktemp("figures") / "logs"
    for seed in range(2):
        # batch sizes: 32 and 8 steps an epoch, so the x axis is in steps
        for batch, spe, acc in ((16, 32, 0.985), (64, 8, 0.98)):
            write_run(logs, "batch_size", f"bs{batch}", seed, acc, labels, batch_size=batch, steps_per_epoch=spe)
        # a 1-epoch study whose gradient norms are logged every 2 steps
        for act, acc, first in (("relu", 0.97, 1.0), ("sigmoid", 0.95, 0.01)):
            write_run(logs, "activation", act, seed, acc, labels, epochs=1, model_args={"act": act},
                      grads={"fc1": first, "fc2": 1.0}, grad_every=2)
        write_run(logs, "speed", "SpeedNet", seed, 0.99, labels, epochs=1)  # one config: nothing to compare
        # the base study under both recipes (full: batch 128, 4 steps an epoch): the quick-against-full figure
        for net, acc in (("Net", 0.99), ("MLP", 0.975)):
            write_run(logs, "base", net, seed, acc - 0.005, labels, model_args={"width": 32 if net == "Net" else 64})
            write_run(logs, "base", net, seed, acc, labels, recipe="full", epochs=4, batch_size=128, steps_per_epoch=4,
                      model_args={"width": 32 if net == "Net" else 64})
        # a rate sweep: each optimizer at its best rate on val is compared and drawn
        for opt, lr, acc in (("adam", 0.001, 0.98), ("adam", 0.01, 0.97), ("sgd", 0.01, 0.96), ("sgd", 0.1, 0.975)):
            write_run(logs, "optim_sweep", f"{opt}_lr{lr:g}", seed, acc, labels, optimizer=opt, lr=lr)
    return logs


def png_size(path):
    """(width, height) in pixels from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def missing_glyphs(fig) -> set[str]:
    """Characters of the figure's texts that its font cannot draw (matplotlib would draw an empty box)."""
    missing = set()
    for text in fig.findobj(Text):
        font = FT2Font(font_manager.findfont(text.get_fontproperties()))
        missing |= {ch for ch in text.get_text() if ch.strip() and font.get_char_index(ord(ch)) == 0}
    return missing


def summary(fig) -> dict:
    """What the tests check of a figure before it is saved."""
    axes = [ax for ax in fig.axes if ax.axison]
    return {"suptitle": fig._suptitle.get_text() if fig._suptitle else "",
            "legend": [t.get_text() for ax in fig.axes if not ax.axison and ax.get_legend()
                       for t in ax.get_legend().get_texts()],  # the key beside the panels
            "axes": [{"title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
                      "xscale": ax.get_xscale(), "yscale": ax.get_yscale(), "xlim": ax.get_xlim(),
                      "yticks": [t.get_text() for t in ax.get_yticklabels()], "lines": len(ax.get_lines()),
                      "styles": [(line.get_marker(), line.get_linestyle()) for line in ax.get_lines()],
                      "legend": [t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else []}
                     for ax in axes],
            "missing": missing_glyphs(fig)}


@pytest.fixture(scope="module")
def drawn(logs, tmp_path_factory):
    """plot.py run on the hand-made logs, each figure's summary taken as it is saved: {file stem: summary}."""
    out = tmp_path_factory.mktemp("result")
    seen, save = {}, plot.save

    def recording(fig, path):
        seen[path.stem] = summary(fig)  # taken before saving, without a draw: the PNG is the one plot.py makes
        seen[path.stem]["pixels"] = tuple(fig.get_size_inches() * plot.DPI)
        if path.stem.startswith(("confusion", "misclassified")) and not path.stem.endswith("activation"):
            plot.plt.close(fig)  # one of each is enough to render: rendering is most of the time
            return path
        return save(fig, path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plot, "save", recording)
        assert plot.main(["--logdir", str(logs), "--resultdir", str(out)]) == 0
    return out, seen


LOG_Y = "error, 100 − accuracy (%, log scale)"


def test_every_figure_is_900_px_wide_and_draws_every_glyph(drawn):
    out, seen = drawn
    assert sorted(seen) == sorted([f"{kind}_{view}" for view in ("batch_size", "activation", "speed", "base",
                                                                 "base-full", "optim_sweep")
                                   for kind in ("compare", "confusion", "misclassified")]
                                  + ["grad_norms_activation", "lr_sweep_optim_sweep", "quick_vs_full_base"])
    for stem, fig in seen.items():
        width, height = fig["pixels"]
        assert width == (720 if stem.startswith("confusion") else 900) and 300 < height < 1300, stem
        assert fig["missing"] == set(), stem
        if (out / f"{stem}.png").exists():
            assert png_size(out / f"{stem}.png") == (round(width), round(height))
    assert len(list(out.glob("*.png"))) == len(seen) - 10


def test_curves_are_on_log_axes_against_steps_where_batch_sizes_differ(drawn):
    _, seen = drawn
    fig = seen["compare_batch_size"]
    loss, val_loss, val_error, acc, diff = fig["axes"]
    assert [(ax["title"], ax["yscale"], ax["xscale"]) for ax in (loss, val_loss, val_error)] == [
        ("train loss (EMA-smoothed per step)", "log", "log"), ("val loss", "log", "log"), ("val error", "log", "log")]
    assert loss["xlabel"] == "optimizer steps (log scale)" and val_error["ylabel"] == LOG_Y
    assert fig["legend"] == ["bs16 (2 seeds, 32 steps/epoch)", "bs64 (2 seeds, 8 steps/epoch)"]
    assert fig["suptitle"] == "study batch_size on MNIST, recipe quick: 2 configs"
    # dot-and-interval plots with the configs named on the y axis; the forest names config and verdict
    assert acc["xlabel"] == "test accuracy (%)" and acc["yticks"] == ["bs16", "bs64"]
    assert len(diff["yticks"]) == 1 and diff["yticks"][0].startswith("bs16   ")
    assert diff["title"].startswith("test accuracy minus bs64's: mean (◆), simultaneous 95% interval over 1 comparison")


def test_a_one_epoch_study_keeps_epochs_and_a_one_config_study_draws_no_comparison(drawn):
    _, seen = drawn
    activation = seen["compare_activation"]["axes"]
    assert [(ax["xscale"], ax["xlabel"]) for ax in activation[:3]] == [("linear", "epoch")] * 3
    assert activation[2]["xlabel"] == "epoch" and activation[2]["xlim"] == pytest.approx((0, 1.02))
    speed = seen["compare_speed"]
    assert speed["suptitle"] == "study speed on MNIST, its own recipe: 1 config"
    assert len(speed["axes"]) == 4 and not any("test accuracy minus" in ax["title"] for ax in speed["axes"])
    assert speed["legend"] == ["SpeedNet (2 seeds)"]


def test_gradient_norms_draw_every_logged_sample_below_the_layer_profile_and_ratio(drawn):
    _, seen = drawn
    fig = seen["grad_norms_activation"]
    profile, ratio, relu, sigmoid = fig["axes"]
    assert profile["title"] == "mean over training, by layer" and profile["legend"] == ["relu", "sigmoid"]
    assert (ratio["xscale"], ratio["yticks"]) == ("log", ["relu", "sigmoid"])
    assert {ax["yscale"] for ax in (profile, relu, sigmoid)} == {"log"} and relu["xlabel"] == "epoch"
    assert relu["legend"] == ["fc1", "fc2"] and relu["lines"] == 2 and sigmoid["title"] == "sigmoid"
    assert "each layer's norm at every logged step" in fig["suptitle"]


def test_gradient_norms_logged_once_an_epoch_draw_no_curves_of_two_points(logs, monkeypatch, tmp_path):
    [(view, found)] = [(v, f) for v, f in analysis.find_views(logs).items() if v.study == "activation"]
    data = analysis.load_view(view, found, with_scalars=True)
    scalars, rows = data["scalars"], data["rows"]
    assert plot.over_training(scalars, rows)  # every 2 steps
    once = scalars[~scalars["tag"].str.startswith("grad_norm/") | (scalars["step"] == 8)]  # train.py's log
    assert not plot.over_training(once, rows)
    seen = {}
    monkeypatch.setattr(plot, "save", lambda fig, path: seen.setdefault("fig", fig))
    plot.plot_grad_norms(view, rows, once, tmp_path / "g.png")
    profile, ratio = seen["fig"].axes
    assert "once an epoch" in seen["fig"].get_suptitle().replace("\n", " ")
    # relu's first and last layers alike, sigmoid's first 100 times smaller: the ratios REPORT.md quotes
    marks = [line.get_xdata()[0] for line in ratio.get_lines() if line.get_marker() == "o"]
    assert marks == pytest.approx([1.0, 0.01])
    plot.plt.close(seen["fig"])


def test_quick_against_full_puts_both_recipes_in_each_networks_panel(drawn):
    _, seen = drawn
    fig = seen["quick_vs_full_base"]
    panels = [ax for ax in fig["axes"] if ax["title"]]
    assert [ax["title"] for ax in panels] == ["Net", "MLP"]
    assert [(ax["xscale"], ax["yscale"], ax["lines"]) for ax in panels] == [("log", "log", 2)] * 2
    assert panels[0]["xlabel"] == "epoch (log scale)" and panels[0]["ylabel"] == "val error (%)"
    assert fig["legend"] == ["quick: 2 epochs, batch 64", "full: 4 epochs, batch 128"]  # the key, in the last panel


def test_the_sweep_is_its_own_figure_and_the_compare_figure_holds_each_optimizers_best_rate(drawn):
    _, seen = drawn
    assert seen["compare_optim_sweep"]["legend"] == ["adam_lr0.001 (2 seeds)", "sgd_lr0.1 (2 seeds)"]
    val, test = seen["lr_sweep_optim_sweep"]["axes"]  # validation picks each rate; test is shown beside it
    assert (val["xscale"], val["yscale"], val["legend"]) == ("log", "log", ["adam", "sgd"])
    assert val["title"].startswith("validation (picks each rate)") and test["title"].startswith("test (reported")
    assert (val["lines"], test["lines"]) == (2, 2)
    assert len(set(val["styles"])) == 2  # marker and dash tell apart lines that color alone would stack
    assert "picked on validation ringed" in " ".join(seen["lr_sweep_optim_sweep"]["suptitle"].split())


def test_the_same_logs_draw_the_same_bytes(logs, drawn, tmp_path):
    out, _ = drawn
    again = tmp_path / "again"
    assert plot.main(["--logdir", str(logs), "--resultdir", str(again), "--study", "activation"]) == 0
    for stem in ("compare_activation", "grad_norms_activation", "confusion_activation", "misclassified_activation"):
        assert (again / f"{stem}.png").read_bytes() == (out / f"{stem}.png").read_bytes()


# ---- the overview of every answer (docs/results/overview.py) ------------------------------------------

overview = results_script("overview", "results_overview")
check = results_script("check", "results_check")


def comparisons(study, reference, margin, *rows):
    """A comparisons CSV's rows, 10 seeds each: (config, mean_diff, sim_low, sim_high, verdict, within_margin,
    confirmed)."""
    keys = ("config", "mean_diff", "sim_low", "sim_high", "verdict", "within_margin", "confirmed")
    return pd.DataFrame([{"study": study, "reference": reference, "margin": margin, "seeds": 10,
                          **dict(zip(keys, row))} for row in rows])


def test_the_overview_puts_quick_and_full_side_by_side_and_says_not_run(tmp_path, monkeypatch):
    cells = {("activation", "quick"): comparisons("activation", "relu", 0.005,
                                                  ("sigmoid", -0.014, -0.019, -0.010, "worse", False, True),
                                                  ("tanh", 0.0, -0.002, 0.002, "equivalent", True, None)),
             ("activation", "full"): comparisons("activation", "relu", 0.002,
                                                 ("sigmoid", -0.003, -0.004, -0.001, "worse", False, False),
                                                 ("gelu", 0.0, -0.003, 0.003, "inconclusive", False, None)),
             ("depth", "quick"): comparisons("depth", "conv2", 0.005,
                                             ("conv1", -0.007, -0.009, -0.005, "worse", False, True))}
    seen, save = {}, plot.save

    def recording(fig, path):
        fig.canvas.draw()
        seen[path.stem] = fig
        return save(fig, path)
    monkeypatch.setattr(plot, "save", recording)
    path = overview.draw("mnist", cells, tmp_path / "overview-mnist.png")
    assert png_size(path)[0] == 900
    fig = seen["overview-mnist"]
    assert fig.get_suptitle() == "MNIST: what each choice does, every study against its reference"
    assert [sub.get_suptitle() for sub in fig.subfigs[1:]] == ["activation function (activation), against relu",
                                                               "number of layers (depth), against conv2"]
    (quick, full), (depth_quick, depth_full) = (sub.axes for sub in fig.subfigs[1:])
    assert [t.get_text() for t in quick.get_yticklabels()] == ["sigmoid", "tanh", "gelu"]  # quick's, then full's
    assert (quick.get_title(), full.get_title()) == ("quick recipe (2 epochs)", "full recipe (to convergence)")
    assert quick.get_xlim() == full.get_xlim() and quick.get_xlim()[0] < -1.9 and quick.get_xlim()[1] > 0.5
    assert [t.get_text() for t in depth_full.texts] == ["not run"] and not depth_quick.texts
    assert [t.get_text() for t in full.texts] == [report.DAGGER]  # sigmoid on full: weak evidence (10 seeds)
    hollow = [line.get_markerfacecolor() for line in quick.get_lines() if line.get_marker() == "o"]
    assert hollow == ["#404040"]  # equivalent: a filled dot; only a negligible better/worse is hollow
    assert missing_glyphs(fig) == set()
    assert depth_full.get_xlabel() == "test accuracy minus the reference's (pp)"


def test_the_committed_overview_is_overview_py_s_and_a_changed_comparison_is_named(tmp_path):
    assert check.overview_problems() == []
    results = tmp_path / "results"
    for path in [*check.RESULTS.glob("*/CHOICES.json"), *check.RESULTS.glob("*/*_comparisons.csv"),
                 *check.RESULTS.glob("overview-*.png")]:
        (results / path.parent.relative_to(check.RESULTS)).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, results / path.relative_to(check.RESULTS))
    csv = results / "mnist-quick" / "activation_comparisons.csv"
    table = pd.read_csv(csv)
    table.loc[0, "mean_diff"] += 0.001
    table.to_csv(csv, index=False)
    assert check.overview_problems(results) == [
        "overview-mnist.png: not overview.py's drawing of the parts' comparisons (python docs/results/overview.py)"]
    width, height = png_size(check.RESULTS / "overview-mnist.png")
    assert width == 900 and height < 1500  # 8 study rows, the rate sweep's among them


def test_the_forest_labels_use_the_tables_symbols_negligible_included():
    def comparison(verdict, low, high, seeds=10):
        return stats.Comparison("gelu", "relu", list(range(seeds)), [], (low + high) / 2, None, None, 0.01, 0.005,
                                None, sim_low=low, sim_high=high, verdict=verdict, family=6, confirmed=True)
    assert plot.verdict_label(comparison("better", 0.0001, 0.0029)) == "△ better, negligible"
    assert plot.verdict_label(comparison("worse", -0.0190, -0.0098)) == "▼ worse"
    assert plot.verdict_label(comparison("equivalent", -0.0016, 0.0016)) == "≈ equivalent"
