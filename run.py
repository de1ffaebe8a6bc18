"""Studies of structure and batch size: expand a study into runs and execute them.

    python run.py                          # the base study: the seed's five networks
    python run.py --study activation       # base | activation | depth | width | batch_size | all
    python run.py --model Net --epochs 1   # one network, a study of its own
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

from dataloader import N_TEST, N_TRAIN, N_VAL, DataError, prepare_raw
from model import ACTIVATIONS, MODELS
from train import (DEFAULT_CONFIG, OPTIMIZERS, SCHEDULES, SPEED_RECIPE, failed_result, make_config, run_task,
                   stored_result)
from utils import (DEVICES, Parser, UsageError, pick_device, positive_float, positive_int, remove_stale_temps,
                   require_ray, run_dir, run_processes, run_ray, run_serial, threads_per_job, write_hparams_config)

EPOCHS, SEEDS = 2, 2  # defaults sized so that `python run.py` ends within 10 minutes on 2 CPU cores
REFERENCE_BATCH = 64  # the batch size whose learning rate the linear scaling rule starts from

Spec = list[tuple[str, dict]]  # (config name, config overrides)
Study = Callable[[argparse.Namespace], Spec]


def study_base(args) -> Spec:
    return [(name, {"model": name}) for name in ("Net", "LeNet", "NetSigmoid", "NetDeep", "MLP")]


def study_activation(args) -> Spec:
    return [(act, {"model": "ConvNet", "model_args": {"act": act}}) for act in ACTIVATIONS]


def study_depth(args) -> Spec:
    return ([(f"conv{d}", {"model": "ConvNet", "model_args": {"depth": d}}) for d in range(1, 5)]
            + [(f"mlp{d}", {"model": "MLPNet", "model_args": {"depth": d}}) for d in range(1, 5)])


def study_width(args) -> Spec:
    return ([(f"conv_w{w}", {"model": "ConvNet", "model_args": {"width": w}}) for w in (8, 16, 32, 64)]
            + [(f"mlp_w{w}", {"model": "MLPNet", "model_args": {"depth": 1, "width": w}})
               for w in (32, 128, 512, 2048)])


def study_batch_size(args) -> Spec:
    lr = base_lr(args)
    return [(f"bs{b}", {"model": "Net", "batch_size": b,
                        "lr": lr * b / REFERENCE_BATCH if args.scale_lr else lr})
            for b in (16, 64, 256, 1024)]


def study_speed(args) -> Spec:
    """The recipe that reaches 99% test accuracy in one epoch; it fixes its own epochs, batch, optimizer, lr, schedule."""
    return [("SpeedNet", {**SPEED_RECIPE, "model_args": dict(SPEED_RECIPE["model_args"])})]


STUDIES: dict[str, Study] = {"base": study_base, "activation": study_activation, "depth": study_depth,
                             "width": study_width, "batch_size": study_batch_size, "speed": study_speed}


def base_lr(args) -> float:
    return args.lr if args.lr is not None else OPTIMIZERS[args.optimizer][1]


def lr_rule(args) -> str:
    """What the batch_size study does with the learning rate, said in the output."""
    lr = base_lr(args)
    if args.scale_lr:
        return f"linear scaling rule: lr = {lr:g} x batch_size / {REFERENCE_BATCH}"
    return f"no scaling: lr = {lr:g} for every batch size (--scale-lr applies the linear scaling rule)"


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
    if value > N_TRAIN:
        raise argparse.ArgumentTypeError(f"the training split has {N_TRAIN} images, got {value}")
    return value


def build_parser(prog: str, description: str, studies: dict[str, Study], default_study: str) -> Parser:
    p = Parser(prog=prog, description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--study", default=default_study, choices=[*studies, "all"],
                   help="which comparison to run; 'all' runs every study of this script")
    p.add_argument("--model", choices=list(MODELS), help="train this one network (a study named after it)")
    p.add_argument("--epochs", type=positive_int, default=EPOCHS)
    p.add_argument("--seeds", type=positive_int, default=SEEDS, help="N seeds per config: 0..N-1")
    p.add_argument("--batch-size", type=positive_int, default=DEFAULT_CONFIG["batch_size"])
    p.add_argument("--optimizer", default=DEFAULT_CONFIG["optimizer"], choices=list(OPTIMIZERS))
    p.add_argument("--lr", type=positive_float, help="learning rate (default: the optimizer's, see README)")
    p.add_argument("--schedule", default="none", choices=SCHEDULES, help="learning-rate schedule")
    p.add_argument("--scale-lr", action="store_true", help="batch_size study: linear scaling rule for lr")
    p.add_argument("--subset", type=subset_size, help="train on the first N training images only")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--jobs", type=positive_int, default=1, help="runs in N separate processes")
    p.add_argument("--threads", type=positive_int,
                   help="torch threads per run (default: cores / jobs; on Ray, the whole CPUs of --cpus-per-run)")
    p.add_argument("--backend", default="local", choices=("local", "ray"),
                   help="local: this machine (--jobs); ray: each run a Ray task (README: Running on a cluster)")
    p.add_argument("--ray-address", help="Ray cluster to use (default: RAY_ADDRESS, else a local Ray instance)")
    p.add_argument("--cpus-per-run", type=cpu_amount, default=1.0, help="Ray: CPUs each run reserves")
    p.add_argument("--gpus-per-run", type=gpu_amount, default=0.0,
                   help="Ray: GPUs each run reserves; a fraction lets several runs share one GPU")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
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
    if args.jobs != 1:
        raise UsageError("--jobs is for --backend local; Ray runs as many runs at once as --cpus-per-run allows")
    if args.device == "cuda" and args.gpus_per_run == 0:
        raise UsageError("--device cuda on Ray needs --gpus-per-run above 0 (runs see only the GPUs they reserve)")
    if not (args.ray_address or os.environ.get("RAY_ADDRESS")):  # a local instance: its size is known
        if args.cpus_per_run > (os.cpu_count() or 1):
            raise UsageError(f"--cpus-per-run {args.cpus_per_run:g} is more than this machine's {os.cpu_count()} CPUs")
        if args.gpus_per_run > torch.cuda.device_count():
            raise UsageError(f"--gpus-per-run {args.gpus_per_run:g} is more than this machine's "
                             f"{torch.cuda.device_count()} GPUs")
    return f"Ray workers (--device {args.device})"


def check_writable(path: str, flag: str) -> None:
    """UsageError unless `path` is (or can be made) a writable directory."""
    probe = Path(path) / f".write-test-{time.time_ns()}"
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise UsageError(f"{flag} {path} is not a writable directory ({e.strerror or type(e).__name__})") from None


# ---- planning and execution ---------------------------------------------------------------------

def expand(study: str, spec: Spec, args) -> list[dict]:
    """Configs for every (config, seed) of a study, the recipe's common values filled in."""
    common = {"study": study, "epochs": args.epochs, "batch_size": args.batch_size, "optimizer": args.optimizer,
              "lr": args.lr, "schedule": args.schedule, "subset": args.subset, "device": args.device,
              "amp": args.amp, "channels_last": args.channels_last, "deterministic": args.deterministic}
    return [make_config(**{**common, **overrides, "name": name, "seed": seed})
            for name, overrides in spec for seed in range(args.seeds)]


