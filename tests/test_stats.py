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


def test_the_sign_flip_test_is_exact_and_its_smallest_p_is_two_in_two_to_the_n():
    for n in (3, 5, 8, 10):
        flat = [0.0123] * n
        assert sign_flip_p(flat) == pytest.approx(2.0 ** (1 - n))  # 2 of the 2^n sign patterns are as extreme
        assert sign_flip_p(flat, alternative="greater") == pytest.approx(2.0 ** -n)
    # sum 9 (x 0.001); flipping a subset of sum S gives 9 - 2S: as extreme where S <= 0 ({}, {-1}, {-1, 1}) or
    # S >= 9 (their complements): 6 of 32
    d = np.array([0.003, -0.001, 0.002, 0.004, 0.001])
    assert sign_flip_p(d) == pytest.approx(6 / 32)
    perm = ss.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf).pvalue
    assert sign_flip_p(d) == pytest.approx(perm)
    assert sign_flip_p([0.0] * 5) == 1.0 and sign_flip_p(np.zeros((2, 3, 5))).shape == (2, 3)
    assert [stats.signflip_seeds(m) for m in (1, 4, 6, 30)] == [6, 8, 8, 11]  # 2/2^n below 0.05/m


def test_no_spread_is_the_t_tests_limit_so_a_one_image_change_gives_the_same_verdict():
    flat = [0.0012] * 5  # 12 images more on every seed
    one_off = [0.0012] * 4 + [0.0013]  # one seed one image more
    a, b = decide([comparison("flat", flat)])[0], decide([comparison("one_off", one_off)])[0]
    assert (a.verdict, a.within_margin, a.confirmed) == (b.verdict, b.within_margin, b.confirmed) == (
        "better", True, False)  # better but negligible within 0.5 pp, on the t-test's normal model alone
    assert a.no_spread and not b.no_spread and a.p_signflip == pytest.approx(1 / 16)
    assert (a.sim_low, a.sim_high) == pytest.approx((0.0012, 0.0012))  # the interval's limit: the point
    # differences equal up to float rounding of k/10,000 count as equal, in every function that asks
    d = np.array([0.9931, 0.9812, 0.9744]) - np.array([0.9921, 0.9802, 0.9734])
    assert stats.no_spread(d) and paired_p(d) == 0.0 and mean_ci(d)[1] == pytest.approx(0.001)
    assert min_detectable(None, 5, 0.05) is None and decide([comparison("d", list(d))])[0].mde is None
    assert paired_p([0.0] * 5) == 1.0 and tost_p([0.001] * 5, 0.005) == 0.0 and tost_p([0.006] * 5, 0.005) == 1.0


def test_mean_ci_matches_scipy():
    for a, b in PAIRS:
        d = np.subtract(a, b)
        for level in (0.95, 0.9):
            mean, low, high = mean_ci(d, level)
            assert mean == pytest.approx(d.mean())
            assert (low, high) == pytest.approx(ss.t.interval(level, len(d) - 1, loc=d.mean(), scale=ss.sem(d)))
    assert mean_ci([0.01, 0.03]) == (pytest.approx(0.02), None, None)
    assert mean_ci([0.01] * 4) == pytest.approx((0.01, 0.01, 0.01))  # no spread: the interval's limit, one point


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


# ---- calibration by simulation: the verdict rule's error rates on simulated studies, no training ------------
# A simulated study: one reference and k configs, each trained with the same seeds, every config compared with
# the SAME reference runs (the study's k comparisons are correlated, as in a real study), on test accuracies
# rounded to whole test images (1/10,000), the per-seed differences taken from the rounded accuracies. Per seed s:
#   reference accuracy  = BASE + seed_effect[s] + own_noise_ref[s]
#   config j's accuracy = BASE + true_diff[j] + seed_effect[s] + own_noise_j[s]   (the pairing: one seed effect)
# Values chosen: BASE 0.985 (a small MNIST net); seed effect sd 0.1 pp (SEED_SD); each run's own noise sd
# 0.2 pp / sqrt(2) = 0.141 pp (RUN_SD), so a per-seed difference has sd 0.2 pp (DIFF_SD) and two comparisons of
# one study correlate 0.5 through the shared reference noise. The seed effect cancels in the differences; it
# moves the accuracies, so the rounding falls where it would. Margin 0.5 pp. 2,000 studies a case: a rate near
# 5% has a Monte Carlo standard error of about 0.5 pp, and where the rule is exact (a difference exactly at the
# margin: 0.0497 measured on 10^6 studies at 10 seeds) a measured rate is above 5% about half the time. So an
# upper bound fails where the measured rate is significantly above it (`at_most`: one-sided binomial test at 1%,
# at 2,000 studies a measured rate above 6.1%). Each test prints what it measured (pytest -s).
BASE, SEED_SD, DIFF_SD = 0.985, 0.001, 0.002
RUN_SD = DIFF_SD / np.sqrt(2)
TEST_IMAGES = 10_000
STUDIES = 2000
MARGIN = 0.005
DIFFERS = ("better", "worse")
LOSS, LOSS_P = 0.015, 0.1  # a skewed config: each seed independently loses 1.5 pp with probability 0.1 ...
GAIN = LOSS * LOSS_P / (1 - LOSS_P)  # ... and gains 0.167 pp otherwise: its true mean difference is 0


