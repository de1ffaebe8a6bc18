"""findings.py: each study's finding in plain words, every number from the evidence; quick against full; the cells."""
import pytest

import findings
import report
from findings import Evidence


def comparison(verdict: str, diff: float, low: float | None, high: float | None, within: bool = False,
               confirmed: bool | None = True, margin: float = 0.005, seeds: int = 10) -> dict:
    return {"verdict": verdict, "mean_diff": diff, "sim_low": low, "sim_high": high, "within_margin": within,
            "confirmed": confirmed if verdict in ("better", "worse") else None, "margin": margin, "family": 6,
            "seeds": seeds, "p_note": None if low is not None else f"{seeds} paired seed(s): a test needs 3"}


def config(name: str, mean: float, reference: str | None = None, compared: dict | None = None, **more) -> dict:
    e = {"name": name, "reference": reference, "n_params": 1000, "seeds": 10, "test_mean": mean, "test_sd": 0.001,
         "val_mean": mean, "wall_s": 10.0, "train_val_gap": None, "not_learned": 0, "epochs": 2, "batch_size": 64,
         "optimizer": "adam", "lr": 0.001, "schedule": "none", "weight_decay": 0.0, "augment": "none",
         "label_smoothing": 0.0, "precision": "fp32", "model": "ConvNet", "model_args": {}, "steps": 1720,
         "grad": None, "comparison": compared}
    return {**e, **more}


def view(study: str, dataset: str, recipe: str, *configs: dict) -> dict:
    return {"study": study, "dataset": dataset, "recipe": recipe, "n_train": 55000, "margin": 0.005, "diverged": 0,
            "configs": list(configs)}


QUICK_SIGMOID = comparison("worse", -0.0143, -0.0189, -0.0097)


@pytest.mark.parametrize("full, kind", [
    (comparison("worse", -0.0026, -0.0042, -0.0009, confirmed=False), "shrinks"),  # below the quick interval
    (comparison("equivalent", -0.0001, -0.0010, 0.0008), "closes"),
    (comparison("worse", -0.0120, -0.0150, -0.0090), "stays"),  # overlaps 0.97 to 1.89
    (comparison("worse", -0.0250, -0.0300, -0.0200), "grows"),
    (comparison("better", 0.0030, 0.0010, 0.0050), "reverses"),
    (comparison("inconclusive", -0.0040, -0.0100, 0.0020), "unresolved"),  # reaches into the quick interval
    (comparison("inconclusive", -0.0010, -0.0050, 0.0030), "shrinks"),  # all of it below 0.97 pp
])
def test_the_gap_at_convergence_is_read_from_the_two_intervals(full, kind):
    assert findings.convergence({"comparison": QUICK_SIGMOID}, {"comparison": full}) == kind


def test_a_gap_that_only_appears_at_convergence_is_said_and_none_is_not():
    quick = {"comparison": comparison("equivalent", 0.0, -0.002, 0.002)}
    # under the full recipe's ±0.2 pp margin: its interval (0.2 to 0.4 pp) is not inside it, a real gap
    assert findings.convergence(quick, {"comparison": comparison("worse", -0.003, -0.004, -0.002, margin=0.002)}) == \
        "appears"
    assert findings.convergence(quick, {"comparison": comparison("equivalent", 0.0, -0.001, 0.001)}) is None
    assert findings.convergence(quick, None) is None


def activation_evidence() -> Evidence:
    """The activation study's shape: MNIST quick and full, sigmoid's gradient ratios, elu's verdicts changing."""
    grads = {"sigmoid": {"vs_ref": 0.518, "vs_ref_low": 0.441, "vs_ref_high": 0.579, "vs_ref_seeds": 10},
             "tanh": {"vs_ref": 6.44, "vs_ref_low": 5.4, "vs_ref_high": 6.98, "vs_ref_seeds": 10}}
    quick = view("activation", "mnist", "quick", config("relu", 0.9878, test_sd=0.0010),
                 config("sigmoid", 0.9735, "relu", QUICK_SIGMOID, test_sd=0.0043, grad=grads["sigmoid"]),
                 config("tanh", 0.9870, "relu", comparison("equivalent", -0.0008, -0.0021, 0.0006), grad=grads["tanh"]),
                 config("elu", 0.9876, "relu", comparison("equivalent", -0.0002, -0.0019, 0.0015)))
    full = view("activation", "mnist", "full", config("relu", 0.9936, test_sd=0.0005),
                config("sigmoid", 0.9910, "relu", comparison("worse", -0.0026, -0.0042, -0.0009, confirmed=False,
                                                             margin=0.002, seeds=5), test_sd=0.0003, seeds=5),
                config("tanh", 0.9915, "relu", comparison("worse", -0.0021, -0.0044, 0.0, confirmed=False, margin=0.002)),
                config("elu", 0.9926, "relu", comparison("worse", -0.0010, -0.0021, 0.0, within=True, confirmed=False,
                                                         margin=0.002)))
    return Evidence([full, quick])  # any order: columns sort quick first


