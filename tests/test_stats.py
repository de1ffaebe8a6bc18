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
TEST_IMAGES = 10_000


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
    rows = np.random.default_rng(1).uniform(0, 0.1, size=(4, 6))  # statsmodels takes ~60 ms a row
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
    assert same.p_equiv_adj < 0.05 and -0.005 < same.sim_low < 0 < same.sim_high < 0.005
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


def test_equivalent_and_negligible_exactly_where_the_simultaneous_interval_lies_inside_the_margin():
    """One level for words and numbers: within_margin is the printed interval (level 1 - 0.05/m) inside +-margin,
    so no 'equivalent' stands beside an interval reaching past the margin (issue 52: TOST with Holm did)."""
    rng = np.random.default_rng(5)
    seen = set()
    for study in range(6):
        diffs = rng.normal([[-0.003], [0.0], [0.0015], [0.003]], 0.0015, size=(4, 5)).round(4)
        for c in decide([comparison(str(j), list(d), margin=0.002) for j, d in enumerate(diffs)]):
            low, high = mean_ci(c.diffs, 1 - 0.05 / 4)[1:]
            inside = -0.002 < low and high < 0.002
            assert c.within_margin == inside and (c.verdict == "equivalent") == (inside and c.p_holm >= 0.05)
            seen.add((c.verdict, inside))
    assert {("equivalent", True), ("inconclusive", False), ("worse", False), ("better", False)} <= seen
    # like regularization's dropout (issue 52): 5 seeds, 6 comparisons, +0.086 pp, an interval to +0.210 pp against a
    # 0.2 pp margin. TOST with Holm called it equivalent; the interval the reader sees does not lie inside
    family = [comparison("dropout", [0.0016, 0.0002, 0.0009, 0.0012, 0.0004], margin=0.002)] + [
        comparison(f"other{j}", [0.0005, -0.0003, 0.0001, 0.0, 0.0002], margin=0.002) for j in range(5)]
    dropout = decide(family)[0]
    assert holm([c.p_equiv for c in family])[0] < 0.05  # the old rule's equivalence
    assert (dropout.sim_low, dropout.sim_high) == pytest.approx((-0.000382, 0.002102), abs=1e-6)
    assert dropout.within_margin is False and dropout.verdict == "inconclusive"


def test_each_comparison_counts_its_seeds_each_way_and_its_worst():
    [c] = decide([comparison("gelu", [0.0012, 0.0, -0.0003, 0.0020, 0.0015])])
    assert (c.seeds_better, c.seeds_worse, c.worst_seed_diff) == (3, 1, pytest.approx(-0.0003))
    # accuracies of whole images: float rounding is no difference
    d = list(np.array([0.9931, 0.9812, 0.9744]) - np.array([0.9931, 0.9812, 0.9744]))
    assert (comparison("same", d).seeds_better, comparison("same", d).seeds_worse) == (0, 0)


# ---- the interval for new seeds and new test digits (crossed design) ----------------------------------------

def crossed(d: np.ndarray, level: float) -> tuple[float, float]:
    """The interval by hand from the whole seeds x images table D (two-way ANOVA without replication)."""
    s, i = d.shape
    grand, by_seed, by_image = d.mean(), d.mean(axis=1), d.mean(axis=0)
    ms_s = i * np.sum((by_seed - grand) ** 2) / (s - 1)
    ms_i = s * np.sum((by_image - grand) ** 2) / (i - 1)
    ms_e = np.sum((d - by_seed[:, None] - by_image[None, :] + grand) ** 2) / ((s - 1) * (i - 1))
    image = max(ms_i - ms_e, 0.0)
    df = (ms_s + image) ** 2 / (ms_s ** 2 / (s - 1) + (ms_i ** 2 / (i - 1) + ms_e ** 2 / ((s - 1) * (i - 1)))
                                * (image > 0))
    half = ss.t.ppf((1 + level) / 2, df) * np.sqrt((ms_s + image) / (s * i))
    return grand - half, grand + half


