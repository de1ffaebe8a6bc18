"""Studies of structure and batch size, and grids from the command line: expand them into runs and execute them.

    python run.py                          # the base study: the seed's five networks
    python run.py --study activation       # base | activation | depth | width | batch_size | all
    python run.py --study regularization   # dropout, batch norm, ... on Net (full recipe); --study best: the best recipe
    python run.py --model Net --epochs 1   # one network, a study of its own
    python run.py --grid model=MLPNet depth=1 width=300,100 --name mine   # your own grid
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch

from cli import Parser, Refused, check_writable, exit_with, non_negative_float, positive_float, positive_int
from dataloader import DATASETS, DataError, check_augment, get_dataset, prepare_raw
from estimate import estimate_seconds
from executors import require_ray, run_processes, run_ray, run_serial, threads_per_job
from grid import RECIPE_KEYS, grid_spec, split_grid
from model import MODELS
from recipes import (AUGMENTS, DEFAULT_CONFIG, EVALS_PER_EPOCH, OPTIMIZERS, PRECISIONS, QUICK_RECIPE, RECIPES, SCHEDULES,
                     make_config, recipe_values)
from adoption import Adoption, adopt, candidates, differences, migrate, migration_plan
from runstore import (STORE, as_view, environment, failed_result, link_view, link_views, make_task, run_digest_of,
                      run_task, same_computation, stored_result)
from studies import (BEST_RATE_HEADER, NOT_IN_ALL, OPTIM_STUDIES, RUN_STUDIES, STUDY_DATASETS, STUDY_FLAGS,
                     STUDY_PRECISIONS, STUDY_RECIPES, STUDY_SEEDS,
                     Spec, Study, best_rate_rows, default_recipe, lr_rule, manifest_name, margin_for, margins_in_words,
                     recipe_summary, reference_map, traits)
from utils import (DEVICES, UsageError, cpu_model, disk_full_message, is_disk_full, native_bf16, pick_device,
                   process_seconds, remove_stale_temps, resolve_precision, usable_cpus, write_hparams_config, write_json)

# fp32 until the precision study shows bf16 equivalent for every base network (docs/performance.md)
DEFAULT_PRECISION = "fp32"
SEEDS = 5  # with the quick recipe, `python run.py` (25 runs) trained in 8.5 to 12.1 minutes on a 2-core CPU VM
STUDIES = RUN_STUDIES


# ---- command line ---------------------------------------------------------------------------------

def cpu_amount(text: str) -> float:
    """CPUs a run reserves on Ray: a positive number, fractions down to Ray's unit of 0.0001."""
    value = positive_float(text)
    if value < 1e-4:
        raise argparse.ArgumentTypeError(f"Ray's smallest amount is 0.0001, got {text}")
    return value


def gpu_amount(text: str) -> float:
    """GPUs a run reserves on Ray: 0, a fraction (several runs share one GPU) or more."""
    try:
        if float(text) == 0:
            return 0.0
    except ValueError:
        pass
    if text.strip().startswith("-"):
        raise argparse.ArgumentTypeError(f"must be 0 or a positive number, got {text}")
    return cpu_amount(text)


def subset_size(text: str) -> int:
    value = positive_int(text)
    n_train = max(d.n_train for d in DATASETS.values())  # the chosen dataset's own bound: load_splits
    if value > n_train:
        raise argparse.ArgumentTypeError(f"the training split has {n_train} images, got {value}")
    return value


# Each script's studies, so that either names the other where a study or flag is not its own
FRONTS: dict[str, dict[str, Study]] = {"run.py": RUN_STUDIES, "compare_optim.py": OPTIM_STUDIES}


def other_front(study: str, studies: dict[str, Study]) -> str | None:
    """'python compare_optim.py --lr-sweep': the command that runs `study` where it is not one of `studies`."""
    for prog, own in FRONTS.items():
        if study in own and study not in studies:
            return f"python {prog} {STUDY_FLAGS.get(study, (f'--study {study}',))[0]}"
    return None


def study_choice(studies: dict[str, Study]) -> Callable[[str], str]:
    """--study's type: the other script's study names that script (argparse then checks the choices)."""
    def check(text: str) -> str:
        command = other_front(text, studies)
        if command:
            raise argparse.ArgumentTypeError(f"{text} is not a study of this script: {command}")
        return text
    return check


def in_all_words(studies: dict[str, Study]) -> str:
    """'base, activation, ... and speed (MNIST only)': the studies `--study all` runs."""
    only = {s: f" ({', '.join(get_dataset(d).title for d in datasets)} only)" for s, datasets in STUDY_DATASETS.items()}
    names = [s + only.get(s, "") for s in studies if s not in NOT_IN_ALL]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def own_defaults(defaults: dict[str, object], studies: dict[str, Study]) -> str:
    """'; full for lecun98, full for regularization': a per-study default table, only the studies of this script."""
    own = [f"{value} for {study}" for study, value in defaults.items() if study in studies]
    return "; " + ", ".join(own) if own else ""


def is_optimizer_front(studies: dict[str, Study]) -> bool:
    """True for compare_optim.py's studies: every config sets its own optimizer and rate, and trains Net."""
    return set(studies) <= set(OPTIM_STUDIES)