def selected_studies(args, studies: dict[str, Study]) -> dict[str, Spec]:
    if args.model:
        return {args.model: [(args.model, {"model": args.model})]}
    names = list(studies) if args.study == "all" else [args.study]
    return {name: studies[name](args) for name in names}


def estimate_seconds(configs: list[dict], device: torch.device, jobs: int) -> float:
    """Rough wall time: a few timed training steps of each distinct network, scaled to the plan."""
    from model import build_model
    cache: dict[str, float] = {}
    total = 0.0
    for c in configs:
        key = repr((c["model"], c["model_args"], c["batch_size"]))
        if key not in cache:
            model = build_model(c["model"], **c["model_args"]).to(device)
            opt = torch.optim.SGD(model.parameters(), lr=0.0)
            x = torch.randn(c["batch_size"], 1, 28, 28, device=device)
            y = torch.randint(0, 10, (c["batch_size"],), device=device)
            times = []
            for _ in range(4):
                t0 = time.perf_counter()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                opt.step()
                with torch.no_grad():
                    float(model(x[:1]).sum())  # a sync, so that GPU time is counted
                times.append(time.perf_counter() - t0)
            cache[key] = min(times[1:]) / c["batch_size"]  # seconds per training sample
        n_train = c["subset"] or N_TRAIN
        # evaluation costs about a third of a training step per image: val each epoch, test once
        n_eval = c["epochs"] * N_VAL + N_TEST
        total += cache[key] * (c["epochs"] * n_train + n_eval / 3) + 1.0  # +1 s: setup and files
    return total / jobs