def test_the_new_digit_interval_from_counts_is_the_crossed_anova_of_the_whole_table():
    rng = np.random.default_rng(7)
    labels = LABELS[:400]
    hard = rng.random(400) < 0.3  # images either config can get wrong; some favour the config
    favour = rng.uniform(0.2, 0.8, size=400)
    preds, ref_preds = {}, {}
    for seed in range(6):
        wrong_ref = hard & (rng.random(400) < 0.5)
        wrong = hard & (rng.random(400) < np.where(wrong_ref, 1 - favour, favour * 0.5))
        preds[seed], ref_preds[seed] = np.where(wrong, (labels + 1) % 10, labels), np.where(wrong_ref, (labels + 1) % 10, labels)
    counts = stats.image_counts(preds, ref_preds, labels, range(6))
    d = np.stack([(preds[s] == labels).astype(int) - (ref_preds[s] == labels) for s in range(6)])
    assert [counts.only_config[s] for s in range(6)] == list((d == 1).sum(axis=1))
    assert counts.image_ss == np.sum(d.sum(axis=0) ** 2) and counts.n_images == 400
    n01, n10 = [counts.only_config[s] for s in range(6)], [counts.only_reference[s] for s in range(6)]
    for level in (0.95, 1 - 0.05 / 6):
        low, high, _ = stats.new_digit_interval(n01, n10, counts.image_ss, 400, level)
        assert (low, high) == pytest.approx(crossed(d.astype(float), level), rel=1e-9)
    # images that favour no side add nothing: the interval is then the t interval across seeds, S - 1 df
    lone = np.zeros((5, 400), dtype=int)
    for seed in range(5):
        lone[seed, 80 * seed + np.arange(seed + 3)] = 1  # each image discordant in one seed only
    low, high, df = stats.new_digit_interval((lone == 1).sum(1), (lone == -1).sum(1), np.sum(lone.sum(0) ** 2), 400)
    assert df == 4 and (low, high) == pytest.approx(mean_ci(lone.mean(axis=1))[1:], rel=1e-9)
    # decide gives it at the simultaneous level, with every paired seed's predictions only
    acc = {s: float(np.mean(preds[s] == labels)) for s in preds}
    ref = {s: float(np.mean(ref_preds[s] == labels)) for s in ref_preds}
    c, _ = decide([compare("cfg", "ref", acc, ref, 0.005, preds, ref_preds, labels), comparison("other", [0.001] * 6)])
    assert (c.new_low, c.new_high) == pytest.approx(crossed(d.astype(float), 1 - 0.05 / 2), rel=1e-9)
    del preds[5]
    [c] = decide([compare("cfg", "ref", acc, ref, 0.005, preds, ref_preds, labels)])
    assert c.new_low is None and c.counts.image_ss is not None and c.mcnemar_every_pair is not None


# Coverage of the new-digit interval by simulation. A population of test images: a share `hard` of them can be
# discordant (each with probability q ~ U(q_lo, q_hi) per seed), the others never. On a discordant (seed, image)
# the config is the one right with probability 0.5 + b_i + a_s: b_i ~ beta + U(+-sqrt(3) b_sd) (the image favours a
# side), a_s ~ N(alpha, a_sd) clipped to +-sqrt(3) a_sd (the seed does). True mean difference over new seeds and new
# images: 2 hard E[q] (beta + alpha). Each simulated study draws 10,000 images and S seeds.
COVERAGE_REGIMES = {  # hard, q_lo, q_hi, b_sd, beta, a_sd, alpha
    "seeds dominant": (0.03, 0.2, 0.6, 0.0, 0.0, 0.2, 0.02),
    "images dominant": (0.02, 0.8, 1.0, 0.25, 0.04, 0.0, 0.0),
    "both": (0.03, 0.5, 1.0, 0.15, 0.03, 0.025, 0.0),
}
COVERAGE_STUDIES = 3000


