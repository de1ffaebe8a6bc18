"""Verdicts about a config across training seeds, against its study's reference config, paired by seed.

With seed k both configs saw the same batches and, where shapes allow, the same initial weights, so
every comparison works on per-seed differences (config minus reference, test accuracy as fractions).

Verdict rule (docs/statistics.md says what each verdict claims and what it does not)
- Difference: the paired t-test across seeds, Holm over the study's m comparisons. `better` or `worse`
  when its Holm-adjusted p is below alpha, with the simultaneous interval at level 1 - alpha/m.
- Equivalence: two one-sided t-tests (TOST) against a margin declared before any run, Holm over the
  same m comparisons. `equivalent` when the adjusted p is below alpha and no difference was found.
- Otherwise `inconclusive`, with the smallest effect detectable at 80% power at the observed spread
  and about how many seeds would resolve the observed difference.
- McNemar's exact test per seed on the test predictions only describes the trained pairs ("every pair
  differs the same way", its largest p): it is conditional on the seeds trained and decides nothing.
- Where every per-seed difference is the same, the t statistic is undefined: the exact sign-flip test
  across seeds takes its place, so no p-value is exactly 0.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
from scipy import optimize
from scipy import stats as ss

ALPHA = 0.05
POWER = 0.8  # the power at which the smallest detectable effect and the seeds needed are stated
MIN_PAIRED_SEEDS = 3  # a t-test or t interval across seeds needs >= 2 degrees of freedom
MAX_SEEDS = 1000  # "seeds needed" beyond this is reported as more than it
VERDICTS = ("better", "worse", "equivalent", "inconclusive")
_FLAT = 1e-12  # per-seed differences closer than this (float rounding of k/10,000) count as all equal


# ---- tests over seeds, vectorized over leading axes (last axis: seeds) ------------------------------

def _flat(d: np.ndarray) -> np.ndarray:
    return np.ptp(d, axis=-1) <= _FLAT


def sign_flip_p(x: Sequence[float], alternative: str = "two-sided") -> float:
    """Exact sign-flip (randomization) test of mean(x) = 0 across seeds; never 0."""
    x = np.asarray(x, dtype=float)
    if not np.any(x):
        return 1.0
    return float(ss.permutation_test((x,), np.mean, permutation_type="samples", alternative=alternative,
                                     n_resamples=2 ** min(x.size, 16)).pvalue)


def location_p(d: np.ndarray, mu: float, alternative: str) -> np.ndarray:
    """p of the one-sample t-test of the seeds' mean difference against mu (last axis); sign-flip where flat.

    NaN below MIN_PAIRED_SEEDS seeds.
    """
    d = np.asarray(d, dtype=float)
    n = d.shape[-1]
    if n < MIN_PAIRED_SEEDS:
        return np.full(d.shape[:-1], np.nan)
    flat = _flat(d)
    with warnings.catch_warnings():  # flat rows warn of lost precision: the sign-flip test replaces them below
        warnings.simplefilter("ignore", RuntimeWarning)
        p = np.asarray(ss.ttest_1samp(d, mu, axis=-1, alternative=alternative).pvalue, dtype=float)
    rows, ps = d.reshape(-1, n), p.reshape(-1).copy()
    for i in np.flatnonzero(flat.reshape(-1)):  # rare: only where every seed gives the same difference
        ps[i] = sign_flip_p(rows[i] - mu, alternative)
    return ps.reshape(p.shape)


def paired_p(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Two-sided paired t-test p of a - b over the last axis (b omitted: a holds the differences)."""
    d = np.asarray(a, dtype=float) - (0.0 if b is None else np.asarray(b, dtype=float))
    return location_p(d, 0.0, "two-sided")


def tost_p(d: np.ndarray, margin: float) -> np.ndarray:
    """p of two one-sided t-tests that the mean difference lies inside (-margin, +margin), over the last axis."""
    return np.maximum(location_p(d, -margin, "greater"), location_p(d, margin, "less"))


