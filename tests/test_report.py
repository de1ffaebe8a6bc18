"""REPORT.md's and README's verdict words: every verdict with its size, negligible ones said so, the t-test's alone marked."""
import dataclasses

import numpy as np

import pytest

import report
import stats
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


FEW = " (better/worse on the t-test only: 5 seeds are too few for a sign-flip check)"
WEAK = [-0.0061, 0.004, 0.0008, -0.0031, -0.0045, -0.0049, -0.0016, -0.0039, -0.0043, 0.0004]  # t: p 0.046; sign-flip 0.055


def from_csv(config: str, verdict: str, mean: float, low: float, high: float, margin: float, family: int = 6,
             seeds: int = 5, **kw) -> stats.Comparison:
    """A committed CSV row's numbers as a Comparison (what docs/results/precision_table.py builds)."""
    return stats.Comparison(config, "relu", list(range(seeds)), [], mean, None, None, 0.01, margin, None,
                            sim_low=low, sim_high=high, verdict=verdict, family=family, **kw)


def test_a_significant_difference_inside_the_margin_is_called_negligible_with_its_interval():
    [c] = found({"leaky_relu": [0.0011, 0.0008, 0.0010, 0.0012, 0.0009]})  # +0.10 pp, 5 seeds
    assert (c.verdict, c.within_margin, c.confirmed) == ("better", True, False)
    low, high = 100 * c.sim_low, 100 * c.sim_high
    assert report.size_words(c) == f"better by 0.10 pp ({low:.2f} to {high:.2f}), negligible within ±0.5 pp"
    assert report.verdict_words([c]) == f"leaky_relu {report.size_words(c)}{FEW}"  # 5 seeds: no dagger, a note


def test_the_words_of_issue_52s_cells_say_what_their_intervals_show():
    # activation-full-mnist's elu: its interval ends 0.0004 pp from 0 and 0.2076 pp out, past the 0.2 pp margin
    elu = from_csv("elu", "worse", -0.00104, -0.002076, -0.000004, 0.002, within_margin=True, confirmed=False)
    assert report.size_words(elu) == "worse (sign only; at most 0.21 pp)"
    # mnist-quick's bs256 and mlp3 (10 seeds, margin 0.5 pp): intervals to 0.51 and 0.54 pp: not negligible
    bs256 = from_csv("bs256", "worse", -0.0027, -0.005092, -0.000308, 0.005, family=3, seeds=10, within_margin=True)
    assert report.size_words(bs256) == "worse by 0.27 pp (0.03 to 0.51)"
    # regularization's dropout: TOST with Holm said equivalent; its interval reaches +0.208 pp
    dropout = from_csv("dropout", "equivalent", 0.00086, -0.000363, 0.002083, 0.002)
    assert (report.shown_verdict(dropout), report.size_words(dropout)) == ("inconclusive", "inconclusive, within ±0.21 pp")
    # mnist-quick's gelu: an end 0.003 pp from 0 is the sign only; inside the margin, so negligible
    gelu = from_csv("gelu", "better", 0.0013, 0.00003, 0.0027, 0.005, seeds=10, within_margin=True, confirmed=False)
    assert report.size_words(gelu) == "better (sign only; at most 0.27 pp), negligible within ±0.5 pp"
    assert report.verdict_words([gelu]) == f"gelu {report.size_words(gelu)}†"  # 10 seeds, 6 comparisons: could confirm
    # Fashion-MNIST full's tanh: worse on these test images; on new digits its interval includes 0: no "too"
    tanh = from_csv("tanh", "worse", -0.00256, -0.004252, -0.000868, 0.002, new_low=-0.00556, new_high=0.000301)
    assert report.digits_text(tanh) == ("; not shown on new test digits (seeds and test images both random, "
                                        "simultaneous 95%: -0.56 to +0.03 pp, which includes 0)")
    sure = from_csv("tanh", "worse", -0.00256, -0.004252, -0.000868, 0.002, new_low=-0.0051, new_high=-0.00003)
    assert report.digits_text(sure).startswith("; on new test digits too (") and "-0.51 to 0 pp (an end at 0" in \
        report.digits_text(sure)


