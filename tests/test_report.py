"""REPORT.md's and README's verdict words: every verdict with its size, negligible ones said so, the t-test's alone marked."""
import dataclasses

import numpy as np

import pytest

import report
from analysis import View
from stats import compare, decide


def found(diffs: dict[str, list[float]], margin: float = 0.005):
    """decide() over configs with these per-seed differences against one reference (accuracies around 0.98)."""
    ref = {s: 0.98 for s in range(len(next(iter(diffs.values()))))}
    return decide([compare(name, "relu", {s: 0.98 + d for s, d in enumerate(ds)}, ref, margin)
                   for name, ds in diffs.items()])


def loaded_view(study: str, dataset: str, comparisons: list, recipe: str = "quick") -> dict:
    """What plot.py loads for one view, as far as README's table reads it."""
    return {"study": study, "view": View(study, dataset, recipe), "comparisons": comparisons}


def test_a_significant_difference_inside_the_margin_is_called_negligible_with_its_interval():
    [c] = found({"leaky_relu": [0.0011, 0.0008, 0.0010, 0.0012, 0.0009]})  # +0.10 pp, 5 seeds
    assert (c.verdict, c.within_margin, c.confirmed) == ("better", True, False)
    low, high = 100 * c.sim_low, 100 * c.sim_high
    assert report.size_words(c) == f"better by 0.10 pp ({low:.2f} to {high:.2f}), negligible within ±0.5 pp"
    assert report.verdict_words([c]) == f"leaky_relu {report.size_words(c)}†"


def test_an_interval_cut_at_zero_gives_the_sign_and_a_bound_only():
    c = dataclasses.replace(found({"gelu": [0.002, 0.008, 0.001, 0.009, 0.004]})[0], sim_low=0.0, sim_high=0.0112)
    assert report.size_words(c) == "better (sign only; at most 1.12 pp)"


def test_inconclusive_cells_say_what_they_exclude_and_equivalent_ones_their_margin():
    cs = found({"tanh": [0.004, -0.006, 0.002, -0.003, 0.001], "elu": [0.0002, -0.0001, 0.0, 0.0001, -0.0002],
                "silu": [0.006, -0.004, 0.0, -0.002, 0.003], "gelu": [-0.005, 0.003, 0.004, -0.001, 0.0]})
    assert [c.verdict for c in cs] == ["inconclusive", "equivalent", "inconclusive", "inconclusive"]
    tanh = cs[0]
    bound = 100 * max(abs(tanh.sim_low), abs(tanh.sim_high))
    assert report.size_words(tanh) == f"inconclusive, within ±{bound:.2f} pp" and report.size_words(cs[1]) == (
        "equivalent within ±0.5 pp")
    widest = max(100 * max(abs(c.sim_low), abs(c.sim_high)) for c in cs if c.verdict == "inconclusive")
    assert report.verdict_words(cs) == f"elu equivalent within ±0.5 pp; tanh, silu, gelu inconclusive, each within " \
        f"±{widest:.2f} pp"


def test_the_dagger_marks_unconfirmed_verdicts_and_only_those():
    ten = found({"sigmoid": list(-0.01 + 0.001 * np.sin(np.arange(10)))}, 0.005)[0]  # 10 seeds: confirmable
    five = found({"sigmoid": list(-0.01 + 0.001 * np.sin(np.arange(5)))}, 0.005)[0]
    assert (ten.verdict, ten.confirmed, five.verdict, five.confirmed) == ("worse", True, "worse", False)
    assert not report.verdict_words([ten]).endswith("†") and report.verdict_words([five]).endswith("†")
    [cell_ten, cell_five] = report.choice_cells({"a": loaded_view("activation", "mnist", [ten]),
                                                  "b": loaded_view("activation", "fashion-mnist", [five])})
    assert (cell_ten["dagger_seeds"], cell_five["dagger_seeds"]) == ([], [5])
    assert report.render_choices([cell_ten])[-1].startswith("| activation function")  # no footnote: nothing unconfirmed
    note = report.render_choices([cell_ten, cell_five])[-1]
    assert note.startswith("† On the t-test's normal model alone") and "0.0625 at 5" in note and "at 10" not in note
    assert "confirmed without the normal model" in report.signflip_text(ten)
    assert "**t-test only**" in report.signflip_text(five) and "confirm from 6 seeds" in report.signflip_text(five)


def test_rows_are_grouped_by_verdict_without_ranks():
    cs = found({"a": [0.01, 0.011, 0.012], "b": [-0.01, -0.011, -0.012], "c": [0.0, 0.001, -0.001]})
    rows = [{"name": n, "mean": m} for n, m in (("b", 0.97), ("relu", 0.98), ("c", 0.981), ("a", 0.99))]
    assert [(row["name"], group) for row, group in report.grouped(rows, cs)] == [
        ("a", "better"), ("relu", "reference"), ("c", "equivalent"), ("b", "worse")]


def test_readmes_table_composed_from_several_results_folders_is_the_one_of_their_logs_together(tmp_path):
    cs = found({"sigmoid": [-0.011, -0.012, -0.010, -0.013, -0.011], "tanh": [0.004, -0.006, 0.002, -0.003, 0.001]})
    optim = found({"sgd": [-0.02, -0.021, -0.019, -0.022, -0.02]})
    optim = [dataclasses.replace(c, reference="adam") for c in optim]
    mnist = {"activation": loaded_view("activation", "mnist", cs), "optim": loaded_view("optim", "mnist", optim)}
    fashion = {"activation-fashion-mnist-full": loaded_view("activation", "fashion-mnist", cs, "full")}
    folders = []
    for name, loaded in (("mnist-quick", mnist), ("fashion-mnist-full", fashion)):
        folder = tmp_path / name
        folder.mkdir()
        assert report.write_choices(loaded, folder) == [folder / "CHOICES.md", folder / "CHOICES.json"]
        folders.append(folder)
    together = report.render_choices(report.choice_cells({**mnist, **fashion}), every_question=True)
    assert report.compose_choices([f / "CHOICES.json" for f in folders]) == together
    # one folder alone gives its own CHOICES.md, "not run" wherever the other one's cells are
    assert "\n".join(report.compose_choices([folders[0] / "CHOICES.json"])) + "\n" == (
        folders[0] / "CHOICES.md").read_text()
    activation = next(line for line in together if line.startswith("| activation function"))
    assert activation.split(" | ")[1:] == [report.verdict_words(cs), "not run", "not run", report.verdict_words(cs) + " |"]
    assert "| optimizer (`optim`, against adam) | sgd worse by" in "\n".join(together)
    with pytest.raises(ValueError, match="both hold activation on mnist, recipe quick"):
        report.compose_choices([folders[0] / "CHOICES.json", folders[0] / "CHOICES.json"])
    assert report.write_choices({"speed": loaded_view("speed", "mnist", cs)}, tmp_path) == []  # no question: no table
