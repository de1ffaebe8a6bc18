"""docs/results/check.py: what it finds wrong in a comparisons CSV, and that nothing committed names a machine path."""
import json
import re
import subprocess

import numpy as np
import pandas as pd
import pytest

import analysis
import stats
from analysis import COMPARISON_COLUMNS, View
from conftest import ROOT, results_script

check = results_script("check", "results_check")
table = results_script("table", "results_table")


def good_row(**changes) -> dict:
    row = {c: 0.01 for c in COMPARISON_COLUMNS}
    row.update(study="width", config="conv_w8", reference="conv_w32", seeds=10, verdict="worse", confirmed=True,
               within_margin=False, mcnemar_every_pair=False, seeds_better=0, seeds_worse=10, test_images=10_000,
               image_ss=420)
    row.update(changes)
    return row


def problems(tmp_path, name: str, *rows: dict) -> list[str]:
    path = tmp_path / f"{name}_comparisons.csv"
    pd.DataFrame(list(rows), columns=COMPARISON_COLUMNS).to_csv(path, index=False)
    return check.csv_problems(path, check.views_by_name())


def test_a_complete_row_with_the_priority_seeds_passes(tmp_path):
    assert problems(tmp_path, "width", good_row()) == []
    assert problems(tmp_path, "width-fashion-mnist", good_row()) == []
    # equivalent and inconclusive rows have no `confirmed`; the full recipe's base study has 10 seeds, lecun98 5
    assert problems(tmp_path, "base-full", good_row(verdict="equivalent", confirmed=None)) == []
    assert problems(tmp_path, "lecun98", good_row(seeds=5, verdict="inconclusive", confirmed=None)) == []
    assert problems(tmp_path, "precision-full", good_row(seeds=5)) == []


@pytest.mark.parametrize("change, found", [
    ({"seeds": 5}, "5 seeds, 10 expected"),
    ({"verdict": "worse, probably"}, "verdict 'worse, probably' is none of better, worse, equivalent, inconclusive"),
    ({"new_low": None, "p_signflip": None}, "empty p_signflip, new_low"),
    ({"confirmed": None}, "empty confirmed"),
])
def test_a_row_short_of_the_promise_is_named(tmp_path, change, found):
    assert problems(tmp_path, "width", good_row(**change)) == [f"width_comparisons.csv: conv_w8: {found}"]


def test_a_file_of_no_study_or_of_missing_columns_is_named_and_one_of_older_columns_is_listed(tmp_path):
    assert problems(tmp_path, "widths", good_row()) == ["widths_comparisons.csv: no study, dataset and recipe gives "
                                                        "this name"]
    old = tmp_path / "depth_comparisons.csv"
    pd.DataFrame([good_row()]).drop(columns=["new_low", "new_high"]).to_csv(old, index=False)
    assert check.csv_problems(old, check.views_by_name()) == ["depth_comparisons.csv: no column new_low, new_high"]
    # made before per-seed files: checked for seeds, verdicts and columns, listed as not recomputable
    legacy = {**{c: 0.01 for c in check.LEGACY_COLUMNS}, **{k: v for k, v in good_row().items()
                                                           if k in check.LEGACY_COLUMNS}}
    pd.DataFrame([legacy], columns=check.LEGACY_COLUMNS).to_csv(old, index=False)
    assert check.csv_problems(old, check.views_by_name()) == []
    assert check.recompute_problems([old]) == ([], "recomputed from the per-seed files: 0 rows checked, 0 mismatches; "
                                               "made before per-seed files, not recomputable until their part is made "
                                               f"again: 1 CSVs ({tmp_path.name}/depth_comparisons.csv)")
    pd.DataFrame([good_row()], columns=COMPARISON_COLUMNS).to_csv(old, index=False)
    assert check.recompute_problems([old])[0] == ["depth_comparisons.csv: no depth_seeds.csv to recompute it from"]


