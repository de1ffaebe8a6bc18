import csv
import json
import math
import re
import statistics

import pytest

import plot
import run
from conftest import run_cli
from train import make_config
from utils import write_json


# ---- the statistics -------------------------------------------------------------------------------

def two_sided_p_df4(t: float) -> float:
    """p of a t statistic with 4 degrees of freedom, from the closed-form CDF F = 1/2 + (3u - u^3)/4."""
    u = abs(t) / math.sqrt(4 + t * t)
    return 1 - (3 * u - u**3) / 2


def two_sided_p(t: float, df: float, n: int = 2000) -> float:
    """1 - 2 * (integral of the t density from 0 to |t|), by Simpson's rule: no scipy involved."""
    c = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
    f = [c * (1 + x * x / df) ** (-(df + 1) / 2) for x in (abs(t) * i / n for i in range(n + 1))]
    return 1 - 2 * abs(t) / n / 3 * (f[0] + f[-1] + 4 * sum(f[1:-1:2]) + 2 * sum(f[2:-1:2]))


def test_welch_t_test_against_values_computed_by_hand():
    # equal sizes and variances: Welch's t is Student's, t = -3 / sqrt(1/3 + 1/3), df = 4
    t, p = plot.welch_t_test([1, 2, 3], [4, 5, 6])
    assert t == pytest.approx(-3 / math.sqrt(2 / 3))
    assert p == pytest.approx(two_sided_p_df4(t)) and p == pytest.approx(0.0213, abs=1e-4)
    # unequal variances: t = -2.5 / sqrt(5/12 + 5/3) = -sqrt(3), Welch-Satterthwaite df = 75/17
    t, p = plot.welch_t_test([1, 2, 3, 4], [2, 4, 6, 8])
    assert t == pytest.approx(-math.sqrt(3))
    assert p == pytest.approx(two_sided_p(t, 75 / 17)) and p == pytest.approx(0.1516, abs=1e-4)
    assert plot.welch_t_test([2, 4, 6, 8], [1, 2, 3, 4]) == pytest.approx((math.sqrt(3), p))
    assert all(math.isnan(v) for v in plot.welch_t_test([0.9, 0.9], [0.8, 0.8]))  # no variance: undefined
    with pytest.raises(ValueError):
        plot.welch_t_test([0.9], [0.8, 0.85])


def test_epochs_to_target_and_natural_order():
    history = [{"epoch": 1, "val_acc": 0.97}, {"epoch": 2, "val_acc": 0.98}, {"epoch": 3, "val_acc": 0.99}]
    assert plot.epochs_to_target(history) == 2
    assert plot.epochs_to_target(history[:1]) is None
    names = ["conv_w64", "conv_w8", "adam_lr0.001", "adam_lr0.000316", "conv_w16"]
    assert sorted(names, key=plot.natural_key) == ["adam_lr0.000316", "adam_lr0.001", "conv_w8", "conv_w16",
                                                   "conv_w64"]


# ---- hand-made logs with known values ---------------------------------------------------------------

def confusion_for(test_acc: float) -> list[list[int]]:
    """10,000 test images, 1,000 per digit; every error is a 4 read as 9."""
    errors = round(10_000 * (1 - test_acc))
    matrix = [[1000 if i == j else 0 for j in range(10)] for i in range(10)]
    matrix[4][4] -= errors
    matrix[4][9] = errors
    return matrix


def make_run(logdir, study, name, seed, test_acc, val_accs, grads=None, status="ok", wall=10.0, **overrides):
    """A run directory as train.py writes it, with the given numbers, in the result and in the event file."""
    from torch.utils.tensorboard import SummaryWriter

    config = make_config(study=study, name=name, seed=seed, epochs=len(val_accs), subset=1000, **overrides)
    d = logdir / study / name / f"seed{seed}"
    d.mkdir(parents=True)
    write_json(d / "config.json", {"config": config})
    ok = status == "ok"
    history = [{"epoch": e, "train_loss": 1.0 / e, "train_acc": v, "val_loss": 1.0 - v, "val_acc": v,
                "lr": config["lr"], "seconds": wall / len(val_accs)} for e, v in enumerate(val_accs, 1)]
    with SummaryWriter(str(d)) as w:
        for step in range(1, 4 * len(val_accs) + 1):  # 4 steps per epoch
            w.add_scalar("train/loss", 2.0 / step, step)
        for h in history if ok else []:
            w.add_scalar("val/acc", h["val_acc"], h["epoch"])
            w.add_scalar("val/loss", h["val_loss"], h["epoch"])
            for layer, value in (grads or {}).items():
                w.add_scalar(f"grad_norm/{layer}", value, h["epoch"])
        if ok:
            w.add_scalar("test/acc", test_acc, len(val_accs))
    write_json(d / "result.json", {
        "status": status, "study": study, "name": name, "seed": seed, "config": config,
        "epochs": len(history) if ok else 0, "history": history if ok else [],
        "test_loss": 0.1 if ok else None, "test_acc": test_acc if ok else None,
        "test_confusion": confusion_for(test_acc) if ok else None,
        "best_val_acc": max(val_accs) if ok else None, "n_params": 1234, "wall_time_s": wall,
        "diverged_at_step": None if ok else 7})
    return d