def simulate_counts(regime: tuple, seeds: int, n_studies: int, rng: np.random.Generator, n_images: int = TEST_IMAGES):
    """(only_config, only_reference: studies x seeds; image_ss: studies; the true difference)."""
    hard, q_lo, q_hi, b_sd, beta, a_sd, alpha = regime
    slots = int(n_images * hard * 1.6) + 50  # the never-discordant images add zeros only: not simulated
    used = np.arange(slots) < rng.binomial(n_images, hard, size=(n_studies, 1))
    q = rng.uniform(q_lo, q_hi, size=(n_studies, slots)) * used
    b = beta + rng.uniform(-np.sqrt(3) * b_sd, np.sqrt(3) * b_sd, size=(n_studies, 1, slots))
    a = alpha + np.clip(rng.normal(0, a_sd, size=(n_studies, seeds, 1)), -np.sqrt(3) * a_sd, np.sqrt(3) * a_sd)
    u = rng.random((n_studies, seeds, slots), dtype=np.float32)
    wins = q[:, None, :] * (0.5 + b + a)
    d = (u < wins).astype(np.int8) - ((u >= wins) & (u < q[:, None, :])).astype(np.int8)
    image_ss = np.sum(d.sum(axis=1, dtype=np.int64) ** 2, axis=-1)
    return (d == 1).sum(-1), (d == -1).sum(-1), image_ss, 2 * hard * (q_lo + q_hi) / 2 * (beta + alpha)


def test_the_new_digit_interval_covers_95_percent_whichever_variation_dominates():
    rng = np.random.default_rng(11)
    lines = [f"\nnew-digit interval, 95%, {COVERAGE_STUDIES} studies a cell (Monte Carlo se 0.4 pp): coverage, and the "
             "t interval across seeds alone (the test images taken as fixed)",
             "| regime | seeds | crossed interval | seeds alone | median df |", "|---|---:|---:|---:|---:|"]
    covered, alone = {}, {}
    for name, regime in COVERAGE_REGIMES.items():
        for seeds in (5, 10):
            n01, n10, image_ss, true = simulate_counts(regime, seeds, COVERAGE_STUDIES, rng)
            low, high, df = stats.new_digit_interval(n01, n10, image_ss, TEST_IMAGES)
            d = (n01 - n10) / TEST_IMAGES
            half = ss.t.ppf(0.975, seeds - 1) * d.std(axis=1, ddof=1) / np.sqrt(seeds)
            covered[name, seeds] = np.mean((low <= true) & (true <= high))
            alone[name, seeds] = np.mean(np.abs(d.mean(axis=1) - true) <= half)
            lines.append(f"| {name} | {seeds} | {covered[name, seeds]:.3f} | {alone[name, seeds]:.3f} "
                         f"| {np.median(df):.0f} |")
    print("\n".join(lines))
    assert all(0.93 <= rate <= 0.97 for rate in covered.values()), covered
    # the regimes are what they say: where images dominate, seeds alone miss the new-digit difference
    assert alone["images dominant", 10] < 0.8 and alone["seeds dominant", 5] > 0.93


# ---- calibration by simulation: the verdict rule's error rates on simulated studies, no training ------------
# A simulated study: one reference and k configs, each trained with the same seeds, every config compared with
# the SAME reference runs (the study's k comparisons are correlated, as in a real study), on test accuracies
# rounded to whole test images (1/10,000), the per-seed differences taken from the rounded accuracies. Per seed s:
#   reference accuracy  = BASE + seed_effect[s] + own_noise_ref[s]
#   config j's accuracy = BASE + true_diff[j] + seed_effect[s] + own_noise_j[s]   (the pairing: one seed effect)
# Values chosen: BASE 0.985 (a small MNIST net); seed effect sd 0.1 pp (SEED_SD); each run's own noise sd
# diff_sd / sqrt(2), so a per-seed difference has sd diff_sd and two comparisons of one study correlate 0.5
# through the shared reference noise: 0.2 pp at the quick recipe's margin 0.5 pp, 0.08 pp at the full recipe's
# 0.2 pp (the spread of the committed full-recipe parts). The seed effect cancels in the differences; it moves the
# accuracies, so the rounding falls where it would. 2,000 studies a case: a rate near 5% has a Monte Carlo
# standard error of about 0.5 pp, and where the rule is exact a measured rate is above its bound about half the
# time. So an upper bound fails where the measured rate is significantly above it (`at_most`: one-sided binomial
# test at 1%, at 2,000 studies a measured 5% bound fails above 6.1%). The calibration table prints (pytest -s).
BASE, SEED_SD, DIFF_SD = 0.985, 0.001, 0.002
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
    return f"{100 * rate:.2f}% (± {100 * np.sqrt(rate * (1 - rate) / n):.2f})"


