"""Logs -> runs, per-config rows, paired comparisons and REPORT.md's words; every number computed from the logs."""
from __future__ import annotations

import re
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import stats
from dataset_facts import Dataset, get_dataset
from recipes import DEFAULT_DATASET
from studies import (LEGACY_MANIFEST, REFERENCES, best_rates, default_recipe, manifest_name, margin_for, reference_map,
                     traits)
from utils import LazyModule, atomic_path, load_predictions, read_json, valid_result

np, pd = LazyModule("numpy"), LazyModule("pandas")  # imported when first used: --help needs neither

STORE, VIEW_FILE = "runs", "view.json"  # runstore's: logs/runs/ holds the runs, a study's view names them (docs/on-disk.md)
CSV_COLUMNS = ["study", "config", "name", "seed", "tag", "step", "epoch", "value"]
COMPARISON_COLUMNS = ["study", "config", "reference", "seeds", "mean_diff", "ci_low", "ci_high", "sim_low", "sim_high",
                      "p_paired", "p_holm", "margin", "p_equiv_adj", "mde", "mcnemar_every_pair", "p_mcnemar_max",
                      "verdict", "within_margin", "p_signflip", "p_signflip_holm", "confirmed", "seeds_better",
                      "seeds_worse", "worst_seed_diff", "new_low", "new_high", "test_images", "image_ss"]
# <view>_seeds.csv: every finished seed of every config, and against its reference (where it has one) McNemar's
# discordant counts: with the comparisons CSV's image_ss, every number of the comparisons CSV can be recomputed
SEED_COLUMNS = ["study", "dataset", "recipe", "config", "reference", "seed", "test_acc", "only_config",
                "only_reference"]
PROG = "plot.py"


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


# ---- loading -------------------------------------------------------------------------------------

def run_dirs(study_dir: Path) -> list[Path]:
    return sorted(p for p in study_dir.glob("*/seed*") if p.is_dir() and re.fullmatch(r"seed\d+", p.name))


def find_studies(logdir: Path) -> list[str]:
    """Directories of logdir holding at least one <config>/seed<k>/ run directory."""
    if not logdir.is_dir():
        return []
    return sorted(d.name for d in logdir.iterdir() if d.is_dir() and d.name != STORE and run_dirs(d))


@dataclass(frozen=True)
class View:
    """A study on one dataset under one recipe: what one invocation of run.py or compare_optim.py compares."""
    study: str
    dataset: str
    recipe: str

    @property
    def name(self) -> str:
        """Its files' stem: the study's name, with the dataset and recipe where they are not the study's defaults."""
        extra = [self.dataset] * (self.dataset != DEFAULT_DATASET) + [self.recipe] * (self.recipe != default_recipe(self.study))
        return "-".join([self.study, *extra])

    @property
    def title(self) -> str:
        """The view in words, for headings and figure titles: the dataset and the recipe always named."""
        return f"{self.study} on {get_dataset(self.dataset).title}, {self.recipe_words}"

    @property
    def recipe_words(self) -> str:
        """'recipe quick', or for a study whose configs set their own recipe (speed), 'its own recipe'."""
        if not traits(self.study).own_recipe:
            return f"recipe {self.recipe}"
        return "its own recipe" + (f" (--recipe {self.recipe})" if self.recipe != default_recipe(self.study) else "")


def run_view(study: str, run: dict) -> View:
    config = run.get("config", {})
    return View(study, config.get("dataset", DEFAULT_DATASET), config.get("recipe", "quick"))


def read_manifest(path: Path) -> dict | None:
    """One of run.py's manifests, or None (a damaged file)."""
    try:
        manifest = read_json(path)
        return manifest if isinstance(manifest.get("configs"), dict) else None
    except (OSError, ValueError, AttributeError):
        return None


