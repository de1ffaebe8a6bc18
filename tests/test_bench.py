import json

import pytest
import torch

import bench
import run
from dataloader import Splits, batches, load_splits, to_channels_last
from model import build_model, count_parameters
from recipes import SPEED_RECIPE, make_config
from train import set_determinism


@pytest.fixture(scope="module")
def splits():
    return load_splits("mnist", "cpu", subset=1000)


def test_speednet_has_the_contracted_parameter_count():
    recipe_model = build_model(SPEED_RECIPE["model"], (1, 28, 28), 10, **SPEED_RECIPE["model_args"])
    # convs 624 + 6,944, batch-norm scales and shifts 2 x (24 + 32), linear 410,112 + 5,130
    assert count_parameters(recipe_model) == count_parameters(build_model("SpeedNet", (1, 28, 28), 10)) == 422_922
    assert count_parameters(build_model("SpeedNet", (1, 28, 28), 10, bn=False, hidden=256)) == 215_194
    assert recipe_model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_speed_study_fixes_its_own_recipe():
    args = run.build_parser("run.py", "", run.STUDIES, "base").parse_args(
        ["--study", "speed", "--seeds", "5", "--epochs", "7", "--batch-size", "32", "--lr", "0.5"])
    configs = run.expand("speed", run.STUDIES["speed"](args), args)
    assert [c["seed"] for c in configs] == [0, 1, 2, 3, 4]
    assert {c["name"] for c in configs} == {"SpeedNet"} and {c["study"] for c in configs} == {"speed"}
    for c in configs:  # the recipe wins over the common flags
        assert c == make_config(**{**c, **SPEED_RECIPE})
        assert (c["epochs"], c["batch_size"], c["schedule"]) == (1, SPEED_RECIPE["batch_size"], "onecycle")


def test_throughput_measures_both_pipelines(splits):
    loader = bench.classic_loader(bench.classic_dataset(train=True))
    r = bench.throughput("MLP", steps=2, reps=3, device=torch.device("cpu"), splits=splits, loader=loader)
    assert r["suite_sps"] > 0 and r["classic_sps"] > 0 and r["compute_sps"] > 0
    assert r["ratio"] == pytest.approx(r["suite_sps"] / r["classic_sps"])
    assert r["max_ratio"] == pytest.approx(r["compute_sps"] / r["classic_sps"])
    assert len(r["suite_runs"]) == len(r["classic_runs"]) == len(r["compute_runs"]) == 3
    with pytest.raises(ValueError, match="the split has 1000"):
        bench.suite_steps(*bench.make_pair("MLP", torch.device("cpu"), 0), splits.train_x, splits.train_y, 100,
                          torch.Generator())


def test_quick_writes_the_json_schema(tmp_path, capsys):
    out = tmp_path / "r" / "bench.json"
    assert bench.main(["--quick", "--models", "LeNet", "MLP", "--steps", "2", "--reps", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["throughput"]) == {"LeNet", "MLP"} and "time_to_99" not in report
    for r in report["throughput"].values():
        assert r["suite_sps"] > 0 and r["classic_sps"] > 0 and r["ratio"] > 0
    assert report["machine"]["threads"] == 1 and report["settings"]["batch_size"] == 64
    printed = capsys.readouterr().out
    assert "ratio" in printed and "MLP" in printed


def test_quick_measures_fashion_mnist_through_both_pipelines(tmp_path):
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--dataset", "fashion-mnist", "--models", "MLP", "--steps", "2", "--reps", "1",
                       "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["settings"]["dataset"] == "fashion-mnist" and report["throughput"]["MLP"]["classic_sps"] > 0
    assert type(bench.classic_dataset(train=False, dataset="fashion-mnist")).__name__ == "FashionMNIST"


def test_time_to_99_ratio_and_its_lower_bound(monkeypatch):
    suite = {"suite_s": 10.0, "suite_test_acc": 0.991, "suite_reached": True, "suite_epochs": 1, "suite_recipe": {}}
    monkeypatch.setattr(bench, "suite_time_to_99", lambda device, seed=0: suite)
    monkeypatch.setattr(bench, "examples_time_to_99", lambda device, budget, seed=0: {
        "examples_s": 120.0, "examples_test_acc": 0.985, "examples_reached": False, "examples_epochs": 0.5})
    t = bench.time_to_99(torch.device("cpu"), 120.0)
    assert t["ratio"] == 12.0 and t["ratio_is_lower_bound"]
    assert {"suite_s", "examples_s", "ratio", "suite_test_acc", "examples_test_acc"} <= set(t)
    assert ">12.0x" in bench.time_table(t) and ">120.0" in bench.time_table(t)
    monkeypatch.setattr(bench, "examples_time_to_99", lambda device, budget, seed=0: {
        "examples_s": 95.0, "examples_test_acc": 0.9903, "examples_reached": True, "examples_epochs": 3})
    t = bench.time_to_99(torch.device("cpu"), 120.0)
    assert t["ratio"] == 9.5 and not t["ratio_is_lower_bound"] and "9.5x sooner" in bench.time_table(t)


def test_examples_net_is_pytorch_examples_net():
    model = bench.ExamplesNet()
    assert count_parameters(model) == 1_199_882
    out = model(torch.zeros(2, 1, 28, 28))
    assert out.shape == (2, 10) and torch.allclose(out.exp().sum(1), torch.ones(2))  # log-probabilities


@pytest.mark.parametrize("argv,message", [
    (["--steps", "0"], "must be a positive integer"),
    (["--reps", "two"], "is not an integer"),
    (["--steps", "900"], "the split has 55000"),
    (["--examples-budget", "-5"], "must be a positive number"),
    (["--models", "VGG"], "invalid choice"),
    (["--threads", "0"], "must be a positive integer"),
    (["--dataset", "fashion-mnist"], "the time-to-99% race is for MNIST only: add --quick"),
])
def test_bad_values_are_one_line_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_an_unwritable_out_exits_2_in_one_line_before_measuring(tmp_path, cli):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = cli("bench.py", "--quick", "--out", blocker / "bench.json")
    assert out.returncode == 2 and "--out" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_channels_last_images_stay_channels_last_in_every_batch():
    x = torch.randn(10, 3, 4, 4)  # three channels: here the layout really changes
    split = to_channels_last(Splits(x, torch.zeros(10), x[:2], torch.zeros(2), x[:3], torch.zeros(3)))
    assert split.train_x.is_contiguous(memory_format=torch.channels_last) and torch.equal(split.train_x, x)
    for xb, _ in batches(split.train_x, split.train_y, 4, torch.Generator().manual_seed(0)):
        assert xb.is_contiguous(memory_format=torch.channels_last)


def test_determinism_is_set_both_ways():
    try:
        set_determinism(True, torch.device("cpu"))
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
        set_determinism(False, torch.device("cpu"))  # the next run in this process is not deterministic
        assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.benchmark
    finally:
        torch.use_deterministic_algorithms(False)