def holm_array(p: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values over the last axis; NaN entries pass through and do not count in m."""
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, axis=-1)  # NaN sorts last
    ranked = np.take_along_axis(p, order, axis=-1)
    present = ~np.isnan(ranked)
    m = present.sum(axis=-1, keepdims=True)
    scaled = np.where(present, (m - np.arange(p.shape[-1])) * ranked, 0.0)
    adjusted = np.where(present, np.minimum(1.0, np.maximum.accumulate(scaled, axis=-1)), np.nan)
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return out


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1); None passes through, not counted in m."""
    if not pvalues:
        return []
    adjusted = holm_array(np.array([math.nan if p is None else p for p in pvalues], dtype=float))
    return [None if math.isnan(p) else float(p) for p in adjusted]


def verdicts(mean_diff: np.ndarray, p_holm: np.ndarray, p_equiv_holm: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """The four verdicts, elementwise: a difference first, then equivalence, else inconclusive (NaN p: no test)."""
    with np.errstate(invalid="ignore"):
        differs, equal = np.asarray(p_holm) < alpha, np.asarray(p_equiv_holm) < alpha
    mean_diff = np.asarray(mean_diff)
    return np.where(differs & (mean_diff > 0), "better", np.where(differs & (mean_diff < 0), "worse",
                    np.where(equal & ~differs, "equivalent", "inconclusive")))


# ---- intervals and power ----------------------------------------------------------------------------

def mean_ci(diffs: Sequence[float], level: float = 0.95) -> tuple[float, float | None, float | None]:
    """Mean of per-seed differences and its t interval; no interval below MIN_PAIRED_SEEDS values or without spread."""
    d = np.asarray(diffs, dtype=float)
    mean = float(d.mean()) if d.size else math.nan
    if d.size < MIN_PAIRED_SEEDS or _flat(d):
        return mean, None, None
    low, high = ss.t.interval(level, d.size - 1, loc=mean, scale=ss.sem(d))
    return mean, float(low), float(high)


def _nct_sf(crit: np.ndarray, df: np.ndarray, ncp: np.ndarray) -> np.ndarray:
    """P(T > crit) for T noncentral t; scipy gives NaN far in the tails, where the answer is 0 or 1."""
    sf = ss.nct.sf(crit, df, ncp)
    return np.where(np.isnan(sf), (ncp > crit).astype(float), sf)


def power(effect: float | np.ndarray, sd: float, n: int | np.ndarray, level: float) -> np.ndarray:
    """Power of the two-sided paired t-test at per-test level `level`: exact, from the noncentral t."""
    n = np.asarray(n, dtype=float)
    crit = ss.t.ppf(1 - level / 2, n - 1)
    ncp = np.asarray(effect) * np.sqrt(n) / sd
    return _nct_sf(crit, n - 1, ncp) + _nct_sf(crit, n - 1, -ncp)  # -T(ncp) is T(-ncp)


def tost_power(effect: float, sd: float, margin: float, n: np.ndarray, level: float) -> np.ndarray:
    """Approximate power of TOST at per-test level `level` (the usual bound: both one-sided rejections, minus 1)."""
    n = np.asarray(n, dtype=float)
    crit, scale = ss.t.ppf(1 - level, n - 1), np.sqrt(n) / sd
    both = _nct_sf(crit, n - 1, (margin + effect) * scale) + _nct_sf(crit, n - 1, (margin - effect) * scale)
    return np.clip(both - 1, 0, 1)


def min_detectable(sd: float, n: int, level: float, target: float = POWER) -> float | None:
    """The smallest true mean difference the paired t-test detects with probability `target`; None without spread."""
    if n < MIN_PAIRED_SEEDS or not sd > 0:
        return None
    return float(optimize.brentq(lambda e: power(e, sd, n, level) - target, 1e-9 * sd, 1e3 * sd))


def seeds_to_resolve(effect: float, sd: float, margin: float, level: float, target: float = POWER) -> int | None:
    """About how many seeds give `target` power to call the observed effect a difference, or equivalent where it
    is inside the margin; None where even MAX_SEEDS would not (or there is no spread to plan from)."""
    if not sd > 0:
        return None
    n = np.arange(MIN_PAIRED_SEEDS, MAX_SEEDS + 1)
    enough = power(abs(effect), sd, n, level) >= target
    if abs(effect) < margin:
        enough |= tost_power(effect, sd, margin, n, level) >= target
    return int(n[np.argmax(enough)]) if enough.any() else None


# ---- McNemar, descriptive ---------------------------------------------------------------------------

def mcnemar_exact(pred_a: np.ndarray, pred_b: np.ndarray, labels: np.ndarray) -> tuple[int, int, float]:
    """(n01, n10, p): images only a gets right, images only b gets right, exact two-sided McNemar p (1 if none)."""
    right_a, right_b = np.asarray(pred_a) == labels, np.asarray(pred_b) == labels
    n01, n10 = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    if n01 + n10 == 0:
        return n01, n10, 1.0
    return n01, n10, float(ss.binomtest(n01, n01 + n10, 0.5).pvalue)


def every_pair_differs(tests: Sequence[tuple[int, int, float]], alpha: float = ALPHA) -> tuple[bool, float]:
    """(every trained pair differs the same way at alpha, the largest per-seed McNemar p): a description of
    the seeds trained, not a test about the config."""
    signs = {np.sign(n01 - n10) for n01, n10, _ in tests}
    p_max = max(p for _, _, p in tests)
    return bool(len(signs) == 1 and 0 not in signs and p_max < alpha), p_max


# ---- one study's comparisons ------------------------------------------------------------------------

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
    margin: float  # equivalence margin, a fraction
    p_equiv: float | None  # TOST p, unadjusted
    mcnemar_every_pair: bool | None = None  # None without predictions
    p_mcnemar_max: float | None = None
    p_note: str | None = None  # why p_paired is empty
    left_out: dict[int, str] = field(default_factory=dict)  # seed: why it is not paired
    family: int = 0  # m: comparisons in the study's Holm family
    p_holm: float | None = None
    p_equiv_holm: float | None = None
    sim_low: float | None = None  # simultaneous interval over the family (level 1 - alpha/m)
    sim_high: float | None = None
    mde: float | None = None  # smallest effect detectable at POWER, level alpha/m, at the observed spread
    seeds_needed: int | None = None  # about how many seeds would resolve the observed difference
    verdict: str = "inconclusive"


def _none(p: float) -> float | None:
    return None if math.isnan(p) else float(p)


def compare(config: str, reference: str, acc: dict[int, float], ref_acc: dict[int, float], margin: float,
            preds: dict[int, np.ndarray] | None = None, ref_preds: dict[int, np.ndarray] | None = None,
            labels: np.ndarray | None = None) -> Comparison:
    """One config against its reference on the seeds both have (unadjusted)."""
    seeds = sorted(set(acc) & set(ref_acc))
    diffs = [acc[s] - ref_acc[s] for s in seeds]
    mean, low, high = mean_ci(diffs)
    d = np.asarray(diffs, dtype=float).reshape(len(diffs))
    note = None if len(seeds) >= MIN_PAIRED_SEEDS else f"{len(seeds)} paired seed(s): a test needs {MIN_PAIRED_SEEDS}"
    every = p_max = None
    if labels is not None and preds and ref_preds:
        tests = [mcnemar_exact(preds[s], ref_preds[s], labels) for s in seeds if s in preds and s in ref_preds]
        if tests:
            every, p_max = every_pair_differs(tests)
    return Comparison(config, reference, seeds, diffs, mean, low, high, _none(float(paired_p(d))), margin,
                      _none(float(tost_p(d, margin))), every, p_max, note)


def decide(comparisons: list[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """Holm over the study's comparisons, for the difference and the equivalence tests; a verdict each (new objects)."""
    p_holm = holm([c.p_paired for c in comparisons])
    p_equiv_holm = holm([c.p_equiv for c in comparisons])
    m = max(1, sum(c.p_paired is not None for c in comparisons))
    out = []
    for c, p, q in zip(comparisons, p_holm, p_equiv_holm):
        verdict = str(verdicts(c.mean_diff, math.nan if p is None else p, math.nan if q is None else q, alpha))
        low, high = mean_ci(c.diffs, 1 - alpha / m)[1:]
        if low is not None and verdict in ("better", "worse"):
            # Holm may reject where Bonferroni's interval still touches 0: the step-down claims the direction
            low, high = (max(low, 0.0), high) if verdict == "better" else (low, min(high, 0.0))
        sd = float(np.std(c.diffs, ddof=1)) if len(c.diffs) > 1 else math.nan
        out.append(replace(c, family=m, p_holm=p, p_equiv_holm=q, sim_low=low, sim_high=high, verdict=verdict,
                           mde=min_detectable(sd, len(c.diffs), alpha / m),
                           seeds_needed=seeds_to_resolve(c.mean_diff, sd, c.margin, alpha / m)
                           if verdict == "inconclusive" else None))
    return out