@pytest.fixture
def hand_made(tmp_path):
    logs = tmp_path / "logs"
    relu, sigmoid = {"conv1": 1.0, "fc2": 2.0}, {"conv1": 0.001, "fc2": 1.0}  # ratios 0.5 and 0.001
    for seed, (acc, val) in enumerate([(0.98, [0.97, 0.985]), (0.99, [0.975, 0.99])]):
        make_run(logs, "activation", "relu", seed, acc, val, relu, model="ConvNet", model_args={"act": "relu"})
    for seed, acc in enumerate([0.90, 0.92]):
        make_run(logs, "activation", "sigmoid", seed, acc, [0.85, 0.9], sigmoid, model="ConvNet",
                 model_args={"act": "sigmoid"})
    make_run(logs, "activation", "tanh", 0, 0.97, [0.96, 0.97], model="ConvNet", model_args={"act": "tanh"})
    make_run(logs, "activation", "elu", 0, None, [0.5], status="diverged", model="ConvNet",
             model_args={"act": "elu"})
    (logs / "activation" / "tanh" / "seed1").mkdir()  # a partial run: no result.json
    for seed, (a, b) in enumerate([(0.95, 0.97), (0.96, 0.975)]):
        make_run(logs, "depth", "conv1", seed, a, [a], model="ConvNet", model_args={"depth": 1})
        make_run(logs, "depth", "conv2", seed, b, [b], model="ConvNet", model_args={"depth": 2})
    for lr, accs in [(0.001, (0.97, 0.975)), (0.01, (0.95, 0.955))]:
        for seed, acc in enumerate(accs):
            make_run(logs, "optim_sweep", f"adam_lr{lr:g}", seed, acc, [acc], optimizer="adam", lr=lr)
    make_run(logs, "optim_sweep", "sgd_lr1", 0, None, [0.5], status="diverged", optimizer="sgd", lr=1.0)
    make_run(logs, "optim_sweep", "sgd_lr0.1", 0, 0.96, [0.96], optimizer="sgd", lr=0.1)
    return logs


def section(report: str, study: str) -> str:
    return report.split(f"\n## {study}\n")[1].split("\n## ")[0]


def table_row(text: str, name: str) -> list[str]:
    line = next(line for line in text.splitlines() if re.match(rf"\| \d+ \| {re.escape(name)} \|", line))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_hand_made_logs_give_the_known_numbers(hand_made, tmp_path, capsys):
    out = tmp_path / "result"
    assert plot.main(["--logdir", str(hand_made), "--resultdir", str(out),
                      "--study", "activation", "--study", "optim_sweep"]) == 0
    assert "1 partial run (no result.json) left out" in capsys.readouterr().err

    report = (out / "REPORT.md").read_text()
    act = section(report, "activation")
    assert table_row(act, "relu") == ["1", "relu", "1,234", "98.50 ± 0.71% (2 seeds)", "98.75%", "2.0", "10.0 s"]
    assert table_row(act, "sigmoid")[3:5] == ["91.00 ± 1.41% (2 seeds)", "90.00%"]
    assert table_row(act, "tanh")[3:5] == ["97.00% (1 seed)", "97.00%"]
    assert "Ranking by mean test accuracy: relu (98.50%) > tanh (97.00%) > sigmoid (91.00%)." in act
    t, p = plot.welch_t_test([0.90, 0.92], [0.98, 0.99])
    verdict = "significant" if p < 0.05 else "not significant"
    assert (f"sigmoid vs relu: test accuracy 91.00% vs 98.50% (-7.50 pp); Welch's t = {t:.2f}, {plot.fmt_p(p)}: "
            f"{verdict} at p < 0.05.") in act
    assert "tanh vs relu: test accuracy 97.00% vs 98.50% (-1.50 pp); a single seed supports no test." in act
    assert "sigmoid 0.001 (conv1/fc2)" in act and "relu 0.5 (conv1/fc2)" in act
    assert "500x below relu's 0.5" in act and "sigmoid's early-layer gradients collapse" in act
    assert "fastest to 98% val accuracy: relu (epoch 2" in act
    assert "most often true 4 as 9 (100 times)" in act  # best val run: relu seed 1, test 0.99
    # the diverged run: listed, never ranked or given an accuracy
    assert "| elu | 0 | diverged | 7 | adam | 0.001 |" in act and not re.search(r"\belu \(|\| \d+ \| elu \|", act)

    depth = section(report, "depth")  # not redrawn, still reported
    t, p = plot.welch_t_test([0.97, 0.975], [0.95, 0.96])
    assert "More depth in ConvNet: mean test accuracy by depth: conv1 95.50%, conv2 97.25%" in depth
    assert f"conv2 vs conv1: test accuracy 97.25% vs 95.50% (+1.75 pp); Welch's t = {t:.2f}" in depth
    sweep = section(report, "optim_sweep")
    assert "| adam | 0.001 | 97.25% | 97.25 ± 0.35% |" in sweep and "| sgd | 0.1 | 96.00% | 96.00% |" in sweep
    assert "best rates): adam_lr0.001 (97.25%) > sgd_lr0.1 (96.00%)." in sweep
    assert "| sgd_lr1 | 0 | diverged |" in sweep

    with open(out / "activation_scalars.csv") as f:
        rows = list(csv.DictReader(f))
    assert {(r["name"], r["seed"]) for r in rows} == {("relu", "0"), ("relu", "1"), ("sigmoid", "0"),
                                                       ("sigmoid", "1"), ("tanh", "0"), ("elu", "0")}
    loss = [(int(r["step"]), float(r["value"])) for r in rows
            if (r["name"], r["seed"], r["tag"]) == ("relu", "1", "train/loss")]
    assert loss == [(s, pytest.approx(2.0 / s)) for s in range(1, 9)]
    val = [float(r["value"]) for r in rows if (r["name"], r["seed"], r["tag"]) == ("relu", "0", "val/acc")]
    assert val == pytest.approx([0.97, 0.985])

    for name in ("compare_activation", "grad_norms_activation", "confusion_activation", "compare_optim_sweep"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "misclassified_activation.png").exists()  # no model.pt in a hand-made run
    assert not (out / "compare_depth.png").exists()  # only the named studies are redrawn
    assert not list(out.glob(".*tmp"))


