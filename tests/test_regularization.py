"""Augmentation, dropout, batch norm, label smoothing; the regularization and best studies (issue 33)."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

import dataloader
import plot
import run
import train
from conftest import run_dir_of
from model import build_model, count_parameters
from recipes import BEST_RECIPE, make_config
from studies import best_recipe

MNIST, FASHION = dataloader.get_dataset("mnist"), dataloader.get_dataset("fashion-mnist")
TRAIN_STEP, EVALUATE = train.train_step, train.evaluate


def recorded_run(monkeypatch, **overrides) -> dict:
    """train_run on 256 images; {"train": digests of the batches each step trained on, "eval": of what it evaluated}."""
    seen = {"train": [], "eval": []}

    def recording_step(model, optimizer, xb, yb, *args, **kwargs):
        seen["train"].append(train.digest([xb, yb]))
        return TRAIN_STEP(model, optimizer, xb, yb, *args, **kwargs)

    def recording_evaluate(model, x, y, **kwargs):
        seen["eval"].append(train.digest([x, y]))
        return EVALUATE(model, x[:64], y[:64], **kwargs)  # what it was given is recorded; the first 64 keep it quick

    monkeypatch.setattr(train, "train_step", recording_step)
    monkeypatch.setattr(train, "evaluate", recording_evaluate)
    config = {"model": "Net", "epochs": 2, "subset": 256, "batch_size": 64, "evals_per_epoch": 1, "device": "cpu",
              **overrides}
    result = train.train_run(config)
    assert result["status"] == "ok"
    return seen


def test_the_same_seed_gives_the_same_augmented_batches_in_two_runs_and_in_both_configs_of_a_pair(monkeypatch):
    first = recorded_run(monkeypatch, augment="shift_rotate", seed=3)
    again = recorded_run(monkeypatch, augment="shift_rotate", seed=3)
    # another network of the pair, with dropout drawing from the global generator in between
    paired = recorded_run(monkeypatch, augment="shift_rotate", seed=3,
                          model_args={"bn": True, "conv_dropout": 0.25, "fc_dropout": 0.5}, label_smoothing=0.1)
    plain = recorded_run(monkeypatch, seed=3)
    other_seed = recorded_run(monkeypatch, augment="shift_rotate", seed=4)
    assert len(first["train"]) == 8  # 2 epochs of 4 batches
    assert first["train"] == again["train"] == paired["train"]
    assert not set(first["train"]) & set(plain["train"])  # every batch was transformed
    assert not set(first["train"]) & set(other_seed["train"])
    # validation and test are never augmented: the same tensors as a run without augmentation evaluates
    assert first["eval"] == plain["eval"] == paired["eval"]
    splits = dataloader.load_splits(MNIST, subset=256)
    assert set(first["eval"]) == {train.digest([splits.val_x, splits.val_y]), train.digest([splits.test_x, splits.test_y])}


def test_flips_are_refused_on_digits_and_allowed_on_clothing(cli, tmp_path):
    with pytest.raises(ValueError, match="mirrors images, which MNIST does not allow"):
        dataloader.augmenter("shift_rotate_flip", MNIST, 0)
    with pytest.raises(ValueError, match="MNIST does not allow"):
        train.train_run({"model": "MLP", "subset": 64, "augment": "shift_rotate_flip", "device": "cpu"})
    assert dataloader.augmenter("shift_rotate_flip", FASHION, 0) is not None
    for args in (["--augment", "shift_rotate_flip"], ["--grid", "augment=none,shift_rotate_flip"]):
        out = cli("run.py", *args, "--dry-run", "--logdir", tmp_path / "l", "--resultdir", tmp_path / "r")
        assert out.returncode == 2 and "MNIST does not allow" in out.stderr and "Traceback" not in out.stderr
    out = cli("run.py", "--augment", "shift_rotate_flip", "--dataset", "fashion-mnist", "--dry-run",
              "--logdir", tmp_path / "l", "--resultdir", tmp_path / "r")
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "l").exists()  # a dry run writes nothing


def test_augmentation_shifts_by_at_most_2_pixels_fills_in_background_and_mirrors_about_half(monkeypatch):
    x = dataloader.load_splits(FASHION, subset=512).train_x
    monkeypatch.setattr(dataloader, "ROTATE_DEG", 0.0)
    shifted = dataloader.augment_batch(x, torch.Generator().manual_seed(0), False, FASHION.background)

    def centroid(images):
        mass = (images - FASHION.background).clamp(min=0)[:, 0]
        grid = torch.arange(28.0)
        total = mass.sum((1, 2))
        return torch.stack([(mass.sum(1) * grid).sum(1) / total, (mass.sum(2) * grid).sum(1) / total], 1)

    moved = (centroid(shifted) - centroid(x)).abs()
    assert moved.max() <= 2.05 and moved.max() > 1.0  # up to 2 px, and it does move
    blank = torch.full((4, 1, 28, 28), FASHION.background)
    assert torch.allclose(dataloader.augment_batch(blank, torch.Generator(), True, FASHION.background), blank)
    monkeypatch.setattr(dataloader, "SHIFT_PX", 0.0)
    mirrored = dataloader.augment_batch(x, torch.Generator().manual_seed(0), True, FASHION.background)
    same = torch.isclose(mirrored, x, atol=1e-5).flatten(1).all(1)
    flipped = torch.isclose(mirrored, x.flip(-1), atol=1e-5).flatten(1).all(1)
    assert (same | flipped).all() and 0.4 < flipped.float().mean() < 0.6


def test_label_smoothing_reaches_the_training_loss_and_not_evaluation():
    torch.manual_seed(0)
    model = build_model("MLP", MNIST.image_shape, MNIST.n_classes)
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    with torch.no_grad():
        logp = F.log_softmax(model(x), 1)
    expected = (0.9 * F.nll_loss(logp, y) + 0.1 * (-logp.mean(1)).mean()).item()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    loss, _ = train.train_step(model, optimizer, x, y, label_smoothing=0.1)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert train.evaluate(model, x, y)["loss"] == pytest.approx(F.nll_loss(logp, y).item(), rel=1e-5)
    with pytest.raises(ValueError, match="label_smoothing"):
        make_config(label_smoothing=1.0)


def test_the_additions_keep_nets_weights_and_count_their_parameters():
    plain = build_model("Net", MNIST.image_shape, 10)
    assert count_parameters(plain) == 225_034
    assert count_parameters(build_model("Net", MNIST.image_shape, 10, bn=True)) == 225_226  # 2 x (32 + 64) more
    dropped = build_model("Net", MNIST.image_shape, 10, conv_dropout=0.25, fc_dropout=0.5)
    assert [type(m).__name__ for m in dropped].count("Dropout") == 2 and count_parameters(dropped) == 225_034
    assert list(plain.state_dict()) == [k for k in build_model("Net", MNIST.image_shape, 10).state_dict()]
    best = build_model(BEST_RECIPE["model"], MNIST.image_shape, 10, **BEST_RECIPE["model_args"])
    assert count_parameters(best) == 390_858
    garments = build_model(BEST_RECIPE["model"], MNIST.image_shape, 10, **best_recipe("fashion-mnist")["model_args"])
    assert count_parameters(garments) == 653_994  # 48-96-192 channels
    with pytest.raises(ValueError, match="dropout"):
        build_model("Net", MNIST.image_shape, 10, fc_dropout=1.0)


def test_the_regularization_study_plans_seven_configs_against_net_under_the_full_recipe(tmp_path, capsys):
    logs = ["--logdir", str(tmp_path / "l"), "--resultdir", str(tmp_path / "r")]
    assert run.main(["--study", "regularization", "--epochs", "1", "--subset", "20000", "--seeds", "3", "--dry-run",
                     *logs]) == 0
    out = capsys.readouterr().out
    assert "plan: regularization: 7 configs x 3 seeds = 21 runs" in out and "; recipe full:" in out
    assert ("regularization study: dropout, batchnorm, no_weight_decay, label_smoothing, augment, all against Net, "
            "one change each (all: every addition), recipe full\n") in out
    assert run.main(["--study", "regularization", "--recipe", "quick", "--dry-run", *logs]) == 0
    out = capsys.readouterr().out
    assert "weight_decay, label_smoothing" in out and "regularizers pay off late" in out
    assert "regularization" not in run.selected_studies(run.build_parser("run.py", "", run.STUDIES, "base")
                                                        .parse_args(["--study", "all"]), run.STUDIES)


def study_configs(study: str, *args: str) -> dict[str, dict]:
    parsed = run.build_parser("run.py", "", run.STUDIES, "base").parse_args(["--study", study, "--seeds", "1", *args])
    return {c["name"]: c for c in run.expand(study, run.STUDIES[study](parsed), parsed)}


def test_each_regularization_config_is_one_change_and_all_is_every_addition():
    full = study_configs("regularization")
    net = full["Net"]
    changed = {name: {k for k in c if c[k] != net[k]} - {"name"} for name, c in full.items()}
    assert changed == {"Net": set(), "dropout": {"model_args"}, "batchnorm": {"model_args"},
                       "no_weight_decay": {"weight_decay"}, "label_smoothing": {"label_smoothing"},
                       "augment": {"augment"}, "all": {"model_args", "label_smoothing", "augment"}}
    assert net["weight_decay"] == 0.05 and full["no_weight_decay"]["weight_decay"] == 0.0
    assert full["all"]["model_args"] == {"bn": True, "conv_dropout": 0.25, "fc_dropout": 0.5}
    quick = study_configs("regularization", "--recipe", "quick")
    assert quick["Net"]["weight_decay"] == 0.0 and quick["weight_decay"]["weight_decay"] == 5e-4
    assert quick["all"]["weight_decay"] == 5e-4  # on where the recipe has none: an addition too
    fashion = study_configs("regularization", "--dataset", "fashion-mnist")
    assert fashion["augment"]["augment"] == "shift_rotate_flip" and full["augment"]["augment"] == "shift_rotate"
    best = study_configs("best", "--epochs", "1")
    assert best["best"]["epochs"] == BEST_RECIPE["epochs"] and best["best"]["augment"] == "shift_rotate"
    assert best["best"]["model_args"] == BEST_RECIPE["model_args"]  # MNIST trains BEST_RECIPE itself
    garments = study_configs("best", "--dataset", "fashion-mnist")["best"]
    assert garments["epochs"] == 30 and garments["augment"] == "shift_rotate_flip"
    assert garments["model_args"] == {**BEST_RECIPE["model_args"], "width": 48}
    assert BEST_RECIPE["model_args"]["width"] == 32  # the override copies, never edits, the shared recipe


def test_a_grid_of_augmentation_trains_its_runs_and_the_report_shows_the_best_study_beside_published_results(
        tmp_path, monkeypatch):
    logs = tmp_path / "l"
    assert run.main(["--grid", "model=MLP", "augment=none,shift_rotate", "--epochs", "1", "--subset", "512",
                     "--seeds", "2", "--evals-per-epoch", "1", "--jobs", "1", "--device", "cpu", "--no-plot", "--quiet",
                     "--logdir", str(logs)]) == 0
    augments = sorted(json.loads(p.read_text())["config"]["augment"] for p in logs.glob("grid-model-augment/*/seed*/result.json"))
    assert augments == ["none", "none", "shift_rotate", "shift_rotate"]
    # the best study's network shrunk to a test's size; its report table is what the study prints
    monkeypatch.setitem(run.STUDIES, "best", lambda args: [("best", {
        "model": "MLP", "epochs": 1, "batch_size": 128, "optimizer": "adamw", "lr": 0.003, "weight_decay": 0.05,
        "schedule": "onecycle", "label_smoothing": 0.1, "augment": "shift_rotate"})])
    assert run.main(["--study", "best", "--subset", "512", "--seeds", "2", "--evals-per-epoch", "1", "--jobs", "1",
                     "--device", "cpu", "--no-plot", "--quiet", "--logdir", str(logs)]) == 0
    assert plot.main(["--logdir", str(logs), "--resultdir", str(tmp_path / "r")]) == 0
    report = (tmp_path / "r" / "REPORT.md").read_text()
    section = report[report.index("## best on MNIST"):]
    assert "| this suite: best, 2 seeds |" in section and "| 669,706 | " in section
    assert "| LeCun et al. 1998, LeNet-5 trained with distortions (0.80%) | 99.20% | | |" in section
    assert "augment shift_rotate, label smoothing 0.1" in section
    wall = json.loads((run_dir_of(logs, "best", "best") / "result.json").read_text())["wall_time_s"]
    assert math.isfinite(wall) and wall > 0


@pytest.mark.parametrize("flags,args,expected,why", [
    ({"avx512_bf16"}, [], "bf16", "precision: bf16 (the best study's default, auto: this CPU has avx512_bf16)"),
    ({"avx2"}, [], "fp32", "precision: fp32 (the best study's default, auto: this CPU has neither"),
    ({"avx512_bf16"}, ["--precision", "fp32"], "fp32", "precision: fp32 (--precision fp32;")])
def test_the_best_study_takes_bf16_where_the_cpu_computes_it_natively_unless_told(monkeypatch, tmp_path, capsys,
                                                                                   flags, args, expected, why):
    import utils
    monkeypatch.setattr(utils, "cpu_flags", lambda: flags)
    planned = []
    monkeypatch.setattr(run, "print_plan", lambda studies, plan, *a: planned.extend(plan.tasks) or print(
        run.precision_line(a[-2], a[-1])))
    assert run.main(["--study", "best", "--dry-run", "--device", "cpu", *args, "--logdir", str(tmp_path / "l"),
                     "--resultdir", str(tmp_path / "r")]) == 0
    assert {t["config"]["precision"] for t in planned} == {expected} and len(planned) == 5
    assert why in capsys.readouterr().out
    planned.clear()
    assert run.main(["--dry-run", "--device", "cpu", "--logdir", str(tmp_path / "l")]) == 0  # other studies: fp32
    assert {t["config"]["precision"] for t in planned} == {"fp32"}
