"""Verdicts about a config across training seeds, against its study's reference config, paired by seed.

With seed k both configs saw the same batches and, where shapes allow, the same initial weights, so
every comparison works on per-seed differences (config minus reference, test accuracy as fractions).

Verdict rule (docs/statistics.md says what each verdict claims and what it does not)
- Difference: the paired t-test across seeds, Holm over the study's m comparisons. `better` or `worse`
  when its Holm-adjusted p is below alpha, with the simultaneous interval at level 1 - alpha/m.
- Equivalence: the simultaneous interval (level 1 - alpha/m, the one the report prints beside every
  verdict) lies inside (-margin, +margin): two one-sided t-tests (TOST) at alpha/(2m) each, Bonferroni.
  One level for words and numbers: the report never calls a config equivalent or a difference
  negligible beside an interval that reaches past the margin. `equivalent` where no difference was
  found; a difference that is also inside the margin is `better`/`worse`, negligible (`within_margin`).
- Otherwise `inconclusive`, with the smallest effect detectable at 80% power at the observed spread
  and about how many seeds would resolve the observed difference.
- The exact sign-flip test across seeds, Holm over the same family, checks each better/worse without
  the t-test's normal model (it assumes only differences symmetric about 0, so it cannot see a rare large
  loss that the seeds never drew): `confirmed` where it also rejects. With n seeds its smallest two-sided
  p is 2/2^n, so 5 seeds can confirm nothing; `signflip_seeds` says how many could.
- Where every per-seed difference is the same (no spread, one tolerance: _FLAT), the t-test takes its
  limit at zero spread (the difference is certain under the normal model; an interval of one point), so
  a one-image change to one seed gives the same verdict as none; the sign-flip p is the p to quote there.
- The interval for the config on new digits, not only on these 10,000 (`new_digit_interval`): seeds and
  test images are two crossed random factors; their variance components come from per-seed discordant
  counts and one sum over the images (`ImageCounts`), with Satterthwaite's degrees of freedom for t.
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


def equiv_adjusted(p_equiv: np.ndarray, m: int | np.ndarray) -> np.ndarray:
    """TOST p-values adjusted to the simultaneous interval's level: 2m p, capped at 1. Below alpha exactly where the
    interval at level 1 - alpha/m lies inside the margin (each one-sided test at alpha/(2m))."""
    return np.minimum(1.0, 2 * np.asarray(m) * np.asarray(p_equiv, dtype=float))


def verdicts(mean_diff: np.ndarray, p_holm: np.ndarray, p_equiv_adj: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """The four verdicts, elementwise: a difference first, then equivalence, else inconclusive (NaN p: no test)."""
    with np.errstate(invalid="ignore"):
        differs, equal = np.asarray(p_holm) < alpha, np.asarray(p_equiv_adj) < alpha
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
    """About how many seeds give `target` power to call the observed effect a difference (two-sided at `level`), or
    equivalent where it is inside the margin (each one-sided test at level/2: the interval at 1 - level inside the
    margin); None where even MAX_SEEDS would not (or there is no spread to plan from)."""
    if sd is None or not sd > 0:
        return None
    n = np.arange(MIN_PAIRED_SEEDS, MAX_SEEDS + 1)
    enough = power(abs(effect), sd, n, level) >= target
    if abs(effect) < margin:
        enough |= tost_power(effect, sd, margin, n, level / 2) >= target
    return int(n[np.argmax(enough)]) if enough.any() else None


# ---- McNemar, descriptive ---------------------------------------------------------------------------

def mcnemar_exact(pred_a: np.ndarray, pred_b: np.ndarray, labels: np.ndarray) -> tuple[int, int, float]:
    """(n01, n10, p): images only a gets right, images only b gets right, exact two-sided McNemar p (1 if none)."""
    right_a, right_b = np.asarray(pred_a) == labels, np.asarray(pred_b) == labels
    return mcnemar_counts(int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b)))


def mcnemar_counts(n01: int, n10: int) -> tuple[int, int, float]:
    """McNemar's exact test from its two discordant counts: (n01, n10, p)."""
    if n01 + n10 == 0:
        return n01, n10, 1.0
    return n01, n10, float(ss.binomtest(n01, n01 + n10, 0.5).pvalue)


def every_pair_differs(tests: Sequence[tuple[int, int, float]], alpha: float = ALPHA) -> tuple[bool, float]:
    """(every trained pair differs the same way at alpha, the largest per-seed McNemar p): a description of
    the seeds trained, not a test about the config."""
    signs = {np.sign(n01 - n10) for n01, n10, _ in tests}
    p_max = max(p for _, _, p in tests)
    return bool(len(signs) == 1 and 0 not in signs and p_max < alpha), p_max


# ---- test-set noise: seeds and test images, crossed ---------------------------------------------------

