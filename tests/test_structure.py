"""The two towers: the reading side (plot, report, analysis, stats) imports nothing of the training side."""
import subprocess
import sys

from conftest import ROOT

TRAINING_SIDE = {"train", "runstore", "executors", "model", "grid", "run"}


def test_plot_and_the_report_stand_on_the_files_alone():
    code = ("import sys, plot, report, analysis, stats, studies; "
            f"print(sorted(m for m in sys.modules if m in {sorted(TRAINING_SIDE)!r}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_compare_optim_is_a_front_of_run_without_hooks():
    import inspect

    import compare_optim
    import run

    assert set(inspect.signature(run.main).parameters) == {"argv", "studies", "default_study", "prog", "description"}
    assert "run.main(" in inspect.getsource(compare_optim.main)


def test_the_reading_side_and_the_digest_import_no_torch():
    """plot.py (with the report, the findings, analysis, stats, the study specs and both dataset registries) and
    digest.py start without torch, and without numpy, pandas, scipy or matplotlib until a figure or a statistic needs
    them."""
    heavy = ("torch", "numpy", "pandas", "scipy", "matplotlib")
    code = ("import sys, plot, findings, digest, dataset_facts, dataset_words; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(heavy)!r}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    help_text = subprocess.run([sys.executable, "plot.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                               timeout=120)
    assert help_text.returncode == 0 and "--resultdir" in help_text.stdout