def test_an_interval_cut_at_zero_gives_the_sign_and_a_bound_only():
    c = dataclasses.replace(found({"gelu": [0.002, 0.008, 0.001, 0.009, 0.004]})[0], sim_low=0.0, sim_high=0.0112)
    assert report.size_words(c) == "better (sign only; at most 1.12 pp)"
    assert report.span(0.0, 0.0112) == "0 to +1.12 pp (an end at 0: the sign is claimed there, not a size)"
    assert report.span(-0.00004, 0.0112).startswith("0 to +1.12 pp (an end") and report.span(-0.0001, 0.001) == (
        "-0.01 to +0.10 pp")


def test_inconclusive_and_equivalent_cells_name_every_config_and_the_bound_of_their_intervals():
    cs = found({"tanh": [0.004, -0.006, 0.002, -0.003, 0.001], "elu": [0.0002, -0.0001, 0.0, 0.0001, -0.0002],
                "silu": [0.006, -0.004, 0.0, -0.002, 0.003], "gelu": [-0.005, 0.003, 0.004, -0.001, 0.0],
                "selu": [0.0001, -0.0002, 0.0, 0.0001, 0.0], "mish": [0.0003, 0.0, -0.0001, 0.0001, 0.0002]})
    assert [c.verdict for c in cs] == ["inconclusive", "equivalent", "inconclusive", "inconclusive", "equivalent",
                                       "equivalent"]
    tanh = cs[0]
    assert report.size_words(tanh) == f"inconclusive, within ±{report.bound(max(-tanh.sim_low, tanh.sim_high))} pp"
    equivalent = [c for c in cs if c.verdict == "equivalent"]
    assert all(-0.005 < c.sim_low and c.sim_high < 0.005 for c in equivalent)
    assert report.size_words(cs[1]) == f"equivalent (within ±{report.bound(max(-cs[1].sim_low, cs[1].sim_high))} pp, " \
        "margin ±0.5 pp)"
    widest = {v: report.bound(max(max(-c.sim_low, c.sim_high) for c in cs if c.verdict == v))
              for v in ("equivalent", "inconclusive")}
    assert report.verdict_words(cs) == (f"elu, selu, mish equivalent (each within ±{widest['equivalent']} pp, margin "
                                        f"±0.5 pp); tanh, silu, gelu inconclusive, each within ±{widest['inconclusive']} pp")
    assert report.bound(0.002083) == "0.21" and report.bound(0.0012) == "0.12"  # outward, float noise aside