def simulate(true_diffs: list[float], seeds: int, n_studies: int = STUDIES, skewed: tuple[int, ...] = (),
             seed: int = 0, diff_sd: float = DIFF_SD) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rounded test accuracies of simulated studies: the reference's (studies x seeds), the configs' (studies x k x
    seeds), and which seeds of the `skewed` configs lost LOSS (studies x k x seeds, False elsewhere)."""
    rng = np.random.default_rng(seed)
    k, run_sd = len(true_diffs), diff_sd / np.sqrt(2)
    seed_effect = rng.normal(0, SEED_SD, size=(n_studies, 1, seeds))
    ref = BASE + seed_effect[:, 0] + rng.normal(0, run_sd, size=(n_studies, seeds))
    acc = BASE + np.asarray(true_diffs, dtype=float)[:, None] + seed_effect + rng.normal(0, run_sd, (n_studies, k, seeds))
    lost = np.zeros(acc.shape, dtype=bool)
    for j in skewed:
        lost[:, j] = rng.random((n_studies, seeds)) < LOSS_P
        acc[:, j] += np.where(lost[:, j], -LOSS, GAIN)
    whole = lambda a: np.round(np.clip(a, 0, 1) * TEST_IMAGES) / TEST_IMAGES  # accuracies on whole test images
    return whole(ref), whole(acc), lost


def rule(d: np.ndarray, margin: float = MARGIN, signflip: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """stats.decide's rule vectorized over studies, d: per-seed differences (studies x comparisons x seeds), one
    study's comparisons its family. (verdict, within_margin, confirmed); confirmed is False where the verdict
    is not better/worse (decide leaves it None there), and everywhere without `signflip` (most of the time)."""
    p_equiv_adj = stats.equiv_adjusted(tost_p(d, margin), d.shape[-2])
    verdict = stats.verdicts(d.mean(-1), holm_array(paired_p(d)), p_equiv_adj)
    confirmed = np.isin(verdict, DIFFERS) & (holm_array(sign_flip_p(d)) < stats.ALPHA if signflip else False)
    return verdict, p_equiv_adj < stats.ALPHA, confirmed


def run_rule(true_diffs: list[float], seeds: int, skewed: tuple[int, ...] = (), seed: int = 0,
             margin: float = MARGIN, diff_sd: float = DIFF_SD, n_studies: int = STUDIES, signflip: bool = True):
    ref, acc, lost = simulate(true_diffs, seeds, n_studies, skewed=skewed, seed=seed, diff_sd=diff_sd)
    return (*rule(acc - ref[:, None], margin, signflip), lost)


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
    assert {(w, f) for v, w, f in seen if v in DIFFERS} >= {(True, False), (False, True), (False, False)}


# (name, true differences of the 6 configs in margins, margin, per-seed difference sd): configs at 0 are null, those
# at 1 sit exactly at the margin. A false verdict: a null config better/worse, or an at-margin config's interval
# inside the margin (equivalent, or a negligible difference).
CALIBRATION = [
    ("null", [0] * 6, 0.005, 0.002),
    ("1 of 6 at the margin", [1] + [0] * 5, 0.005, 0.002),
    ("6 of 6 at the margin", [1] * 6, 0.005, 0.002),
    ("mixed: 3 null, 3 at the margin", [0] * 3 + [1] * 3, 0.005, 0.002),
    ("null", [0] * 6, 0.002, 0.0008),
    ("6 of 6 at the margin", [1] * 6, 0.002, 0.0008),
    ("mixed: 3 null, 3 at the margin", [0] * 3 + [1] * 3, 0.002, 0.0008),
]


def test_calibration_table_false_verdicts_stay_within_their_bounds():
    """Each case at 5 and 10 seeds. Bounds: better/worse anywhere among the null configs at most 5% (Holm); the
    interval inside the margin for an at-margin config at most 0.05/(2m) each (one one-sided test at that level
    bounds it), so at most k x 0.05/12 over k of them (a union bound nearly reached: those events hardly overlap);
    any false verdict at most their sum."""
    n = 2 * STUDIES  # without the sign-flip test a row is fast: twice the studies, half the variance
    lines = [f"\nfalse verdicts in simulated studies of 6 comparisons, {n} studies a row, rate (± Monte Carlo se)",
             "| case | margin, diff sd | seeds | null config better/worse | at-margin config equivalent/negligible "
             "| any false verdict | bound | null config called equivalent |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    failed = []
    for i, (name, unit, margin, sd) in enumerate(CALIBRATION):
        null, at = np.array(unit) == 0, np.array(unit) == 1
        for seeds in (5, 10):
            verdict, within, _, _ = run_rule(list(margin * np.array(unit, dtype=float)), seeds, seed=500 + 10 * i + seeds,
                                             margin=margin, diff_sd=sd, n_studies=n, signflip=False)
            wrong_diff = np.isin(verdict[:, null], DIFFERS).any(axis=1)
            wrong_equiv = within[:, at].any(axis=1)
            bound = stats.ALPHA * null.any() + at.sum() * stats.ALPHA / (2 * len(unit))
            rates = [np.mean(wrong_diff), np.mean(wrong_equiv), np.mean(wrong_diff | wrong_equiv)]
            equivalent = f"{100 * np.mean(verdict[:, null] == 'equivalent'):.1f}%" if null.any() else "-"
            lines.append(f"| {name} | {100 * margin:g} pp, {100 * sd:g} pp | {seeds} | " + " | ".join(
                mc(r, n) if applies else "-" for r, applies in zip(rates, (null.any(), at.any(), True)))
                + f" | {100 * bound:.2f}% | {equivalent} |")
            bounds = [(rates[0], stats.ALPHA), (rates[1], at.sum() * stats.ALPHA / (2 * len(unit))), (rates[2], bound)]
            failed += [f"{name}, margin {margin}, {seeds} seeds: {r:.4f} above {b:.4f}" for r, b in bounds
                       if b > 0 and not at_most(r, b, n)]
    for skewed in (1, 6):
        verdict, _, confirmed, _ = run_rule([0.0] * 6, 10, skewed=tuple(range(skewed)), seed=300 + skewed)
        lines.append(f"| {skewed} of 6 skewed, mean 0 (see the xfail below) | 0.5 pp, 0.2 pp | 10 | "
                     f"{mc(np.mean(np.isin(verdict, DIFFERS).any(axis=1)))}, confirmed "
                     f"{mc(np.mean(confirmed.any(axis=1)))} | - | - | no bound holds | - |")
    print("\n".join(lines))
    assert not failed, failed


def test_no_true_difference_is_called_equivalent_in_most_comparisons_with_10_seeds():
    """The other side of the margin bound: the rule does not pass it by never saying equivalent. With 5 seeds the
    interval at level 1 - 0.05/6 is wide (t quantile 5.2 at 4 df): the calibration table gives that rate."""
    verdict, _, _, _ = run_rule([0.0] * 6, 10, seed=200)
    rate = np.mean(verdict == "equivalent")
    print(f"\nno difference, margin 0.5 pp, 6 comparisons, 10 seeds: equivalent per comparison {rate:.4f}")
    assert rate >= 0.9


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
