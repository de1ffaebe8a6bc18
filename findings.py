"""What each study found, in plain words, every number computed from the runs' evidence, never typed.

The evidence of a view (a study on one dataset under one recipe) holds per config its test accuracy (mean, sd,
seeds), mean val accuracy, parameters, mean wall time per run, recipe (epochs, batch, optimizer, rate), optimizer
steps, first-to-last-layer gradient-norm ratio, train-to-val gap, runs that did not learn, and its comparison with
its reference. plot.py computes it from the logs (view_evidence) into each results folder's CHOICES.json;
docs/results/table.py words README's "What we found" and docs/results/FINDINGS.md from every part's, and
REPORT.md words each study's finding from its own. The words that name no number (why sigmoid learns slower)
are studies.EXPLANATIONS's; a finding says one only where the numbers agree with it.
"""
from __future__ import annotations

import math
from pathlib import Path
import statistics
from dataclasses import dataclass

import stats
from analysis import CHANCE_MARGIN, View, did_not_learn, grad_ratios, layer_names
from dataset_facts import DATASETS, get_dataset
from recipes import RECIPES
from verdicts import DAGGER, SIGN_ONLY, anchor, inside_margin, plural, shown_verdict, size_words, t_only, unconfirmable
from studies import EXPLANATIONS, MARGINS, REFERENCES, STUDY_MARGINS, traits

EVIDENCE_KEY = "evidence"  # CHOICES.json's key for the part's evidence
# a verdict as one symbol: hollow triangles are real differences inside the margin (negligible)
SYMBOLS = {"better": "▲", "worse": "▼", "equivalent": "≈", "inconclusive": "?"}
NEGLIGIBLE = {"better": "△", "worse": "▽"}
COMPARISON_KEYS = ("verdict", "mean_diff", "sim_low", "sim_high", "within_margin", "confirmed", "margin", "family",
                   "seeds", "p_note")
# the questions of README's findings, in the assignment's order, then the two beyond it
QUESTIONS = ("activation", "depth", "width", "optim", "batch_size", "regularization", "precision")
TITLES = {"activation": "Activation function", "depth": "Number of layers", "width": "Neurons per layer",
          "optim": "Optimizer", "batch_size": "Batch size", "regularization": "Regularization and augmentation",
          "precision": "Precision (bf16 against fp32)", "base": "The seed project's networks"}


# ---- evidence ------------------------------------------------------------------------------------

def clean(value):
    """A CSV cell or a Comparison field as JSON: NaN and numpy scalars as plain Python."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def comparison_entry(row: dict) -> dict:
    """A comparison as the evidence holds it, from a comparisons CSV row or a stats.Comparison's fields."""
    entry = {key: clean(row.get(key)) for key in COMPARISON_KEYS}
    if isinstance(entry["seeds"], list):
        entry["seeds"] = len(entry["seeds"])
    for key in ("within_margin", "confirmed"):  # a CSV gives "True" or a bool; empty stays None
        if isinstance(entry[key], str):
            entry[key] = entry[key] == "True"
    return entry


def grad_summary(rows: list[dict], scalars, refs: dict[str, str]) -> dict[str, dict]:
    """{config: its first-to-last-layer gradient-norm ratio (mean, range over seeds, layers) and, where its reference
    has the same seeds, its ratio over the reference's seed by seed (mean, range, seeds)}."""
    ratios = {row["name"]: grad_ratios(scalars, row) for row in rows}
    ratios = {name: r for name, r in ratios.items() if r}
    out = {}
    for name, r in ratios.items():
        layers = layer_names(scalars.loc[scalars["name"] == name, "tag"].unique())
        entry = {"ratio": statistics.mean(r.values()), "low": min(r.values()), "high": max(r.values()),
                 "layers": f"{layers[0]}/{layers[-1]}"}
        ref = refs.get(name)
        paired = [r[seed] / ratios[ref][seed] for seed in r if ref in ratios and seed in ratios[ref]]
        if paired:
            entry.update(vs_ref=statistics.mean(paired), vs_ref_low=min(paired), vs_ref_high=max(paired),
                         vs_ref_seeds=len(paired))
        out[name] = entry
    return out


def train_val_gap(runs: list[dict]) -> float | None:
    """Mean over seeds of the last epoch's training accuracy (measured while training) minus its val accuracy."""
    gaps = [r["history"][-1]["train_acc"] - r["history"][-1]["val_acc"] for r in runs
            if r.get("history") and r["history"][-1].get("train_acc") is not None]
    return statistics.mean(gaps) if gaps else None


def config_evidence(row: dict, found: dict, grads: dict[str, dict]) -> dict:
    """One config of a loaded view (analysis.config_rows' row) as the evidence holds it."""
    config, runs = row["config"], row["runs"]
    n_train = config.get("subset") or get_dataset(config.get("dataset", "mnist")).n_train
    per_epoch = runs[0].get("steps_per_epoch") or math.ceil(n_train / config["batch_size"])
    c = found.get(row["name"])
    return {"name": row["name"], "reference": c.reference if c else None, "n_params": row["n_params"],
            "seeds": len(row["acc"]), "test_mean": row["mean"], "test_sd": row["std"], "val_mean": row["best_val"],
            "wall_s": row["wall"], "train_val_gap": train_val_gap(runs),
            "not_learned": sum(did_not_learn(r) for r in runs),
            **{key: config.get(key) for key in ("epochs", "batch_size", "optimizer", "lr", "schedule", "weight_decay",
                                                "augment", "label_smoothing", "precision", "model", "model_args")},
            "steps": config["epochs"] * per_epoch, "grad": grads.get(row["name"]),
            "comparison": comparison_entry({k: getattr(c, k) for k in COMPARISON_KEYS}) if c else None}


def view_evidence(data: dict) -> dict:
    """The evidence of one loaded view (analysis.load_view's dict): what its findings cite."""
    view, rows, found = data["view"], data["rows"], data.get("comparisons", [])
    by_name = {c.config: c for c in found}
    scalars = data.get("scalars")
    grads = (grad_summary(rows, scalars, {c.config: c.reference for c in found})
             if scalars is not None and traits(view.study).gradients else {})
    return {"study": view.study, "dataset": view.dataset, "recipe": view.recipe,
            "n_train": get_dataset(view.dataset).n_train, "margin": data.get("margin"),
            "diverged": sum(r["status"] != "ok" for r in data["runs"]),
            "configs": [config_evidence(row, by_name, grads) for row in rows]}


# ---- reading the evidence --------------------------------------------------------------------------

def column_key(view: dict) -> tuple:
    """README's column order: the quick recipe before the full one, each dataset in the registry's order."""
    recipe = RECIPES.index(view["recipe"]) if view["recipe"] in RECIPES else len(RECIPES)
    return recipe, list(DATASETS).index(view["dataset"])


class Evidence:
    """The views of one or several parts, in column order, looked up by study, dataset and recipe."""

    def __init__(self, views: list[dict]):
        self.views = sorted(views, key=column_key)

    def of(self, study: str, dataset: str | None = None, recipe: str | None = None) -> list[dict]:
        return [v for v in self.views if v["study"] == study and dataset in (None, v["dataset"])
                and recipe in (None, v["recipe"])]

    def one(self, study: str, dataset: str, recipe: str) -> dict | None:
        return next(iter(self.of(study, dataset, recipe)), None)

    def datasets(self, study: str) -> list[str]:
        return list(dict.fromkeys(v["dataset"] for v in self.of(study)))


def entry(view: dict | None, name: str) -> dict | None:
    return next((e for e in view["configs"] if e["name"] == name), None) if view else None


def reference_of(view: dict, e: dict) -> dict | None:
    return entry(view, e["reference"]) if e and e.get("reference") else None


def compared(view: dict) -> list[dict]:
    """The configs of a view that have a comparison with their reference."""
    return [e for e in view["configs"] if e.get("comparison")]


def references(view: dict) -> list[str]:
    """The view's references, in its study's own order (studies.REFERENCES), so every column lists them alike."""
    return ordered_references(view["study"], list(dict.fromkeys(e["reference"] for e in compared(view))))


