"""stats.py against scipy.stats / statsmodels on fixed inputs."""
import numpy as np
import pytest
from scipy import stats as ss
from statsmodels.stats.multitest import multipletests

from stats import (Comparison, compare, decide, holm, intersection_union_p, mcnemar_exact, mean_ci,
                   paired_t_test)

PAIRS = [
    ([0.981, 0.975, 0.979], [0.990, 0.986, 0.990]),
    ([0.97, 0.98, 0.99, 0.96, 0.975], [0.965, 0.982, 0.981, 0.95, 0.97]),
    ([1.0, 2.0, 3.0, 4.0], [1.5, 1.0, 3.5, 2.0]),
]
LABELS = np.arange(10_000) % 10


def test_paired_t_test_matches_scipy():
    for a, b in PAIRS:
        assert paired_t_test(a, b) == pytest.approx(ss.ttest_rel(a, b).pvalue, rel=1e-9)
    # the docstring's example: -2.49, -1.06, -2.60 pp over 3 seeds
    assert paired_t_test([-2.49, -1.06, -2.60], [0, 0, 0]) == pytest.approx(0.054, abs=5e-4)


def test_paired_t_test_small_and_zero_variance():
    assert paired_t_test([0.9, 0.8], [0.7, 0.6]) is None
    assert paired_t_test([1.0, 2.0, 3.0], [0.5, 1.5, 2.5]) == 0.0
    assert paired_t_test([0.9, 0.8, 0.7], [0.9, 0.8, 0.7]) == 1.0


def test_mean_ci_matches_scipy():
    for a, b in PAIRS:
        d = np.subtract(a, b)
        for level in (0.95, 0.9):
            mean, low, high = mean_ci(d, level)
            ref = ss.t.interval(level, len(d) - 1, loc=d.mean(), scale=ss.sem(d))
            assert mean == pytest.approx(d.mean())
            assert (low, high) == pytest.approx(ref, rel=1e-9)
    assert mean_ci([0.01, 0.03]) == (pytest.approx(0.02), None, None)
    assert mean_ci([0.01]) == (0.01, None, None)


def preds_wrong_at(wrong: np.ndarray) -> np.ndarray:
    """Predictions equal to LABELS except at the given indices."""
    pred = LABELS.copy()
    pred[wrong] = (LABELS[wrong] + 1) % 10
    return pred


