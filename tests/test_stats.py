"""stats.py against scipy.stats / statsmodels on fixed inputs, and the verdict rule's calibration by simulation."""
import numpy as np
import pytest
from scipy import stats as ss
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import ttost_paired

import stats
from stats import (compare, decide, every_pair_differs, holm, holm_array, mcnemar_exact, mean_ci, min_detectable,
                   paired_p, power, seeds_to_resolve, sign_flip_p, tost_p)

PAIRS = [
    ([0.981, 0.975, 0.979], [0.990, 0.986, 0.990]),
    ([0.97, 0.98, 0.99, 0.96, 0.975], [0.965, 0.982, 0.981, 0.95, 0.97]),
    ([1.0, 2.0, 3.0, 4.0], [1.5, 1.0, 3.5, 2.0]),
]
LABELS = np.arange(10_000) % 10


def test_paired_p_matches_scipy_one_comparison_and_many():
    for a, b in PAIRS:
        assert paired_p(a, b) == pytest.approx(ss.ttest_rel(a, b).pvalue, rel=1e-9)
    assert paired_p([-0.0249, -0.0106, -0.0260]) == pytest.approx(0.054, abs=5e-4)
    d = np.random.default_rng(0).normal(0.001, 0.002, size=(4, 3, 5))
    assert paired_p(d) == pytest.approx(ss.ttest_1samp(d, 0, axis=-1).pvalue, rel=1e-9)
    assert np.isnan(paired_p([0.9, 0.8], [0.7, 0.6]))  # 1 degree of freedom: no test


def test_no_p_value_is_zero_where_every_seed_gives_the_same_difference():
    for n in (3, 5, 8):
        flat = [0.0123] * n
        assert paired_p(flat) == pytest.approx(2.0 ** (1 - n))  # exact sign-flip: 2 of the 2^n sign patterns
        assert sign_flip_p(flat, "greater") == pytest.approx(2.0 ** -n)
    # differences equal up to float rounding of k/10,000 count as equal too
    assert paired_p(np.array([0.9931, 0.9812, 0.9744]) - np.array([0.9921, 0.9802, 0.9734])) == pytest.approx(0.25)
    assert paired_p([0.0] * 5) == 1.0
    assert tost_p([0.001] * 5, 0.005) == pytest.approx(2.0 ** -5)
    many = np.array([[0.01] * 5, [0.02, 0.01, 0.0, 0.01, 0.03]])
    assert paired_p(many)[0] == pytest.approx(1 / 16) and paired_p(many)[1] == pytest.approx(
        ss.ttest_1samp(many[1], 0).pvalue)


def test_mean_ci_matches_scipy():
    for a, b in PAIRS:
        d = np.subtract(a, b)
        for level in (0.95, 0.9):
            mean, low, high = mean_ci(d, level)
            assert mean == pytest.approx(d.mean())
            assert (low, high) == pytest.approx(ss.t.interval(level, len(d) - 1, loc=d.mean(), scale=ss.sem(d)))
    assert mean_ci([0.01, 0.03]) == (pytest.approx(0.02), None, None)
    assert mean_ci([0.01] * 4) == (pytest.approx(0.01), None, None)  # no spread: no zero-width interval


@pytest.mark.parametrize("margin", [0.005, 0.002])
def test_tost_matches_statsmodels(margin):
    for a, b in PAIRS[:2]:
        assert tost_p(np.subtract(a, b), margin) == pytest.approx(ttost_paired(np.array(a), np.array(b), -margin,
                                                                               margin)[0], rel=1e-9)