def test_no_logs_unknown_study_and_unwritable_resultdir(hand_made, tmp_path, capsys):
    empty = run_cli("plot.py", "--logdir", tmp_path / "nothing", "--resultdir", tmp_path / "r")
    assert empty.returncode == 1 and "no runs under" in empty.stderr
    assert len(empty.stderr.strip().splitlines()) == 1 and "Traceback" not in empty.stderr

    assert plot.main(["--logdir", str(hand_made), "--study", "width", "--resultdir", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "no runs of study 'width'" in err and "activation, depth, optim_sweep" in err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert plot.main(["--logdir", str(hand_made), "--resultdir", str(blocker / "r")]) == 2
    err = capsys.readouterr().err
    assert "--resultdir" in err and len(err.strip().splitlines()) == 1


# ---- a tiny real run -------------------------------------------------------------------------------

def test_a_real_run_is_plotted_and_reported_as_its_result_json_says(tmp_path, capsys):
    studies = {"activation": lambda args: [(act, {"model": "MLPNet", "model_args": {"act": act, "depth": 1,
                                                                                     "width": 64}})
                                           for act in ("relu", "sigmoid")]}
    logs, out = tmp_path / "logs", tmp_path / "result"
    argv = ["--study", "activation", "--seeds", "2", "--epochs", "1", "--subset", "1000", "--device", "cpu",
            "--quiet", "--logdir", str(logs), "--resultdir", str(out)]
    assert run.main(argv, studies=studies) == 0  # no --no-plot: run.py calls plot.py at the end
    capsys.readouterr()

    results = {(r["name"], r["seed"]): r for r in
               (json.loads(p.read_text()) for p in logs.glob("activation/*/seed*/result.json"))}
    act = section((out / "REPORT.md").read_text(), "activation")
    for name in ("relu", "sigmoid"):
        runs = [results[(name, seed)] for seed in (0, 1)]
        acc = [r["test_acc"] for r in runs]
        assert table_row(act, name)[2:] == [
            f"{runs[0]['n_params']:,}",
            f"{100 * statistics.mean(acc):.2f} ± {100 * statistics.stdev(acc):.2f}% (2 seeds)",
            f"{100 * statistics.mean(r['best_val_acc'] for r in runs):.2f}%",
            "not reached",  # 1 epoch on 1,000 images stays far below 98%
            f"{statistics.mean(r['wall_time_s'] for r in runs):.1f} s"]
    t, _ = plot.welch_t_test([results[("sigmoid", s)]["test_acc"] for s in (0, 1)],
                             [results[("relu", s)]["test_acc"] for s in (0, 1)])
    assert "sigmoid vs relu: test accuracy" in act and f"Welch's t = {t:.2f}" in act

    with open(out / "activation_scalars.csv") as f:
        rows = list(csv.DictReader(f))
    steps = [r for r in rows if (r["name"], r["seed"], r["tag"]) == ("relu", "0", "train/loss")]
    assert len(steps) == 16  # ceil(1000 / 64) steps
    test_acc = next(float(r["value"]) for r in rows if (r["name"], r["seed"], r["tag"]) == ("relu", "0", "test/acc"))
    assert test_acc == pytest.approx(results[("relu", 0)]["test_acc"])
    for name in ("compare", "grad_norms", "confusion", "misclassified"):
        assert (out / f"{name}_activation.png").stat().st_size > 10_000

    best = plot.best_run(plot.config_rows([{**r, "run_dir": logs / "activation" / r["name"] / f"seed{r['seed']}"}
                                           for r in results.values()]))
    images, true, pred = plot.misclassified(best)
    assert len(images) == plot.N_MISCLASSIFIED and images.shape[1:] == (28, 28)
    assert (true != pred).all() and 0 <= images.min() and images.max() <= 1