def at_most(rate: float, bound: float = stats.ALPHA, n: int = STUDIES) -> bool:
    """False where `rate`, measured on n studies, shows the true rate above `bound` (one-sided binomial test, 1%)."""
    return ss.binomtest(round(rate * n), n, bound, alternative="greater").pvalue >= 0.01


def mc(rate: float, n: int = STUDIES) -> str:
    """A measured rate with its Monte Carlo standard error."""
    return f"{rate:.4f} (+- {np.sqrt(rate * (1 - rate) / n):.4f})"


def simulate(true_diffs: list[float], seeds: int, n_studies: int = STUDIES, skewed: tuple[int, ...] = (),
             seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rounded test accuracies of simulated studies: the reference's (studies x seeds), the configs' (studies x k x
    seeds), and which seeds of the `skewed` configs lost LOSS (studies x k x seeds, False elsewhere)."""
    rng = np.random.default_rng(seed)
    k = len(true_diffs)
    seed_effect = rng.normal(0, SEED_SD, size=(n_studies, 1, seeds))
    ref = BASE + seed_effect[:, 0] + rng.normal(0, RUN_SD, size=(n_studies, seeds))
    acc = BASE + np.asarray(true_diffs, dtype=float)[:, None] + seed_effect + rng.normal(0, RUN_SD, (n_studies, k, seeds))
    lost = np.zeros(acc.shape, dtype=bool)
    for j in skewed:
        lost[:, j] = rng.random((n_studies, seeds)) < LOSS_P
        acc[:, j] += np.where(lost[:, j], -LOSS, GAIN)
    whole = lambda a: np.round(np.clip(a, 0, 1) * TEST_IMAGES) / TEST_IMAGES  # accuracies on whole test images
    return whole(ref), whole(acc), lost


def rule(d: np.ndarray, margin: float = MARGIN) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """stats.decide's rule vectorized over studies, d: per-seed differences (studies x comparisons x seeds), one
    study's comparisons its Holm family. (verdict, within_margin, confirmed); confirmed is False where the verdict
    is not better/worse (decide leaves it None there)."""
    p_equiv_holm = holm_array(tost_p(d, margin))
    verdict = stats.verdicts(d.mean(-1), holm_array(paired_p(d)), p_equiv_holm)
    confirmed = np.isin(verdict, DIFFERS) & (holm_array(sign_flip_p(d)) < stats.ALPHA)
    return verdict, p_equiv_holm < stats.ALPHA, confirmed


def run_rule(true_diffs: list[float], seeds: int, skewed: tuple[int, ...] = (), seed: int = 0):
    ref, acc, lost = simulate(true_diffs, seeds, skewed=skewed, seed=seed)
    return (*rule(acc - ref[:, None]), lost)


def test_the_vectorized_rule_is_the_one_decide_applies():
    """The simulation's verdicts, within_margin and confirmed flags are decide's on the same rounded accuracies."""
    true_diffs = [0.0, 0.004, -0.004, 0.0015, 0.01, 0.0]  # the last one skewed
    seen = set()
    for seeds in (5, 10):
        ref, acc, _ = simulate(true_diffs, seeds, n_studies=4, skewed=(5,), seed=seeds)
        for r, study, verdict, within, confirmed in zip(ref, acc, *rule(acc - ref[:, None])):
            ref_acc = {s: float(x) for s, x in enumerate(r)}
            found = decide([compare(str(j), "ref", {s: float(x) for s, x in enumerate(a)}, ref_acc, MARGIN)
                            for j, a in enumerate(study)])
            assert [c.verdict for c in found] == list(verdict)
            assert [c.within_margin for c in found] == list(within)
            assert [c.confirmed for c in found] == [bool(f) if v in DIFFERS else None for v, f in zip(verdict, confirmed)]
            seen |= {(c.verdict, c.within_margin, c.confirmed) for c in found}
    assert {v for v, _, _ in seen} == set(stats.VERDICTS)  # the studies exercise every branch of the rule
    assert {(w, f) for v, w, f in seen if v in DIFFERS} >= {(True, True), (False, True), (True, False), (False, False)}


@pytest.mark.parametrize("seeds", [5, 10])
def test_null_studies_give_better_or_worse_at_most_5_percent_of_the_time(seeds):
    verdict, _, confirmed, _ = run_rule([0.0] * 6, seeds, seed=seeds)
    rate = np.mean(np.isin(verdict, DIFFERS).any(axis=1))
    print(f"\nnull, 6 comparisons, {seeds} seeds, diff sd 0.2 pp: better/worse anywhere in the study {mc(rate)}, "
          f"confirmed anywhere {np.mean(confirmed.any(axis=1)):.4f}, equivalent per comparison "
          f"{np.mean(verdict == 'equivalent'):.4f}")
    assert at_most(rate)


@pytest.mark.parametrize("seeds,at_margin", [(5, 1), (5, 6), (10, 1), (10, 6)])
def test_a_difference_at_the_margin_is_called_equivalent_at_most_5_percent_of_the_time(seeds, at_margin):
    """The first `at_margin` of 6 configs differ by exactly the margin (0.5 pp = 50 images), the others by 0."""
    verdict, within, _, _ = run_rule([MARGIN] * at_margin + [0.0] * (6 - at_margin), seeds, seed=100 + seeds + at_margin)
    wrong_equivalent = np.mean((verdict[:, :at_margin] == "equivalent").any(axis=1))
    wrong_within = np.mean(within[:, :at_margin].any(axis=1))  # better, "negligible": the same wrong claim
    print(f"\n{at_margin} of 6 at the margin 0.5 pp, {seeds} seeds: wrong equivalent anywhere {mc(wrong_equivalent)}, "
          f"wrong within_margin anywhere {mc(wrong_within)}, better {np.mean(verdict[:, :at_margin] == 'better'):.4f}"
          " per comparison")
    assert at_most(wrong_equivalent) and at_most(wrong_within)


def test_no_true_difference_is_called_equivalent_in_most_comparisons_with_5_seeds():
    """The other side of the margin bound: the rule does not pass it by never saying equivalent."""
    verdict, _, _, _ = run_rule([0.0] * 6, 5, seed=200)
    rate = np.mean(verdict == "equivalent")
    print(f"\nno difference, margin 0.5 pp, 6 comparisons, 5 seeds: equivalent per comparison {rate:.4f}")
    assert rate >= 0.8


@pytest.mark.xfail(strict=True, reason=(
    "the rule's limit, not a bug: with 10 seeds no seed loses in 35% of studies (0.9^10), and those seeds look "
    "like a true +0.167 pp gain; the sign-flip test assumes differences symmetric about 0, which a skew is not. "
    "Measured: 1 of 6 skewed, confirmed 0.110 anywhere, 0.086 per comparison; 6 of 6, 0.395 and 0.101"))
@pytest.mark.parametrize("skewed", [1, 6])
def test_skewed_differences_with_mean_0_are_confirmed_at_most_5_percent_of_the_time(skewed):
    """The first `skewed` of 6 configs: each seed independently loses 1.5 pp with probability 0.1, else gains
    0.167 pp (mean difference 0), plus the noise; the others differ by 0. 10 seeds, the fewest that can confirm."""
    seeds = 10
    verdict, _, confirmed, lost = run_rule([0.0] * 6, seeds, skewed=tuple(range(skewed)), seed=300 + skewed)
    differs = np.isin(verdict, DIFFERS)
    anywhere, per_comparison = np.mean(confirmed.any(axis=1)), np.mean(confirmed[:, :skewed])
    print(f"\n{skewed} of 6 skewed, {seeds} seeds: confirmed better/worse anywhere in the study {mc(anywhere)}, "
          f"per skewed comparison {mc(per_comparison, STUDIES * skewed)}; t-test only (better/worse): anywhere "
          f"{np.mean(differs.any(axis=1)):.4f}, per skewed comparison {np.mean(differs[:, :skewed]):.4f}; "
          f"skewed comparisons with no losing seed {np.mean(~lost[:, :skewed].any(axis=-1)):.4f}, and among those "
          f"confirmed {np.mean(confirmed[:, :skewed][~lost[:, :skewed].any(axis=-1)]):.4f}")
    assert at_most(anywhere) and at_most(per_comparison, n=STUDIES * skewed)


def test_a_true_1pp_difference_is_called_better_with_5_seeds():
    verdict, _, _, _ = run_rule([0.01] + [0.0] * 5, 5, seed=400)
    rate = np.mean(verdict[:, 0] == "better")
    print(f"\npower, 1 pp at 0.2 pp diff sd, 6 comparisons, 5 seeds: better {rate:.4f}")
    assert rate >= 0.8