def as_comparison(e: dict) -> stats.Comparison:
    """An evidence entry's comparison as a stats.Comparison, for report's words (size_words) to say it."""
    c = e["comparison"]
    seeds = c.get("seeds") or e.get("seeds") or 0
    return stats.Comparison(config=e.get("name"), reference=e.get("reference"), seeds=list(range(seeds)), diffs=[],
                            mean_diff=c["mean_diff"], ci_low=None, ci_high=None, p_paired=None, p_equiv=None,
                            margin=c["margin"],
                            p_note=c.get("p_note"), family=c.get("family") or 0, sim_low=c["sim_low"],
                            sim_high=c["sim_high"], verdict=c["verdict"], within_margin=c["within_margin"],
                            confirmed=c["confirmed"])


def verdict(e: dict) -> str:
    """The verdict the words give (report.shown_verdict): equivalent only where the simultaneous interval lies inside
    the margin, so that the committed parts' comparisons, decided before that rule, read alike."""
    return shown_verdict(as_comparison(e))


def negligible(e: dict) -> bool:
    """A better/worse verdict whose simultaneous interval lies inside the margin (report.inside_margin)."""
    return verdict(e) in ("better", "worse") and inside_margin(as_comparison(e))


def real(e: dict | None) -> bool:
    """A better/worse verdict outside the margin: a difference that matters."""
    return bool((e or {}).get("comparison")) and verdict(e) in ("better", "worse") and not negligible(e)


def dagger(e: dict) -> str:
    """The weak-evidence mark (report.t_only): the sign-flip test could have confirmed it at its seeds, and did not."""
    return DAGGER if t_only(as_comparison(e)) else ""


def mark(e: dict) -> str:
    """What a sentence adds to a verdict's size: the dagger (weak evidence), or ', t-test only' where the seeds are too
    few for the sign-flip test to confirm anything (report.unconfirmable), as REPORT.md's words say."""
    return ", t-test only" if unconfirmable(as_comparison(e)) else dagger(e)


def symbol(e: dict) -> str:
    """▲ ▼ real, △ ▽ negligible, ≈ equivalent, ? inconclusive; † weak evidence (dagger)."""
    shown = verdict(e)
    return (NEGLIGIBLE[shown] if negligible(e) else SYMBOLS[shown]) + dagger(e)


def t_test_only_seeds(view: dict) -> list[int]:
    """The seed counts of a view's better/worse verdicts that the sign-flip test cannot confirm at all
    (report.unconfirmable): their cell says so in words, as no mark does."""
    return sorted({e["comparison"].get("seeds") or e["seeds"] for e in compared(view)
                   if unconfirmable(as_comparison(e))})


def t_test_only_note(view: dict) -> str:
    """' (t-test only at 5 seeds)' where a view has such verdicts, else ''."""
    few = t_test_only_seeds(view)
    return f" (t-test only at {' or '.join(map(str, few))} seeds)" if few else ""


# ---- words -----------------------------------------------------------------------------------------

def pc(x: float) -> str:
    """A fraction as a percentage with two decimals, no sign: '98.78'."""
    return f"{100 * x:.2f}"


def acc(e: dict) -> str:
    """Test accuracy as mean ± sd over seeds: '97.35 ± 0.43%'."""
    return f"{pc(e['test_mean'])} ± {pc(e['test_sd'])}%" if e["test_sd"] is not None else f"{pc(e['test_mean'])}%"


def size(e: dict) -> str:
    """The verdict with its size, as REPORT.md says it: 'worse by 1.43 pp (0.97 to 1.89)'."""
    return size_words(as_comparison(e)) + mark(e)


def signed_pp(e: dict) -> str:
    """A config's difference from its reference, signed: '-1.12 pp'."""
    return f"{100 * e['comparison']['mean_diff']:+.2f} pp"


def gap_pp(e: dict) -> str:
    return f"{abs(100 * e['comparison']['mean_diff']):.2f} pp"