def refuse_foreign_flags(p: Parser, studies: dict[str, Study]) -> None:
    """Flags of the other script, refused in one line that names it: here they would do nothing."""
    for study, (flag, _) in STUDY_FLAGS.items():
        if study not in studies:
            p.add_argument(flag, action=Refused, dest="study_flags", default=None,
                           why=f"not a flag of this script: {other_front(study, studies)}")
    if "batch_size" not in studies:
        p.add_argument("--scale-lr", action=Refused, default=False,
                       why="the batch_size study's linear scaling rule: python run.py --study batch_size --scale-lr")
    if is_optimizer_front(studies):
        for flag, why in {"--optimizer": "this script trains every optimizer; for one: python run.py --optimizer NAME",
                          "--model": "this script compares optimizers on Net; one network: python run.py --model NAME",
                          "--grid": "your own grid is run.py's: python run.py --grid KEY=V1,V2 ...",
                          "--name": "names a --grid study, which is run.py's"}.items():
            p.add_argument(flag, action=Refused, default=None, why=why)


def build_parser(prog: str, description: str, studies: dict[str, Study], default_study: str) -> Parser:
    p = Parser(prog=prog, description=description)
    p.add_argument("--study", type=study_choice(studies), choices=[*studies, "all"],
                   help=f"which comparison to run; 'all' runs {in_all_words(studies)} (default: {default_study})")
    for study, (flag, text) in STUDY_FLAGS.items():
        if study in studies:
            p.add_argument(flag, dest="study_flags", action="append_const", const=study, help=text)
    refuse_foreign_flags(p, studies)
    optimizer_front = is_optimizer_front(studies)
    p.add_argument("--dataset", default=DEFAULT_CONFIG["dataset"], choices=list(DATASETS),
                   help="the images to train and test on (MNIST digits or Fashion-MNIST clothing)")
    if not optimizer_front:
        p.add_argument("--model", choices=list(MODELS),
                       help="train this one network (a study named after it); with --grid, the grid's network")
        p.add_argument("--grid", nargs="+", metavar="KEY=V1,V2",
                       help="train the cartesian product of these values as a study of its own (README: your own "
                            "experiments); a key set here cannot also be set by its flag (--epochs, --lr, ...)")
        p.add_argument("--name", help="--grid: the study's name (default: grid-<its keys>)")
    p.add_argument("--recipe", choices=RECIPES,
                   help=f"quick: {QUICK_RECIPE['epochs']} epochs, how fast each choice learns; full: trained to convergence "
                        f"(default: quick{own_defaults(STUDY_RECIPES, studies)})")
    p.add_argument("--epochs", type=positive_int, help="default: the recipe's")
    p.add_argument("--seeds", type=positive_int,
                   help=f"N seeds per config: 0..N-1 (default: {SEEDS}{own_defaults(STUDY_SEEDS, studies)})")
    p.add_argument("--batch-size", type=positive_int, help="default: the recipe's")
    if not optimizer_front:
        p.add_argument("--optimizer", choices=list(OPTIMIZERS), help="default: the recipe's")
    p.add_argument("--lr", type=positive_float,
                   help="one learning rate for every optimizer, as the original project did (default: each optimizer's "
                        "usual rate; --lr-sweep: the middle of its sweep)" if optimizer_front
                   else "learning rate (default: the recipe's, else the optimizer's)")
    p.add_argument("--weight-decay", type=non_negative_float, help="default: the recipe's, else the optimizer's")
    p.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule (default: the recipe's)")
    p.add_argument("--augment", choices=AUGMENTS,
                   help="training images shifted by up to 2 px and rotated by up to 10 degrees; _flip also mirrors "
                        "half of them, where the dataset allows it (Fashion-MNIST, not digits) (default: the recipe's, none)")
    if "batch_size" in studies:
        p.add_argument("--scale-lr", action="store_true", help="batch_size study: linear scaling rule for lr")
    p.add_argument("--subset", type=subset_size, help="train on the first N training images only")
    p.add_argument("--evals-per-epoch", type=positive_int, default=EVALS_PER_EPOCH,
                   help="validation evaluations per epoch (the val curves' resolution)")
    p.add_argument("--margin", type=positive_float, metavar="PP",
                   help="equivalence margin in percentage points, recorded with the plan for the report "
                        f"(default: the recipe's: {margins_in_words(studies)})")
    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="where the runs train; auto: cuda, else mps, else the CPU, whichever this machine has")
    p.add_argument("--jobs", type=positive_int,
                   help="N runs at once, each in a process of its own (1: in this process) (default on a CPU: one "
                        "per CPU this process may use, at most one per run; on a GPU: 1)")
    p.add_argument("--threads", type=positive_int,
                   help="torch threads per run (default: cores / jobs; on Ray, the whole CPUs of --cpus-per-run)")
    p.add_argument("--backend", default="local", choices=("local", "ray"),
                   help="local: this machine (--jobs); ray: each run a Ray task (docs/cluster.md)")
    p.add_argument("--ray-address", help="Ray cluster to use (default: RAY_ADDRESS, else a local Ray instance)")
    p.add_argument("--cpus-per-run", type=cpu_amount, default=1.0, help="Ray: CPUs each run reserves")
    p.add_argument("--gpus-per-run", type=gpu_amount, default=0.0,
                   help="Ray: GPUs each run reserves; a fraction lets several runs share one GPU; 0: none, the "
                        "runs train on CPUs")
    p.add_argument("--precision", choices=("auto", *PRECISIONS),
                   help="fp32; bf16: bfloat16 autocast around the forward pass, training and evaluation (loss, "
                        "optimizer state and weights stay fp32); auto: bf16 where the device computes it natively "
                        "(a CPU with avx512_bf16 or amx_bf16, a GPU of compute capability 8 or more), else fp32 "
                        f"(default: {DEFAULT_PRECISION}{own_defaults(STUDY_PRECISIONS, studies)}"
                        + "".join(f"; {s} sets each config's own, {' and '.join(PRECISIONS)}"
                                  for s in studies if traits(s).own_precision)
                        + ")")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                   help="channels-last memory format (default: on for a CPU, where it made a training step of Net "
                        "1.5x and its evaluation 2x faster, docs/performance.md; off elsewhere)")
    p.add_argument("--deterministic", action="store_true", help="deterministic algorithms only")
    p.add_argument("--logdir", default="logs", help="where runs are stored")
    p.add_argument("--resultdir", default="result", help="where figures and REPORT.md go")
    p.add_argument("--force", action="store_true", help="rerun finished runs too")
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    p.add_argument("--no-plot", action="store_true", help="skip plot.py at the end")
    p.add_argument("--quiet", action="store_true", help="no line per epoch")
    return p