def plan(studies: dict[str, Spec], args) -> tuple[list[dict], list[dict]]:
    """(tasks to train, finished results reused); writes each study's HParams experiment config."""
    tasks, finished = [], []
    for study, spec in studies.items():
        configs = expand(study, spec, args)
        if not args.dry_run:
            write_hparams_config(Path(args.logdir) / study, configs)
        for config in configs:
            directory = run_dir(args.logdir, study, config["name"], config["seed"])
            done = None if args.force else stored_result(directory, config)
            if done:
                finished.append(done)
            else:
                tasks.append({"config": config, "run_dir": str(directory), "force": args.force,
                              "quiet": args.quiet})
    return tasks, finished


def fmt_minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def recipe(configs: list[dict]) -> str:
    """The values the planned runs share, and which ones vary."""
    def shared(key: str) -> str:
        values = {c[key] for c in configs}
        if len(values) > 1:
            return "varies"
        value = values.pop()
        return f"{value:g}" if isinstance(value, float) else str(value)
    return (f"epochs {shared('epochs')}, batch {shared('batch_size')}, optimizer {shared('optimizer')}, "
            f"lr {shared('lr')}, {configs[0]['subset'] or N_TRAIN} training images")


def print_plan(studies: dict[str, Spec], tasks: list[dict], finished: list[dict], args, device) -> None:
    n_configs = sum(len(spec) for spec in studies.values())
    configs = [t["config"] for t in tasks] + [r["config"] for r in finished]
    print(f"plan: {', '.join(studies)}: {n_configs} configs x {args.seeds} seeds = {len(configs)} runs, "
          f"{len(finished)} finished, {len(tasks)} to train on {device}; {recipe(configs)}")
    if "batch_size" in studies:
        print(f"batch_size study: {lr_rule(args)}")
    if "speed" in studies:
        print("speed study: its recipe sets epochs, batch size, optimizer, lr and schedule; those flags do not apply")
    if tasks and not args.dry_run and args.backend == "local":  # Ray's workers are not this machine
        estimate = estimate_seconds([t["config"] for t in tasks], device, args.jobs)
        print(f"estimated time: {fmt_minutes(estimate)} with --jobs {args.jobs} (rough, from a few timed steps)")
    if args.dry_run:
        for t in tasks:
            print(f"  would train {t['run_dir']}")


def execute(tasks: list[dict], args) -> list[dict]:
    from tqdm import tqdm

    if not tasks:
        return []
    bar = tqdm(total=len(tasks), unit="run", desc="runs", dynamic_ncols=True, file=sys.stdout)

    def on_done(task, result):
        bar.update(1)
        status = result.get("status")
        acc = result.get("test_acc")
        bar.set_postfix_str(f"last: {task['config']['name']} seed {task['config']['seed']} {status}"
                            + (f" test {100 * acc:.2f}%" if acc is not None else ""))

    try:
        if args.backend == "ray":
            for t in tasks:  # workers run in another directory: the run store is named by absolute paths
                t["run_dir"] = os.path.abspath(t["run_dir"])
            return run_ray(run_task, tasks, on_done, failed=failed_result, address=args.ray_address,
                           cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run, threads=args.threads,
                           keep_out=[args.logdir, args.resultdir])
        if args.jobs == 1:
            for t in tasks:
                t["log"] = bar.write
            return run_serial(run_task, tasks, on_done)
        return run_processes(run_task, tasks, args.jobs, args.threads or threads_per_job(args.jobs), on_done)
    finally:
        for t in tasks:
            t.pop("log", None)
        bar.close()