def pair(n01: int, n10: int, both_wrong: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Predictions of a and b with exactly n01 images only a gets right and n10 only b gets right."""
    common = np.arange(both_wrong)
    a_wrong = np.r_[common, both_wrong + n01 + np.arange(n10)]
    b_wrong = np.r_[common, both_wrong + np.arange(n01)]
    return preds_wrong_at(a_wrong), preds_wrong_at(b_wrong)


@pytest.mark.parametrize("n01,n10", [(3, 9), (0, 5), (20, 20), (21, 20), (100, 349), (7, 0)])
def test_mcnemar_matches_binomtest(n01, n10):
    a, b = pair(n01, n10)
    got = mcnemar_exact(a, b, LABELS)
    assert got[:2] == (n01, n10)
    assert got[2] == pytest.approx(ss.binomtest(n01, n01 + n10, 0.5).pvalue, rel=1e-9)


def test_mcnemar_no_discordant_images():
    a, _ = pair(0, 0)
    assert mcnemar_exact(a, a.copy(), LABELS) == (0, 0, 1.0)


def test_holm_matches_statsmodels():
    for p in ([0.01, 0.04, 0.03, 0.005], [0.2, 0.001, 0.5, 0.049, 0.02], [0.9], [0.3, 0.3, 0.01]):
        assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]))
    # By hand, m = 4, sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005=0.02, 3*0.01=0.03, 2*0.03=0.06,
    # 1*0.04=0.04 raised to 0.06 (monotone); back in input order: [0.03, 0.06, 0.06, 0.02].
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # None passes through and m = 2: 2*0.01=0.02, 1*0.04=0.04.
    assert holm([None, 0.04, None, 0.01]) == [None, pytest.approx(0.04), None, pytest.approx(0.02)]
    assert holm([]) == [] and holm([None]) == [None]


def test_intersection_union_p():
    assert intersection_union_p([0.01, 0.001, 0.02], [-0.02, 0.01, -0.03]) == 1.0
    assert intersection_union_p([0.01, 0.001, 0.02], [-0.02, -0.01, -0.03]) == 0.02
    assert intersection_union_p([0.01, 0.03], [0.02, 0.01]) == 0.03
    assert intersection_union_p([0.01, 0.5], [0.02, 0.0]) == 1.0


def study(gaps: list[int], extra_ref_seed: bool = False) -> Comparison:
    """Config vs reference over seeds 0.., seed k's config right on gaps[k] more images (net) than the reference."""
    acc, ref_acc, preds, ref_preds = {}, {}, {}, {}
    for seed, gap in enumerate(gaps):
        n01, n10 = (20 + gap, 20) if gap >= 0 else (20, 20 - gap)
        preds[seed], ref_preds[seed] = pair(n01, n10, both_wrong=100 + 10 * seed)
        acc[seed] = float(np.mean(preds[seed] == LABELS))
        ref_acc[seed] = float(np.mean(ref_preds[seed] == LABELS))
    if extra_ref_seed:  # a seed only the reference finished is ignored
        ref_acc[99], ref_preds[99] = 0.5, LABELS.copy()
    return compare("cfg", "ref", acc, ref_acc, preds, ref_preds, LABELS)


def test_worse_via_mcnemar_when_t_test_lacks_power():
    c = study([-249, -106, -260], extra_ref_seed=True)
    assert c.seeds == [0, 1, 2]
    assert c.diffs == pytest.approx([-0.0249, -0.0106, -0.0260])
    assert c.p_paired == pytest.approx(0.054, abs=5e-4) and c.p_paired > 0.05
    assert c.p_mcnemar < 1e-10
    [d] = decide([c])
    assert d.verdict == "worse" and d.p_holm == pytest.approx(2 * c.p_mcnemar, rel=1e-9, abs=0)


def test_identical_predictions_tie():
    a, _ = pair(0, 0)
    acc = {s: float(np.mean(a == LABELS)) for s in range(3)}
    c = compare("cfg", "ref", acc, dict(acc), {s: a for s in range(3)}, {s: a.copy() for s in range(3)}, LABELS)
    assert c.p_mcnemar == 1.0 and c.p_paired == 1.0
    assert c.ci_low <= 0 <= c.ci_high
    assert decide([c])[0].verdict == "tied"


def test_mixed_directions_not_decided_by_mcnemar():
    c = study([-249, 150, -100])
    assert c.p_mcnemar == 1.0 and c.p_paired > 0.05
    assert decide([c])[0].verdict == "tied"


def test_decide_family_and_edge_cases():
    assert decide([]) == []
    few = study([-249, -260])  # 2 seeds: no t-test, no CI, McNemar still
    assert few.p_paired is None and few.ci_low is None and few.p_mcnemar < 1e-10
    bare = compare("x", "ref", {0: 0.9, 1: 0.91}, {1: 0.9, 2: 0.8})  # one common seed, no predictions
    assert bare.seeds == [1] and bare.p_paired is None and bare.p_mcnemar is None
    better = study([300, 250, 280])
    out = decide([few, bare, better])
    assert [c.verdict for c in out] == ["worse", "tied", "better"]
    assert out[1].p_holm is None
    # family of 3 tests (few: McNemar; better: t and McNemar; bare: none): the smallest p is multiplied by 3
    smallest = min(few.p_mcnemar, better.p_mcnemar)
    assert min(c.p_holm for c in out if c.p_holm is not None) == pytest.approx(3 * smallest, rel=1e-9, abs=0)