def synthetic_part(folder) -> tuple:
    """A part written by analysis' real writers from fake runs: relu the reference, tanh and sigmoid against it, 5
    seeds (sigmoid's seed 4 unfinished), predictions on 2,000 test images."""
    labels = np.arange(2000) % 10
    rng = np.random.default_rng(3)
    share = {"relu": 0.02, "tanh": 0.022, "sigmoid": 0.04}
    preds = {name: {seed: np.where(rng.random(2000) < p, (labels + 1) % 10, labels) for seed in range(5)}
             for name, p in share.items()}
    del preds["sigmoid"][4]
    acc = {name: {seed: float(np.mean(pred == labels)) for seed, pred in runs.items()} for name, runs in preds.items()}
    found = stats.decide([stats.compare(name, "relu", acc[name], acc["relu"], 0.005, preds[name], preds["relu"], labels)
                          for name in ("tanh", "sigmoid")])
    rows = [{"name": name, "runs": [{"seed": seed, "test_acc": a} for seed, a in acc[name].items()]} for name in acc]
    return (analysis.write_comparisons(folder / "activation_comparisons.csv", "activation", found),
            analysis.write_seeds(folder / "activation_seeds.csv", View("activation", "mnist", "quick"), rows, found))


def test_every_number_is_recomputed_from_the_per_seed_file_and_a_mismatch_is_named(tmp_path):
    comparisons, seeds = synthetic_part(tmp_path)
    table = pd.read_csv(seeds)
    assert list(table.columns) == analysis.SEED_COLUMNS and len(table) == 14  # 5 + 5 + 4 finished seeds
    assert table.loc[table["config"] == "relu", "reference"].isna().all()
    assert (table.loc[table["config"] == "sigmoid", "only_config"] > 0).all()
    assert check.recompute(comparisons) == (2, [])
    assert check.recompute_problems([comparisons]) == ([], "recomputed from the per-seed files: 2 rows checked, "
                                                           "0 mismatches")
    # a p-value changed in the comparisons CSV: exactly that cell is named
    rows = pd.read_csv(comparisons)
    rows.loc[rows["config"] == "sigmoid", "p_holm"] = 0.5
    rows.to_csv(comparisons, index=False)
    n, found = check.recompute(comparisons)
    assert n == 2 and len(found) == 1 and found[0].startswith("activation_comparisons.csv: sigmoid: p_holm is 0.5, "
                                                              "recomputed from activation_seeds.csv: ")
    # one seed's accuracy changed in the per-seed file: its counts disagree, and the numbers it feeds
    synthetic_part(tmp_path)
    table.loc[(table["config"] == "tanh") & (table["seed"] == 2), "test_acc"] += 0.0005
    table.to_csv(seeds, index=False)
    n, found = check.recompute(comparisons)
    assert found[0].startswith("activation_comparisons.csv: tanh: seed 2: only_config - only_reference gives")
    assert {line.split(": ")[2].split(" is ")[0] for line in found[1:]} >= {"mean_diff", "p_paired", "sim_low"}
    assert all(": tanh: " in line for line in found)  # sigmoid's numbers do not depend on tanh's


def test_the_per_seed_files_are_committed_not_ignored():
    ignored = subprocess.run(["git", "check-ignore", "-q", "docs/results/mnist-quick/activation_seeds.csv"], cwd=ROOT)
    assert ignored.returncode == 1  # 1: not ignored
    assert subprocess.run(["git", "check-ignore", "-q", "docs/results/mnist-quick/activation_scalars.csv"],
                          cwd=ROOT).returncode == 0


def test_nothing_committed_names_a_machine_path():
    assert check.MACHINE_PATH.search("logs in " + "/" + "tmp/x/logs")
    assert not check.MACHINE_PATH.search("logs/base/Net-1a2b3c4d/seed0")
    assert check.machine_paths() == []