def read_manifests(study_dir: Path, runs: list[dict]) -> dict[View, dict]:
    """{view: the latest invocation's manifest} of a study; an older study.json counts for the view of its runs."""
    study, found = study_dir.name, {}
    legacy = read_manifest(study_dir / LEGACY_MANIFEST)
    if legacy is not None:
        listed = set(legacy["configs"].values())
        mine = [r for r in runs if r["config_dir"] in listed]
        found[run_view(study, mine[0]) if mine else View(study, DEFAULT_DATASET, default_recipe(study))] = legacy
    for path in sorted(study_dir.glob(manifest_name("*", "*"))):
        manifest = read_manifest(path)
        if manifest is not None and {"dataset", "recipe"} <= set(manifest):
            found[View(study, manifest["dataset"], manifest["recipe"])] = manifest  # the newer format wins
    return found


def find_views(logdir: Path, all_runs: bool = False) -> dict[View, dict]:
    """{view: {"every", "runs", "partial", "manifest"}} for every study under logdir, in study order: every
    finished run of the view's dataset and recipe, the runs it compares, its partial runs, its manifest.

    A view holds the configs of its latest invocation (its manifest), or every config of that dataset and
    recipe with `all_runs` or where the study has no manifest (older logs).
    """
    views = {}
    for study in find_studies(logdir):
        every, partial = load_runs(logdir / study)
        manifests = read_manifests(logdir / study, every)
        keys = list(manifests)
        if all_runs or not manifests:
            keys += sorted({run_view(study, r) for r in every} - set(keys), key=lambda v: (v.dataset, v.recipe))
        # a partial run without a readable config.json is counted once, with the study's first view
        partial_of = {p: partial_view(study, p) or keys[0] for p in partial} if keys else {}
        for view in keys:
            manifest = manifests.get(view)
            wanted = None if all_runs or manifest is None else set(manifest["configs"].values())
            of_view = [r for r in every if run_view(study, r) == view]
            runs = [r for r in of_view if wanted is None or r["config_dir"] in wanted]
            mine = [p for p in partial if (p.parent.name in wanted if wanted is not None else partial_of[p] == view)]
            views[view] = {"every": of_view, "runs": runs, "partial": mine, "manifest": manifest,
                           "latest_only": wanted is not None}
    return views


def partial_view(study: str, run_dir: Path) -> View | None:
    """The view of an unfinished run, from its config.json (written first); None when that is unreadable."""
    try:
        return run_view(study, read_json(run_dir / "config.json"))
    except (OSError, ValueError, AttributeError):
        return None


def load_runs(study_dir: Path) -> tuple[list[dict], list[Path]]:
    """(every finished result of the study, each with `run_dir` and `config_dir`; partial runs).

    A damaged result.json counts as partial: it is never trusted.
    """
    runs, partial = [], []
    for d in run_dirs(study_dir):
        try:
            r = read_json(d / "result.json")
        except (OSError, ValueError):  # absent or half-written: the run did not finish
            r = None
        if valid_result(r):
            names = view_names(d, r)
            runs.append({**r, **names, "config": {**r["config"], **names}, "run_dir": d, "config_dir": d.parent.name})
        else:
            partial.append(d)
    return runs, partial


def view_names(run_dir: Path, result: dict) -> dict:
    """The study and config name a view shows its run under (the stored result names whichever study trained it)."""
    try:
        view = read_json(run_dir / VIEW_FILE)
        return {"study": str(view["study"]), "name": str(view["name"])}
    except (OSError, ValueError, KeyError, TypeError):  # a run of the older layout: its own result says
        return {"study": result.get("study"), "name": result["name"]}


def label(runs: list[dict]) -> list[dict]:
    """Each run's `label`: its config name; where several configs of that name are shown together, its
    directory, with the code digest that trained it where those differ (older code, under --all-runs)."""
    dirs: dict[str, set] = {}
    codes: dict[str, set] = {}
    for r in runs:
        dirs.setdefault(r["name"], set()).add(r["config_dir"])
        codes.setdefault(r["name"], set()).add(code_name(r))

    def of(r: dict) -> str:
        if len(dirs[r["name"]]) == 1:
            return r["name"]
        if len(codes[r["name"]]) > 1:
            return f"{r['config_dir']} (code {code_name(r)})"
        return r["config_dir"]
    return [{**r, "label": of(r)} for r in runs]


