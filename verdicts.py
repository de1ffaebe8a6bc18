"""A verdict's words: its size from the simultaneous interval, its shown verdict, the margin, the dagger's condition.

One place for how a verdict is said, below the report (report.py) and the findings (findings.py), which both say
verdicts; the rules are docs/statistics.md's.
"""
from __future__ import annotations

import math
import re

import stats


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def pp(x: float) -> str:
    return f"{100 * x:+.2f} pp"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "-"
    if p == 0:
        return "< 1e-300"  # below the smallest double: the binomial tail underflows
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


DAGGER = "†"  # weak evidence: the sign-flip test could have confirmed this better/worse at its seed count; it did not
SIGN_ONLY = 5e-5  # an interval end within 0.005 pp of 0 claims the sign, not a size: it prints as the sign-only form


def margin_words(c: stats.Comparison) -> str:
    return f"±{100 * c.margin:g} pp"


def bound(x: float) -> str:
    """A bound in pp rounded outward to 2 decimals, so that 'within ±0.21 pp' stays true of an end at 0.2083 pp."""
    return f"{math.ceil(round(10_000 * abs(x), 6)) / 100:.2f}"


def inside_margin(c: stats.Comparison) -> bool:
    """The simultaneous interval the reader sees lies inside the margin: the one condition for 'equivalent' and
    'negligible' (stats.decide's within_margin; decided here from the interval, so that older CSVs word alike)."""
    return c.sim_low is not None and -c.margin < c.sim_low and c.sim_high < c.margin


def shown_verdict(c: stats.Comparison) -> str:
    """The verdict the words give: better/worse as decided; otherwise equivalent only where the interval lies
    inside the margin (c.verdict, for comparisons decided by today's stats.decide)."""
    if c.verdict in ("better", "worse"):
        return c.verdict
    return "equivalent" if inside_margin(c) else "inconclusive"


def size_words(c: stats.Comparison) -> str:
    """A verdict with its size from the simultaneous interval: 'worse by 0.85 pp (0.59 to 1.11)', 'better (sign
    only; at most 0.19 pp), negligible within ±0.5 pp', 'equivalent (within ±0.14 pp, margin ±0.2 pp)',
    'inconclusive, within ±1.30 pp'. An end within SIGN_ONLY of 0 gives the sign-only form."""
    if c.sim_low is None:
        return f"{c.verdict} (no test: {c.p_note})" if c.p_note else c.verdict
    near, far = sorted((abs(c.sim_low), abs(c.sim_high)))
    verdict = shown_verdict(c)
    if verdict in ("better", "worse"):
        if c.no_spread:
            size = f"by {abs(100 * c.mean_diff):.2f} pp (every seed alike)"
        elif near < SIGN_ONLY:  # Holm's step-down claims the sign where Bonferroni's interval (nearly) reaches 0
            size = f"(sign only; at most {bound(far)} pp)"
        else:
            size = f"by {abs(100 * c.mean_diff):.2f} pp ({100 * near:.2f} to {100 * far:.2f})"
        return f"{verdict} {size}" + (f", negligible within {margin_words(c)}" if inside_margin(c) else "")
    if verdict == "equivalent":
        return f"equivalent (within ±{bound(far)} pp, margin {margin_words(c)})"
    return f"inconclusive, within ±{bound(far)} pp"


def confirmable(c: stats.Comparison) -> bool:
    """At its seed count and family size the sign-flip test can reject at all (2/2^n below 0.05/m)."""
    return len(c.seeds) >= stats.signflip_seeds(c.family)


def t_only(c: stats.Comparison) -> bool:
    """The dagger's condition, weak evidence: a better/worse verdict that the sign-flip test could have confirmed at
    this seed count, and did not."""
    return c.confirmed is False and confirmable(c)


def unconfirmable(c: stats.Comparison) -> bool:
    """A better/worse verdict at a seed count where the sign-flip test cannot confirm anything: no mark, a note."""
    return shown_verdict(c) in ("better", "worse") and not confirmable(c)


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation but hyphens dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