def test_readme_links_each_part_whose_cells_its_table_shows():
    from report import part_views, question_views
    linked = [path.parent.name for path in table.parts() if question_views(part_views(path))]
    assert "mnist-quick" in linked and "best" not in linked  # best fills no cell: its evidence answers no question
    assert "best" in [path.parent.name for path in table.parts()]  # yet its evidence is read (regularization's finding)
    last = table.table().splitlines()[-1]
    assert [m.group(1) for m in re.finditer(r"\[([\w-]+)\]\(docs/results/([\w-]+)/REPORT\.md\)", last)
            if m.group(1) == m.group(2) and (table.RESULTS / m.group(2) / "REPORT.md").is_file()] == linked
    assert check.readme_problems() == []


def test_the_cells_readme_still_lacks_are_counted_and_a_study_of_one_recipe_is_not_one():
    from report import render_choices

    composed = "\n".join(render_choices([], every_question=True) or render_choices(
        [{"study": "activation", "dataset": "mnist", "recipe": "quick", "reference": "relu", "words": "relu 98.00"}],
        every_question=True))
    unrun = check.unrun_cells(composed)
    assert "activation (MNIST, quick recipe)" not in unrun and "activation (MNIST, full recipe)" in unrun
    assert len(unrun) == 7 * 4 - 1 - 2 - 2  # 7 questions x 4 columns, less the one filled and 2 + 2 out of scope
    rows = {line.split("`")[1]: line for line in composed.splitlines() if line.startswith("| ") and "`" in line}
    assert rows["regularization"].endswith("| full recipe only | full recipe only | not run | not run |")
    assert rows["optim_sweep"].endswith("| not run | not run | quick recipe only | quick recipe only |")


def test_a_view_that_two_parts_hold_is_named_not_said_twice(tmp_path, monkeypatch, capsys):
    import shutil
    results = tmp_path / "results"
    for name in ("optim-sweep-quick-mnist", "optim-full-mnist"):
        shutil.copytree(table.RESULTS / name, results / name)
    assert len(table.evidence(results).of("optim", "mnist")) == 2
    shutil.copytree(table.RESULTS / "optim-sweep-quick-mnist", results / "optim-quick-mnist")  # the part it replaced
    with pytest.raises(ValueError, match="^optim on mnist, quick recipe, is in two parts, "
                                         "optim-quick-mnist and optim-sweep-quick-mnist: keep one$"):
        table.evidence(results)
    monkeypatch.setattr(table, "parts", lambda _=None: sorted(results.glob("*/CHOICES.json")))
    assert table.main([]) == 1
    assert capsys.readouterr().err.startswith("table.py: optim on mnist, quick recipe, is in two parts")


def readme_of(tmp_path, monkeypatch, findings: str, block: list[str]):
    readme = tmp_path / "README.md"
    readme.write_text("\n".join([table.FINDINGS_MARK, findings + table.FINDINGS_MARK, table.README_MARK, *block,
                                 table.README_MARK]) + "\n")
    monkeypatch.setattr(check, "README", readme)
    return readme


def test_a_readme_without_the_line_of_links_is_named(tmp_path, monkeypatch):
    block = table.table().splitlines()
    readme_of(tmp_path, monkeypatch, table.found(), block[:-2])
    assert check.readme_problems() == ["README.md: its results table is not table.py's "
                                       "(python docs/results/table.py --write)"]
    readme_of(tmp_path, monkeypatch, table.found(), block)
    assert check.readme_problems() == []


def test_a_hand_edited_number_in_the_findings_is_named_by_line_and_word(tmp_path, monkeypatch):
    committed = check.FINDINGS.read_text()
    line = next(i for i, text in enumerate(committed.splitlines()) if text.startswith("| sigmoid | 97.34 ± 0.43% "))
    edited = tmp_path / "FINDINGS.md"
    edited.write_text(committed.replace("| sigmoid | 97.34 ± 0.43% ", "| sigmoid | 97.43 ± 0.43% ", 1))
    monkeypatch.setattr(check, "FINDINGS", edited)
    assert check.readme_problems() == [f"docs/results/FINDINGS.md line {line + 1}: '97.43' where the results give "
                                       "'97.34' (python docs/results/table.py --write)"]
    found = table.found()
    readme_of(tmp_path, monkeypatch, found.replace("(1.42 pp worse)", "(1.24 pp worse)", 1), table.table().splitlines())
    edited.write_text(committed)
    line = next(i for i, text in enumerate(found.splitlines()) if "(1.42 pp worse)" in text)
    assert check.readme_problems() == [f"README.md, What we found line {line + 1}: '(1.24' where the results give "
                                       "'(1.42' (python docs/results/table.py --write)"]