def summarize(results: list[dict]) -> int:
    """Print accuracy per config and the runs that did not finish; the exit code (1 if any failed)."""
    by_config: dict[tuple, list[dict]] = {}
    for r in results:
        by_config.setdefault((r.get("study"), r["name"]), []).append(r)
    print(f"\n{'study':<12} {'config':<14} {'runs':>4} {'test acc':>16} {'best val acc':>13}")
    for (study, name), runs in by_config.items():
        ok = [r for r in runs if r.get("status") == "ok"]
        acc = [r["test_acc"] for r in ok]
        mean = f"{100 * statistics.mean(acc):.2f}%" if acc else "-"
        std = f" ± {100 * statistics.stdev(acc):.2f}" if len(acc) > 1 else ""
        best = f"{100 * statistics.mean(r['best_val_acc'] for r in ok):.2f}%" if ok else "-"
        print(f"{study or '':<12} {name:<14} {len(ok):>4} {mean + std:>16} {best:>13}")
    bad = [r for r in results if r.get("status") != "ok"]
    for r in bad:
        detail = {"diverged": f"(loss not finite at step {r.get('diverged_at_step')})",
                  "busy": "(another invocation is training it; rerun once it is done)",
                  "failed": f"({r.get('error')})"}.get(r["status"], "")
        print(f"{r['status']}: {r['name']} seed {r['seed']} {detail}")
    return 1 if any(r["status"] in ("failed", "busy") for r in bad) else 0


def interrupt(signum, frame):
    raise KeyboardInterrupt


def make_plots(studies: dict[str, Spec], args) -> int:
    import plot  # imported here: matplotlib is needed only for this step

    # one call: REPORT.md covers every study under logdir and is rewritten once, not once per study
    return plot.main([arg for study in studies for arg in ("--study", study)]
                     + ["--logdir", args.logdir, "--resultdir", args.resultdir])


def main(argv: list[str] | None = None, studies: dict[str, Study] = STUDIES, default_study: str = "base",
         prog: str = "run.py", description: str = __doc__.splitlines()[0],
         add_arguments: Callable | None = None, after: Callable | None = None) -> int:
    parser = build_parser(prog, description, studies, default_study)
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        device = backend_device(args)
        check_writable(args.logdir, "--logdir")
        check_writable(args.resultdir, "--resultdir")
        selected = selected_studies(args, studies)
    except (UsageError, ValueError) as e:
        parser.error(str(e))
    try:
        prepare_raw()  # a data problem is reported once, before any run starts
    except DataError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    if args.threads and args.jobs == 1:
        torch.set_num_threads(args.threads)
    # `kill` stops a study as cleanly as Ctrl-C; and Ctrl-C works even where a shell started us with
    # SIGINT ignored (a background job), since stopping cleanly is always what the user asks for
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    for directory in [Path(args.resultdir), *(Path(args.logdir) / s for s in selected)]:
        if directory.is_dir():
            remove_stale_temps(directory)
    tasks, finished = plan(selected, args)
    print_plan(selected, tasks, finished, args, device)
    if args.dry_run:
        return 0
    start = time.perf_counter()
    try:
        results = finished + execute(tasks, args)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished runs are kept; rerun the same command to resume "
              f"({prog} {' '.join(sys.argv[1:] if argv is None else argv)})", file=sys.stderr)
        return 130
    except UsageError as e:  # the Ray cluster named by --ray-address or RAY_ADDRESS is not there
        parser.error(str(e))
    code = summarize(results)
    trained = sum(r["status"] in ("ok", "diverged") and not r.get("skipped") for r in results[len(finished):])
    skipped = len(finished) + sum(bool(r.get("skipped")) for r in results)
    print(f"{trained} runs trained, {skipped} skipped (already finished) in "
          f"{fmt_minutes(time.perf_counter() - start)}; curves: tensorboard --logdir {args.logdir}")
    if after:
        after(results, args)
    if not args.no_plot:
        code = max(code, make_plots(selected, args))
    return code


if __name__ == "__main__":
    sys.exit(main())