def code_name(run: dict) -> str:
    """The first 8 hex digits of the numeric code that trained the run, as a whole (`code_digest`; 'unrecorded' for
    runs older than digests). Its `run_digest`, its config's share of that code, names the run in the store."""
    return (run.get("code_digest") or "unrecorded")[:8]


def read_scalars(run_dir: Path) -> pd.DataFrame:
    """Every scalar of one run's event files as (tag, step, value) rows; none, with a warning, if unreadable."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    try:
        ea = EventAccumulator(str(run_dir), size_guidance={"scalars": 0}).Reload()  # 0: keep every event
        rows = [(tag, e.step, e.value) for tag in ea.Tags()["scalars"] for e in ea.Scalars(tag)]
    except Exception as e:  # a damaged event file: the rest of the report still stands
        warn(f"{run_dir}: unreadable event file, its curves are left out ({type(e).__name__})")
        rows = []
    else:
        if not rows:  # TensorBoard reads a garbled file as empty, without a word
            warn(f"{run_dir}: no scalars in its event file (missing or damaged), its curves are left out")
    frame = pd.DataFrame(rows, columns=["tag", "step", "value"])
    return frame.astype({"tag": str, "step": "int64", "value": "float64"})


def epochs_of(run: dict, frame: pd.DataFrame) -> pd.Series:
    """x in epochs for a run's scalars: every tag is logged against the step (older logs: per-epoch tags at the epoch)."""
    if run.get("steps_per_epoch"):
        return frame["step"] / run["steps_per_epoch"]
    n_steps = (frame["tag"] == "train/loss").sum()
    per_epoch = n_steps / run["epochs"] if run["epochs"] else 1
    return frame["step"].where(frame["tag"] != "train/loss", frame["step"] / per_epoch).astype(float)


def study_scalars(study: str, runs: list[dict]) -> pd.DataFrame:
    """The tidy table of a study: one row per (run, tag, step); `name` is each run's label."""
    frames = []
    for r in runs:
        frame = read_scalars(r["run_dir"])
        frames.append(frame.assign(study=study, config=r["config_dir"], name=r["label"], seed=r["seed"],
                                   epoch=epochs_of(r, frame).astype("float64")))
    if not frames:
        return pd.DataFrame(columns=CSV_COLUMNS)
    return pd.concat(frames, ignore_index=True)[CSV_COLUMNS]


# ---- rows ----------------------------------------------------------------------------------------

def natural_key(name: str) -> list:
    """conv_w8 before conv_w16, adam_lr0.000316 before adam_lr0.001: numbers compare as numbers."""
    parts = re.split(r"(\d+(?:\.\d+)?(?:e-?\d+)?)", name)
    return [(0, float(p), "") if i % 2 else (1, 0.0, p) for i, p in enumerate(parts)]


def run_dataset(run: dict) -> Dataset:
    """The registry entry of the dataset a run trained on (runs from before datasets had names: the default)."""
    return get_dataset(run.get("config", {}).get("dataset", DEFAULT_DATASET))


def study_dataset(runs: list[dict]) -> Dataset:
    """The dataset of a study's runs: one invocation's configs share it (the first run's, else the default)."""
    return run_dataset(runs[0]) if runs else get_dataset(DEFAULT_DATASET)


def val_curve(run: dict) -> list[dict]:
    """A run's validation points ({"epoch", "val_acc", ...}): its val curve, or for older runs one point an epoch."""
    return run.get("val_curve") or [{"epoch": h["epoch"], "val_acc": h["val_acc"]} for h in run["history"]]


CHANCE_MARGIN = 0.05  # a finished run whose test accuracy is within this of chance (1 / classes) did not learn


def did_not_learn(run: dict) -> bool:
    """A finished run whose test accuracy is within CHANCE_MARGIN of guessing, whatever its loss did: apart from a
    diverged run (no accuracy at all), which never counts here."""
    if run.get("status") != "ok" or run.get("test_acc") is None:
        return False
    return run["test_acc"] <= 1 / run_dataset(run).n_classes + CHANCE_MARGIN


