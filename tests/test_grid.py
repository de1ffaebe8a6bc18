"""Grids from the command line: the cartesian product as a study of its own, every finished run kept."""
import json
import math

import pytest

import run
from dataloader import get_dataset
from grid import grid_spec

MNIST = get_dataset("mnist")

FAST = ["--epochs", "1", "--subset", "500", "--seeds", "1", "--device", "cpu", "--jobs", "1", "--no-plot", "--quiet",
        "--evals-per-epoch", "1"]


def finished(logdir, study):
    return sorted(p.parent.parent.name for p in logdir.glob(f"{study}/*/seed*/result.json"))


def test_grids_add_runs_and_never_lose_one(tmp_path, capsys):
    where = ["--name", "mine", "--logdir", str(tmp_path), "--resultdir", str(tmp_path / "r"), *FAST]
    assert run.main(["--grid", "model=MLPNet", "depth=1", "width=300,100", *where]) == 0
    assert "2 runs trained, 0 skipped" in capsys.readouterr().out
    assert run.main(["--grid", "model=MLPNet", "depth=1", "width=300,50", *where]) == 0
    assert "1 runs trained, 1 skipped" in capsys.readouterr().out
    assert len(finished(tmp_path, "mine")) == 3
    assert run.main(["--grid", "model=MLPNet", "depth=1", "width=300,50", "--lr", "0.01", *where]) == 0
    assert "2 runs trained, 0 skipped" in capsys.readouterr().out
    runs = finished(tmp_path, "mine")
    assert len(runs) == 5 and sum(r.startswith("width=300-") for r in runs) == 2
    manifest = json.loads((tmp_path / "mine" / "study-mnist-quick.json").read_text())
    assert list(manifest["configs"]) == ["width=300", "width=50"]  # the latest invocation's configs
    assert manifest["references"] == {"width=50": "width=300"}  # a grid's reference: its first config
    stored = [json.loads(p.read_text()) for p in tmp_path.glob("mine/width=50-*/seed0/result.json")]
    assert sorted(r["config"]["lr"] for r in stored) == [0.001, 0.01]
    assert all(r["config"]["model_args"] == {"depth": 1, "width": 50} for r in stored)
    assert stored[0]["n_params"] == 784 * 50 + 50 + 50 * 10 + 10
    assert hparam_names(tmp_path / "mine") >= {"model", "lr", "depth", "width"}  # the grid's keys in HParams