def test_evidence_that_is_not_its_csvs_comparison_is_named(tmp_path):
    import json
    import shutil
    part = tmp_path / "optim-sweep-quick-mnist"
    shutil.copytree(table.RESULTS / "optim-sweep-quick-mnist", part)
    assert check.evidence_problems(part) == []
    choices = json.loads((part / "CHOICES.json").read_text())
    optim = next(v for v in choices["evidence"]["views"] if v["study"] == "optim")
    adagrad = next(e for e in optim["configs"] if e["name"] == "adagrad")
    assert adagrad["comparison"]["verdict"] == "worse"
    adagrad["comparison"]["verdict"] = "better"
    (part / "CHOICES.json").write_text(json.dumps(choices))
    assert check.evidence_problems(part) == ["optim-sweep-quick-mnist/CHOICES.json: optim: adagrad's "
                                             "evidence is not optim_comparisons.csv's comparison"]


def test_check_runs_the_recomputation_and_the_evidence_check_both(tmp_path, capsys):
    import json
    import shutil
    part = tmp_path / "optim-full-mnist"
    shutil.copytree(table.RESULTS / "optim-full-mnist", part)
    choices = json.loads((part / "CHOICES.json").read_text())
    sgd = next(e for e in choices["evidence"]["views"][0]["configs"] if e["name"] == "sgd")
    sgd["comparison"]["mean_diff"] += 0.001
    (part / "CHOICES.json").write_text(json.dumps(choices))
    assert check.main(["--results", str(part)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "optim-full-mnist/CHOICES.json: optim-full: sgd's evidence is not optim-full_comparisons.csv's comparison" in out
    # its CSV predates per-seed files: listed as not recomputable, not as a failure
    assert ("recomputed from the per-seed files: 0 rows checked, 0 mismatches; made before per-seed files, not "
            "recomputable until their part is made again: 1 CSVs (optim-full-mnist/optim-full_comparisons.csv)") in out
    assert not any("no optim-full_seeds.csv" in line for line in out)
    # a part made with per-seed files (optim-sweep-quick-mnist, 10 seeds): every row recomputed from its seeds files,
    # 7 optimizers against adam at the usual rates and 7 at their best
    assert check.main(["--results", str(table.RESULTS / "optim-sweep-quick-mnist")]) == 0
    assert "recomputed from the per-seed files: 14 rows checked, 0 mismatches" in capsys.readouterr().out.splitlines()


def test_the_committed_evidence_is_the_extractors_reading_of_the_committed_reports(tmp_path):
    import json
    import shutil
    extract = results_script("extract_evidence", "results_extract_evidence")
    for name in ("fashion-mnist-quick", "optim-full-fashion-mnist"):
        part = tmp_path / name
        shutil.copytree(table.RESULTS / name, part)
        extract.extract(part)
        assert (part / "CHOICES.json").read_text() == (table.RESULTS / name / "CHOICES.json").read_text()
    evidence = json.loads((tmp_path / "fashion-mnist-quick" / "CHOICES.json").read_text())["evidence"]
    assert evidence["source"] == "REPORT.md"
    batch = next(v for v in evidence["views"] if v["study"] == "batch_size")
    assert {e["name"]: e["steps"] for e in batch["configs"]} == {"bs16": 6876, "bs64": 1720, "bs256": 430, "bs1024": 108}
    assert all(e["train_val_gap"] is None for v in evidence["views"] for e in v["configs"])  # never printed: not made up


def test_a_folder_of_runs_of_other_code_or_of_several_versions_is_named(tmp_path):
    from runstore import code_digest
    today = code_digest()[:8]
    assert check.code_problems(tmp_path) == [f"{tmp_path.name}: no REPORT.md"]
    report = tmp_path / "REPORT.md"
    report.write_text(f"## base\n\nCode digest of every run: `{today}`.\n\n## width\n\nCode digest of every run: `{today}`.\n")
    assert check.code_problems(tmp_path) == []
    report.write_text(report.read_text() + "## depth\n\nCode digest of every run: `03116cf7`.\n")
    assert check.code_problems(tmp_path) == [f"{tmp_path.name}: runs of code 03116cf7, today's is {today}"]
    report.write_text(f"Runs of 2 code versions, labelled by code digest where a config repeats: `{today}` (5 runs).\n")
    assert check.code_problems(tmp_path) == [f"{tmp_path.name}: a study with runs of several code versions"]


def test_runs_of_older_code_are_todays_where_no_config_of_theirs_reaches_what_changed(tmp_path):
    """303c61eb is the numeric code at a844838, before SpeedNetLite: a part of Net's runs is still today's, a part
    that computed SpeedNetLite would not be (its class is new)."""
    from digest import source_at
    if source_at("a844838") is None:
        pytest.skip("no git history with commit a844838")
    part = tmp_path / "part"  # a folder of its own: the reports of other tests look for parts beside theirs
    part.mkdir()
    today = check.code_digest()[:8]
    assert today != "303c61eb"  # a network was added since: the numeric code as a whole differs
    (part / "REPORT.md").write_text("## optim\n\nCode digest of every run: `303c61eb`.\n")

    def choices(*models: str) -> None:
        configs = [{"model": m, "model_args": {}, "optimizer": "adam"} for m in models]
        (part / "CHOICES.json").write_text(json.dumps({"evidence": {"views": [{"dataset": "mnist",
                                                                                  "configs": configs}]}}))

    choices("Net", "MLP")
    assert check.code_problems(part) == []
    choices("Net", "SpeedNetLite")
    assert check.code_problems(part) == [f"{part.name}: runs of code 303c61eb, today's is {today}"]


precision_table = results_script("precision_table", "results_precision_table")


def test_the_precision_table_words_each_network_per_dataset_and_recipe(tmp_path):
    def row(network: str, **changes) -> dict:
        return good_row(study="precision", config=f"{network}-bf16", reference=f"{network}-fp32", margin=0.002,
                        **changes)
    pd.DataFrame([row("Net", verdict="equivalent", confirmed=None, mean_diff=-0.0003, sim_low=-0.0014,
                      sim_high=0.0009),
                  row("MLP", verdict="inconclusive", confirmed=None, mean_diff=-0.0011, sim_low=-0.0036,
                      sim_high=0.0014)], columns=COMPARISON_COLUMNS).to_csv(tmp_path / "precision_comparisons.csv")
    pd.DataFrame([row("LeNet", seeds=5, verdict="better", confirmed=False, within_margin=True, mean_diff=0.0007,
                      sim_low=0.0, sim_high=0.0013)],
                 columns=COMPARISON_COLUMNS).to_csv(tmp_path / "precision-full_comparisons.csv")
    lines = precision_table.table(tmp_path).splitlines()
    assert lines[0] == "| network | MNIST, quick, 10 seeds | MNIST, full, 5 seeds |"
    assert lines[2] == "| Net | equivalent (within ±0.14 pp, margin ±0.2 pp) (-0.03 pp) | not run |"
    # 5 seeds: the sign-flip test cannot confirm, so no dagger (and no footnote)
    assert lines[3] == "| LeNet | not run | better (sign only; at most 0.13 pp), negligible within ±0.2 pp (+0.07 pp) |"
    assert lines[6] == "| MLP | inconclusive, within ±0.36 pp (-0.11 pp) | not run |" and len(lines) == 7
    assert precision_table.table(tmp_path / "none") == ""


def test_performance_md_holds_the_committed_precision_table():
    assert check.precision_problems() == []