def accuracy_summary(runs: list[dict]) -> dict:
    """Test accuracy over a config's finished runs: {"acc", "mean", "std" (None for one seed), "best_val"}."""
    acc = [r["test_acc"] for r in runs]
    return {"acc": acc, "mean": statistics.mean(acc), "std": statistics.stdev(acc) if len(acc) > 1 else None,
            "best_val": statistics.mean(r["best_val_acc"] for r in runs)}


def epochs_to_target(run: dict) -> float | None:
    """The first evaluation, in epochs, whose val accuracy reaches its dataset's target."""
    return next((p["epoch"] for p in val_curve(run) if p["val_acc"] >= run_dataset(run).target_val_acc), None)


def config_rows(runs: list[dict]) -> list[dict]:
    """Per config with a non-diverged finished run: its numbers over seeds; best mean test accuracy first."""
    by_label: dict[str, list[dict]] = {}
    for r in sorted(runs, key=lambda r: (natural_key(r["label"]), r["seed"])):
        by_label.setdefault(r["label"], []).append(r)
    rows = []
    for label, group in by_label.items():
        ok = [r for r in group if r["status"] == "ok"]
        if not ok:
            continue
        rows.append({"name": label, "runs": ok, "config": ok[0]["config"], "n_params": ok[0]["n_params"],
                     **accuracy_summary(ok), "to_target": [epochs_to_target(r) for r in ok],
                     "wall": statistics.mean(r["wall_time_s"] for r in ok)})
    return sorted(rows, key=lambda row: -row["mean"])  # stable: ties keep the natural order


def focus_rows(study: str, rows: list[dict], runs: list[dict]) -> list[dict]:
    """The configs a study's figures and tests compare: in a rate sweep, each optimizer at its best rate on val."""
    if not traits(study).best_rates:
        return rows
    best = {(b["optimizer"], b["lr"]) for b in best_rates(runs)}
    return [row for row in rows if (row["config"]["optimizer"], row["config"]["lr"]) in best]


def best_run(rows: list[dict]) -> dict | None:
    """The finished run with the highest best val accuracy (chosen on val, not on test)."""
    runs = [r for row in rows for r in row["runs"]]
    return max(runs, key=lambda r: (r["best_val_acc"], r["test_acc"]), default=None)


# ---- comparisons ---------------------------------------------------------------------------------

def references(study: str, rows: list[dict], manifest: dict | None) -> dict[str, str]:
    """{config label: its reference's label} among the rows: run.py's record, else the study's built-in choice.

    Where several configs share the reference's name (--all-runs), the one of the latest invocation is it.
    """
    if traits(study).best_rates:  # rows hold each optimizer at its best rate: the reference is an optimizer
        ref = next((row["name"] for row in rows if row["config"]["optimizer"] == REFERENCES[study][0]), None)
        return {row["name"]: ref for row in rows if ref and row["name"] != ref}
    name_of = {row["name"]: row["runs"][0]["name"] for row in rows}
    models = {name_of[row["name"]]: row["config"]["model"] for row in rows}
    pairs = (manifest or {}).get("references") or reference_map(study, models)
    latest = set((manifest or {}).get("configs", {}).values())
    out = {}
    for row in rows:
        ref_name = pairs.get(name_of[row["name"]])
        candidates = [r["name"] for r in rows if name_of[r["name"]] == ref_name]
        ref = next((c for c in candidates if rows_dir(rows, c) in latest), candidates[0] if candidates else None)
        if ref and ref != row["name"]:
            out[row["name"]] = ref
    return out


def rows_dir(rows: list[dict], label: str) -> str:
    return next(row["runs"][0]["config_dir"] for row in rows if row["name"] == label)


def test_labels(dataset: str = DEFAULT_DATASET) -> np.ndarray:
    """The dataset's test labels, in the order every run's predictions follow."""
    from dataloader import load_splits

    return load_splits(dataset, "cpu", subset=1).test_y.numpy()


def predictions_of(row: dict) -> dict[int, np.ndarray]:
    """{seed: predicted test labels} for the runs of a config that kept them."""
    out = {}
    for r in row["runs"]:
        if r.get("predictions"):
            try:
                out[r["seed"]] = load_predictions(r["run_dir"] / r["predictions"])
            except (OSError, ValueError) as e:
                warn(f"{r['run_dir']}: unreadable predictions, McNemar's test skips this seed ({type(e).__name__})")
    return out