def hparam_names(study_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = EventAccumulator(str(study_dir)).Reload().PluginTagToContent("hparams")["_hparams_/experiment"]
    return {h.name for h in plugin_data_pb2.HParamsPluginData.FromString(content).experiment.hparam_infos}


def test_grid_names_say_what_differs():
    name, spec = grid_spec(["act=gelu,relu", "depth=3,2"], MNIST, "ConvNet")
    assert name == "grid-act-depth"
    assert [n for n, _ in spec] == ["act=gelu,depth=3", "act=gelu,depth=2", "act=relu,depth=3", "act=relu,depth=2"]
    assert spec[0][1] == {"model": "ConvNet", "model_args": {"act": "gelu", "depth": 3}}
    name, spec = grid_spec(["width=300"], MNIST, "MLPNet")  # one value sets a key: one config
    assert name == "grid-width" and spec == [("width=300", {"model": "MLPNet", "model_args": {"width": 300}})]
    _, spec = grid_spec(["lr=0.1,0.01", "batch_size=32"], MNIST)  # recipe keys on the default network, Net
    assert spec == [("lr=0.1", {"lr": 0.1, "batch_size": 32, "model": "Net", "model_args": {}}),
                    ("lr=0.01", {"lr": 0.01, "batch_size": 32, "model": "Net", "model_args": {}})]


def test_values_equal_once_typed_are_one_config(tmp_path, capsys):
    _, spec = grid_spec(["lr=0.1,1e-1,0.10"], MNIST, "MLP")
    assert spec == [("lr=0.1", {"lr": 0.1, "model": "MLP", "model_args": {}})]
    assert run.main(["--grid", "model=MLP", "lr=0.1,1e-1", "--seeds", "1", "--dry-run",
                     "--logdir", str(tmp_path), "--resultdir", str(tmp_path / "r")]) == 0
    assert capsys.readouterr().out.count("would train") == 1  # once, not twice (it said "busy" before)


def test_a_grid_plans_with_dry_run_and_seeds(tmp_path, capsys):
    assert run.main(["--grid", "act=relu,tanh", "--model", "ConvNet", "--seeds", "2", "--dry-run",
                     "--logdir", str(tmp_path), "--resultdir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "plan: grid-act: 2 configs x 2 seeds = 4 runs" in out and out.count("would train") == 4
    assert list(tmp_path.iterdir()) == []  # a dry run writes nothing


@pytest.mark.parametrize("argv, message", [
    (["--grid", "widht=3", "--model", "MLPNet"], "--grid widht: not a key for model MLPNet; valid: model, optimizer, "
                                                 "lr, batch_size, epochs, schedule, weight_decay, augment, "
                                                 "label_smoothing, act, depth, width"),
    (["--grid", "act=swish", "--model", "ConvNet"], "--grid act=swish: unknown act; valid: relu, sigmoid, tanh"),
    (["--grid", "depth=7", "--model", "ConvNet"], "--grid depth=7: ConvNet's depth must be an integer from 1 to 4"),
    (["--grid", "width=wide", "--model", "MLPNet"], "'wide' is not a valid int"),
    (["--grid", "lr=0"], "--grid lr=0: '0' is not a valid lr"),
    (["--grid", "width"], "--grid expects KEY=V1,V2,..."),
    (["--grid", "width=300", "--model", "Net"], "--grid width: not a key for model Net; valid:"),
    (["--grid", "act=relu", "--study", "base"], "--grid is a study of its own"),
    # sizes the constructors build without a word (width=0, hidden=0) or torch refuses with a traceback (width=-1)
    (["--grid", "model=ConvNet", "width=-1"], "--grid width=-1: ConvNet's width must be an integer 1 or more"),
    (["--grid", "model=ConvNet", "width=0"], "--grid width=0: ConvNet's width must be an integer 1 or more"),
    (["--grid", "model=ConvNet", "hidden=0"], "--grid hidden=0: ConvNet's hidden must be an integer 1 or more"),
    (["--grid", "model=ConvNet", "depth=0"], "--grid depth=0: ConvNet's depth must be an integer from 1 to 4"),
    (["--grid", "model=SpeedNet", "c2=0"], "--grid c2=0: SpeedNet's c2 must be an integer 1 or more"),
    (["--grid", "model=MLPNet", "depth=-1"], "--grid depth=-1: MLPNet's depth must be an integer 0 or more"),
    (["--grid", "model=Net", "fc_dropout=1"], "--grid fc_dropout=1: Net's fc_dropout must be in [0, 1)"),
    (["--grid", "model=ConvNet", "conv_dropout=-0.1"], "--grid conv_dropout=-0.1: ConvNet's conv_dropout must be in [0, 1)"),
    # a key in the grid and in its flag: refused rather than one silently winning
    (["--grid", "epochs=1", "--epochs", "3"], "--grid epochs=1 and --epochs 3 both set epochs: give it once"),
    (["--grid", "model=MLP", "--model", "LeNet"], "--grid model=MLP and --model LeNet both set model"),
    (["--grid", "weight_decay=0.1", "--weight-decay", "0"], "--grid weight_decay=0.1 and --weight-decay 0 both set"),
])
def test_a_bad_grid_is_one_line_exit_2_and_trains_nothing(cli, tmp_path, argv, message):
    out = cli("run.py", *argv, "--logdir", tmp_path / "logs", "--resultdir", tmp_path / "r", "--no-plot")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr
    assert not list(tmp_path.rglob("result.json")) and not list(tmp_path.rglob("study-mnist-quick.json"))


def test_the_linear_network_and_a_flag_the_grid_does_not_set_stay_valid():
    _, spec = grid_spec(["depth=0"], MNIST, "MLPNet")  # lecun98's linear classifier
    assert spec == [("depth=0", {"model": "MLPNet", "model_args": {"depth": 0}})]
    args = run.build_parser("run.py", "", run.STUDIES, "base").parse_args(
        ["--grid", "model=MLPNet", "depth=1", "epochs=1", "--lr", "0.01", "--seeds", "1"])
    (study, spec), = run.selected_studies(args, run.STUDIES).items()
    assert [(c["epochs"], c["lr"]) for c in run.expand(study, spec, args)] == [(1, 0.01)]


def test_minus_zero_is_zero_in_a_grid():
    _, spec = grid_spec(["conv_dropout=-0", "weight_decay=-0"], MNIST, "Net")
    ((_, overrides),) = spec
    assert math.copysign(1, overrides["model_args"]["conv_dropout"]) == 1 == math.copysign(1, overrides["weight_decay"])
