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
    ("compare_optim.py", ["--optimizer", "lion"], ["invalid choice: 'lion'", "'adadelta'"]),
    ("compare_optim.py", ["--lr", "0"], ["must be a positive number"]),
    ("compare_optim.py", ["--seeds", "0"], ["must be a positive integer"]),
])
def test_bad_values_exit_2(cli, script, argv, fragments):
    one_line_error(cli(script, *argv), 2, f"{script}: error:", *fragments)


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
