import json

import pytest
import torch

import bench
import run
from dataloader import Splits, batches, load_splits, to_channels_last
from model import build_model, count_parameters
from recipes import SPEED60_RECIPE, SPEED_RECIPE, make_config
from train import set_determinism


@pytest.fixture(scope="module")
def splits():
    return load_splits("mnist", "cpu", subset=1000)


def test_the_speed_networks_have_their_contracted_parameter_counts():
    assert SPEED_RECIPE["model"] == SPEED60_RECIPE["model"] == "SpeedNetLite"
    recipe_model = build_model(SPEED_RECIPE["model"], (1, 28, 28), 10, **SPEED_RECIPE["model_args"])
    # convs (no bias) 400 + 4,608, batch-norm scales and shifts 2 x (16 + 32), linear 205,056 + 2,570
    assert count_parameters(recipe_model) == 212_730
    assert SPEED60_RECIPE == {**SPEED_RECIPE, "epochs": 6}  # the same network and step, trained 6 epochs
    # the earlier speed network: convs 624 + 6,944, batch norm 2 x (24 + 32), linear 410,112 + 5,130
    assert count_parameters(build_model("SpeedNet", (1, 28, 28), 10)) == 422_922
    assert count_parameters(build_model("SpeedNet", (1, 28, 28), 10, bn=False, hidden=256)) == 215_194
    assert recipe_model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_multiply_adds_are_counted_layer_by_layer():
    net = build_model("Net", (1, 28, 28), 10)
    # each output times its inputs: conv1 3x3 from 1 to 32 channels on 26x26, conv2 3x3 from 32 to 64 on 11x11,
    # then 1,600 to 128 and 128 to 10
    macs = bench.layer_macs(net, (1, 28, 28))
    assert macs == [194_688, 2_230_272, 204_800, 1_280] and sum(macs) == 2_631_040
    assert bench.training_macs(net, (1, 28, 28)) == 3 * 2_631_040 - 194_688  # the first layer's input gradient: none
    lite = bench.layer_macs(build_model("SpeedNetLite", (1, 28, 28), 10), (1, 28, 28))
    assert lite == [5 * 5 * 16 * 24 * 24, 3 * 3 * 16 * 32 * 10 * 10, 800 * 256, 256 * 10]


@pytest.mark.parametrize("study, recipe", [("speed", SPEED_RECIPE), ("speed60", SPEED60_RECIPE)])
def test_speed_studies_fix_their_own_recipe(study, recipe):
    args = run.build_parser("run.py", "", run.STUDIES, "base").parse_args(
        ["--study", study, "--seeds", "5", "--epochs", "7", "--batch-size", "32", "--lr", "0.5"])
    configs = run.expand(study, run.STUDIES[study](args), args)
    assert [c["seed"] for c in configs] == [0, 1, 2, 3, 4]
    assert {c["name"] for c in configs} == {"SpeedNetLite"} and {c["study"] for c in configs} == {study}
    for c in configs:  # the recipe wins over the common flags
        assert c == make_config(**{**c, **recipe})
        assert (c["epochs"], c["batch_size"], c["schedule"], c["evals_per_epoch"]) == (
            recipe["epochs"], 128, "onecycle", 1)


def test_a_speed_study_trains_one_run_at_a_time_and_prints_its_record(tmp_path, capsys):
    assert run.main(["--study", "speed", "--seeds", "2", "--subset", "640", "--device", "cpu", "--no-plot", "--quiet",
                     "--logdir", str(tmp_path / "l"), "--resultdir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "--jobs 1," in out  # one run at a time, every core's thread for it
    results = [json.loads(p.read_text()) for p in sorted((tmp_path / "l").glob("speed/*/seed*/result.json"))]
    accs = ", ".join(f"{100 * r['test_acc']:.2f}%" for r in results)
    assert len(results) == 2 and f"SpeedNetLite, 2 seeds: test accuracy {accs} (mean" in out
    seconds = sorted(sum(h["seconds"] for h in r["history"]) for r in results)
    assert f"min {seconds[0]:.2f}, max {seconds[1]:.2f}" in out and "process seconds so far" in out


def test_peak_reports_each_network_as_a_share_of_the_matrix_multiply(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--peak", "--models", "MLP", "--steps", "2", "--reps", "1", "--out", str(out)]) == 0
    peak = json.loads(out.read_text())["peak"]
    assert set(peak) == {"fp32", "bf16"}
    for r in peak.values():
        mlp = r["networks"]["MLP"]
        assert mlp["train_macs_per_image"] == 3 * (784 * 512 + 512 * 512 + 512 * 10) - 784 * 512
        assert mlp["macs_per_s"] == pytest.approx(mlp["train_macs_per_image"] * mlp["images_per_s"])
        assert mlp["fraction_of_peak"] == pytest.approx(mlp["macs_per_s"] / r["peak_macs_per_s"])
        assert r["peak_macs_per_s"] == max(r["peak_runs"])
    assert "of peak" in capsys.readouterr().out


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
