"""Statistics for comparing a config with its study's reference config, paired by seed.

With seed k both configs saw the same batches and, where shapes allow, the same initial weights, so
every comparison works on per-seed differences (config minus reference, test accuracy as fractions).

Verdict rule
- Family: every test of one study, i.e. each comparison's paired t-test across seeds (if it has one)
  and each comparison's McNemar intersection-union test (if it has one). Holm-Bonferroni is applied
  once over that whole family, so having two routes to a verdict still keeps the study's
  family-wise error rate at alpha.
- p_holm of a comparison = the smaller of its two adjusted p-values (the test the verdict rests on);
  None if it has neither test.
- verdict = "better" if p_holm < alpha and mean_diff > 0; "worse" if p_holm < alpha and
  mean_diff < 0; otherwise "tied".

Why two routes: there are two sources of noise. The paired t-test across seeds (>= 3 seeds, so
>= 2 degrees of freedom) asks whether the config's effect holds over training seeds, but with
3 seeds it has little power (a gap of -2.49, -1.06, -2.60 pp gives p = 0.054). McNemar's exact
test on one seed's 10,000 test predictions asks whether two trained models differ on the test
distribution, and is valid from one seed; requiring it in every seed with the same sign
(intersection-union test: its p is the largest per-seed p, needing no correction across seeds)
makes the claim "in every seed trained, the config's model is worse/better". A test with fewer
than 2 degrees of freedom is never used.

The t interval of the mean per-seed difference describes the training-seed variability on this
fixed test set (not test-set sampling). ci_low/ci_high are plain 95% intervals; sim_low/sim_high
are Bonferroni-simultaneous over the study's family (level 1 - alpha/m), the interval that bounds
a `tied` verdict consistently with the multiplicity-corrected tests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
from scipy.special import bdtr, stdtr, stdtrit  # scipy.stats is slow to import

ALPHA = 0.05
MIN_PAIRED_SEEDS = 3  # a paired t-test / t interval across seeds needs >= 2 degrees of freedom


def mean_ci(diffs: Sequence[float], level: float = 0.95) -> tuple[float, float | None, float | None]:
    """Mean of per-seed differences and its t confidence interval; (mean, None, None) below MIN_PAIRED_SEEDS values."""
    d = np.asarray(diffs, dtype=float)
    mean = float(d.mean()) if d.size else math.nan
    if d.size < MIN_PAIRED_SEEDS:
        return mean, None, None
    half = float(stdtrit(d.size - 1, (1 + level) / 2)) * float(d.std(ddof=1)) / math.sqrt(d.size)
    return mean, mean - half, mean + half


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided p of the paired t-test of a - b; None below MIN_PAIRED_SEEDS pairs.

    Zero variance of the differences: p = 0.0 when all differences are equal and non-zero, 1.0 when all are 0.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.size < MIN_PAIRED_SEEDS:
        return None
    if np.all(d == d[0]):
        return 1.0 if d[0] == 0 else 0.0
    t = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
    return float(min(1.0, 2 * stdtr(d.size - 1, -abs(t))))


def mcnemar_exact(pred_a: np.ndarray, pred_b: np.ndarray, labels: np.ndarray) -> tuple[int, int, float]:
    """(n01, n10, p): images only a gets right, images only b gets right, exact two-sided McNemar p.

    The p is the binomial test of n01 against n01 + n10 at 1/2; p = 1 when there are no discordant images.
    """
    right_a, right_b = np.asarray(pred_a) == labels, np.asarray(pred_b) == labels
    n01, n10 = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    n = n01 + n10
    if n == 0:
        return n01, n10, 1.0
    # Binomial(n, 1/2) is symmetric: the two-sided p doubles the smaller tail.
    return n01, n10, float(min(1.0, 2 * bdtr(min(n01, n10), n, 0.5)))


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1); None entries pass through and do not count in m."""
    present = [i for i, p in enumerate(pvalues) if p is not None]
    m = len(present)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(present, key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def intersection_union_p(per_seed_p: Sequence[float], per_seed_diff: Sequence[float]) -> float:
    """p of 'config differs from the reference in the same direction in every seed' (Berger's intersection-union test).

    It is the largest per-seed p when every seed's difference has the same non-zero sign, else 1.0.
    """
    signs = {np.sign(d) for d in per_seed_diff}
    if not per_seed_p or len(signs) != 1 or 0 in signs:
        return 1.0
    return float(max(per_seed_p))


@dataclass
class Comparison:
    config: str
    reference: str
    seeds: list[int]  # seeds both configs finished, sorted
    diffs: list[float]  # per seed, config test accuracy minus reference's (fractions)
    mean_diff: float
    ci_low: float | None
    ci_high: float | None
    p_paired: float | None
    p_mcnemar: float | None  # intersection-union p over the seeds' McNemar tests; None without predictions
    p_holm: float | None = None
    verdict: str = "tied"  # better | worse | tied
    route: str | None = None  # the test p_holm comes from: "paired" or "mcnemar"
    sim_low: float | None = None  # simultaneous (Bonferroni) interval over the family: bounds a `tied`
    sim_high: float | None = None


def compare(config: str, reference: str, acc: dict[int, float], ref_acc: dict[int, float],
            preds: dict[int, np.ndarray] | None = None, ref_preds: dict[int, np.ndarray] | None = None,
            labels: np.ndarray | None = None) -> Comparison:
    """One config against its reference on the seeds both have (unadjusted)."""
    seeds = sorted(set(acc) & set(ref_acc))
    diffs = [acc[s] - ref_acc[s] for s in seeds]
    mean, low, high = mean_ci(diffs)
    p_paired = paired_t_test([acc[s] for s in seeds], [ref_acc[s] for s in seeds])
    p_mcnemar = None
    if labels is not None and preds and ref_preds:
        tests = [mcnemar_exact(preds[s], ref_preds[s], labels) for s in seeds if s in preds and s in ref_preds]
        if tests:  # direction per seed: n01 - n10, the same quantity McNemar tests
            p_mcnemar = intersection_union_p([p for _, _, p in tests], [n01 - n10 for n01, n10, _ in tests])
    return Comparison(config, reference, seeds, diffs, mean, low, high, p_paired, p_mcnemar)


def _verdict(mean_diff: float, p: float | None, alpha: float) -> str:
    """better / worse / tied from the mean difference and the adjusted p."""
    if p is None or p >= alpha:
        return "tied"
    return "better" if mean_diff > 0 else "worse" if mean_diff < 0 else "tied"


def decide(comparisons: list[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """Holm over the study's family (every paired t-test and McNemar test), then a verdict per comparison (new objects)."""
    family = [p for c in comparisons for p in (c.p_paired, c.p_mcnemar)]
    adjusted = iter(holm(family))
    level = 1 - alpha / max(1, sum(p is not None for p in family))
    out = []
    for c in comparisons:
        kept = [(p, route) for p, route in ((next(adjusted), "paired"), (next(adjusted), "mcnemar")) if p is not None]
        p, route = min(kept) if kept else (None, None)
        _, low, high = mean_ci(c.diffs, level)
        out.append(replace(c, p_holm=p, verdict=_verdict(c.mean_diff, p, alpha), route=route, sim_low=low, sim_high=high))
    return out