def seed_status(runs: list[dict], partial: list[Path]) -> dict[str, dict[int, str]]:
    """{config label: {seed: "ok", "diverged" or "did not finish"}} over every run of the shown configs."""
    label_of = {r["config_dir"]: r["label"] for r in runs}
    out: dict[str, dict[int, str]] = {}
    for p in partial:
        if p.parent.name in label_of:
            out.setdefault(label_of[p.parent.name], {})[int(p.name[len("seed"):])] = "did not finish"
    for r in runs:
        out.setdefault(r["label"], {})[r["seed"]] = r["status"]
    return out


def left_out(name: str, ref: str, status: dict[str, dict[int, str]]) -> dict[int, str]:
    """{seed: why} for the seeds either config has but the comparison cannot pair: one rule, both must have finished."""
    mine, theirs = status.get(name, {}), status.get(ref, {})
    out = {}
    for seed in sorted({*mine, *theirs}):
        why = [f"{label} {states.get(seed, 'has no run')}" for label, states in ((name, mine), (ref, theirs))
               if states.get(seed) != "ok"]
        if why:
            out[seed] = " and ".join(why)
    return out


MARGIN_AFTER = "set after the runs (plot.py --margin)"


def study_margin(runs: list[dict], margin_pp: float | None, manifest: dict | None = None) -> tuple[float, str]:
    """(the study's equivalence margin as a fraction, when it was set): plot.py's --margin where given (after the
    runs), else the one recorded in the manifest when the runs were planned, else the one declared for the recipe."""
    if margin_pp is not None:
        return margin_pp / 100, MARGIN_AFTER
    recorded = (manifest or {}).get("margin")
    if isinstance(recorded, (int, float)) and 0 < recorded < 1:
        return float(recorded), "recorded when the runs were planned"
    study = runs[0]["config"].get("study") if runs else None
    return (margin_for({r["config"].get("recipe", "quick") for r in runs}, study=study),
            "declared for the study and recipe before any run")


def comparisons(study: str, rows: list[dict], manifest: dict | None, runs: list[dict] | None = None,
                partial: list[Path] | None = None, margin_pp: float | None = None) -> list[stats.Comparison]:
    """Each config against its reference, paired by the seeds both finished, Holm over the study: stats.decide's."""
    pairs = references(study, rows, manifest)
    if not pairs:
        return []
    by_name = {row["name"]: row for row in rows}
    preds = {name: predictions_of(by_name[name]) for name in {*pairs, *pairs.values()}}
    labels = test_labels(study_dataset([r for row in rows for r in row["runs"]]).name) if any(preds.values()) else None
    runs = runs if runs is not None else [r for row in rows for r in row["runs"]]
    status, (margin, _) = seed_status(runs, partial or []), study_margin(runs, margin_pp, manifest)
    found = []
    for name in sorted(pairs, key=lambda n: [row["name"] for row in rows].index(n)):
        ref = pairs[name]
        acc = {r["seed"]: r["test_acc"] for r in by_name[name]["runs"]}
        ref_acc = {r["seed"]: r["test_acc"] for r in by_name[ref]["runs"]}
        c = stats.compare(name, ref, acc, ref_acc, margin, preds[name], preds[ref], labels)
        found.append(replace(c, left_out=left_out(name, ref, status)))
    return stats.decide(found)


def comparison_rows(study: str, found: list[stats.Comparison]) -> list[dict]:
    """The comparisons CSV's rows (COMPARISON_COLUMNS), one per comparison."""
    return [{**{k: getattr(c, k) for k in COMPARISON_COLUMNS if hasattr(c, k)}, "study": study, "seeds": len(c.seeds)}
            for c in found]


def write_comparisons(path: Path, study: str, found: list[stats.Comparison]) -> Path:
    """result/<study>_comparisons.csv: one row per comparison, accuracy differences as fractions."""
    with atomic_path(path) as tmp:
        pd.DataFrame(comparison_rows(study, found), columns=COMPARISON_COLUMNS).to_csv(tmp, index=False)
    return path