def names(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c' ('' for none)."""
    return ", ".join(items) if len(items) < 2 else f"{', '.join(items[:-1])} and {items[-1]}"


def verb(n: int, word: str) -> str:
    """The present-tense verb agreeing with n subjects: verb(1, "change") is "changes", verb(2, "change") "change"."""
    return f"{word}s" if n == 1 else word


def ratio(x: float) -> str:
    return f"{x:.3g}x"


def title(dataset: str) -> str:
    return get_dataset(dataset).title


def column(view: dict) -> str:
    return f"{title(view['dataset'])}, {view['recipe']} recipe"


def when(view: dict) -> str:
    """'after 2 epochs' (quick recipe) or 'trained to convergence' (full), from the view's configs."""
    if view["recipe"] == "full":
        return "trained to convergence"
    epochs = sorted({e["epochs"] for e in view["configs"]})
    return f"after {plural(epochs[0], 'epoch')}" if len(epochs) == 1 else "after the quick recipe"


def seeds_words(view: dict) -> str:
    counts = sorted({e["seeds"] for e in view["configs"]})
    return plural(counts[0], "seed") if len(counts) == 1 else f"{counts[0]} to {counts[-1]} seeds"


# ---- README's table: a cell per view -----------------------------------------------------------------

def cell_name(view: dict, e: dict) -> str:
    """A config's name in a table cell: a rate sweep's by its optimizer alone (sgd, not sgd_lr0.316), since each
    optimizer appears once, at its best rate, which the findings name."""
    return e["optimizer"] if traits(view["study"]).best_rates else e["name"]


def cell_references(view: dict) -> list[str]:
    return [cell_name(view, entry(view, ref)) for ref in references(view)]


def cell(view: dict) -> str:
    """README's table cell: each reference's test accuracy (%), then its configs' by mean, each with its symbol."""
    groups = []
    for ref in references(view):
        members = sorted((e for e in compared(view) if e["reference"] == ref), key=lambda e: -e["test_mean"])
        listed = ", ".join(f"{cell_name(view, e)} {pc(e['test_mean'])} {symbol(e)}" for e in members)
        groups.append(f"{cell_name(view, entry(view, ref))} {pc(entry(view, ref)['test_mean'])}: {listed}")
    return "; ".join(groups) + t_test_only_note(view)


def legend(lang: str = "en") -> list[str]:
    """README's and FINDINGS.md's legend of the table's symbols and words (at most 6 lines), in English or, for
    README.zh-CN.md, in Chinese ("zh"): each line's two languages side by side, the margins from the same numbers."""
    quick, full = (f"±{100 * MARGINS[r]:g} pp" for r in ("quick", "full"))
    own = {"en": "".join(f"; {s}: ±{100 * m:g} pp whatever the recipe" for s, m in STUDY_MARGINS.items()),
           "zh": "".join(f";{s}:不论配方均为 ±{100 * m:g} pp" for s, m in STUDY_MARGINS.items())}
    lines = [
        {"en": "Each cell: the reference's test accuracy in % (mean over seeds), then each other config's, best first, "
               "with its verdict against the reference, paired by seed. pp: percentage points, the difference of two "
               "accuracies (98.5% against 98.0%: 0.5 pp).",
         "zh": "每格:参照配置的测试准确率(%,各种子的平均),然后是其他每个配置的,从高到低,各带它与参照按种子配对比较的"
               "结论。pp:百分点,两个准确率之差(98.5% 对 98.0%:0.5 pp)。"},
        {"en": "▲ better / ▼ worse: a real difference (paired t-test across seeds, Holm-corrected for the study's number "
               "of comparisons; REPORT.md gives its simultaneous 95% interval). △ / ▽: real but negligible, that "
               f"interval lies inside the margin. \"sign only\": an end of that interval lies within "
               f"{100 * SIGN_ONLY:g} pp of zero, so only the direction is claimed, not a size.",
         "zh": "▲ 更好 / ▼ 更差:真实的差异(跨种子的配对 t 检验,按该研究的比较次数做 Holm 校正;REPORT.md 给出其 95% "
               "同时置信区间)。△ / ▽:真实但可忽略,该区间落在容差之内。"
               f"“sign only”(仅方向):该区间的一端离零不到 {100 * SIGN_ONLY:g} pp,所以只断言方向,不断言大小。"},
        {"en": "≈ equivalent: no difference found, and that interval lies inside the margin. ? inconclusive: neither; "
               "the seeds cannot tell either way, which is not evidence of no effect.",
         "zh": "≈ 等价:未发现差异,且该区间落在容差之内。? 不确定:两者皆非;这些种子分辨不出,这并不是没有效应的证据。"},
        {"en": f"Margin: the largest difference declared too small to matter, fixed before any run: {quick} for the "
               f"quick recipe (2 epochs, how fast a choice learns), {full} for the full one (trained to convergence)"
               f"{own['en']}.",
         "zh": f"容差:在任何运行之前定下的、小到无关紧要的最大差异:快速配方(2 个 epoch,看一个选择学得多快)为 {quick},"
               f"完整配方(训练到收敛)为 {full}{own['zh']}。"},
        {"en": f"{DAGGER}: weak evidence; at that seed count the exact sign-flip test, which assumes nothing about the "
               "seeds' spread, could have confirmed the verdict and did not. \"t-test only at n seeds\": too few seeds "
               "for that test to confirm anything (its smallest p is 2/2^n), so ▲ ▼ △ ▽ there rest on the t-test alone.",
         "zh": f"{DAGGER}:弱证据;在该种子数下,不对种子间分布作任何假设的精确符号翻转检验本可以确认该结论,却没有确认。"
               "“仅 t 检验,n 个种子”:种子太少,该检验无法确认任何结论(其最小 p 值为 2/2^n),所以那里的 ▲ ▼ △ ▽ 只依据 "
               "t 检验。"},
    ]
    return [line[lang] for line in lines]


# ---- quick against full ------------------------------------------------------------------------------

def along(c: dict, sign: int) -> tuple[float, float]:
    """A comparison's simultaneous interval as sizes in the direction `sign` (+1 better, -1 worse), low first."""
    return tuple(sorted((sign * c["sim_low"], sign * c["sim_high"])))


def convergence(quick: dict | None, full: dict | None) -> str | None:
    """How a config's gap to its reference after the quick recipe ends when trained to convergence, from the two
    views' simultaneous intervals: 'closes' (equivalent), 'shrinks' (the full interval lies below the quick one),
    'grows', 'reverses', 'stays' (the intervals overlap), 'unresolved' (inconclusive, overlapping), 'appears'
    (no real gap quick, one full); None where there is nothing to say."""
    q, f = (quick or {}).get("comparison"), (full or {}).get("comparison")
    if not q or not f or q["sim_low"] is None or f["sim_low"] is None:
        return None
    if verdict(quick) not in ("better", "worse"):
        return "appears" if real(full) else None
    sign = 1 if q["mean_diff"] > 0 else -1
    (q_low, q_high), (f_low, f_high) = along(q, sign), along(f, sign)
    if verdict(full) == "equivalent":
        return "closes"
    if verdict(full) in ("better", "worse") and (f["mean_diff"] > 0) != (sign > 0):
        return "reverses"
    if f_high < q_low:
        return "shrinks"
    if f_low > q_high:
        return "grows"
    return "unresolved" if verdict(full) == "inconclusive" else "stays"


CONVERGENCE_WORDS = {"closes": "closes", "shrinks": "shrinks", "grows": "grows", "reverses": "reverses",
                     "stays": "stays (the two intervals overlap)", "appears": "appears",
                     "unresolved": "is not resolved (the two intervals overlap)"}


def convergence_words(quick: dict, full: dict) -> str | None:
    """'the gap shrinks: worse by 1.43 pp (0.97 to 1.89) after the quick recipe, and trained to convergence worse by
    0.26 pp (0.09 to 0.42)†' (the size last: it may end in ', t-test only')."""
    kind = convergence(quick, full)
    if kind is None:
        return None
    return (f"the gap {CONVERGENCE_WORDS[kind]}: {size(quick)} after the quick recipe, and trained to convergence "
            f"{size(full)}")


def short_size(e: dict, said: bool = True) -> str:
    """A verdict's size in a few words: '1.43 pp worse', 'worse, sign only', 'equivalent'; without the verdict's word
    ('1.43 pp', 'sign only') where the sentence says it (said=False). An interval end within report.SIGN_ONLY of 0
    claims the sign only, as REPORT.md words it."""
    c, shown = e["comparison"], verdict(e)
    if shown not in ("better", "worse"):
        return shown
    word = f" {shown}" if said else ""
    if sign_only(e):
        return f"{shown + ', ' if said else ''}sign only{mark(e)}"
    few = ", t-test only" if unconfirmable(as_comparison(e)) else ""
    return f"{gap_pp(e)}{word}{dagger(e)}" + (", negligible" if negligible(e) else "") + few


AFTER = {"shrinks": "shrinks to {}", "grows": "grows to {}", "stays": "stays at {} (the two intervals overlap)",
         "reverses": "reverses: {}", "closes": "closes (equivalent)", "unresolved": "is not resolved (inconclusive)",
         "appears": "appears: {}"}


def journey(ev: Evidence, study: str, name: str, dataset: str, short: bool) -> str | None:
    """One config on one dataset: its accuracy against its reference's in its first column, and how that gap ends
    when trained to convergence where both recipes ran."""
    quick, full = ev.one(study, dataset, "quick"), ev.one(study, dataset, "full")
    first = next((v for v in (quick, full) if (entry(v, name) or {}).get("comparison")), None)
    if first is None:
        return None
    e, later = entry(first, name), entry(full, name) if first is quick else None
    ref = reference_of(first, e)
    text = f"on {title(dataset)} {acc(e)} against {ref['name']}'s {acc(ref)} {when(first)}"
    if later is None or not later.get("comparison"):
        return f"{text} ({short_size(e) if short else size(e)})"
    kind = convergence(e, later)
    if short:
        gap = short_size(later, said=kind in ("reverses", "appears"))
        return (f"{text} ({short_size(e)}); trained to convergence "
                + (f"the gap {AFTER[kind].format(gap)}" if kind else short_size(later)))
    return (f"{text} ({size(e)}); trained to convergence {acc(later)} against {acc(reference_of(full, later))}"
            + (f": the gap {CONVERGENCE_WORDS[kind]}, {size(later)}" if kind else f" ({size(later)})"))


# ---- sentences every study shares -----------------------------------------------------------------

def ordered_references(study: str, names_: list[str]) -> list[str]:
    """References in the study's own order (studies.REFERENCES), so every column lists them alike."""
    own = list(REFERENCES.get(study, ()))
    return sorted(names_, key=lambda r: own.index(r) if r in own else len(own))


def largest(ev: Evidence, study: str) -> dict | None:
    """The config with the largest real difference from its reference in any column."""
    real_ones = [e for v in ev.of(study) for e in compared(v) if real(e)]
    return max(real_ones, key=lambda e: abs(e["comparison"]["mean_diff"]), default=None)


def largest_sentence(ev: Evidence, study: str, short: bool) -> str | None:
    top = largest(ev, study)
    if top is None:
        return None
    where = [journey(ev, study, top["name"], d, short) for d in ev.datasets(study)
             if any(real(entry(v, top["name"])) for v in ev.of(study, dataset=d))]
    return f"The largest effect is {top['name']}'s: {'; '.join(w for w in where if w)}."


def direction_sentence(ev: Evidence, study: str, way: str, skip: str | None) -> str | None:
    """The configs really better (or worse: `way`) than their reference, column by column, with their sizes."""
    columns = []
    for v in ev.of(study):
        found = [f"{e['name']} ({short_size(e, said=False)})" for e in compared(v)
                 if real(e) and verdict(e) == way and e["name"] != skip]
        if found:
            columns.append(f"{names(found)} on {column(v)}")
    if not columns:
        return None
    return f"{'Really better' if way == 'better' else 'Also really worse'}: {'; '.join(columns)}."


def nothing_better(ev: Evidence, study: str) -> str:
    """Said where no config was shown really better than its reference anywhere."""
    views = ev.of(study)
    if not any(real(e) for v in views for e in compared(v)):
        return "No config was shown to differ from its reference by more than the margin in any column."
    refs = ordered_references(study, list(dict.fromkeys(r for v in views for r in references(v))))
    return f"Nothing was shown to beat {names(refs)} by more than the margin in any column."


def untested_comparisons(ev: Evidence, study: str) -> str | None:
    """Comparisons no test could be run for (too few paired seeds): their verdict says nothing either way."""
    missing = [e for v in ev.of(study) for e in compared(v) if e["comparison"]["sim_low"] is None]
    if not missing:
        return None
    total = sum(len(compared(v)) for v in ev.of(study))
    return (f"{len(missing)} of its {plural(total, 'comparison')} had no test at all (too few paired seeds: "
            f"{stats.MIN_PAIRED_SEEDS} are needed), so their inconclusive verdicts say nothing either way.")


def not_learned_sentence(ev: Evidence, study: str) -> str | None:
    """Configs with finished runs at chance (analysis.did_not_learn), named apart from diverged ones."""
    idle = [f"{e['name']} ({e['not_learned']} of {e['seeds']} runs, {column(v)})" for v in ev.of(study)
            for e in v["configs"] if e.get("not_learned")]
    if not idle:
        return None
    return (f"Did not learn (finished, but test accuracy within {100 * CHANCE_MARGIN:g} points of chance): "
            f"{'; '.join(idle)}.")


def category(e: dict) -> str:
    """better, worse, or 'small' (equivalent or negligible); inconclusive contradicts nothing."""
    return verdict(e) if real(e) else "inconclusive" if verdict(e) == "inconclusive" else "small"


def disagreement_sentence(ev: Evidence, study: str) -> str | None:
    """Configs whose verdict changes from column to column, each with what holds across all of them: the range its
    simultaneous intervals span."""
    views = ev.of(study)
    if len(views) < 2:
        return None
    parts = []
    for name in dict.fromkeys(e["name"] for v in views for e in compared(v)):
        mine = [entry(v, name) for v in views if (entry(v, name) or {}).get("comparison")]
        if len({category(e) for e in mine} - {"inconclusive"}) < 2 or any(e["comparison"]["sim_low"] is None
                                                                          for e in mine):
            continue
        low = min(100 * e["comparison"]["sim_low"] for e in mine)
        high = max(100 * e["comparison"]["sim_high"] for e in mine)
        parts.append(f"{name} {' '.join(symbol(e) for e in mine)} ({low:+.2f} to {high:+.2f} pp from "
                     f"{mine[0]['reference']})")
    if not parts:
        return None
    return f"Verdicts that differ by column (in the table's order), with what holds in all: {'; '.join(parts)}."


def untested_sentence(ev: Evidence, study: str) -> str | None:
    if ev.of(study, recipe="full") or not ev.of(study):
        return None
    return "Not trained to convergence here (no full-recipe runs), so whether these gaps close with more epochs is " \
           "untested."


def ratio_words(g: dict, short: bool) -> str:
    """A gradient ratio over the reference's, with its seed range: '0.518x (0.441x to 0.579x over 10 seeds)'."""
    if short:
        return ratio(g["vs_ref"])
    return (f"{ratio(g['vs_ref'])} ({ratio(g['vs_ref_low'])} to {ratio(g['vs_ref_high'])} over {g['vs_ref_seeds']} "
            "seeds)")


def grads_of(ev: Evidence, study: str, name: str, recipe: str | None = None) -> list[tuple[dict, dict]]:
    """(view, gradient evidence) of a config in every view that has its ratio over the reference's."""
    return [(v, entry(v, name)["grad"]) for v in ev.of(study, recipe=recipe)
            if ((entry(v, name) or {}).get("grad") or {}).get("vs_ref") is not None]


def grad_list(pairs: list[tuple[dict, dict]], short: bool, ref: str) -> str:
    """'0.518x relu's on MNIST and 0.432x on Fashion-MNIST' (with seed ranges where not short)."""
    where = (lambda v: title(v["dataset"])) if short else column
    said = [f"{ratio_words(g, short)}{f' {ref}' + chr(39) + 's' if i == 0 else ''} on {where(v)}"
            for i, (v, g) in enumerate(pairs)]
    return names(said)


def every_seed(pairs: list[tuple[dict, dict]], below: bool) -> bool:
    return bool(pairs) and all((g["vs_ref_high"] < 1) if below else (g["vs_ref_low"] > 1) for _, g in pairs)


# ---- each study's reasons, from its evidence: (README's, the rest) --------------------------------------

@dataclass
class Reasons:
    short: list[str]  # README's and REPORT.md's
    long: list[str]  # FINDINGS.md's: every column, seed ranges, the further evidence
    key: str = ""  # the "In short" table's: the one measured number behind the answer, in a few words


GRADIENT = "first-layer gradient norm over its last layer's"


def why_activation(ev: Evidence) -> Reasons:
    words, short, long = EXPLANATIONS["activation"], [], []
    for brief in (True, False):
        out = short if brief else long
        recipe = "quick" if brief else None
        sigmoid, tanh = grads_of(ev, "activation", "sigmoid", recipe), grads_of(ev, "activation", "tanh", recipe)
        if sigmoid:
            out.append(f"Why sigmoid: its {GRADIENT} was {grad_list(sigmoid, brief, 'relu')}"
                       + (f" after {plural(sigmoid[0][0]['configs'][0]['epochs'], 'epoch')}" if brief else "")
                       + (f", below 1x in every seed: {words['sigmoid']}." if every_seed(sigmoid, below=True) else
                          ", not below 1x in every seed, so saturation does not explain it here."))
        if every_seed(tanh, below=False):
            out.append(f"Against the textbook, tanh's ratio was {grad_list(tanh, brief, 'relu')}: {words['tanh']}.")
    return Reasons(short, long, activation_key(ev))


def activation_key(ev: Evidence) -> str:
    """sigmoid's and tanh's gradient ratios over relu's in the first column that has them, where every seed agrees."""
    sigmoid, tanh = grads_of(ev, "activation", "sigmoid")[:1], grads_of(ev, "activation", "tanh")[:1]
    said = [f"sigmoid's first-to-last-layer gradient ratio {ratio(sigmoid[0][1]['vs_ref'])} relu's "
            f"({title(sigmoid[0][0]['dataset'])}, {when_few(sigmoid[0][0])}): its first layers learn slowest"
            ] if every_seed(sigmoid, below=True) else []
    if every_seed(tanh, below=False):
        said.append(f"tanh's {ratio(tanh[0][1]['vs_ref'])}: no saturation, against the textbook")
    return "; ".join(said)


def family_members(view: dict, reference: str) -> list[dict]:
    return [e for e in compared(view) if e["reference"] == reference]


def depth_of(e: dict) -> int:
    return (e.get("model_args") or {}).get("depth", 0)


def deepest(ev: Evidence) -> dict[tuple[str, str], list[tuple[dict, dict]]]:
    """{(reference, its family's deepest config): [(view, that config's entry)]} where gradients were logged."""
    out: dict[tuple[str, str], list[tuple[dict, dict]]] = {}
    for v in ev.of("depth"):
        for ref in ordered_references("depth", references(v)):
            members = [e for e in family_members(v, ref) if depth_of(e) > depth_of(entry(v, ref))]
            top = max(members, key=depth_of, default=None)
            if top and (top.get("grad") or {}).get("vs_ref") is not None:
                out.setdefault((ref, top["name"]), []).append((v, top))
    return out


def why_depth(ev: Evidence) -> Reasons:
    words, short, long = EXPLANATIONS["depth"], [], []
    for (ref, name), pairs in deepest(ev).items():
        grads = [(v, e["grad"]) for v, e in pairs]
        larger, smaller = [g for _, g in grads if g["vs_ref_low"] > 1], [g for _, g in grads if g["vs_ref_high"] < 1]
        v, e = pairs[0]
        where = names([title(w["dataset"]) for w, g in grads if g["vs_ref_low"] > 1])
        for brief, out in ((True, short), (False, long)):
            facts = f"{name}'s {GRADIENT} was {grad_list(grads, brief, ref)}"
            if not brief:
                facts += f" ({e['n_params']:,} parameters against {entry(v, ref)['n_params']:,})"
            if larger and not smaller:
                out.append(f"Against the textbook, {facts}, larger in every seed on {where}: {words['textbook']}; "
                           f"{words['against']}.")
            elif smaller and not larger:
                out.append(f"As the textbook says ({words['textbook']}), {facts}.")
            elif not brief:
                out.append(f"Gradients, in no consistent direction: {facts}.")
    conv = shallow_conv(ev, words)
    return Reasons(conv + short, long + conv + time_cost(ev, "depth"), depth_key(ev))


def depth_key(ev: Evidence) -> str:
    """The deepest config's gradient ratio over its reference's, where every column with it agrees on the side."""
    said = []
    for (ref, name), pairs in deepest(ev).items():
        larger = [(v, e["grad"]) for v, e in pairs if e["grad"]["vs_ref_low"] > 1]
        smaller = [(v, e["grad"]) for v, e in pairs if e["grad"]["vs_ref_high"] < 1]
        if bool(larger) != bool(smaller):  # as why_depth: said where every seed of a column agrees, and none opposes
            (v, g), side = (larger or smaller)[0], ("no vanishing gradient, against the textbook" if larger else
                                                    "vanishing, as the textbook says")
            said.append(f"{name}'s first-to-last-layer gradient ratio {ratio(g['vs_ref'])} {ref}'s "
                        f"({title(v['dataset'])}, every seed): {side}")
    return "; ".join(said)


def shallow_conv(ev: Evidence, words: dict) -> list[str]:
    """A shallower network with more parameters than its reference yet really worse (conv1): said once."""
    for v in ev.of("depth"):
        for e in compared(v):
            ref = reference_of(v, e)
            if (ref and depth_of(e) < depth_of(ref) and e["n_params"] > ref["n_params"] and real(e)
                    and verdict(e) == "worse"):
                return [f"{e['name']} has {e['n_params'] / ref['n_params']:.2f}x {ref['name']}'s parameters "
                        f"({e['n_params']:,} against {ref['n_params']:,}) yet is {size(e)} on {column(v)}: "
                        f"{words['conv1']}."]
    return []


def time_cost(ev: Evidence, study: str) -> list[str]:
    """The slowest config per run against its reference in the first column, where it was better nowhere."""
    views = ev.of(study)
    v = views[0] if views else None
    slow = max(compared(v), key=lambda e: e["wall_s"] / reference_of(v, e)["wall_s"], default=None) if v else None
    if slow is None or any(real(e) and verdict(e) == "better" for w in views
                           for e in compared(w) if e["name"] == slow["name"]):
        return []
    ref = reference_of(v, slow)
    return [f"Cost: {slow['name']} took {slow['wall_s'] / ref['wall_s']:.2f}x {ref['name']}'s time per run "
            f"({slow['wall_s']:.1f} s against {ref['wall_s']:.1f} s, {column(v)}) and was better in no column."]


def width_facts(ev: Evidence, ref_name: str, pick) -> str | None:
    """The widest (pick=max) or narrowest (min) config of a family: its parameters and time against its
    reference's, and its verdict in every column."""
    facts = [(v, pick(family_members(v, ref_name), key=lambda m: m["n_params"]), entry(v, ref_name))
             for v in ev.of("width") if family_members(v, ref_name)]
    if not facts:
        return None
    v, e, ref = facts[0]
    verdicts = "; ".join(f"{short_size(m)} on {title(w['dataset'])}" for w, m, _ in facts)
    return (f"{e['name']} has {e['n_params'] / ref['n_params']:.2f}x {ref['name']}'s parameters ({e['n_params']:,}) "
            f"and took {e['wall_s'] / ref['wall_s']:.2f}x its time per run: {verdicts}")


def why_width(ev: Evidence) -> Reasons:
    refs = ordered_references("width", list(dict.fromkeys(r for v in ev.of("width") for r in references(v))))
    short = [f for f in (width_facts(ev, ref, max) for ref in refs[:1]) if f]
    more = [f for ref in refs for pick in (max, min) for f in [width_facts(ev, ref, pick)] if f][1:]
    said = [f"{'. '.join(short)}. Why: {EXPLANATIONS['width']['why']}."] if short else []
    return Reasons(said, said + [f"{f}." for f in more], width_key(ev, refs[:1]))


def width_key(ev: Evidence, refs: list[str]) -> str:
    """The widest config of the first family: its parameters and time per run against its reference's."""
    for ref_name in refs:
        for v in ev.of("width"):
            members = family_members(v, ref_name)
            if members:
                e, ref = max(members, key=lambda m: m["n_params"]), entry(v, ref_name)
                return (f"{e['name']}: {e['n_params'] / ref['n_params']:.2f}x {ref_name}'s parameters, "
                        f"{e['wall_s'] / ref['wall_s']:.2f}x its time per run")
    return ""


def rates_sentence(view: dict) -> str:
    configs = view["configs"]
    rates = ", ".join(f"{e['name']} {e['lr']:g}" for e in sorted(configs, key=lambda e: (e["lr"], e["name"])))
    decay = [f"{e['name']} {e['weight_decay']:g}" for e in configs if e.get("weight_decay")]
    onecycle = {e["schedule"] for e in configs} == {"onecycle"}
    return (f"under the {view['recipe']} recipe each optimizer ran at its own usual rate ({rates})"
            + (", on a one-cycle schedule peaking there" if onecycle else "")
            + (f", weight decay only for {', '.join(decay)}" if decay else ""))


def rate_pairs(ev: Evidence, sweep: dict) -> list[tuple[dict, dict]]:
    """(at its usual rate, at its best rate) per optimizer: the optim study beside the sweep of its dataset and
    recipe, in the sweep's order (best first). The sweep's evidence holds every rate; the best ones are those
    compared, and the reference (adam at its best)."""
    usual = {e["optimizer"]: e for e in (ev.one("optim", sweep["dataset"], sweep["recipe"]) or {"configs": []})["configs"]}
    best = {*references(sweep), *(e["name"] for e in compared(sweep))}
    return [(usual[e["optimizer"]], e) for e in sweep["configs"] if e["name"] in best and e["optimizer"] in usual]


def plain_symbol(e: dict) -> str:
    """The verdict's symbol without the weak-evidence mark: what counts as a change of verdict."""
    return symbol(e).removesuffix(DAGGER)


def verdict_changes(pairs: list[tuple[dict, dict]]) -> list[tuple[dict, dict]]:
    """The optimizers whose verdict against adam differs at their best rates from at their usual ones."""
    return [(u, b) for u, b in pairs if u.get("comparison") and b.get("comparison")
            and plain_symbol(u) != plain_symbol(b)]


def sweep_sentence(ev: Evidence, sweep: dict) -> str:
    """One sweep's answer beside the usual rates': each optimizer's usual and best rate, the verdicts that change and
    what that says of the confound."""
    pairs = rate_pairs(ev, sweep)
    if not pairs:
        return f"Each at its best rate ({column(sweep)}): {cell(sweep)}."
    # a moved rate with what it gained on validation, where it was picked: a gain of a few hundredths is a tie
    rates = ", ".join(f"{b['optimizer']} {u['lr']:g} → {b['lr']:g}"
                      + (f" (+{100 * (b['val_mean'] - u['val_mean']):.2f} pp on validation)" if u["lr"] != b["lr"] else "")
                      for u, b in pairs)
    changes = verdict_changes(pairs)
    said = (f"{len(changes)} of {sum(1 for _, b in pairs if b.get('comparison'))} verdicts against adam "
            f"{verb(len(changes), 'change')}: "
            + ", ".join(f"{b['optimizer']} {plain_symbol(u)} → {plain_symbol(b)} ({signed_pp(u)} → {signed_pp(b)})"
                        for u, b in changes)
            if changes else "no verdict against adam changes")
    rate_made = [b["optimizer"] for u, b in changes if real(u) and category(b) == "small"]  # closed, not unresolved
    optimizer_made = [b["optimizer"] for u, b in pairs if real(u) and real(b) and verdict(u) == verdict(b)]
    why = ([f"{names(rate_made)}'s gap at the usual rate was the rate's"] * bool(rate_made)
           + [f"{names(optimizer_made)} {verb(len(optimizer_made), 'differ')} from adam at the best "
              "rates too: the optimizer's, not the rate's"] * bool(optimizer_made))
    return (f"Each at its best rate on validation ({column(sweep)}; usual rate → best: {rates}), against adam at its "
            f"best: {said}{'; ' + '; '.join(why) if why else ''}.")


def sweep_key(ev: Evidence, sweeps: list[dict]) -> str:
    """The "In short" why of the optimizer question where sweeps ran: per dataset, how many best rates differ from the
    usual ones and which verdicts they change."""
    said = []
    for sweep in sweeps:
        pairs = rate_pairs(ev, sweep)
        changes = verdict_changes(pairs)
        moved = sum(1 for u, b in pairs if u["lr"] != b["lr"])
        said.append(f"{title(sweep['dataset'])} {moved} of {len(pairs)} best rates differ from the usual ones, "
                    f"{plural(len(changes), 'verdict')} {verb(len(changes), 'change')}"
                    + (f" ({', '.join(b['optimizer'] for _, b in changes)})" if changes else ""))
    return f"at each one's best rate ({when_few(sweeps[0])}): {'; '.join(said)}"


def why_optim(ev: Evidence) -> Reasons:
    words = EXPLANATIONS["optim"]
    views = [ev.of("optim", recipe=r)[0] for r in RECIPES if ev.of("optim", recipe=r)]
    if not views:
        return Reasons([], [])
    sweep = ev.of("optim_sweep")
    after = (" ".join(sweep_sentence(ev, v) for v in sweep) if sweep else
             f"No part of the rate sweep is committed yet; {words['sweep']}.")
    short = [f"The rate confound: {rates_sentence(views[0])}, {words['confound']}. {after}"]
    lrs = sorted({e["lr"] for e in views[0]["configs"]})
    key = (sweep_key(ev, sweep) if sweep else
           f"each at its own usual rate, {lrs[0]:g} to {lrs[-1]:g}: optimizer and rate confounded")
    return Reasons(short, short + [f"{rates_sentence(v)[0].upper()}{rates_sentence(v)[1:]}." for v in views[1:]], key)


def why_batch_size(ev: Evidence) -> Reasons:
    words = EXPLANATIONS["batch_size"]
    views = ev.of("batch_size")
    if not views:
        return Reasons([], [])
    v = views[0]
    configs = sorted(v["configs"], key=lambda e: e["batch_size"])
    steps = ", ".join(f"{e['name']} {e['steps']:,}" for e in configs)
    rates = sorted({e["lr"] for e in configs})
    rate = f"all at lr {rates[0]:g}" if len(rates) == 1 else "at rates " + ", ".join(f"{r:g}" for r in rates)
    walls = [e["wall_s"] for e in configs]
    said = [f"Why: optimizer steps {when(v)} (epochs x ceil({v['n_train']:,} / batch)): {steps}, {rate}; "
            f"{words['why']}; {words['remedy']}."]
    full = next((w for w in views if w["recipe"] == "full"), None)  # the converged column: fewer steps still?
    if full:
        ordered = sorted(full["configs"], key=lambda e: e["batch_size"])
        said.append(f"Trained to convergence ({column(full)}) the steps were "
                    + ", ".join(f"{e['name']} {e['steps']:,}" for e in ordered)
                    + f", at lr {ordered[0]['lr']:g}, schedule {ordered[0]['schedule']}: as many epochs, as few steps.")
    return Reasons(said, said + [f"Time per run: {min(walls):.1f} to {max(walls):.1f} s ({column(v)})."],
                   f"optimizer steps {when(v)}: {steps}, {rate}")


def why_regularization(ev: Evidence) -> Reasons:
    words, views = EXPLANATIONS["regularization"], ev.of("regularization")
    if not views:
        return Reasons([], [])
    gaps = [(v, e) for v in views for e in v["configs"] if e.get("train_val_gap") is not None and not e["reference"]]
    measured = ("Train minus val accuracy at the last epoch, how much the reference overfits: "
                + "; ".join(f"{e['name']} {100 * e['train_val_gap']:+.2f} pp on {column(v)}" for v, e in gaps) + "."
                if gaps else "These parts do not record the training accuracy, so how much Net overfits is not "
                             "measured here (plot.py records it when it makes a part again).")
    best = [f"the best study, another network ({e['n_params']:,} parameters) trained {e['epochs']} epochs with "
            f"augmentation `{e['augment']}` and label smoothing {e['label_smoothing']:g}, reached {acc(e)} on "
            f"{title(b['dataset'])}" for b in ev.of("best") for e in b["configs"][:1]]
    cost = []
    for v in views:
        ref = next((e for e in v["configs"] if not e["reference"]), None)
        slow = max(compared(v), key=lambda e: e["wall_s"], default=None)
        if ref and slow:
            cost.append(f"{slow['name']} took {slow['wall_s'] / ref['wall_s']:.2f}x {ref['name']}'s time per run on "
                        f"{column(v)}")
    said = [f"Why: {words['why']}. {measured}"]
    gap_words = [f"{e['name']} {100 * e['train_val_gap']:+.2f} pp ({title(v['dataset'])})" for v, e in gaps]
    key = ("train minus val accuracy: " + "; ".join(gap_words) if gaps else
           "how much Net overfits is not recorded in these parts")
    return Reasons(said, said + ([f"For comparison (not paired): {'; '.join(best)}."] if best else [])
                   + ([f"Cost: {'; '.join(cost)}."] if cost else []), key)


def why_precision(ev: Evidence) -> Reasons:
    columns, speeds = [], []
    for v in ev.of("precision"):
        marks: dict[str, list[str]] = {}
        for e in compared(v):
            marks.setdefault(symbol(e), []).append(e["name"])
        speeds += [e["wall_s"] / reference_of(v, e)["wall_s"] for e in compared(v)]
        columns.append(f"{column(v)}: " + ", ".join(f"{mark} {names(m)}" for mark, m in marks.items()))
    if not columns:
        return Reasons([], [])
    said = [f"Verdicts: {'; '.join(columns)}. bf16 took {min(speeds):.2f}x to {max(speeds):.2f}x its fp32 twin's "
            f"time per run. Why: {EXPLANATIONS['precision']['why']}."]
    return Reasons(said, said, f"bf16 took {min(speeds):.2f}x to {max(speeds):.2f}x its fp32 twin's time per run")


def why_base(ev: Evidence) -> Reasons:
    said = [f"Why: {EXPLANATIONS['base']['why']}."] if ev.of("base") else []
    return Reasons(said, said)


WHY = {"activation": why_activation, "depth": why_depth, "width": why_width, "optim": why_optim,
       "batch_size": why_batch_size, "regularization": why_regularization, "precision": why_precision,
       "base": why_base}


# ---- a study's finding ---------------------------------------------------------------------------------

@dataclass
class Finding:
    study: str
    title: str
    short: list[str]  # README's paragraph
    long: list[str]  # FINDINGS.md's and the top of REPORT.md's section
    key: str = ""  # the "In short" table's why (Reasons.key)


def finding(ev: Evidence, study: str) -> Finding | None:
    """A study's finding over every view the evidence holds of it; None where no view has comparisons."""
    if not any(compared(v) for v in ev.of(study)):
        return None
    top = largest(ev, study)
    skip = top and top["name"]
    reasons = WHY.get(study, lambda _: Reasons([], []))(ev)
    better = direction_sentence(ev, study, "better", skip) or nothing_better(ev, study)
    short = [not_learned_sentence(ev, study), untested_comparisons(ev, study), largest_sentence(ev, study, True),
             direction_sentence(ev, study, "worse", skip), better,
             untested_sentence(ev, study), *reasons.short,
             disagreement_sentence(ev, study)]
    long = [not_learned_sentence(ev, study), untested_comparisons(ev, study), largest_sentence(ev, study, False),
            direction_sentence(ev, study, "worse", skip), better,
            untested_sentence(ev, study), *reasons.long, disagreement_sentence(ev, study)]
    return Finding(study, TITLES.get(study, study), [s for s in short if s], [s for s in long if s], reasons.key)


# ---- "In short": a row per question, its best and worst config per dataset and the measured why ---------------

def signed(e: dict) -> str:
    """A config's difference from its reference with its verdict's symbol: '-1.43 pp ▼'."""
    return f"{100 * e['comparison']['mean_diff']:+.2f} pp {symbol(e)}"


# The "In short" table's fixed words, in English and on the Chinese page; numbers, names and symbols are shared.
SHORT_WORDS = {
    "en": {"t-test only": ", t-test only", "sign only": ", sign only", "against": " against ", "converged": "converged",
           "quick": "quick recipe", "best": "best: {}", "worst": "worst: {}",
           "nothing beats": "nothing beats {} by more than the margin", "and": " and ", "sep": "; ",
           "none": "no difference beyond the margin: every config within it or inconclusive", "not run": "not run",
           "question": "question", "why": "why, as the runs measured it"},  # epochs: plural()
    "zh": {"t-test only": ",仅 t 检验", "sign only": ",仅方向", "against": " 对照 ", "converged": "收敛后",
           "quick": "快速配方", "epochs": "{} 个 epoch", "best": "最好:{}", "worst": "最差:{}",
           "nothing beats": "没有配置超出容差地胜过 {}", "and": "、", "sep": ";",
           "none": "没有超出容差的差异:每个配置都在容差之内或不确定", "not run": "未运行", "question": "问题", "why": ""},
}


def sign_only(e: dict) -> bool:
    """A better/worse verdict whose interval reaches within verdicts.SIGN_ONLY of 0: it claims the direction only."""
    c = e["comparison"]
    return (verdict(e) in ("better", "worse") and c["sim_low"] is not None
            and min(abs(c["sim_low"]), abs(c["sim_high"])) < SIGN_ONLY)


def caveats(e: dict, lang: str = "en") -> str:
    """', sign only' and ', t-test only' after a better/worse verdict whose interval reaches 0 (sign_only) or whose
    seeds are too few for the sign-flip test to confirm."""
    unsure = verdict(e) in ("better", "worse") and unconfirmable(as_comparison(e))
    return SHORT_WORDS[lang]["sign only"] * sign_only(e) + SHORT_WORDS[lang]["t-test only"] * unsure


def when_few(view: dict, lang: str = "en") -> str:
    """'2 epochs' (quick recipe) or 'converged' (full): when() in the few words a table cell has room for, in the
    table's language."""
    words = SHORT_WORDS[lang]
    if view["recipe"] == "full":
        return words["converged"]
    epochs = sorted({e["epochs"] for e in view["configs"]})
    if len(epochs) > 1:
        return words["quick"]
    return plural(epochs[0], "epoch") if lang == "en" else words["epochs"].format(epochs[0])


def path_of(ev: Evidence, study: str, name: str, dataset: str, lang: str = "en") -> str:
    """A config's difference from its reference in each column of one dataset, quick before converged:
    'sigmoid -1.43 pp ▼ (2 epochs), -0.26 pp ▼ (converged)'."""
    views = [v for v in ev.of(study, dataset=dataset) if (entry(v, name) or {}).get("comparison")]
    steps = [f"{signed(e)} ({when_few(v, lang)}{caveats(e, lang)})" for v in views for e in [entry(v, name)]]
    several = len(references(views[0])) > 1  # the reference named where a study has more than one
    against = SHORT_WORDS[lang]["against"] + entry(views[0], name)["reference"] if several else ""
    return f"{name}{against} {', '.join(steps)}"


def extreme(ev: Evidence, study: str, dataset: str, way: str) -> dict | None:
    """The config with the largest real difference the `way` way (better or worse) in any column of the dataset."""
    found = [e for v in ev.of(study, dataset=dataset) for e in compared(v) if real(e) and verdict(e) == way]
    return max(found, key=lambda e: abs(e["comparison"]["mean_diff"]), default=None)


def answer_cell(ev: Evidence, study: str, dataset: str, lang: str = "en") -> str:
    """One dataset's answer to a question: the most-better config (or the reference nothing beats) and the
    most-worse one, each with its difference in every column, so a gap that closes when trained shows."""
    words = SHORT_WORDS[lang]
    views = [v for v in ev.of(study, dataset=dataset) if compared(v)]
    if not views:
        return words["not run"]
    best, worst = extreme(ev, study, dataset, "better"), extreme(ev, study, dataset, "worse")
    if best is None and worst is None:
        return words["none"]
    final = views[-1]  # column order: the converged column last
    refs = [f"{r} ({pc(entry(final, r)['test_mean'])}%, {when_few(final, lang)})" for r in references(final)]
    said = [words["best"].format(path_of(ev, study, best["name"], dataset, lang)) if best else
            words["nothing beats"].format(words["and"].join(refs))]
    if worst:
        said.append(words["worst"].format(path_of(ev, study, worst["name"], dataset, lang)))
    return words["sep"].join(said)


def answers(ev: Evidence, link: str = "", lang: str = "en") -> list[str]:
    """The "In short" table: a row per question (linking `link`#its section), a column per dataset, and the measured
    why (English only: the Chinese page links FINDINGS.md for it)."""
    words = SHORT_WORDS[lang]
    datasets = [d for d in DATASETS if any(ev.of(study, dataset=d) for study in QUESTIONS)]
    why = [words["why"]] if words["why"] else []
    lines = ["| " + " | ".join([words["question"], *(title(d) for d in datasets), *why]) + " |",
             "|---|" + "---|" * (len(datasets) + len(why))]
    for study in QUESTIONS:
        f = finding(ev, study)
        if f:
            name = TITLES_ZH[study] if lang == "zh" else f.title
            cells = [answer_cell(ev, study, d, lang) for d in datasets] + ([f.key or "-"] if why else [])
            lines.append(f"| [{name}]({link}#{anchor(f.title)}) | {' | '.join(cells)} |")
    return lines


IN_SHORT = {"en": "In short: each question's best and worst config per dataset, as its test accuracy's difference from "
                  "its study's reference (mean over seeds, in pp) with its verdict's symbol, after the quick recipe "
                  "(2 epochs) and trained to convergence where both ran: a gap that closes when trained shows as ≈ "
                  "or ? after it. The why: the number the runs measured that explains the answer; each question's "
                  "paragraph below says more.",
            "zh": "简而言之:每个问题在每个数据集上最好和最差的配置,以其测试准确率与该研究参照配置之差(各种子的平均,单位 pp)"
                  "加上结论符号表示,先是快速配方(2 个 epoch),两种配方都运行过的再给出训练到收敛后的结果:训练后消失的差距"
                  "在其后显示为 ≈ 或 ?。原因(由运行测得的数字)见英文的 FINDINGS.md。"}


def found_lines(ev: Evidence, study: str) -> list[str]:
    """A study's finding as REPORT.md opens its section with it (nothing where there is none)."""
    f = finding(ev, study)
    return [" ".join(f.short), ""] if f else []


# ---- README's "What we found" and FINDINGS.md ----------------------------------------------------------

FINDINGS_LINK = "docs/results/FINDINGS.md"


def readme_block(ev: Evidence, figures: list[str]) -> str:
    """README's "What we found": the overview figures, then a paragraph per question."""
    lines = [" ".join(f"![{Path(name).stem}]({name})" for name in figures) + " " * bool(figures)
             + "Accuracies are on the 10,000 test images, mean ± sd over seeds; pp, ▲ ▼ △ ▽ ≈ ? and † as the legend "
               "under the table below says.", "", IN_SHORT["en"], "", *answers(ev, FINDINGS_LINK), ""]
    for study in QUESTIONS:
        f = finding(ev, study)
        if f:
            lines.append(f"- **{f.title}** ({EXPLANATIONS[study]['varies']}). {' '.join(f.short)} "
                         f"[More]({FINDINGS_LINK}#{anchor(f.title)})")
    return "\n".join(lines) + "\n"


def config_table(ev: Evidence, study: str) -> list[str]:
    """Every config's test accuracy (mean ± sd) per column, with its verdict symbol."""
    views = ev.of(study)
    order = list(dict.fromkeys(e["name"] for v in views for e in v["configs"]))
    lines = ["| config | " + " | ".join(f"{column(v)} ({seeds_words(v)})" for v in views) + " |",
             "|---|" + "---:|" * len(views)]
    for name in order:
        cells = []
        for v in views:
            e = entry(v, name)
            cells.append("not run" if e is None else f"{acc(e)} {symbol(e)}" if e.get("comparison") else
                         f"{acc(e)} (reference)" if name in references(v) else acc(e))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def evidence_table(ev: Evidence, study: str) -> list[str]:
    """Per config of the first column: parameters, time per run, steps, rate, gradient ratio (where logged),
    train-val gap ('not recorded' where the part predates it)."""
    views = ev.of(study)
    if not views:
        return []
    v = views[0]
    grads = any((e.get("grad") or {}).get("vs_ref") is not None for e in v["configs"])
    head = ["config", "parameters", "time per run", "optimizer steps", "optimizer, lr",
            *["first/last-layer gradient ratio over the reference's"] * grads, "train - val accuracy"]
    lines = [f"Measured beside the accuracy ({column(v)}):", "", f"| {' | '.join(head)} |",
             "|---|" + "---:|" * 3 + "---|" + "---:|" * (1 + grads)]
    for e in v["configs"]:
        grad, gap = (e.get("grad") or {}).get("vs_ref"), e.get("train_val_gap")
        cells = [e["name"], f"{e['n_params']:,}", f"{e['wall_s']:.1f} s", f"{e['steps']:,}",
                 f"{e['optimizer']}, {e['lr']:g}",
                 *[ratio(grad) if grad is not None else "-"] * grads,
                 f"{100 * gap:+.2f} pp" if gap is not None else "not recorded"]
        lines.append(f"| {' | '.join(cells)} |")
    return lines


def convergence_lines(ev: Evidence, study: str) -> list[str]:
    lines = []
    for dataset in ev.datasets(study):
        quick, full = ev.one(study, dataset, "quick"), ev.one(study, dataset, "full")
        for e in compared(quick) if quick and full else []:
            phrase = convergence_words(e, entry(full, e["name"]))
            if phrase:
                lines.append(f"- {e['name']} on {title(dataset)}: {phrase}.")
    return lines


def links(ev: Evidence, study: str) -> str:
    parts = [f"[{column(v)}]({v['part']}/REPORT.md#{anchor(view_title(v))})" for v in ev.of(study) if v.get("part")]
    return f"Each column's report, with its figures and every p-value: {', '.join(parts)}." if parts else ""


def view_title(view: dict) -> str:
    return View(view["study"], view["dataset"], view["recipe"]).title


def page(ev: Evidence) -> str:
    """docs/results/FINDINGS.md: what each question's runs found, the longer version of README's findings."""
    lines = ["# What the runs found", "",
             "Generated by `python docs/results/table.py --write` from the evidence of every part of docs/results "
             "(each part's CHOICES.json); `python docs/results/check.py` fails when this page differs from it. "
             "Accuracies are on the 10,000 test images, mean ± standard deviation over seeds; each config is "
             "compared with its study's reference, paired by seed.", "", "How to read the tables:", "",
             *(f"- {line}" for line in legend()), "", IN_SHORT["en"], "", *answers(ev), ""]
    for study in (*QUESTIONS, "base"):
        f = finding(ev, study)
        if not f:
            continue
        lines += [f"## {f.title}", "", f"The study: {EXPLANATIONS[study]['varies']}.", "", *config_table(ev, study),
                  "", *(f"- {sentence}" for sentence in f.long), ""]
        journeys = convergence_lines(ev, study)
        if journeys:
            lines += ["Quick recipe against trained to convergence:", "", *journeys, ""]
        lines += [*evidence_table(ev, study), "", links(ev, study), ""]
    return "\n".join(lines).rstrip() + "\n"


# ---- README.zh-CN.md: the same numbers, in Chinese -------------------------------------------------------------
# The Chinese page's fixed words beside the English they stand for. README's table reaches the Chinese page through
# them (zh_table), so both pages show the same cells: config names, accuracies and symbols are shared.
ZH = {"choice (against)": "选择(对照)", "quick": "快速配方", "full": "完整配方", "not run": "未运行",
      "full recipe only": "仅完整配方", "quick recipe only": "仅快速配方",
      "against": "对照", "seeds": "个种子", "t-test only": "仅 t 检验", "or": "或",
      "the seed project's networks": "原项目的五个网络", "activation function": "激活函数",
      "number of layers": "层数", "neurons per layer": "每层神经元数", "optimizer": "优化器",
      "optimizer, each at its best rate": "优化器(各用其最佳学习率)", "batch size": "批大小",
      "regularization and augmentation": "正则化与数据增强",
      "better": "更好", "worse": "更差", "none": "无",
      "parts": "每列的运行、图和 p 值,各为 plot.py 生成的一个部分:"}
TITLES_ZH = {"activation": "激活函数", "depth": "层数", "width": "每层神经元数", "optim": "优化器",
             "batch_size": "批大小", "regularization": "正则化与数据增强", "precision": "精度(bf16 对 fp32)"}


def column_zh(view: dict) -> str:
    """'MNIST,快速配方': a view's column on the Chinese page."""
    return f"{title(view['dataset'])},{ZH.get(view['recipe'], view['recipe'])}"


def zh_table(lines: list[str]) -> list[str]:
    """README's table (report.render_choices' lines) on the Chinese page: its header, row labels and notes in the
    words of ZH, its cells' numbers and symbols as they are, its legend in Chinese (legend("zh"))."""
    import re

    out = []
    for line in lines:
        if line.startswith("| choice (against) |"):
            heads = [re.sub(r"^(.+), (\w+) recipe$", lambda m: f"{m.group(1)},{ZH.get(m.group(2), m.group(2))}", h)
                     for h in line.strip("| ").split(" | ")[1:]]
            line = f"| {ZH['choice (against)']} | " + " | ".join(heads) + " |"
        elif line.startswith("| "):
            label, *cells = line.strip("| ").split(" | ")
            m = re.fullmatch(r"(.+) \(`(\w+)`, against (.+)\)", label)
            label = f"{ZH[m.group(1)]}(`{m.group(2)}`,{ZH['against']} {m.group(3)})" if m else label
            cells = [ZH[c] if c in ZH else re.sub(  # a whole cell in ZH: studies.unrun_words' "not run" and kin
                r" \(t-test only at ([\d ]+(?: or [\d ]+)*) seeds\)",
                lambda n: f"({ZH['t-test only']},{n.group(1).replace(' or ', ZH['or'])} {ZH['seeds']})", c)
                for c in cells]
            line = f"| {label} | " + " | ".join(cells) + " |"
        elif line.startswith("- "):
            continue  # the English legend: the Chinese one follows
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return out + ["", *(f"- {line}" for line in legend("zh"))]


def finding_zh(ev: Evidence, study: str) -> str | None:
    """A question's finding on the Chinese page, from the same evidence as the English one: the largest real effect
    with both accuracies, and per column which configs were really better and worse than their reference."""
    views = ev.of(study)
    if not views or not any(compared(v) for v in views):
        return None
    top = largest(ev, study)
    if top is None:
        lead = "没有哪个配置被证明与其参照的差异超出容差。"
    else:
        said = []
        for v in views:
            e = entry(v, top["name"])
            if real(e):
                ref = reference_of(v, e)
                note = ",仅 t 检验" if mark(e) == ", t-test only" else mark(e)
                said.append(f"在{column_zh(v)}上 {top['name']} {acc(e)},参照 {ref['name']} {acc(ref)}"
                            f"({ZH[verdict(e)]} {gap_pp(e)}{note})")
        lead = f"差异最大的是 {top['name']}:{';'.join(said)}。"
    columns = []
    for v in views:
        ways = {way: [e["name"] for e in compared(v) if real(e) and verdict(e) == way] for way in ("better", "worse")}
        columns.append(f"{column_zh(v)}:{ZH['better']} {'、'.join(ways['better']) or ZH['none']},"
                       f"{ZH['worse']} {'、'.join(ways['worse']) or ZH['none']}")
    return f"{lead}真正的差异(超出容差)——{';'.join(columns)}。"


def readme_block_zh(ev: Evidence, figures: list[str]) -> str:
    """README.zh-CN.md's "我们的发现": the overview figures, then a paragraph per question (finding_zh), each linking
    the English FINDINGS.md for the reasons, which are in English only."""
    lines = [" ".join(f"![{Path(name).stem}]({name})" for name in figures) + " " * bool(figures)
             + "准确率均为 10,000 张测试图像上的结果,各种子的平均 ± 标准差;pp、▲ ▼ △ ▽ ≈ ? 和 † 的含义见下方表格的图例。", "",
             IN_SHORT["zh"], "", *answers(ev, FINDINGS_LINK, "zh"), ""]
    for study in QUESTIONS:
        words = finding_zh(ev, study)
        if words:
            lines.append(f"- **{TITLES_ZH[study]}**:{words} [原因与细节(英文)]({FINDINGS_LINK}#{anchor(TITLES[study])})")
    return "\n".join(lines) + "\n"