def test_the_largest_effect_names_both_accuracies_both_recipes_and_the_gradient_evidence():
    f = findings.finding(activation_evidence(), "activation")
    # full: 5 seeds, too few for the sign-flip test to confirm anything: no dagger (weak evidence), said in words
    assert f.short[0] == ("The largest effect is sigmoid's: on MNIST 97.35 ± 0.43% against relu's 98.78 ± 0.10% after "
                          "2 epochs (1.43 pp worse); trained to convergence the gap shrinks to 0.26 pp, t-test only.")
    assert f.long[0] == ("The largest effect is sigmoid's: on MNIST 97.35 ± 0.43% against relu's 98.78 ± 0.10% after "
                         "2 epochs (worse by 1.43 pp (0.97 to 1.89)); trained to convergence 99.10 ± 0.03% against "
                         "99.36 ± 0.05%: the gap shrinks, worse by 0.26 pp (0.09 to 0.42), t-test only.")
    why = next(s for s in f.short if s.startswith("Why sigmoid"))
    assert why.startswith("Why sigmoid: its first-layer gradient norm over its last layer's was 0.518x relu's on MNIST "
                          "after 2 epochs, below 1x in every seed: sigmoid squashes")
    assert "Against the textbook, tanh's ratio was 6.44x relu's on MNIST: the textbook puts tanh" in " ".join(f.short)
    assert "0.518x (0.441x to 0.579x over 10 seeds) relu's on MNIST, quick recipe" in " ".join(f.long)


def test_verdicts_that_change_by_column_get_one_sentence_of_what_holds_in_all():
    ev = activation_evidence()
    sentence = findings.disagreement_sentence(ev, "activation")
    # tanh: equivalent, then worse (sign only): it changes; elu: equivalent, then worse (sign only), its interval
    # reaching 0.21 pp, past the 0.2 pp margin: not negligible (issue 52), so it changes too
    assert sentence == ("Verdicts that differ by column (in the table's order), with what holds in all: "
                        "tanh ≈ ▼† (-0.44 to +0.06 pp from relu); elu ≈ ▼† (-0.21 to +0.15 pp from relu).")
    # elu: equivalent, then negligible (an interval inside the margin): it does not change
    findings.entry(ev.one("activation", "mnist", "full"), "elu")["comparison"]["sim_low"] = -0.0019
    assert findings.disagreement_sentence(ev, "activation") == (
        "Verdicts that differ by column (in the table's order), with what holds in all: "
        "tanh ≈ ▼† (-0.44 to +0.06 pp from relu).")


def test_a_saturation_story_the_gradients_contradict_is_not_told():
    ev = activation_evidence()
    sigmoid = findings.entry(ev.one("activation", "mnist", "quick"), "sigmoid")
    sigmoid["grad"] = {**sigmoid["grad"], "vs_ref_high": 1.2}  # one seed above relu's ratio
    why = next(s for s in findings.finding(ev, "activation").short if s.startswith("Why sigmoid"))
    assert why.endswith("not below 1x in every seed, so saturation does not explain it here.")
    assert "squashes" not in why


def test_cells_give_each_accuracy_and_one_symbol_per_verdict():
    v = view("optim", "mnist", "quick", config("adam", 0.9872),
             config("sgd", 0.9843, "adam", comparison("inconclusive", -0.003, -0.0084, 0.0024)),
             config("adagrad", 0.9851, "adam", comparison("worse", -0.0021, -0.0033, -0.0008, within=True)),
             config("adamw", 0.9874, "adam", comparison("equivalent", 0.0002, -0.001, 0.0014)),
             config("nesterov", 0.9860, "adam", comparison("worse", -0.012, -0.016, -0.006, confirmed=False)),
             config("rmsprop", 0.9890, "adam", comparison("better", 0.0018, 0.0, 0.003)),
             config("adadelta", 0.9952, "adam", comparison("better", 0.008, 0.002, 0.014)))
    # rmsprop's interval (0 to 0.30 pp) lies inside the ±0.5 pp margin: negligible, whatever the CSV's within_margin
    assert findings.cell(v) == ("adam 98.72: adadelta 99.52 ▲, rmsprop 98.90 △, adamw 98.74 ≈, nesterov 98.60 ▼†, "
                                "adagrad 98.51 ▽, sgd 98.43 ?")
    legend = findings.legend()
    assert len(legend) <= 6
    for term in ("pp: percentage points", "▲ better", "▼ worse", "△ / ▽: real but negligible", "≈ equivalent",
                 "? inconclusive", "Margin:", "±0.5 pp for the quick recipe", "±0.2 pp for the full one", "†:",
                 '"sign only": an end of that interval lies within 0.005 pp of zero'):
        assert term in " ".join(legend), term