def seed_rows(view: View, rows: list[dict], found: list[stats.Comparison]) -> list[dict]:
    """The per-seed CSV's rows (SEED_COLUMNS): each config's finished seeds in the rows' order, with the reference it
    is compared with and McNemar's counts against it where the comparison has them."""
    against = {c.config: c for c in found}
    out = []
    for row in sorted(rows, key=lambda row: natural_key(row["name"])):
        c = against.get(row["name"])
        counts = c.counts if c is not None else None
        for r in sorted(row["runs"], key=lambda r: r["seed"]):
            seed = r["seed"]
            paired = counts is not None and seed in counts.only_config
            out.append({"study": view.study, "dataset": view.dataset, "recipe": view.recipe, "config": row["name"],
                        "reference": c.reference if c is not None else None, "seed": seed, "test_acc": r["test_acc"],
                        "only_config": counts.only_config[seed] if paired else None,
                        "only_reference": counts.only_reference[seed] if paired else None})
    return out


def write_seeds(path: Path, view: View, rows: list[dict], found: list[stats.Comparison]) -> Path:
    """<view>_seeds.csv: per-seed test accuracies of every config (small: committed with the reference results)."""
    frame = pd.DataFrame(seed_rows(view, rows, found), columns=SEED_COLUMNS)
    with atomic_path(path) as tmp:
        frame.astype({"only_config": "Int64", "only_reference": "Int64"}).to_csv(tmp, index=False)
    return path


def layer_names(tags) -> list[str]:
    """Layer names of grad_norm/<layer> tags, input side first: every network here has its convs before its linears."""
    names = {t.split("/", 1)[1] for t in tags if t.startswith("grad_norm/")}
    kind_order = {"conv": 0, "fc": 1}

    def key(name: str):
        kind, number = re.fullmatch(r"(\D+)(\d*)", name).groups()
        return kind_order.get(kind, 2), kind, int(number or 0)
    return sorted(names, key=key)


def grad_ratios(scalars: pd.DataFrame, row: dict) -> dict[int, float]:
    """{seed: first layer's over last layer's gradient norm, each averaged over the epochs} of a config's runs."""
    ratios = {}
    for r in row["runs"]:
        mine = scalars[(scalars["name"] == row["name"]) & (scalars["seed"] == r["seed"])]
        layers = layer_names(mine["tag"].unique())
        if len(layers) < 2:
            continue
        first, last = (mine.loc[mine["tag"] == f"grad_norm/{layer}", "value"].mean() for layer in (layers[0], layers[-1]))
        ratios[r["seed"]] = first / last
    return ratios


def load_view(view: View, found: dict, with_scalars: bool, margin_pp: float | None = None) -> dict:
    """A view's runs, rows, comparisons and scalars (`found`: its entry of find_views); `every_scalar`
    (for the CSV) holds every run of its dataset and recipe, older configs included.

    One rule for diverged runs: `scalars` (the curves) hold the same finished seeds as the rows and comparisons.
    """
    study, every, partial, manifest = view.study, found["every"], found["partial"], found["manifest"]
    runs = label(found["runs"])
    rows = config_rows(runs)
    margin, margin_set = study_margin(runs, margin_pp, manifest)
    scalars = every_scalar = None
    if with_scalars:
        every_scalar = study_scalars(study, label(every))
        label_of = {r["config_dir"]: r["label"] for r in runs}
        finished = {(r["config_dir"], r["seed"]) for r in runs if r["status"] == "ok"}
        shown = pd.MultiIndex.from_frame(every_scalar[["config", "seed"]]).isin(list(finished))
        scalars = every_scalar[shown].assign(name=lambda frame: frame["config"].map(label_of))
    return {"view": view, "study": study, "runs": runs, "partial": partial, "rows": rows, "manifest": manifest,
            "latest_only": found["latest_only"], "margin": margin, "margin_set": margin_set,
            "comparisons": comparisons(study, focus_rows(study, rows, runs), manifest, runs, partial, margin_pp),
            "scalars": scalars, "every_scalar": every_scalar}
