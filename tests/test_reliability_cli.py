"""Bad command lines: exit 2 (usage) or 1 (runtime) with a one-line message, never a traceback.

In this process (the cli fixture); tests/test_run.py checks the same in a real subprocess.
"""
import os
import re

import pytest


@pytest.fixture(scope="module")
def a_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "a_file"
    path.write_text("not a directory, not a model")
    return path


def one_line_error(out, code, *fragments):
    assert out.returncode == code, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    for fragment in fragments:
        assert fragment in out.stderr, out.stderr


@pytest.mark.parametrize("script,argv,fragments", [
    ("run.py", ["--study", "colour"], ["invalid choice: 'colour'", "'activation'"]),
    ("run.py", ["--model", "ResNet50"], ["invalid choice: 'ResNet50'", "'LeNet'"]),
    ("run.py", ["--epochs", "two"], ["'two' is not an integer"]),
    ("run.py", ["--batch-size", "-64"], ["must be a positive integer"]),
    ("run.py", ["--subset", "100000"], ["the training split has 55000 images"]),
    ("run.py", ["--optimizer", "lion"], ["invalid choice: 'lion'", "'adadelta'"]),
    ("compare_optim.py", ["--lr", "0"], ["must be a positive number"]),
    ("compare_optim.py", ["--seeds", "0"], ["must be a positive integer"]),
])
def test_bad_values_exit_2(cli, script, argv, fragments):
    one_line_error(cli(script, *argv), 2, f"{script}: error:", *fragments)


@pytest.mark.parametrize("script,argv,fragment", [
    # the other script's studies and flags: one line naming the command that runs them
    ("run.py", ["--study", "optim"], "optim is not a study of this script: python compare_optim.py --study optim"),
    ("run.py", ["--study", "optim_sweep"], "optim_sweep is not a study of this script: python compare_optim.py --lr-sweep"),
    ("run.py", ["--lr-sweep"], "--lr-sweep: not a flag of this script: python compare_optim.py --lr-sweep"),
    ("compare_optim.py", ["--study", "depth"], "depth is not a study of this script: python run.py --study depth"),
    # flags that would do nothing in compare_optim.py, which trains every optimizer on Net
    ("compare_optim.py", ["--scale-lr"], "--scale-lr: the batch_size study's linear scaling rule: python run.py "
                                         "--study batch_size --scale-lr"),
    ("compare_optim.py", ["--optimizer", "sgd"], "--optimizer: this script trains every optimizer; for one: python run.py"),
    ("compare_optim.py", ["--model", "MLP"], "--model: this script compares optimizers on Net; one network: python run.py"),
    ("compare_optim.py", ["--grid", "lr=0.1"], "--grid: your own grid is run.py's: python run.py --grid"),
])
def test_another_scripts_study_or_flag_names_that_script(cli, tmp_path, script, argv, fragment):
    one_line_error(cli(script, *argv, "--dry-run", "--logdir", tmp_path), 2, f"{script}: error:", fragment)


def test_help_shows_only_this_scripts_studies_and_flags(cli):
    optim = " ".join(cli("compare_optim.py", "--help").stdout.split())
    assert "'all' runs optim and optim_sweep (default: optim)" in optim and "--lr-sweep" in optim
    for other in ("lecun98", "precision study", "regularization", "for best", "--scale-lr", "--model", "--grid",
                  "--optimizer", "batch_size"):
        assert other not in optim, other
    assert "one learning rate for every optimizer" in optim  # not the recipe's rate: each optimizer has its own
    text = " ".join(cli("run.py", "--help").stdout.split())
    assert ("'all' runs base, activation, depth, width, batch_size and speed (MNIST only) (default: base)" in text
            and "--lr-sweep" not in text)
    assert "(default: fp32; auto for best; precision sets each config's own, fp32 and bf16)" in text
    for script, text in (("run.py", text), ("compare_optim.py", optim)):
        assert re.search(r"--gpus-per-run GPUS_PER_RUN Ray: [^-]+\(default: 0\.0\)", text), script
        assert "--device {auto,cpu,cuda,mps} where the runs train; auto: cuda, else mps, else the CPU" in text, script


def test_a_default_of_zero_is_shown_and_a_switch_has_none():
    from cli import Parser

    p = Parser(prog="x")
    p.add_argument("--zero", type=float, default=0.0, help="a number")  # 0.0 == False: it was taken for no default
    p.add_argument("--flag", action="store_true", help="a switch")
    text = " ".join(p.format_help().split())
    assert "--zero ZERO a number (default: 0.0)" in text and "(default: False)" not in text


@pytest.mark.parametrize("flag", ["--logdir", "--resultdir"])
def test_unwritable_output_directories_exit_2(cli, a_file, flag):
    one_line_error(cli("run.py", flag, a_file / "sub", "--dry-run"), 2, f"{flag} {a_file / 'sub'}")


def test_evaluate_needs_an_existing_model(cli, a_file, tmp_path):
    one_line_error(cli("evaluate.py", tmp_path / "missing.pt"), 2, "no such file")
    one_line_error(cli("evaluate.py", a_file), 2, "is not a model checkpoint written by train.py")
    one_line_error(cli("evaluate.py"), 2, "the following arguments are required: checkpoint")


@pytest.mark.parametrize("script", ["run.py", "compare_optim.py", "plot.py", "bench.py"])
def test_help_states_each_default_once_and_points_to_pages_that_exist(cli, script):
    out = cli(script, "--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())  # argparse wraps lines
    assert "(default: None)" not in text and not re.search(r"\(default:[^)]*\) \(default:", text), text
    assert "README: Running on a cluster" not in text


def test_a_study_flag_with_another_study_is_a_usage_error(cli):
    one_line_error(cli("compare_optim.py", "--lr-sweep", "--study", "optim", "--dry-run"), 2,
                   "--lr-sweep is --study optim_sweep; it cannot go with --study optim")
    one_line_error(cli("compare_optim.py", "--study", "optim", "--lr-sweep", "--dry-run"), 2, "--lr-sweep")


def test_ctrl_c_while_planning_is_one_line_exit_130(cli, monkeypatch, tmp_path):
    import run

    def interrupted(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(run, "plan", interrupted)
    out = cli("run.py", "--study", "all", "--dry-run", "--logdir", tmp_path / "logs", "--resultdir", tmp_path / "r")
    assert out.returncode == 130 and "Traceback" not in out.stderr
    assert out.stderr.strip().startswith("interrupted:") and len(out.stderr.strip().splitlines()) == 1


def test_a_dry_run_writes_no_folder_and_extracts_no_data(raw_copy, tmp_path):
    from conftest import run_cli

    out = run_cli("run.py", "--dry-run", "--logdir", tmp_path / "new" / "logs", "--resultdir", tmp_path / "new" / "r",
                  env={**os.environ, "MNIST_DATA_DIR": str(raw_copy)})
    assert out.returncode == 0, out.stderr
    assert "would train" in out.stdout
    assert not (tmp_path / "new").exists()
    assert sorted(p.suffix for p in (raw_copy / "MNIST" / "raw").iterdir()) == [".gz"] * 4