def backend_device(args) -> torch.device | str:
    """Where the runs train: this machine's device, or for Ray its workers, each picking its own."""
    if args.backend == "local":
        if args.ray_address:
            raise UsageError("--ray-address needs --backend ray")
        return pick_device(args.device)
    require_ray()
    if args.jobs not in (None, 1):
        raise UsageError("--jobs is for --backend local; Ray runs as many runs at once as --cpus-per-run allows")
    if args.device == "cuda" and args.gpus_per_run == 0:
        raise UsageError("--device cuda on Ray needs --gpus-per-run above 0 (runs see only the GPUs they reserve)")
    if not (args.ray_address or os.environ.get("RAY_ADDRESS")):  # a local instance: its size is known
        cpus = usable_cpus()[0]
        if args.cpus_per_run > cpus:
            raise UsageError(f"--cpus-per-run {args.cpus_per_run:g} is more than the {cpus} CPUs this process may use")
        if args.gpus_per_run > torch.cuda.device_count():
            raise UsageError(f"--gpus-per-run {args.gpus_per_run:g} is more than this machine's "
                             f"{torch.cuda.device_count()} GPUs")
    return f"Ray workers (--device {args.device})"


# ---- planning and execution ---------------------------------------------------------------------

RECIPE_FLAGS = ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "schedule", "augment")


def expand(study: str, spec: Spec, args) -> list[dict]:
    """Configs for every (config, seed) of a study: the recipe's values, then explicit flags, then the study's own."""
    common = {"study": study, "dataset": args.dataset, "subset": args.subset, "device": args.device,
              "precision": args.precision or DEFAULT_PRECISION,  # run_command resolves it; parsed alone, the default
              "channels_last": bool(args.channels_last), "deterministic": args.deterministic,
              "evals_per_epoch": args.evals_per_epoch}
    flags = {k: getattr(args, k) for k in RECIPE_FLAGS if getattr(args, k) is not None}
    if "optimizer" in flags and "lr" not in flags:  # another optimizer: its own default rate, not the recipe's
        flags["lr"] = None
    configs = []
    for name, overrides in spec:
        recipe = recipe_values(args.recipe or default_recipe(study),
                               overrides.get("model", DEFAULT_CONFIG["model"]))
        if "optimizer" in overrides and "lr" not in overrides:
            overrides = {**overrides, "lr": None}
        configs += [make_config(**{**recipe, **common, **flags, **overrides, "name": name, "seed": seed})
                    for seed in range(seeds_of(study, args))]
    return configs


def check_augments(studies: dict[str, Spec], args) -> None:
    """ValueError where a planned config would mirror images of a dataset that forbids it, before anything trains."""
    dataset = get_dataset(args.dataset)
    for study, spec in studies.items():
        for augment in dict.fromkeys(c["augment"] for c in expand(study, spec, args)):
            check_augment(augment, dataset)


def seeds_of(study: str, args) -> int:
    """--seeds, else the study's default (STUDY_SEEDS), else SEEDS."""
    return args.seeds or STUDY_SEEDS.get(study, SEEDS)


