import json
import re
import shutil
import subprocess
import sys

import pytest
import torch

import run
from conftest import ROOT, run_cli, run_dir_of

TINY = ["--epochs", "1", "--seeds", "1", "--subset", "1000", "--device", "cpu", "--jobs", "1", "--no-plot", "--quiet"]


def args_for(*argv):
    return run.build_parser("run.py", "", run.STUDIES, "base").parse_args(list(argv))


def configs_of(study, *argv):
    args = args_for("--study", study, *argv)
    return run.expand(study, run.STUDIES[study](args), args)


def test_studies_expand_to_the_expected_configs():
    assert [c["model"] for c in configs_of("base", "--seeds", "1")] == ["Net", "LeNet", "NetSigmoid", "NetDeep", "MLP"]
    acts = [c["model_args"]["act"] for c in configs_of("activation", "--seeds", "1")]
    assert acts == ["relu", "sigmoid", "tanh", "leaky_relu", "elu", "gelu", "silu"]
    depth = configs_of("depth", "--seeds", "1")
    assert [(c["model"], c["model_args"]["depth"]) for c in depth] == (
        [("ConvNet", d) for d in range(1, 5)] + [("MLPNet", d) for d in range(1, 5)])
    width = [c["name"] for c in configs_of("width", "--seeds", "1")]
    assert width == ["conv_w8", "conv_w16", "conv_w32", "conv_w64", "mlp_w32", "mlp_w128", "mlp_w512", "mlp_w2048"]
    seeds = configs_of("base", "--seeds", "3")
    assert len(seeds) == 15 and [c["seed"] for c in seeds[:3]] == [0, 1, 2]
    assert {c["study"] for c in seeds} == {"base"} and len({(c["name"], c["seed"]) for c in seeds}) == 15


def test_batch_size_study_and_the_linear_scaling_rule():
    fixed = configs_of("batch_size", "--seeds", "1")
    assert [(c["batch_size"], c["lr"]) for c in fixed] == [(16, 1e-3), (64, 1e-3), (256, 1e-3), (1024, 1e-3)]
    scaled = configs_of("batch_size", "--seeds", "1", "--scale-lr", "--lr", "0.002")
    assert [c["lr"] for c in scaled] == pytest.approx([0.0005, 0.002, 0.008, 0.032])
    assert "linear scaling rule" in run.lr_rule(args_for("--scale-lr"))
    assert "no scaling" in run.lr_rule(args_for())


def test_all_runs_every_study():
    args = args_for("--study", "all")
    assert list(run.selected_studies(args, run.STUDIES)) == ["base", "activation", "depth", "width", "batch_size", "speed"]
    one = run.selected_studies(args_for("--model", "LeNet"), run.STUDIES)
    assert one == {"LeNet": [("LeNet", {"model": "LeNet"})]}


def test_resume_skips_finished_runs_and_redoes_partial_ones(tmp_path, capsys):
    argv = ["--model", "MLP", "--logdir", str(tmp_path / "logs"), "--resultdir", str(tmp_path / "result"),
            *TINY, "--seeds", "2"]
    assert run.main(argv) == 0
    seed0, seed1 = (run_dir_of(tmp_path / "logs", "MLP", "MLP", k) for k in (0, 1))
    first = json.loads((seed0 / "result.json").read_text())
    capsys.readouterr()

    assert run.main(argv) == 0
    assert "0 runs trained, 2 skipped" in capsys.readouterr().out

    (seed1 / "stray.tmp").write_text("half")  # a damaged view of a stored run is linked again, nothing trains
    (seed1 / "result.json").unlink()
    assert run.main(argv) == 0
    assert "0 runs trained, 2 skipped" in capsys.readouterr().out and (seed1 / "result.json").exists()
    assert not (seed1 / "stray.tmp").exists()

    stored = tmp_path / "logs" / "runs" / seed1.parent.name.split("-", 1)[1] / "seed1"
    shutil.rmtree(stored)  # seed 1 becomes a partial run (killed before it was stored), with a stray file in it
    (seed1 / "result.json").unlink()
    (seed1 / "stray.tmp").write_text("half")
    assert run.main(argv) == 0
    assert "1 runs trained, 1 skipped" in capsys.readouterr().out
    assert (seed1 / "result.json").exists() and not (seed1 / "stray.tmp").exists()
    assert json.loads((seed0 / "result.json").read_text()) == first

    assert run.main(argv + ["--force"]) == 0
    assert "2 runs trained, 0 skipped" in capsys.readouterr().out