def pair(n01: int, n10: int, both_wrong: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Predictions of a and b with exactly n01 images only a gets right and n10 only b gets right."""
    a, b = LABELS.copy(), LABELS.copy()
    a_wrong = np.r_[np.arange(both_wrong), both_wrong + n01 + np.arange(n10)]
    b_wrong = np.r_[np.arange(both_wrong), both_wrong + np.arange(n01)]
    a[a_wrong], b[b_wrong] = (LABELS[a_wrong] + 1) % 10, (LABELS[b_wrong] + 1) % 10
    return a, b


@pytest.mark.parametrize("n01,n10,p", [(0, 5, 2 / 32), (7, 0, 2 / 128), (20, 20, 1.0), (3, 9, 2 * 299 / 4096)])
def test_mcnemar_by_hand(n01, n10, p):
    a, b = pair(n01, n10)
    assert mcnemar_exact(a, b, LABELS) == (n01, n10, pytest.approx(p))
    assert mcnemar_exact(a, a.copy(), LABELS) == (0, 0, 1.0)


def test_every_pair_differs_is_a_description():
    assert every_pair_differs([(5, 40, 1e-6), (8, 50, 1e-7), (2, 30, 1e-6)]) == (True, 1e-6)
    assert every_pair_differs([(5, 40, 1e-6), (50, 8, 1e-7)]) == (False, 1e-6)  # mixed directions
    assert every_pair_differs([(5, 40, 1e-6), (18, 25, 0.36)]) == (False, 0.36)  # one pair does not differ


def test_holm_matches_statsmodels():
    for p in ([0.01, 0.04, 0.03, 0.005], [0.2, 0.001, 0.5, 0.049, 0.02], [0.9], [0.3, 0.3, 0.01]):
        assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]))
    assert holm([None, 0.04, None, 0.01]) == [None, pytest.approx(0.04), None, pytest.approx(0.02)]
    assert holm([]) == [] and holm([None]) == [None]
    rows = np.random.default_rng(1).uniform(0, 0.1, size=(12, 6))  # statsmodels takes ~60 ms a row
    expected = np.array([multipletests(r, method="holm")[1] for r in rows])
    assert holm_array(rows) == pytest.approx(expected)


def test_power_and_the_smallest_detectable_effect():
    # issue 20's figures: seed spread 0.1 pp, Holm over 12 (first step at 0.05/12): 1.13, 0.33, 0.15 pp
    assert [round(100 * min_detectable(0.001, n, 0.05 / 12), 2) for n in (3, 5, 10)] == [1.13, 0.33, 0.15]
    # the exact power against a simulation of the t-test itself
    mde = min_detectable(0.002, 5, 0.01)
    d = np.random.default_rng(2).normal(mde, 0.002, size=(20_000, 5))
    assert np.mean(ss.ttest_1samp(d, 0, axis=-1).pvalue < 0.01) == pytest.approx(stats.POWER, abs=0.015)
    assert power(mde, 0.002, 5, 0.01) == pytest.approx(stats.POWER)
    assert min_detectable(0.0, 5, 0.01) is None and min_detectable(0.001, 2, 0.01) is None
    # a larger observed difference needs fewer seeds; inside the margin, equivalence can resolve it too
    assert seeds_to_resolve(0.008, 0.003, 0.005, 0.01) < seeds_to_resolve(0.004, 0.003, 0.005, 0.01)
    assert seeds_to_resolve(0.0, 0.003, 0.005, 0.01) is not None
    assert seeds_to_resolve(1e-7, 0.003, 0.0, 0.01) is None  # beyond MAX_SEEDS


def comparison(name: str, diffs: list[float], margin: float = 0.005, **kw) -> stats.Comparison:
    ref = {s: 0.98 for s in range(len(diffs))}
    return compare(name, "ref", {s: 0.98 + d for s, d in enumerate(diffs)}, ref, margin, **kw)


def test_decide_gives_the_four_verdicts_with_their_evidence():
    found = decide([comparison("up", [0.010, 0.012, 0.009, 0.011, 0.010]),
                    comparison("down", [-0.020, -0.025, -0.018, -0.022, -0.021]),
                    comparison("same", [0.0002, -0.0001, 0.0001, 0.0, -0.0002]),
                    comparison("unsure", [0.004, -0.003, 0.006, -0.001, 0.002]),
                    comparison("few", [0.01, 0.02])])
    assert [c.verdict for c in found] == ["better", "worse", "equivalent", "inconclusive", "inconclusive"]
    assert {c.family for c in found} == {4}  # m = comparisons with a test, not 2m
    p = [c.p_paired for c in found[:4]]
    assert [c.p_holm for c in found[:4]] == pytest.approx(list(multipletests(p, method="holm")[1]))
    up, down, same, unsure, few = found
    assert 0 < up.sim_low < up.sim_high and down.sim_low < down.sim_high < 0
    assert (up.sim_low, up.sim_high) == pytest.approx(mean_ci(up.diffs, 1 - 0.05 / 4)[1:])
    assert same.p_equiv_holm < 0.05 and same.sim_low < 0 < same.sim_high
    assert unsure.mde > 0 and unsure.seeds_needed > 5 and up.seeds_needed is None
    assert few.p_holm is None and "2 paired seed(s)" in few.p_note
    assert all(c.p_holm is None or c.p_holm > 0 for c in found)


def test_a_config_that_wins_by_the_same_margin_in_every_seed_gets_a_real_p():
    [c] = decide([comparison("flat", [0.0012] * 5)])
    assert c.p_paired == pytest.approx(1 / 16) and c.verdict == "equivalent" and c.sim_low is None


def test_mcnemar_describes_but_never_decides():
    preds, ref_preds = {}, {}
    for seed, (n01, n10) in enumerate([(20, 269), (20, 126), (20, 280)]):  # every pair differs a lot, one way
        preds[seed], ref_preds[seed] = pair(n01, n10, both_wrong=100 + 10 * seed)
    acc = {s: float(np.mean(p == LABELS)) for s, p in preds.items()}
    ref = {s: float(np.mean(p == LABELS)) for s, p in ref_preds.items()}
    ref[99] = 0.5  # a seed only the reference finished is not paired
    [c] = decide([compare("cfg", "ref", acc, ref, 0.005, preds, ref_preds, LABELS)])
    assert c.seeds == [0, 1, 2] and c.mcnemar_every_pair is True and c.p_mcnemar_max < 1e-10
    assert c.p_paired > 0.05 and c.verdict == "inconclusive"  # the seeds disagree on how much: no verdict


# ---- calibration by simulation: the verdict rule's error rates, no training ------------------------

def simulate(true_diffs: list[float], sd: float, seeds: int, margin: float, n_studies: int = 2000,
             seed: int = 0) -> np.ndarray:
    """Verdicts (studies x comparisons) of simulated studies: per-seed differences normal around true_diffs."""
    rng = np.random.default_rng(seed)
    d = np.asarray(true_diffs)[None, :, None] + rng.normal(0, sd, size=(n_studies, len(true_diffs), seeds))
    p_holm = holm_array(paired_p(d))
    p_equiv_holm = holm_array(tost_p(d, margin))
    return stats.verdicts(d.mean(-1), p_holm, p_equiv_holm)


def test_the_vectorized_rule_is_the_one_decide_applies():
    rng = np.random.default_rng(3)
    d = rng.normal([[0.0], [0.004], [-0.001], [0.0002]], 0.002, size=(20, 4, 5))
    expected = stats.verdicts(d.mean(-1), holm_array(paired_p(d)), holm_array(tost_p(d, 0.005)))
    for study, want in zip(d, expected):
        assert [c.verdict for c in decide([comparison(str(i), list(x)) for i, x in enumerate(study)])] == list(want)


@pytest.mark.parametrize("seeds,k", [(3, 6), (5, 6), (5, 12)])
def test_null_studies_give_better_or_worse_at_most_5_percent_of_the_time(seeds, k):
    verdict = simulate([0.0] * k, 0.005, seeds, 0.005)
    rate = np.mean(np.isin(verdict, ["better", "worse"]).any(axis=1))
    print(f"false-verdict rate, {seeds} seeds, {k} comparisons: {rate:.3f}")
    assert rate <= 0.05


def test_a_true_1pp_difference_is_called_with_5_seeds():
    verdict = simulate([0.01, 0.0, 0.0, 0.0, 0.0, 0.0], 0.002, 5, 0.005)
    rate = np.mean(verdict[:, 0] == "better")
    print(f"power, 1 pp at 0.2 pp spread, 5 seeds, 6 comparisons: {rate:.3f}")
    assert rate >= 0.8


def test_a_tiny_true_difference_is_called_equivalent_in_most_studies():
    verdict = simulate([0.0005] * 6, 0.0005, 5, 0.002)
    rate = np.mean(verdict == "equivalent")
    print(f"equivalence rate, 0.05 pp at 0.05 pp spread, margin 0.2 pp, 5 seeds: {rate:.3f}")
    assert rate > 0.5