def is_folder_name(name: str) -> bool:
    """True when `name` names one directory inside --logdir: nothing that climbs out or nests."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name  # os.sep is one of them


def check_grid_flags(args) -> None:
    """UsageError where --grid and a flag both set one key (--grid epochs=1 --epochs 3): which one wins would be
    a silent guess, so the user says it once."""
    for key, texts in split_grid(args.grid).items():
        value = getattr(args, key, None) if key in RECIPE_KEYS else None
        if value is not None:
            flag = "--" + key.replace("_", "-")
            shown = f"{value:g}" if isinstance(value, float) else value
            raise UsageError(f"--grid {key}={','.join(texts)} and {flag} {shown} both set {key}: "
                             f"give it once, in the grid or as {flag}")


def selected_studies(args, studies: dict[str, Study], default_study: str = "base") -> dict[str, Spec]:
    """{study name: its spec}; UsageError for a bad --grid or conflicting flags."""
    if args.grid:
        if args.study:
            raise UsageError("--grid is a study of its own: give it a --name, not --study")
        if args.name is not None and not is_folder_name(args.name):
            raise UsageError(f"--name '{args.name}' must be one folder name: no path separator, not '.' or '..'")
        check_grid_flags(args)
        name, spec = grid_spec(args.grid, get_dataset(args.dataset), args.model, args.name)
        return {name: spec}
    if args.name:
        raise UsageError("--name names a --grid study")
    if args.model:
        if args.study:
            raise UsageError("--model trains one network as a study of its own: drop --study")
        return {args.model: [(args.model, {"model": args.model})]}
    for flagged in getattr(args, "study_flags", None) or ():
        if args.study not in (None, flagged):
            raise UsageError(f"{STUDY_FLAGS[flagged][0]} is --study {flagged}; it cannot go with --study {args.study}")
        args.study = flagged
    study = args.study or default_study
    if study in STUDY_DATASETS and args.dataset not in STUDY_DATASETS[study]:
        raise UsageError(f"--study {study} is for {', '.join(get_dataset(d).title for d in STUDY_DATASETS[study])} "
                         f"only, not {get_dataset(args.dataset).title}")
    # `all`: every study of the default recipe that fits the dataset; lecun98 (a converged reproduction) runs on its own
    names = ([s for s in studies if s not in NOT_IN_ALL and args.dataset in STUDY_DATASETS.get(s, [args.dataset])]
             if study == "all" else [study])
    return {name: studies[name](args) for name in names}


def default_jobs(device: torch.device | str, n_tasks: int) -> int:
    """One run per core on a CPU: on 2 cores, 2 one-thread processes trained the base study 1.29x faster
    than one 2-thread process (docs/performance.md). One on a GPU, which a single run already fills."""
    if not isinstance(device, torch.device) or device.type != "cpu":
        return 1
    return max(1, min(usable_cpus()[0], n_tasks))


def worker_threads(args) -> int:
    """Torch threads of each local run: --threads, else the cores shared out among the jobs."""
    return args.threads or threads_per_job(args.jobs)


@dataclass
class Plan:
    """What an invocation does with its runs: each distinct computation once, whatever study asked for it."""
    tasks: list[dict] = field(default_factory=list)  # to train (probes of adoptions not included)
    finished: list[dict] = field(default_factory=list)  # results found, one per view that asked for them
    adoptions: list[Adoption] = field(default_factory=list)  # configs of older code: a probe, then adopted or trained
    migrated: int = 0  # runs of the older layout moved into the store (or, dry, that would be)
    views: int = 0  # runs every study asked for, counted per study
    shared: int = 0  # of those, asked for again by another study or name: no run of their own


def run_env(args, device) -> dict:
    """The environment the runs train in: this process's torch, the device type the runs will use."""
    if isinstance(device, torch.device):
        return environment(device)
    return environment("cuda" if args.gpus_per_run > 0 else "cpu")  # Ray: what each run reserves


def plan(studies: dict[str, Spec], args, env: dict | None = None) -> Plan:
    """The runs to train, reuse and adopt; writes each study's HParams config and manifest, links finished views.

    Each run is resolved here once (config, identity, store and view directories, dataset entry) and carried in its
    task; two studies or names that ask for the same computation share one task, and each gets its view.
    """
    env = env or environment("cpu")
    logdir, dry = Path(args.logdir), args.dry_run
    moves = migration_plan(logdir)
    pending = {m.store_dir: m.result for m in moves} if dry else {}
    if moves and not dry:
        migrate(logdir, moves)
        print(f"moved {len(moves)} runs of the older layout into {logdir / STORE} (their studies show them as before)")
    out = Plan(migrated=len(moves))
    dataset = get_dataset(args.dataset)
    unique: dict[str, dict] = {}
    for study, spec in studies.items():
        planned = [make_task(c, logdir, dataset, run_digest_of(c), env, force=args.force, quiet=args.quiet)
                   for c in expand(study, spec, args)]
        check_distinct(planned)
        if not dry:
            write_hparams_config(logdir / study, [t["config"] for t in planned])
            write_manifest(logdir / study, planned, args)
        out.views += len(planned)
        for task in planned:
            first = unique.setdefault(task["store_dir"], task)
            if first is not task:
                first["views"].append({"run_dir": task["run_dir"], "study": study, "name": task["config"]["name"]})
                out.shared += 1
    to_check = []
    for task in unique.values():
        done = None if args.force else (stored_result(Path(task["store_dir"]), task["config"], task["run_digest"], env)
                                         or _pending_result(pending, task, env))
        if done:
            out.finished += [as_view(done, v) for v in _view_configs(task)]
            if not dry:
                link_view(Path(task["store_dir"]), Path(task["run_dir"]), task["config"]["study"], task["config"]["name"])
                link_views(task)
        else:
            to_check.append(task)
    by_run: dict[str, list[dict]] = {}
    for task in to_check:
        by_run.setdefault(task["config_id"], []).append(task)
    for rid, group in by_run.items():
        old = {} if args.force else candidates(logdir, group[0]["config"], env, rid, pending)
        adoptable = sorted((t for t in group if t["config"]["seed"] in old), key=lambda t: t["config"]["seed"])
        if adoptable:
            out.adoptions.append(Adoption(adoptable[0], old, adoptable[1:]))
        out.tasks += [t for t in group if t["config"]["seed"] not in old]
    return out


