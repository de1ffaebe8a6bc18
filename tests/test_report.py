"""REPORT.md's and README's verdict words: every verdict with its size, negligible ones said so, the t-test's alone marked."""
import dataclasses

import numpy as np

import pytest

import report
from analysis import View
from recipes import make_config
from stats import compare, decide


def found(diffs: dict[str, list[float]], margin: float = 0.005):
    """decide() over configs with these per-seed differences against one reference (accuracies around 0.98)."""
    ref = {s: 0.98 for s in range(len(next(iter(diffs.values()))))}
    return decide([compare(name, "relu", {s: 0.98 + d for s, d in enumerate(ds)}, ref, margin)
                   for name, ds in diffs.items()])


def loaded_view(study: str, dataset: str, comparisons: list, recipe: str = "quick") -> dict:
    """What plot.py loads for one view, as far as README's table and the evidence read it: each config's runs with
    the accuracies its comparison's differences give (the reference at 98%)."""
    def row(name: str, diffs: list[float]) -> dict:
        config = make_config(study=study, name=name, dataset=dataset, recipe=recipe, epochs=2)
        runs = [{"status": "ok", "seed": s, "test_acc": 0.98 + d, "config": config, "steps_per_epoch": 860,
                 "history": [{"train_acc": 0.99, "val_acc": 0.98}]} for s, d in enumerate(diffs)]
        acc = [r["test_acc"] for r in runs]
        return {"name": name, "runs": runs, "config": config, "n_params": 1234, "acc": acc,
                "mean": float(np.mean(acc)), "std": float(np.std(acc, ddof=1)), "best_val": 0.98, "wall": 10.0}
    rows = [row(c.config, c.diffs) for c in comparisons]
    rows += [row(ref, [0.0] * len(comparisons[0].diffs)) for ref in dict.fromkeys(c.reference for c in comparisons)]
    return {"study": study, "view": View(study, dataset, recipe), "comparisons": comparisons, "rows": rows,
            "runs": [r for row_ in rows for r in row_["runs"]], "margin": comparisons[0].margin}


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
    assert cell_ten["words"] == f"relu 98.00: sigmoid {100 * (0.98 + ten.mean_diff):.2f} ▼"
    assert cell_five["words"] == f"relu 98.00: sigmoid {100 * (0.98 + five.mean_diff):.2f} ▼†"
    table = report.render_choices([cell_ten, cell_five])
    assert table[2].startswith("| activation function") and table[3] == ""
    assert table[-1].startswith("- †: on the t-test alone") and len(table[4:]) <= 6  # the legend, always
    assert "confirmed without the normal model" in report.signflip_text(ten)
    assert "**t-test only**" in report.signflip_text(five) and "confirm from 6 seeds" in report.signflip_text(five)


def test_the_holm_family_says_when_no_comparison_had_seeds_enough_for_a_test():
    two = found({"sigmoid": [-0.7, -0.8], "tanh": [0.01, 0.0]})  # 2 seeds: no t-test
    assert [c.verdict for c in two] == ["inconclusive", "inconclusive"]
    assert report.family_words(two) == ("no test for any of its 2 comparisons: each needs 3 paired seeds, so no Holm "
                                        "family")
    assert "family: no test for any of its 2 comparisons" in report.comparison_lines("activation", two, "set")[0]
    three = found({"sigmoid": [-0.01, -0.011, -0.012], "tanh": [0.001, 0.0, -0.001]})
    assert report.family_words(three) == "Holm over this study's 2 comparisons"
    mixed = [three[0], two[1]]
    assert report.family_words(mixed) == "Holm over the 1 comparison of its 2 with 3 or more paired seeds"


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
    cell = "relu 98.00: tanh 97.96 ?, sigmoid 96.86 ▼†"
    assert activation.split(" | ")[1:] == [cell, "not run", "not run", cell + " |"]
    assert "| optimizer (`optim`, against adam) | adam 98.00: sgd 95.96 ▼† | not run | not run | not run |" in together
    with pytest.raises(ValueError, match="both hold activation on mnist, recipe quick"):
        report.compose_choices([folders[0] / "CHOICES.json", folders[0] / "CHOICES.json"])
    # no question: no table, but the evidence all the same (the findings of precision and best read it)
    assert report.write_choices({"speed": loaded_view("speed", "mnist", cs)}, tmp_path) == [tmp_path / "CHOICES.json"]
    [speed] = report.part_views(tmp_path / "CHOICES.json")
    assert (speed["study"], [e["steps"] for e in speed["configs"]]) == ("speed", [1720, 1720, 1720])
    assert speed["configs"][0]["train_val_gap"] == pytest.approx(0.01)


def test_a_reports_findings_read_the_same_study_under_the_other_recipe_from_the_folders_beside_it(tmp_path):
    import json
    mine = [{"study": "activation", "dataset": "mnist", "recipe": "quick", "configs": []}]
    beside = [{"study": "activation", "dataset": "mnist", "recipe": "full", "configs": []},
              {"study": "activation", "dataset": "fashion-mnist", "recipe": "full", "configs": []},  # another dataset
              {"study": "activation", "dataset": "mnist", "recipe": "quick", "configs": [{"stale": 1}]},  # ours wins
              {"study": "depth", "dataset": "mnist", "recipe": "full", "configs": []}]  # a study the report lacks
    (tmp_path / "activation-full-mnist").mkdir()
    (tmp_path / "activation-full-mnist" / "CHOICES.json").write_text(json.dumps({"evidence": {"views": beside}}))
    (tmp_path / "mnist-quick").mkdir()
    (tmp_path / "mnist-quick" / "CHOICES.json").write_text(json.dumps({"evidence": {"views": beside}}))  # itself
    assert report.counterparts(tmp_path / "mnist-quick", mine) == [beside[0]]
    assert report.counterparts(tmp_path / "elsewhere", []) == []