def test_each_family_lists_its_reference_in_the_studys_order():
    v = view("depth", "fashion-mnist", "quick", config("mlp2", 0.8634), config("conv2", 0.8969),
             config("mlp4", 0.8585, "mlp2", comparison("inconclusive", -0.005, -0.0119, 0.002)),
             config("conv1", 0.8929, "conv2", comparison("worse", -0.0041, -0.0074, -0.0007)))
    assert findings.cell(v) == "conv2 89.69: conv1 89.29 ▼; mlp2 86.34: mlp4 85.85 ?"


def depth_evidence(low: float, high: float) -> Evidence:
    grad = {"vs_ref": (low + high) / 2, "vs_ref_low": low, "vs_ref_high": high, "vs_ref_seeds": 10}
    return Evidence([view("depth", "mnist", "quick", config("mlp2", 0.9720, model_args={"depth": 2}),
                          config("mlp3", 0.9691, "mlp2", comparison("worse", -0.0029, -0.0054, -0.0003, within=True),
                                 model_args={"depth": 3}),
                          config("mlp4", 0.9657, "mlp2", comparison("worse", -0.0063, -0.0104, -0.0022),
                                 model_args={"depth": 4}, grad=grad, n_params=1195018))])


def test_depth_says_when_the_gradients_contradict_the_vanishing_gradient_story_and_when_not():
    against = " ".join(findings.finding(depth_evidence(1.26, 1.4), "depth").short)
    assert ("Against the textbook, mlp4's first-layer gradient norm over its last layer's was 1.33x mlp2's on MNIST, "
            "larger in every seed on MNIST: the textbook blames depth's trouble on vanishing gradients") in against
    agrees = " ".join(findings.finding(depth_evidence(0.5, 0.7), "depth").short)
    assert "As the textbook says (the textbook blames" in agrees and "Against the textbook" not in agrees
    assert "Not trained to convergence here (no full-recipe runs)" in agrees


def test_batch_size_why_counts_the_optimizer_steps_each_batch_took():
    steps = {16: 6876, 64: 1720, 256: 430, 1024: 108}
    configs = [config(f"bs{b}", 0.98, None if b == 64 else "bs64",
                      None if b == 64 else comparison("equivalent", 0.0, -0.001, 0.001), batch_size=b, steps=s)
               for b, s in steps.items()]
    why = findings.why_batch_size(Evidence([view("batch_size", "mnist", "quick", *configs)])).short
    assert why[0].startswith("Why: optimizer steps after 2 epochs (epochs x ceil(55,000 / batch)): bs16 6,876, "
                             "bs64 1,720, bs256 430, bs1024 108, all at lr 0.001; in the same epochs")
    assert len(why) == 1
    full = [{**e, "steps": 6 * e["steps"], "lr": 0.003, "schedule": "onecycle"} for e in configs]
    why = findings.why_batch_size(Evidence([view("batch_size", "mnist", "quick", *configs),
                                            view("batch_size", "fashion-mnist", "full", *full)])).short
    assert why[1] == ("Trained to convergence (Fashion-MNIST, full recipe) the steps were bs16 41,256, bs64 10,320, "
                      "bs256 2,580, bs1024 648, at lr 0.003, schedule onecycle: as many epochs, as few steps.")


def test_the_optimizer_finding_names_each_rate_and_the_confound():
    ev = Evidence([view("optim", "mnist", "quick", config("adam", 0.98),
                        config("sgd", 0.97, "adam", comparison("worse", -0.01, -0.02, -0.005), lr=0.1, optimizer="sgd"),
                        config("adamw", 0.98, "adam", comparison("equivalent", 0.0, -0.001, 0.001), weight_decay=0.01))])
    [text] = findings.why_optim(ev).short
    assert text.startswith("The rate confound: under the quick recipe each optimizer ran at its own usual rate (adam "
                           "0.001, adamw 0.001, sgd 0.1), weight decay only for adamw 0.01, so every verdict compares "
                           "an optimizer together with its rate")
    assert text.endswith("No part of the rate sweep is committed yet; `compare_optim.py --lr-sweep` removes the "
                         "confound: it trains each optimizer at five rates and compares each at its best on validation.")