def test_another_config_gets_its_own_run_directory_and_both_finished_runs_stay(tmp_path, capsys):
    argv = ["--model", "MLP", "--logdir", str(tmp_path), "--resultdir", str(tmp_path / "r"), *TINY]
    assert run.main(argv + ["--lr", "0.01"]) == 0
    first = sorted(tmp_path.glob("MLP/MLP-*/seed0/result.json"))
    capsys.readouterr()
    assert run.main(argv + ["--lr", "0.001"]) == 0
    assert "1 runs trained, 0 skipped" in capsys.readouterr().out
    runs = sorted(tmp_path.glob("MLP/MLP-*/seed0/result.json"))
    assert len(runs) == 2 and first[0] in runs
    assert sorted(json.loads(p.read_text())["config"]["lr"] for p in runs) == [0.001, 0.01]
    manifest = json.loads((tmp_path / "MLP" / "study-mnist-quick.json").read_text())
    assert list(manifest["configs"].values()) == [p.parent.parent.name for p in runs
                                                  if json.loads(p.read_text())["config"]["lr"] == 0.001]
    assert run.main(argv + ["--lr", "0.01"]) == 0  # the first config again: found, not retrained
    assert "0 runs trained, 1 skipped" in capsys.readouterr().out


def test_a_diverging_run_does_not_stop_the_study(tmp_path, capsys):
    studies = {"mix": lambda args: [("boom", {"model": "MLP", "optimizer": "sgd", "lr": 1e4}),
                                    ("fine", {"model": "MLP"})]}
    code = run.main(["--study", "mix", "--logdir", str(tmp_path), "--resultdir", str(tmp_path / "r"), *TINY],
                    studies=studies)
    assert code == 0
    boom = json.loads((run_dir_of(tmp_path, "mix", "boom") / "result.json").read_text())
    fine = json.loads((run_dir_of(tmp_path, "mix", "fine") / "result.json").read_text())
    assert boom["status"] == "diverged" and boom["test_acc"] is None
    assert fine["status"] == "ok" and fine["test_acc"] > 0.5
    assert "diverged: boom seed 0" in capsys.readouterr().out