def test_the_dagger_marks_weak_evidence_only_and_too_few_seeds_get_a_note():
    ten = found({"sigmoid": list(-0.01 + 0.001 * np.sin(np.arange(10)))}, 0.005)[0]  # 10 seeds: confirmed
    weak = found({"sigmoid": WEAK})[0]  # 10 seeds: could have confirmed, did not
    five = found({"sigmoid": list(-0.01 + 0.001 * np.sin(np.arange(5)))}, 0.005)[0]  # 5 seeds: cannot confirm
    assert [(c.verdict, c.confirmed) for c in (ten, weak, five)] == [("worse", True), ("worse", False), ("worse", False)]
    assert [report.t_only(c) for c in (ten, weak, five)] == [False, True, False]
    assert report.verdict_words([ten]) == f"sigmoid {report.size_words(ten)}"
    assert report.verdict_words([weak]) == f"sigmoid {report.size_words(weak)}†"
    assert report.verdict_words([five]) == f"sigmoid {report.size_words(five)}{FEW}"
    [cell_ten, cell_weak, cell_five] = report.choice_cells({
        "a": loaded_view("activation", "mnist", [ten]), "b": loaded_view("activation", "fashion-mnist", [weak]),
        "c": loaded_view("activation", "mnist", [five], "full")})
    assert (cell_ten["dagger_seeds"], cell_weak["dagger_seeds"], cell_five["dagger_seeds"]) == ([], [10], [])
    # README's cells: the symbol, the dagger only for weak evidence, a plain note where the seeds are too few
    assert cell_ten["words"] == f"relu 98.00: sigmoid {100 * (0.98 + ten.mean_diff):.2f} ▼"
    assert cell_weak["words"] == f"relu 98.00: sigmoid {100 * (0.98 + weak.mean_diff):.2f} ▽†"  # inside ±0.5 pp
    assert cell_five["words"] == f"relu 98.00: sigmoid {100 * (0.98 + five.mean_diff):.2f} ▼ (t-test only at 5 seeds)"
    table = report.render_choices([cell_ten, cell_weak, cell_five])
    assert table[2].startswith("| activation function") and table[3] == ""
    legend = table[4:]
    assert legend[-1].startswith("- †: weak evidence; at that seed count the exact sign-flip test") and len(legend) <= 6
    assert '"t-test only at n seeds": too few seeds for that test to confirm anything' in legend[-1]
    note = report.choices_footnote({10})[-1]  # precision_table's words under its own table
    assert note.startswith("† Weak evidence: at its seed count the exact sign-flip test") and "0.00195 at 10 seeds" in note
    assert "can confirm nothing" not in note
    assert "At 5 seeds that test can confirm nothing" in report.choices_footnote({5, 10})[-1]  # cells of older words
    assert "confirmed without the normal model" in report.signflip_text(ten)
    assert "**t-test only**, weak evidence" in report.signflip_text(weak)
    assert "t-test only (with 1 comparison the sign-flip test can confirm nothing below 6 seeds" in \
        report.signflip_text(five)


def test_a_comparison_sentence_says_how_its_seeds_went_and_the_margin_beside_the_references_error():
    [c] = found({"gelu": [0.0012, 0.0, -0.0003, 0.0020, 0.0015]})
    assert report.seed_split(c) == "better in 3, worse in 1, equal in 1 of 5 seeds, worst -0.03 pp"
    [ten] = found({"sigmoid": list(-0.01 + 0.001 * np.sin(np.arange(10)))})
    assert report.seed_split(ten) == "worse in 10 of 10 seeds, worst -1.10 pp"
    assert report.comparison_sentence(ten).startswith("sigmoid vs relu: -0.98 pp over 10 paired seeds; worse in 10 of "
                                                      "10 seeds, worst -1.10 pp: **worse by 0.98 pp")
    relu = dataclasses.replace(ten, ref_mean=0.9878)  # 1.22% error: the quick margin is 41% of it
    assert report.margin_text([relu]) == "±0.5 pp (41% of relu's 1.22% test error)"
    assert "equivalence margin ±0.5 pp (41% of relu's 1.22% test error), declared" in \
        report.comparison_lines("activation", [relu], "declared")[0]
    # the reference's error over its finished seeds, from compare
    assert found({"x": [0.001, 0.002, 0.0]})[0].ref_mean == pytest.approx(0.98)


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
    cell = "relu 98.00: tanh 97.96 ?, sigmoid 96.86 ▼ (t-test only at 5 seeds)"  # 5 seeds: no sign-flip check
    assert activation.split(" | ")[1:] == [cell, "not run", "not run", cell + " |"]
    assert ("| optimizer (`optim`, against adam) | adam 98.00: sgd 95.96 ▼ (t-test only at 5 seeds) | not run | not run "
            "| not run |") in together
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
    # a stranger's CHOICES.json beside it (not JSON, another program's, views without the evidence's keys) is skipped
    for name, text in (("broken", "{not json"), ("other", "[1, 2]"), ("older", json.dumps({"evidence": {"views": [
            {"study": "activation"}]}}))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "CHOICES.json").write_text(text)
    assert report.counterparts(tmp_path / "mnist-quick", mine) == [beside[0]]