def test_the_rate_sweep_says_which_verdicts_its_best_rates_change_and_what_that_says_of_the_confound():
    worse = comparison("worse", -0.01, -0.02, -0.005)
    usual = view("optim", "mnist", "quick", config("adam", 0.98),
                 config("sgd", 0.97, "adam", worse, lr=0.1, optimizer="sgd"),
                 config("adagrad", 0.97, "adam", worse, lr=0.01, optimizer="adagrad"),
                 config("rmsprop", 0.98, "adam", comparison("equivalent", 0.0, -0.001, 0.001), optimizer="rmsprop"))
    best = view("optim_sweep", "mnist", "quick", config("adam_lr0.003", 0.985, lr=0.003),
                config("sgd_lr0.3", 0.984, "adam_lr0.003", comparison("equivalent", -0.001, -0.002, 0.001), lr=0.3,
                       optimizer="sgd"),
                config("adagrad_lr0.03", 0.97, "adam_lr0.003", worse, lr=0.03, optimizer="adagrad"),
                config("rmsprop_lr0.001", 0.98, "adam_lr0.003", comparison("inconclusive", -0.002, -0.009, 0.004),
                       optimizer="rmsprop"),
                config("sgd_lr0.1", 0.975, lr=0.1, optimizer="sgd"),  # the other rates: evidence, not compared
                config("adam_lr0.001", 0.98))
    ev = Evidence([usual, best])
    [text] = findings.why_optim(ev).short
    assert text.endswith(
        "Each at its best rate on validation (MNIST, quick recipe; usual rate → best: adam 0.001 → 0.003 (+0.50 pp on "
        "validation), sgd 0.1 → 0.3 (+1.40 pp on validation), adagrad 0.01 → 0.03 (+0.00 pp on validation), rmsprop "
        "0.001 → 0.001), against adam at its best: 2 of 3 verdicts against adam change: "
        "sgd ▼ → ≈ (-1.00 pp → -0.10 pp), rmsprop ≈ → ? (+0.00 pp → -0.20 pp); sgd's gap at the usual rate was the rate's; adagrad differs from adam at the best "
        "rates too: the optimizer's, not the rate's.")
    assert findings.why_optim(ev).key == ("at each one's best rate (2 epochs): MNIST 3 of 4 best rates differ from "
                                          "the usual ones, 2 verdicts change (sgd, rmsprop)")
    # a sweep per dataset: "In short" counts each
    import copy
    fashion = [{**copy.deepcopy(v), "dataset": "fashion-mnist"} for v in (usual, best)]
    findings.entry(fashion[1], "sgd_lr0.3")["comparison"] = worse
    assert findings.why_optim(Evidence([usual, best, *fashion])).key == (
        "at each one's best rate (2 epochs): MNIST 3 of 4 best rates differ from the usual ones, 2 verdicts change "
        "(sgd, rmsprop); Fashion-MNIST 3 of 4 best rates differ from the usual ones, 1 verdict changes (rmsprop)")
    # README's cell names each optimizer once, at its best rate, without the rate the findings give
    assert findings.cell(best) == "adam 98.50: sgd 98.40 ≈, rmsprop 98.00 ?, adagrad 97.00 ▼"
    assert report.evidence_cell(best)["reference"] == "adam"
    # the dagger alone is no change of verdict
    findings.entry(best, "sgd_lr0.3")["comparison"] = comparison("worse", -0.01, -0.02, -0.005, confirmed=False)
    assert findings.why_optim(ev).key.endswith("1 verdict changes (rmsprop)")


def test_runs_that_did_not_learn_and_comparisons_without_a_test_are_said_first():
    untested = comparison("inconclusive", -0.7792, None, None, seeds=2)
    ev = Evidence([view("activation", "mnist", "quick", config("relu", 0.9356, seeds=2),
                        config("sigmoid", 0.1563, "relu", untested, seeds=2, not_learned=1))])
    f = findings.finding(ev, "activation")
    assert f.short[:3] == [
        "Did not learn (finished, but test accuracy within 5 points of chance): sigmoid (1 of 2 runs, MNIST, quick "
        "recipe).",
        "1 of its 1 comparison had no test at all (too few paired seeds: 3 are needed), so their inconclusive verdicts "
        "say nothing either way.",
        "No config was shown to differ from its reference by more than the margin in any column."]
    assert findings.cell(ev.views[0]) == "relu 93.56: sigmoid 15.63 ?"