def _pending_result(pending: dict[Path, dict], task: dict, env: dict) -> dict | None:
    """A dry run's view of a run the migration would move into this task's store directory."""
    result = pending.get(Path(task["store_dir"]))
    return result if result is not None and same_computation(result, task["config"], task["run_digest"], env) else None


def _view_configs(task: dict) -> list[dict]:
    """The config of every view that asked for the task's run: its own, then the other studies' and names'."""
    return [task["config"], *({**task["config"], "study": v["study"], "name": v["name"]} for v in task["views"])]


def check_distinct(tasks: list[dict]) -> None:
    """UsageError when two configs of a study are one run (same settings under two names)."""
    seen: dict[str, str] = {}
    for t in tasks:
        key = f"{t['config_id']}/{t['config']['seed']}"
        name = t["config"]["name"]
        if seen.setdefault(key, name) != name:
            raise UsageError(f"configs '{seen[key]}' and '{name}' are the same run (the same settings): drop one")


def write_manifest(study_dir: Path, tasks: list[dict], args) -> None:
    """logs/<study>/study-<dataset>-<recipe>.json: the configs this invocation planned, what each is compared
    with, the command.

    plot.py compares these configs by default, per dataset and recipe; runs of other configs stay on disk
    and in TensorBoard.
    """
    configs = [t["config"] for t in tasks]
    trial = {t["config"]["name"]: t["trial"] for t in tasks}  # the config directory, the same for every seed
    first = {c["name"]: c for c in configs if c["seed"] == 0} or {c["name"]: c for c in configs}
    names = list(dict.fromkeys(c["name"] for c in configs))
    if args.grid:  # a grid's reference is its first config: every key at its first value
        references = {name: names[0] for name in names[1:]}
    else:
        references = reference_map(study_dir.name, {name: first[name]["model"] for name in names})
    recipe = args.recipe or default_recipe(study_dir.name)
    write_json(study_dir / manifest_name(args.dataset, recipe), {
        "study": study_dir.name, "dataset": args.dataset, "recipe": recipe,
        "configs": {name: trial[name] for name in names}, "references": references,
        "seeds": sorted({c["seed"] for c in configs}), "margin": margin_for({recipe}, args.margin, study_dir.name),
        "command": args.command, "code_digest": tasks[0]["code_digest"],
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds")})


def fmt_minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def planned_precision(args, studies: dict[str, Spec], device) -> tuple[str, str]:
    """(fp32 or bf16, why): --precision, else the study's own default where every planned study has one, else fp32."""
    if args.precision:
        return resolve_precision(args.precision, device)
    own = {STUDY_PRECISIONS.get(s) for s in studies}
    if len(own) == 1 and None not in own:
        precision, why = resolve_precision(own.pop(), device)
        return precision, f"the {' and '.join(studies)} study's default, {why}"
    return resolve_precision(DEFAULT_PRECISION, device)[0], "the default: no --precision given"


def precision_line(args, device, studies: dict[str, Spec] | None = None) -> str:
    """'precision: bf16 (auto: this CPU has avx512_bf16)'; where fp32 was asked on hardware with native bf16, so.

    A study that sets each config's precision (the precision study) is named with the precisions it trains.
    """
    own = [s for s in studies or {} if traits(s).own_precision]
    if own:
        trained = dict.fromkeys(o.get("precision", args.precision) for s in own for _, o in studies[s])
        return f"precision: {' and '.join(trained)}, each config's own (the {' and '.join(own)} study sets them)"
    line = f"precision: {args.precision} ({args.precision_why}"
    if args.precision == "fp32" and isinstance(device, torch.device):
        native, why = native_bf16(device)
        if native:
            line += f"; {why}: --precision auto would take bf16"
    return line + ")"


def regularization_line(spec: Spec, args) -> str:
    """The regularization study's plan: its configs against Net under the recipe, and a word where it is not full."""
    recipe = args.recipe or default_recipe("regularization")
    others = [name for name, _ in spec if name != "Net"]
    line = f"regularization study: {', '.join(others)} against Net, one change each (all: every addition), recipe {recipe}"
    if recipe != default_recipe("regularization"):
        line += (f"; regularizers pay off late, so the verdicts say what they do within {recipe} training, not at "
                 f"convergence (the study's default is {default_recipe('regularization')})")
    return line


def print_plan(studies: dict[str, Spec], planned: Plan, args, device) -> None:
    tasks, finished = planned.tasks, planned.finished
    n_configs = sum(len(spec) for spec in studies.values())
    configs = ([t["config"] for t in tasks] + [r["config"] for r in finished]
               + [t["config"] for a in planned.adoptions for t in (a.probe, *a.pending)])
    seeds = sorted({seeds_of(s, args) for s in studies})
    label = "its own recipe" if all(traits(s).own_recipe for s in studies) else None
    probes, after = len(planned.adoptions), sum(len(a.pending) for a in planned.adoptions)
    print(f"plan: {', '.join(studies)}: {n_configs} configs x {'/'.join(map(str, seeds))} seeds = {planned.views} runs, "
          f"{len(finished)} finished, {len(tasks) + probes} to train on {device}; {recipe_summary(configs, label)}")
    print(f"runs: {planned.views - planned.shared} distinct computations ({planned.shared} asked for again by another "
          f"study or name, trained once); {probes} probes, {after} adopted after their probe (trained where a probe "
          f"differs); {planned.migrated} of the older layout {'to move' if args.dry_run else 'moved'} into "
          f"{Path(args.logdir) / STORE}")
    if "batch_size" in studies:
        print(f"batch_size study: {lr_rule(args)}")
    if "regularization" in studies:
        print(regularization_line(studies["regularization"], args))
    for study in (s for s in studies if traits(s).own_recipe):
        print(f"{study} study: its recipe sets epochs, batch size, optimizer, lr and schedule; those flags do not apply")
    for study in (s for s in studies if traits(s).own_precision):
        pairs = reference_map(study, {name: overrides.get("model") for name, overrides in studies[study]})
        print(f"{study} study: each config against its twin ({', '.join(f'{a} vs {b}' for a, b in pairs.items())}), "
              f"paired by seed, margin ±{100 * margin_for(set(), args.margin, study):g} pp; --precision does not apply")
    if isinstance(device, torch.device) and device.type == "cpu":
        cpus, how = usable_cpus()
        threads = torch.get_num_threads() if args.jobs == 1 else worker_threads(args)  # one job: this process's
        print(f"cpus: {cpus} usable ({how}): --jobs {args.jobs}, {threads} torch thread{'s' if threads > 1 else ''} each")
    print(precision_line(args, device, studies))
    to_time = tasks + [a.probe for a in planned.adoptions]
    if to_time and args.backend == "local":  # Ray's workers are not this machine
        seconds, how = estimate_seconds(to_time, device, args.jobs, worker_threads(args), args.logdir)
        adopted = "; adopted runs take none" if planned.adoptions else ""
        print(f"estimated time: {fmt_minutes(seconds)} with --jobs {args.jobs} ({how}{adopted})")
    if args.dry_run:
        for t in tasks:
            print(f"  would train {t['store_dir']}{_asked_by(t)}")
        for a in planned.adoptions:
            print(f"  would probe {a.probe['store_dir']}{_asked_by(a.probe)} against {a.old_runs[a.probe['config']['seed']]}"
                  f", then adopt {len(a.pending)} seed{'s' * (len(a.pending) != 1)}")


def _asked_by(task: dict) -> str:
    """' (activation/relu, depth/conv2)': every study and name whose view shows the run."""
    names = [f"{task['config']['study']}/{task['config']['name']}", *(f"{v['study']}/{v['name']}" for v in task["views"])]
    return f" ({', '.join(names)})"


def execute(tasks: list[dict], args) -> list[dict]:
    from tqdm import tqdm

    if not tasks:
        return []
    bar = tqdm(total=len(tasks), unit="run", desc="runs", dynamic_ncols=True, file=sys.stdout)

    def on_done(task, result):
        if result.get("disk_full"):
            raise DiskFull(result["disk_full"])
        bar.update(1)
        status = result.get("status")
        acc = result.get("test_acc")
        bar.set_postfix_str(f"last: {task['config']['name']} seed {task['config']['seed']} {status}"
                            + (f" test {100 * acc:.2f}%" if acc is not None else ""))

    try:
        if args.backend == "ray":
            for t in tasks:  # workers run in another directory: the run store is named by absolute paths
                t["run_dir"], t["store_dir"] = os.path.abspath(t["run_dir"]), os.path.abspath(t["store_dir"])
                for view in t["views"]:
                    view["run_dir"] = os.path.abspath(view["run_dir"])
            return run_ray(run_task, tasks, on_done, failed=failed_result, address=args.ray_address,
                           cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run, threads=args.threads,
                           keep_out=[args.logdir, args.resultdir])
        if args.jobs == 1:
            for t in tasks:
                t["log"] = bar.write
            return run_serial(run_task, tasks, on_done)
        return run_processes(run_task, tasks, args.jobs, worker_threads(args), on_done, failed=failed_result)
    finally:
        for t in tasks:
            t.pop("log", None)
        bar.close()


def train_all(planned: Plan, args) -> tuple[list[dict], dict[str, int]]:
    """Train the plan's runs and probes, then adopt each probed config's other seeds or train them where the probe
    differs; every result once per view that asked for it, and the counts trained, skipped and adopted."""
    probes = [a.probe for a in planned.adoptions]
    done = execute(planned.tasks + probes, args)
    results, retrain = _per_view(planned.tasks + probes, done), []
    counts = {"trained": _trained(done), "skipped": sum(bool(r.get("skipped")) for r in done), "adopted": 0}
    for adoption, probed in zip(planned.adoptions, done[len(planned.tasks):]):
        retrain += _adopt_or_not(adoption, probed, results, counts)
    again = execute(retrain, args)
    counts["trained"] += _trained(again)
    return results + _per_view(retrain, again), counts


def _adopt_or_not(adoption: Adoption, probed: dict, results: list[dict], counts: dict[str, int]) -> list[dict]:
    """Adopt the pending seeds where the probe reproduced its older run bit for bit; else the tasks to train."""
    probe = adoption.probe
    old = adoption.old_runs[probe["config"]["seed"]]
    if probed.get("status") not in ("ok", "diverged"):
        return adoption.pending  # the probe did not finish: nothing is proven
    diffs = differences(Path(probe["store_dir"]), old)
    if diffs:
        print(f"probe {probe['store_dir']}: {', '.join(diffs)} differ from {old}: its other "
              f"{len(adoption.pending)} seeds train")
        return adoption.pending
    for task in adoption.pending:
        adopted = adopt(adoption.old_runs[task["config"]["seed"]], task, Path(probe["store_dir"]))
        link_views(task)
        results += [as_view(adopted, c) for c in _view_configs(task)]
        counts["adopted"] += 1
    return []


def _per_view(tasks: list[dict], done: list[dict]) -> list[dict]:
    """Each result, then a copy for every other view of its run (under that study's and config's name)."""
    out = []
    for task, result in zip(tasks, done):
        out.append(result)
        if result.get("status") in ("ok", "diverged"):
            out += [as_view(result, c) for c in _view_configs(task)[1:]]
    return out


def _trained(done: list[dict]) -> int:
    return sum(r.get("status") in ("ok", "diverged") and not r.get("skipped") for r in done)


class DiskFull(Exception):
    """A run found the disk full: the rest of the study would fail the same way, so it stops."""


def summarize(results: list[dict]) -> int:
    """Print accuracy per config and the runs that did not finish; the exit code (1 if any failed)."""
    # the report's per-config numbers and its rule for a run at chance; imported here, as plot is (pandas)
    from analysis import CHANCE_MARGIN, accuracy_summary, did_not_learn

    by_config: dict[tuple, list[dict]] = {}
    for r in results:
        by_config.setdefault((r.get("study"), r["name"]), []).append(r)
    # columns as wide as the longest study and config names (a grid's names are long)
    w_study = max([12, *(len(study or "") for study, _ in by_config)])
    w_name = max([14, *(len(name) for _, name in by_config)])
    print(f"\n{'study':<{w_study}} {'config':<{w_name}} {'runs':>4} {'test acc':>16} {'best val acc':>13}")
    for (study, name), runs in by_config.items():
        ok = [r for r in runs if r.get("status") == "ok"]
        summary = accuracy_summary(ok) if ok else {"mean": None, "std": None, "best_val": None}
        mean = f"{100 * summary['mean']:.2f}%" if ok else "-"
        std = f" ± {100 * summary['std']:.2f}" if summary["std"] is not None else ""
        best = f"{100 * summary['best_val']:.2f}%" if ok else "-"
        print(f"{study or '':<{w_study}} {name:<{w_name}} {len(ok):>4} {mean + std:>16} {best:>13}")
    for r in results:
        if did_not_learn(r):  # finished at chance: its loss may look fine, its accuracy does not
            print(f"did not learn: {r['name']} seed {r['seed']} (test accuracy {100 * r['test_acc']:.2f}%, within "
                  f"{100 * CHANCE_MARGIN:g} points of chance)")
    bad = [r for r in results if r.get("status") != "ok"]
    for r in bad:
        detail = {"diverged": f"(loss not finite at step {r.get('diverged_at_step')})",
                  "busy": "(another invocation is training it; rerun once it is done)",
                  "failed": f"({r.get('error')})"}.get(r["status"], "")
        print(f"{r['status']}: {r['name']} seed {r['seed']} {detail}")
    return 1 if any(r["status"] in ("failed", "busy") for r in bad) else 0


def print_speed_record(results: list[dict], threads: int) -> None:
    """For a speed study: each seed's test accuracy, its training seconds, and this process's seconds."""
    timed = [r for r in results if traits(r.get("study") or "").timed and r.get("status") == "ok"]
    for name in dict.fromkeys(r["name"] for r in timed):
        runs = sorted((r for r in timed if r["name"] == name), key=lambda r: r["seed"])
        accs = [r["test_acc"] for r in runs]
        # an epoch's seconds: its training steps and its one validation pass; the test evaluation comes after
        seconds = sorted(sum(h["seconds"] for h in r["history"]) for r in runs)
        print(f"\n{name}, {len(runs)} seeds: test accuracy {', '.join(f'{100 * a:.2f}%' for a in accs)} "
              f"(mean {100 * statistics.mean(accs):.2f}%, lowest {100 * min(accs):.2f}%)")
        print(f"training seconds a seed (steps and one validation pass an epoch; test evaluation outside): median "
              f"{statistics.median(seconds):.2f}, min {seconds[0]:.2f}, max {seconds[-1]:.2f}, on {cpu_model()} with "
              f"{threads} torch thread(s) a run")
    if timed:
        print(f"process seconds so far (start-up, data, every seed, evaluation, files): {process_seconds():.1f}")


def print_best_rates(results: list[dict]) -> None:
    """For a study that sweeps learning rates: each optimizer at its best rate on val."""
    sweep = [r for r in results if traits(r.get("study") or "").best_rates and "config" in r]
    if sweep:
        print("\nlr sweep: each optimizer at its best rate on val (a fair comparison)")
        print("  ".join(BEST_RATE_HEADER))
        for row in best_rate_rows(sweep):
            print("  ".join(f"{cell:>{len(head)}}" for cell, head in zip(row, BEST_RATE_HEADER)))


def interrupt(signum, frame):
    raise KeyboardInterrupt


def make_plots(studies: dict[str, Spec], args) -> int:
    import plot  # imported here: matplotlib is needed only for this step

    # one call: REPORT.md covers every study under logdir and is rewritten once, not once per study
    return plot.main([arg for study in studies for arg in ("--study", study)]
                     + ["--logdir", args.logdir, "--resultdir", args.resultdir])


def main(argv: list[str] | None = None, studies: dict[str, Study] = STUDIES, default_study: str = "base",
         prog: str = "run.py", description: str = __doc__.splitlines()[0]) -> int:
    parser = build_parser(prog, description, studies, default_study)
    args = parser.parse_args(argv)
    args.command = " ".join([prog, *(sys.argv[1:] if argv is None else argv)])
    try:  # Ctrl-C or kill at any point, planning included: one line, never a traceback
        return run_command(args, parser, studies, default_study)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished runs are kept; rerun the same command to resume ({args.command})",
              file=sys.stderr)
        return 130


def run_command(args, parser: Parser, studies: dict[str, Study], default_study: str) -> int:
    """Plan, train and plot what the parsed command line asks."""
    prog = parser.prog
    # `kill` stops a study as cleanly as Ctrl-C; and Ctrl-C works even where a shell started us with
    # SIGINT ignored (a background job), since stopping cleanly is always what the user asks for
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    try:
        device = backend_device(args)
        if args.channels_last is None:  # a layout, not a recipe: the fastest one for where the runs train
            on_cpu = (device.type == "cpu" if isinstance(device, torch.device)  # Ray: workers without a GPU
                      else args.gpus_per_run == 0 and args.device in ("auto", "cpu"))
            args.channels_last = on_cpu
        check_writable(args.logdir, "--logdir", create=not args.dry_run)  # a dry run writes nothing
        check_writable(args.resultdir, "--resultdir", create=not args.dry_run)
        selected = selected_studies(args, studies, default_study)
        args.precision, args.precision_why = planned_precision(args, selected, device)  # once, for every run
        check_augments(selected, args)
    except (UsageError, ValueError) as e:
        parser.error(str(e))
    try:
        if not args.dry_run:  # a dry run plans without the data
            prepare_raw(dataset=args.dataset)  # a data problem is reported once, before any run starts
    except DataError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    for directory in [Path(args.resultdir), *(Path(args.logdir) / s for s in selected)]:
        if directory.is_dir() and not args.dry_run:
            remove_stale_temps(directory)
    try:
        planned = plan(selected, args, run_env(args, device))
    except OSError as e:
        if not is_disk_full(e):
            raise
        print(f"{prog}: error: {disk_full_message(args.logdir)}", file=sys.stderr)
        return 1
    if args.backend == "local":
        # a speed record times one run on every core: its runs go one at a time unless --jobs says otherwise
        timed = all(traits(study).timed for study in selected)
        args.jobs = args.jobs or (1 if timed else default_jobs(device, len(planned.tasks) + len(planned.adoptions)))
        if args.jobs == 1 and (args.threads or torch.get_num_threads() > worker_threads(args)):
            torch.set_num_threads(worker_threads(args))  # torch's own default counts the host's cores
    print_plan(selected, planned, args, device)
    if args.dry_run:
        return 0
    start = time.perf_counter()
    try:
        results, counts = train_all(planned, args)
    except DiskFull as e:
        print(f"{prog}: error: {disk_full_message(str(e))}; finished runs are kept: free some space and rerun "
              f"the same command", file=sys.stderr)
        return 1
    except UsageError as e:  # the Ray cluster named by --ray-address or RAY_ADDRESS is not there
        parser.error(str(e))
    code = summarize(planned.finished + results)
    print(f"{counts['trained']} runs trained, {len(planned.finished) + counts['skipped']} skipped (already finished), "
          f"{counts['adopted']} adopted after their probe in {fmt_minutes(time.perf_counter() - start)}; "
          f"curves: tensorboard --logdir {args.logdir}")
    print_best_rates(results)
    print_speed_record(planned.finished + results, torch.get_num_threads() if args.jobs == 1 else worker_threads(args))
    if not args.no_plot:
        code = max(code, make_plots(selected, args))
    return code


if __name__ == "__main__":
    exit_with(main)