@dataclass(frozen=True)
class ImageCounts:
    """What a comparison's test predictions add to its accuracies, summed so that a small CSV holds it: per seed the
    images only the config gets right and those only the reference gets right (McNemar's n01, n10), and over the
    test images the sum of squared net counts, sum_i (sum_s D_si)^2 with D_si = +1, -1 or 0 (seed s, image i)."""
    n_images: int
    only_config: dict[int, int]
    only_reference: dict[int, int]
    image_ss: int


def image_counts(preds: dict[int, np.ndarray], ref_preds: dict[int, np.ndarray], labels: np.ndarray,
                 seeds: Sequence[int]) -> ImageCounts:
    """The counts of the seeds given (each must have both predictions)."""
    d = np.stack([(preds[s] == labels).astype(np.int64) - (ref_preds[s] == labels) for s in seeds])
    return ImageCounts(int(d.shape[1]), {s: int(np.sum(row == 1)) for s, row in zip(seeds, d)},
                       {s: int(np.sum(row == -1)) for s, row in zip(seeds, d)}, int(np.sum(d.sum(axis=0) ** 2)))


def new_digit_interval(only_config: np.ndarray, only_reference: np.ndarray, image_ss: np.ndarray | float,
                       n_images: int, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, degrees of freedom) of the mean accuracy difference for new seeds AND new test digits, over the
    last axis (seeds); NaN below MIN_PAIRED_SEEDS seeds.

    D_si (seed s, image i) is a two-way crossed layout, seed effect + image effect + residual. From the ANOVA
    mean squares (seeds MS_s, images MS_i, residual MS_e, all from the counts), the variance of the grand mean is
    MS_s/(S I) (what the t across seeds sees: the seed effect and the residual, each counted once) plus
    (MS_i - MS_e)/(S I), never below 0 (what the test images add); a bootstrap drawing seeds and images both would
    count the residual twice. t quantile at Satterthwaite's degrees of freedom: S - 1 where the images add nothing.
    """
    a, b = np.asarray(only_config, dtype=float), np.asarray(only_reference, dtype=float)
    seeds = a.shape[-1]
    if seeds < MIN_PAIRED_SEEDS:
        nan = np.full(a.shape[:-1], np.nan)
        return nan, nan, nan
    cells = seeds * n_images
    net, discordant = (a - b).sum(axis=-1), (a + b).sum(axis=-1)
    d = (a - b) / n_images  # per-seed accuracy differences
    ss_seeds = n_images * np.sum((d - d.mean(axis=-1, keepdims=True)) ** 2, axis=-1)
    ss_images = np.asarray(image_ss, dtype=float) / seeds - net ** 2 / cells
    ss_resid = discordant - net ** 2 / cells - ss_seeds - ss_images
    ms_s, ms_i = ss_seeds / (seeds - 1), ss_images / (n_images - 1)
    ms_e = ss_resid / ((seeds - 1) * (n_images - 1))
    images = np.maximum(ms_i - ms_e, 0.0)
    var = (ms_s + images) / cells
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (ms_s + images) ** 2 / (ms_s ** 2 / (seeds - 1) + np.where(
            images > 0, ms_i ** 2 / (n_images - 1) + ms_e ** 2 / ((seeds - 1) * (n_images - 1)), 0.0))
    df = np.where(var > 0, df, np.inf)  # no spread at all: the interval is the point
    half = ss.t.ppf((1 + level) / 2, df) * np.sqrt(var)
    mean = net / cells
    return mean - half, mean + half, df


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
    counts: ImageCounts | None = None  # from the test predictions, where every paired seed has them
    ref_mean: float | None = None  # the reference's mean test accuracy over its finished seeds
    left_out: dict[int, str] = field(default_factory=dict)  # seed: why it is not paired
    family: int = 0  # m: comparisons in the study's Holm family
    p_holm: float | None = None
    p_equiv_adj: float | None = None  # TOST p at the simultaneous interval's level (equiv_adjusted)
    sim_low: float | None = None  # simultaneous interval over the family (level 1 - alpha/m)
    sim_high: float | None = None
    mde: float | None = None  # smallest effect detectable at POWER, level alpha/m, at the observed spread
    seeds_needed: int | None = None  # about how many seeds would resolve the observed difference
    verdict: str = "inconclusive"
    within_margin: bool | None = None  # the simultaneous interval lies inside the margin: a difference is negligible
    p_signflip_holm: float | None = None
    confirmed: bool | None = None  # better/worse only: the sign-flip test rejects too (Holm)
    signflip_seeds: int | None = None  # the fewest seeds at which the sign-flip test could confirm, at this m
    new_low: float | None = None  # new seeds and new test digits (new_digit_interval), level 1 - alpha/m
    new_high: float | None = None

    @property
    def no_spread(self) -> bool:
        """Every paired seed gave the same difference."""
        return len(self.diffs) >= MIN_PAIRED_SEEDS and no_spread(self.diffs)

    @property
    def seeds_better(self) -> int:
        """Paired seeds where the config beat the reference (by more than float rounding)."""
        return sum(d > _FLAT for d in self.diffs)

    @property
    def seeds_worse(self) -> int:
        return sum(d < -_FLAT for d in self.diffs)

    @property
    def worst_seed_diff(self) -> float | None:
        """The per-seed difference of the seed where the config did worst against the reference."""
        return min(self.diffs, default=None)

    @property
    def image_ss(self) -> int | None:
        return None if self.counts is None else self.counts.image_ss

    @property
    def test_images(self) -> int | None:
        return None if self.counts is None else self.counts.n_images


def _none(p: float) -> float | None:
    return None if math.isnan(p) else float(p)


def compare(config: str, reference: str, acc: dict[int, float], ref_acc: dict[int, float], margin: float,
            preds: dict[int, np.ndarray] | None = None, ref_preds: dict[int, np.ndarray] | None = None,
            labels: np.ndarray | None = None, counts: ImageCounts | None = None) -> Comparison:
    """One config against its reference on the seeds both have (unadjusted). The test predictions (`preds`,
    `ref_preds`, `labels`), or their `counts` where already summed (a per-seed CSV), give McNemar's description and
    the new-digit interval."""
    seeds = sorted(set(acc) & set(ref_acc))
    diffs = [acc[s] - ref_acc[s] for s in seeds]
    mean, low, high = mean_ci(diffs)
    d = np.asarray(diffs, dtype=float).reshape(len(diffs))
    note = None if len(seeds) >= MIN_PAIRED_SEEDS else f"{len(seeds)} paired seed(s): a test needs {MIN_PAIRED_SEEDS}"
    if counts is None and labels is not None and preds and ref_preds:
        both = [s for s in seeds if s in preds and s in ref_preds]
        if both:
            counts = image_counts(preds, ref_preds, labels, both)
    every = p_max = None
    if counts is not None:
        tests = [mcnemar_counts(counts.only_config[s], counts.only_reference[s]) for s in seeds
                 if s in counts.only_config]
        if tests:
            every, p_max = every_pair_differs(tests)
    p_sf = _none(float(sign_flip_p(d))) if len(seeds) >= MIN_PAIRED_SEEDS else None
    return Comparison(config, reference, seeds, diffs, mean, low, high, _none(float(paired_p(d))), margin,
                      _none(float(tost_p(d, margin))), every, p_max, note, p_sf, counts=counts,
                      ref_mean=float(np.mean(list(ref_acc.values()))) if ref_acc else None)


def _new_digits(c: Comparison, level: float) -> tuple[float | None, float | None]:
    """The new-digit interval, where every paired seed has its predictions (else none)."""
    if c.counts is None or set(c.counts.only_config) != set(c.seeds) or len(c.seeds) < MIN_PAIRED_SEEDS:
        return None, None
    low, high, _ = new_digit_interval([c.counts.only_config[s] for s in c.seeds],
                                      [c.counts.only_reference[s] for s in c.seeds], c.counts.image_ss,
                                      c.counts.n_images, level)
    return float(low), float(high)


def decide(comparisons: list[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """Holm over the study's comparisons for the difference test, the simultaneous interval (Bonferroni) for
    equivalence; a verdict each (new objects)."""
    p_holm = holm([c.p_paired for c in comparisons])
    p_sf_holm = holm([c.p_signflip for c in comparisons])
    m = max(1, sum(c.p_paired is not None for c in comparisons))
    out = []
    for c, p, f in zip(comparisons, p_holm, p_sf_holm):
        q = None if c.p_equiv is None else float(equiv_adjusted(c.p_equiv, m))
        verdict = str(verdicts(c.mean_diff, math.nan if p is None else p, math.nan if q is None else q, alpha))
        low, high = mean_ci(c.diffs, 1 - alpha / m)[1:]
        if low is not None and verdict in ("better", "worse"):
            # Holm may reject where Bonferroni's interval still touches 0: the step-down claims the direction
            low, high = (max(low, 0.0), high) if verdict == "better" else (low, min(high, 0.0))
        sd = None if len(c.diffs) < 2 or no_spread(c.diffs) else float(np.std(c.diffs, ddof=1))
        differs = verdict in ("better", "worse")
        confirmed = bool(f is not None and f < alpha) if differs else None
        new_low, new_high = _new_digits(c, 1 - alpha / m)
        out.append(replace(c, family=m, p_holm=p, p_equiv_adj=q, sim_low=low, sim_high=high, verdict=verdict,
                           mde=min_detectable(sd, len(c.diffs), alpha / m),
                           seeds_needed=seeds_to_resolve(c.mean_diff, sd, c.margin, alpha / m)
                           if verdict == "inconclusive" else None,
                           within_margin=None if q is None else bool(q < alpha), p_signflip_holm=f,
                           confirmed=confirmed, signflip_seeds=signflip_seeds(m, alpha) if confirmed is False else None,
                           new_low=new_low, new_high=new_high))
    return out