def test_regularization_says_whether_the_overfitting_was_measured():
    def ev(gap):
        return Evidence([view("regularization", "mnist", "full", config("Net", 0.9936, train_val_gap=gap),
                              config("augment", 0.9950, "Net", comparison("inconclusive", 0.0014, -0.0006, 0.0033)))])
    assert "These parts do not record the training accuracy" in findings.why_regularization(ev(None)).short[0]
    assert ("how much the reference overfits: Net +0.41 pp on MNIST, full recipe."
            in findings.why_regularization(ev(0.0041)).short[0])


def test_in_short_gives_each_questions_best_and_worst_per_dataset_through_both_recipes():
    ev = activation_evidence()
    # sigmoid is the only real difference on MNIST: worse by 1.43 pp quick, 0.26 pp converged (5 seeds: t-test only)
    assert findings.answer_cell(ev, "activation", "mnist") == (
        "nothing beats relu (99.36%, converged) by more than the margin; worst: sigmoid -1.43 pp ▼ (2 epochs), "
        "-0.26 pp ▼ (converged, t-test only)")
    table = findings.answers(ev, "FINDINGS.md")
    assert table[0] == "| question | MNIST | why, as the runs measured it |"
    row = table[2]
    assert row.startswith("| [Activation function](FINDINGS.md#activation-function) | nothing beats relu")
    assert row.endswith("| sigmoid's first-to-last-layer gradient ratio 0.518x relu's (MNIST, 2 epochs): its first "
                        "layers learn slowest; tanh's 6.44x: no saturation, against the textbook |")
    # a real better config is the best, with its fate when trained: here it closes (≈)
    quick, full = ev.one("activation", "mnist", "quick"), ev.one("activation", "mnist", "full")
    quick["configs"].append(config("gelu", 0.9935, "relu", comparison("better", 0.0057, 0.0030, 0.0084)))
    full["configs"].append(config("gelu", 0.9937, "relu", comparison("equivalent", 0.0001, -0.0010, 0.0012,
                                                                     margin=0.002)))
    assert findings.answer_cell(ev, "activation", "mnist").startswith(
        "best: gelu +0.57 pp ▲ (2 epochs), +0.01 pp ≈ (converged); worst: sigmoid")
    # an interval that reaches 0 claims the direction only: said as the legend says it
    findings.entry(quick, "gelu")["comparison"]["sim_low"] = 0.0
    assert findings.answer_cell(ev, "activation", "mnist").startswith(
        "best: gelu +0.57 pp ▲ (2 epochs, sign only), +0.01 pp ≈ (converged)")
    # no difference beyond the margin anywhere (▲ ▼ only; a △ is real but within it): said as such, and a dataset
    # without runs is 'not run'
    for e in quick["configs"] + full["configs"]:
        if e.get("comparison"):
            e["comparison"] = comparison("inconclusive", -0.001, -0.006, 0.004)
    findings.entry(quick, "gelu")["comparison"] = comparison("better", 0.0012, 0.0004, 0.0020, within=True)
    assert findings.answer_cell(ev, "activation", "mnist") == (
        "no difference beyond the margin: every config within it or inconclusive")
    assert findings.answer_cell(ev, "activation", "fashion-mnist") == "not run"


def test_in_short_names_the_reference_where_a_study_has_two_and_depths_gradient_why():
    v = view("depth", "mnist", "quick", config("conv2", 0.9878, model_args={"depth": 2}),
             config("mlp2", 0.9720, model_args={"depth": 2}),
             config("conv3", 0.9876, "conv2", comparison("equivalent", -0.0002, -0.0020, 0.0016),
                    model_args={"depth": 3}),
             config("mlp4", 0.9657, "mlp2", comparison("worse", -0.0063, -0.0090, -0.0036), model_args={"depth": 4},
                    grad={"vs_ref": 1.33, "vs_ref_low": 1.1, "vs_ref_high": 1.6, "vs_ref_seeds": 10}))
    ev = Evidence([v])
    assert findings.answer_cell(ev, "depth", "mnist") == (
        "nothing beats conv2 (98.78%, 2 epochs) and mlp2 (97.20%, 2 epochs) by more than the margin; worst: mlp4 "
        "against mlp2 -0.63 pp ▼ (2 epochs)")
    assert findings.finding(ev, "depth").key == (
        "mlp4's first-to-last-layer gradient ratio 1.33x mlp2's (MNIST, every seed): no vanishing gradient, against "
        "the textbook")
