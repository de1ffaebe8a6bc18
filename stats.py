"""Verdicts about a config across training seeds, against its study's reference config, paired by seed.

With seed k both configs saw the same batches and, where shapes allow, the same initial weights, so
every comparison works on per-seed differences (config minus reference, test accuracy as fractions).

Verdict rule (docs/statistics.md says what each verdict claims and what it does not)
- Difference: the paired t-test across seeds, Holm over the study's m comparisons. `better` or `worse`
  when its Holm-adjusted p is below alpha, with the simultaneous interval at level 1 - alpha/m.
- Equivalence: two one-sided t-tests (TOST) against the study's margin, Holm over the same m
  comparisons. `equivalent` when the adjusted p is below alpha and no difference was found; a
  difference that is also inside the margin is `better`/`worse`, negligible (`within_margin`).
- Otherwise `inconclusive`, with the smallest effect detectable at 80% power at the observed spread
  and about how many seeds would resolve the observed difference.
- The exact sign-flip test across seeds, Holm over the same family, checks each better/worse without
  the t-test's normal model (it assumes only differences symmetric about 0, so it cannot see a rare large
  loss that the seeds never drew): `confirmed` where it also rejects. With n seeds its smallest two-sided
  p is 2/2^n, so 5 seeds can confirm nothing; `signflip_seeds` says how many could.
- Where every per-seed difference is the same (no spread, one tolerance: _FLAT), the t-test takes its
  limit at zero spread (the difference is certain under the normal model; an interval of one point), so
  a one-image change to one seed gives the same verdict as none; the sign-flip p is the p to quote there.
- A two-level bootstrap over seeds and test images (the images drawn once for both configs and every
  seed) gives the interval for the config on new digits, not only on these 10,000.
- McNemar's exact test per seed on the test predictions only describes the trained pairs ("every pair
  differs the same way", its largest p): it is conditional on the seeds trained and decides nothing.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Sequence

from utils import LazyModule

# imported when first used: a module that imports this one for a constant (plot.py --help) waits for none
np, optimize, ss = LazyModule("numpy"), LazyModule("scipy.optimize"), LazyModule("scipy.stats")

ALPHA = 0.05
POWER = 0.8  # the power at which the smallest detectable effect and the seeds needed are stated
MIN_PAIRED_SEEDS = 3  # a t-test or t interval across seeds needs >= 2 degrees of freedom
MAX_SEEDS = 1000  # "seeds needed" beyond this is reported as more than it
VERDICTS = ("better", "worse", "equivalent", "inconclusive")
_FLAT = 1e-12  # per-seed differences closer than this (float rounding of k/10,000) count as all equal
SIGNFLIP_EXACT = 16  # up to this many seeds the sign-flip test enumerates all 2^n sign vectors
BOOTSTRAP_DRAWS = 2000  # two-level bootstrap replicates (seeds and test images)


# ---- tests over seeds, vectorized over leading axes (last axis: seeds) ------------------------------

def _flat(d: np.ndarray) -> np.ndarray:
    """True where every seed gives the same value (the one tolerance for "no spread")."""
    return np.ptp(d, axis=-1) <= _FLAT


def no_spread(values: Sequence[float]) -> bool:
    """True when the values (per-seed differences) do not vary, by _FLAT."""
    return bool(len(values) and _flat(np.asarray(values, dtype=float)))


def _signs(n: int) -> np.ndarray:
    """Every sign vector of length n (2^n x n); beyond SIGNFLIP_EXACT seeds, a fixed random draw of them."""
    if n <= SIGNFLIP_EXACT:
        return 1.0 - 2.0 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)
    draws = np.random.default_rng(0).choice([-1.0, 1.0], size=(2 ** SIGNFLIP_EXACT - 1, n))
    return np.vstack([np.ones(n), draws])  # the observed signs count once: the p is never 0


def sign_flip_p(d: np.ndarray, mu: float = 0.0, alternative: str = "two-sided") -> np.ndarray:
    """Exact sign-flip (randomization) test of mean(d) = mu over the last axis; never 0; NaN without seeds.

    Valid where the differences are symmetric about mu, whatever their shape: no normal model.
    """
    x = np.asarray(d, dtype=float) - mu
    n = x.shape[-1]
    if n == 0:
        return np.full(x.shape[:-1], np.nan)
    sums, observed = x @ _signs(n).T, x.sum(axis=-1, keepdims=True)
    tol = 1e-9 * np.maximum(1.0, np.abs(x).sum(axis=-1, keepdims=True))  # ties of equal sums count as extreme
    extreme = {"two-sided": np.abs(sums) >= np.abs(observed) - tol, "greater": sums >= observed - tol,
               "less": sums <= observed + tol}[alternative]
    return extreme.mean(axis=-1)


def signflip_seeds(m: int, alpha: float = ALPHA) -> int:
    """The fewest seeds at which the two-sided sign-flip test can reject at all after Holm over m comparisons
    (its smallest p, 2/2^n, below alpha/m)."""
    n = 1
    while 2 / 2 ** n >= alpha / max(1, m):
        n += 1
    return n


def location_p(d: np.ndarray, mu: float, alternative: str) -> np.ndarray:
    """p of the one-sample t-test of the seeds' mean difference against mu (last axis). NaN below MIN_PAIRED_SEEDS.

    Where every seed gives the same difference the t statistic is +-inf (or 0/0 at mu): its limit as the
    spread shrinks, 0 or 1, which is what a one-image change to one seed gives too.
    """
    d = np.asarray(d, dtype=float)
    n = d.shape[-1]
    if n < MIN_PAIRED_SEEDS:
        return np.full(d.shape[:-1], np.nan)
    flat = _flat(d)
    with warnings.catch_warnings():  # flat rows warn of lost precision: their limit replaces them below
        warnings.simplefilter("ignore", RuntimeWarning)
        p = np.asarray(ss.ttest_1samp(d, mu, axis=-1, alternative=alternative).pvalue, dtype=float)
    gap = d.mean(axis=-1) - mu
    beyond = {"two-sided": np.abs(gap) > _FLAT, "greater": gap > _FLAT, "less": gap < -_FLAT}[alternative]
    return np.where(flat, np.where(beyond, 0.0, 1.0), p)


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
    """Mean of per-seed differences and its t interval; none below MIN_PAIRED_SEEDS values; the mean itself
    without spread (the interval's limit as the spread shrinks)."""
    d = np.asarray(diffs, dtype=float)
    mean = float(d.mean()) if d.size else math.nan
    if d.size < MIN_PAIRED_SEEDS:
        return mean, None, None
    if _flat(d):
        return mean, mean, mean
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


def min_detectable(sd: float | None, n: int, level: float, target: float = POWER) -> float | None:
    """The smallest true mean difference the paired t-test detects with probability `target`; None without spread."""
    if n < MIN_PAIRED_SEEDS or sd is None or not sd > 0:
        return None
    return float(optimize.brentq(lambda e: power(e, sd, n, level) - target, 1e-9 * sd, 1e3 * sd))


def seeds_to_resolve(effect: float, sd: float | None, margin: float, level: float, target: float = POWER) -> int | None:
    """About how many seeds give `target` power to call the observed effect a difference, or equivalent where it
    is inside the margin; None where even MAX_SEEDS would not (or there is no spread to plan from)."""
    if sd is None or not sd > 0:
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


# ---- test-set noise ----------------------------------------------------------------------------------

def bootstrap_interval(right: np.ndarray, ref_right: np.ndarray, level: float = 0.95,
                       draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the mean accuracy difference over a two-level bootstrap: seeds drawn with
    replacement (paired), and test images drawn with replacement once a replicate for both configs and
    every seed (one test set, shared by all). `right`, `ref_right`: (seeds x images) correct-or-not."""
    diff = np.asarray(right, dtype=np.float32) - np.asarray(ref_right, dtype=np.float32)
    n_seeds, n_images = diff.shape
    rng = np.random.default_rng(seed)  # fixed: a report regenerates byte for byte
    replicates = []
    for start in range(0, draws, 250):  # 250 x n_images counts at a time: memory stays small
        k = min(250, draws - start)
        images = rng.integers(0, n_images, size=(k, n_images)) + n_images * np.arange(k)[:, None]
        counts = np.bincount(images.ravel(), minlength=k * n_images).reshape(k, n_images).astype(np.float32)
        per_seed = diff @ counts.T / n_images  # seeds x k: each seed's difference on the drawn images
        seeds = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=k)  # k x seeds: how often each is drawn
        replicates.append((seeds * per_seed.T).sum(axis=1) / n_seeds)
    low, high = np.quantile(np.concatenate(replicates), [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


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
    p_signflip: float | None = None  # exact sign-flip test across seeds, two-sided, unadjusted
    boot_low: float | None = None  # two-level bootstrap (seeds and test images), 95%
    boot_high: float | None = None
    left_out: dict[int, str] = field(default_factory=dict)  # seed: why it is not paired
    family: int = 0  # m: comparisons in the study's Holm family
    p_holm: float | None = None
    p_equiv_holm: float | None = None
    sim_low: float | None = None  # simultaneous interval over the family (level 1 - alpha/m)
    sim_high: float | None = None
    mde: float | None = None  # smallest effect detectable at POWER, level alpha/m, at the observed spread
    seeds_needed: int | None = None  # about how many seeds would resolve the observed difference
    verdict: str = "inconclusive"
    within_margin: bool | None = None  # the equivalence test passes (Holm): a difference found is negligible
    p_signflip_holm: float | None = None
    confirmed: bool | None = None  # better/worse only: the sign-flip test rejects too (Holm)
    signflip_seeds: int | None = None  # the fewest seeds at which the sign-flip test could confirm, at this m

    @property
    def no_spread(self) -> bool:
        """Every paired seed gave the same difference."""
        return len(self.diffs) >= MIN_PAIRED_SEEDS and no_spread(self.diffs)


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
    boot = (None, None)
    if labels is not None and preds and ref_preds:
        both = [s for s in seeds if s in preds and s in ref_preds]
        tests = [mcnemar_exact(preds[s], ref_preds[s], labels) for s in both]
        if tests:
            every, p_max = every_pair_differs(tests)
        if both and len(both) == len(seeds):  # an interval of every paired seed, or none
            boot = bootstrap_interval(np.stack([preds[s] == labels for s in both]),
                                      np.stack([ref_preds[s] == labels for s in both]))
    p_sf = _none(float(sign_flip_p(d))) if len(seeds) >= MIN_PAIRED_SEEDS else None
    return Comparison(config, reference, seeds, diffs, mean, low, high, _none(float(paired_p(d))), margin,
                      _none(float(tost_p(d, margin))), every, p_max, note, p_sf, *boot)


def decide(comparisons: list[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """Holm over the study's comparisons, for the difference and the equivalence tests; a verdict each (new objects)."""
    p_holm = holm([c.p_paired for c in comparisons])
    p_equiv_holm = holm([c.p_equiv for c in comparisons])
    p_sf_holm = holm([c.p_signflip for c in comparisons])
    m = max(1, sum(c.p_paired is not None for c in comparisons))
    out = []
    for c, p, q, f in zip(comparisons, p_holm, p_equiv_holm, p_sf_holm):
        verdict = str(verdicts(c.mean_diff, math.nan if p is None else p, math.nan if q is None else q, alpha))
        low, high = mean_ci(c.diffs, 1 - alpha / m)[1:]
        if low is not None and verdict in ("better", "worse"):
            # Holm may reject where Bonferroni's interval still touches 0: the step-down claims the direction
            low, high = (max(low, 0.0), high) if verdict == "better" else (low, min(high, 0.0))
        sd = None if len(c.diffs) < 2 or no_spread(c.diffs) else float(np.std(c.diffs, ddof=1))
        differs = verdict in ("better", "worse")
        confirmed = bool(f is not None and f < alpha) if differs else None
        out.append(replace(c, family=m, p_holm=p, p_equiv_holm=q, sim_low=low, sim_high=high, verdict=verdict,
                           mde=min_detectable(sd, len(c.diffs), alpha / m),
                           seeds_needed=seeds_to_resolve(c.mean_diff, sd, c.margin, alpha / m)
                           if verdict == "inconclusive" else None,
                           within_margin=None if q is None else bool(q < alpha), p_signflip_holm=f,
                           confirmed=confirmed, signflip_seeds=signflip_seeds(m, alpha) if confirmed is False else None))
    return out