@pytest.mark.parametrize("argv,expected", [
    (["--study", "nope"], "invalid choice: 'nope' (choose from"),
    (["--model", "ResNet"], "choose from 'Net'"),
    (["--optimizer", "lbfgs"], "choose from 'sgd'"),
    (["--epochs", "0"], "must be a positive integer"),
    (["--seeds", "-2"], "must be a positive integer"),
    (["--batch-size", "abc"], "'abc' is not an integer"),
    (["--lr", "-0.1"], "must be a positive number"),
    (["--lr", "nan"], "must be a positive number"),
    (["--subset", "60000"], "the training split has 55000 images"),
    (["--jobs", "0"], "must be a positive integer"),
    (["--device", "tpu"], "choose from 'auto'"),
])
def test_bad_values_exit_2_with_one_line(argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and expected in err and len(err.strip().splitlines()) == 1


def test_cli_errors_and_a_closed_pipe_in_a_subprocess(tmp_path, cli):
    out = run_cli("run.py", "--study", "nope")
    assert out.returncode == 2 and "Traceback" not in out.stderr and "base" in out.stderr
    plan = subprocess.Popen([sys.executable, "run.py", "--study", "all", "--dry-run", "--logdir", str(tmp_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    plan.stdout.close()  # as `python run.py --dry-run | head` does after its lines
    err = plan.communicate(timeout=120)[1]
    assert plan.returncode == 1 and "Traceback" not in err, err
    help_text = cli("run.py", "--help")
    assert help_text.returncode == 0 and "--scale-lr" in help_text.stdout


def test_event_files_hold_the_tags_and_hparams(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    assert run.main(["--model", "LeNet", "--logdir", str(tmp_path), "--resultdir", str(tmp_path / "r"),
                     *TINY]) == 0
    ea = EventAccumulator(str(run_dir_of(tmp_path, "LeNet", "LeNet")), size_guidance={"scalars": 0}).Reload()
    tags = set(ea.Tags()["scalars"])
    expected = {"train/loss", "train/loss_epoch", "train/acc", "val/loss", "val/acc", "lr", "time/epoch_s",
                "test/loss", "test/acc", "grad_norm/conv1", "grad_norm/conv2", "grad_norm/fc1", "grad_norm/fc3"}
    assert expected <= tags
    assert len(ea.Scalars("train/loss")) == 16  # one per step: ceil(1000 / 64)
    # validation 4 times in the one epoch, against the training step: a curve from the first epoch on
    assert [e.step for e in ea.Scalars("val/acc")] == [4, 8, 12, 16] == [e.step for e in ea.Scalars("val/loss")]
    result = json.loads((run_dir_of(tmp_path, "LeNet", "LeNet") / "result.json").read_text())
    assert ea.Scalars("test/acc")[0].value == pytest.approx(result["test_acc"])

    session = plugin_data_pb2.HParamsPluginData.FromString(
        ea.PluginTagToContent("hparams")["_hparams_/session_start_info"]).session_start_info
    assert session.group_name == run_dir_of(tmp_path, "LeNet", "LeNet").parent.name  # a config's seeds are grouped
    assert session.hparams["model"].string_value == "LeNet" and session.hparams["lr"].number_value == 1e-3

    study = EventAccumulator(str(tmp_path / "LeNet")).Reload()
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        study.PluginTagToContent("hparams")["_hparams_/experiment"]).experiment
    assert {h.name for h in experiment.hparam_infos} >= {"model", "lr", "batch_size"}
    assert {m.name.tag for m in experiment.metric_infos} >= {"test/acc", "val/acc"}
    assert len(list((tmp_path / "LeNet").glob("events.out.tfevents.*"))) == 1


def test_jobs_2_gives_the_same_runs_and_metrics_as_jobs_1(tmp_path):
    common = ["--model", "MLP", "--seeds", "2", "--epochs", "1", "--subset", "1000", "--device", "cpu",
              "--no-plot", "--quiet", "--threads", "1"]
    threads = torch.get_num_threads()
    try:
        assert run.main(common + ["--jobs", "1", "--logdir", str(tmp_path / "a"), "--resultdir", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)
    assert run.main(common + ["--jobs", "2", "--logdir", str(tmp_path / "b"), "--resultdir", str(tmp_path)]) == 0
    for seed in (0, 1):
        a, b = (json.loads((run_dir_of(tmp_path / d, "MLP", "MLP", seed) / "result.json").read_text())
                for d in ("a", "b"))
        assert a["config"] == b["config"]
        assert a["history"][0]["train_loss"] == b["history"][0]["train_loss"]
        assert (a["test_acc"], a["test_loss"]) == (b["test_acc"], b["test_loss"])


@pytest.mark.estimate
def test_the_default_plan_is_5_seeds_per_config_with_the_quick_recipe(tmp_path, capsys):
    assert run.main(["--dry-run", "--logdir", str(tmp_path), "--resultdir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "plan: base: 5 configs x 5 seeds = 25 runs" in out and "recipe quick: epochs 2, batch 64" in out
    assert out.count("would train") == 25 and not list(tmp_path.rglob("*.json"))  # a dry run writes no run
    assert re.search(r"cpus: \d+ usable \(.+\): --jobs \d+, \d+ torch threads? each", out)
    assert re.search(r"estimated time: [0-9.]+ (min|s) with --jobs \d", out)


def configs_of_optim(*argv) -> dict:
    from studies import OPTIM_STUDIES
    args = args_for(*argv)
    return {c["name"]: c for c in run.expand("optim", OPTIM_STUDIES["optim"](args), args)}


def test_recipes_set_values_and_explicit_flags_win():
    full = {c["name"]: c for c in configs_of("base", "--seeds", "1", "--recipe", "full")}
    assert (full["Net"]["optimizer"], full["Net"]["schedule"], full["Net"]["epochs"]) == ("adamw", "onecycle", 12)
    assert full["LeNet"]["epochs"] == 15 and full["MLP"]["epochs"] == 20 and full["Net"]["recipe"] == "full"
    assert run.recipe_summary(list(full.values())).startswith("recipe full: epochs varies (12, 15, 20), batch 128, "
                                                               "optimizer adamw, lr 0.003, weight decay 0.05")
    # the recipe's weight decay is AdamW's (decoupled); every other optimizer trains without, unless told
    full_optim = configs_of_optim("--recipe", "full")
    assert {name: c["weight_decay"] for name, c in full_optim.items()} == {
        name: 0.05 if name == "adamw" else 0.0 for name in full_optim}
    assert {c["weight_decay"] for c in configs_of_optim("--recipe", "full", "--weight-decay", "0.001").values()} == {0.001}
    mine = configs_of("base", "--seeds", "1", "--recipe", "full", "--epochs", "3", "--optimizer", "sgd")
    assert {(c["epochs"], c["optimizer"], c["lr"]) for c in mine} == {(3, "sgd", 0.1)}  # sgd's own rate
    lecun = configs_of("lecun98", "--seeds", "1")
    assert {c["recipe"] for c in lecun} == {"full"} and [c["name"] for c in lecun][-1] == "LeNet-5"
    optim = configs_of_optim("--recipe", "full")
    assert optim["sgd"]["lr"] == 0.1 and optim["adam"]["lr"] == 0.001  # the study's rates win over the recipe's
