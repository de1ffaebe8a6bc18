"""Shared plumbing: seeding, device choice, run directories, atomic writes, TensorBoard helpers, executors."""
from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent
DEVICES = ("auto", "cpu", "cuda", "mps")


class UsageError(ValueError):
    """A bad command-line value: reported in one line, exit code 2."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str = "auto") -> torch.device:
    """cuda, then mps, then cpu for 'auto'; a named device must exist."""
    if name not in DEVICES:
        raise UsageError(f"unknown device '{name}'; valid: {', '.join(DEVICES)}")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if name == "auto":
        name = next(d for d in ("cuda", "mps", "cpu") if available[d])
    if not available[name]:
        raise UsageError(f"device '{name}' is not available on this machine; use --device cpu")
    return torch.device(name)


GIT_COMMIT_ENV = "MNIST_SUITE_GIT_COMMIT"  # set for Ray workers, whose shipped copy has no .git


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse; False where the C library is not glibc.

    A CNN's training step frees and reallocates megabytes of activations. By default glibc may hand
    such blocks back to the kernel, so the next step faults them in again (about 3,000 page faults a
    step for Net at batch 64 in a 1-thread loop). Retained blocks are reused at once; the process keeps
    its high-water mark instead. Over `python run.py`: 15.8 M page faults and 35 s of system time
    before, 1.0 M and 3.5 s after. Process-wide and idempotent.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # macOS, Windows, musl: their allocators are left alone
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    # 32 MiB is the largest mmap threshold glibc accepts on 64-bit; bigger blocks (a whole split) stay mmapped
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 1 << 30))


def git_commit() -> str | None:
    if os.environ.get(GIT_COMMIT_ENV):
        return os.environ[GIT_COMMIT_ENV]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


# ---- command line ---------------------------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line, exit code 2."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


# ---- files ---------------------------------------------------------------------------------

def run_dir(logdir: str | Path, study: str, name: str, seed: int) -> Path:
    return Path(logdir) / study / name / f"seed{seed}"


def finite_or_none(value: Any) -> Any:
    """JSON has no NaN: non-finite floats become null, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


TEMP_PREFIX = ".tmp-pid"  # temporaries are hidden and name their writer, so a dead one's can be removed


def temp_prefix(name: str) -> str:
    return f"{TEMP_PREFIX}{os.getpid()}-{name}."


def remove_stale_temps(directory: Path) -> int:
    """Delete the temporaries in `directory` whose writing process is gone (killed mid-write)."""
    removed = 0
    for entry in Path(directory).glob(f"{TEMP_PREFIX}*"):
        pid = entry.name[len(TEMP_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink(missing_ok=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically: readers see the old file or the whole new one, never a part."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(finite_or_none(data), indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def save_checkpoint(path: str | Path, checkpoint: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)


def clean_dir(path: Path, keep: Iterable[str] = ()) -> None:
    """Empty a partial run directory, keeping the named entries (its lock file)."""
    keep = set(keep)
    for entry in path.iterdir():
        if entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


@contextmanager
def dir_lock(path: Path) -> Iterator[bool]:
    """Hold an exclusive, non-blocking lock on path/.lock; yields False when another process has it.

    The kernel drops the lock when its holder dies, even by SIGKILL, so no stale lock survives.
    """
    path.mkdir(parents=True, exist_ok=True)
    with open(path / LOCK_NAME, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = True
        except BlockingIOError:
            locked = False
        try:
            yield locked
        finally:
            if locked:
                fcntl.flock(f, fcntl.LOCK_UN)


LOCK_NAME = ".lock"


# ---- TensorBoard -----------------------------------------------------------------------------

HPARAM_KEYS = ("model", "act", "depth", "width", "optimizer", "lr", "batch_size", "epochs", "schedule")
METRIC_TAGS = ("test/acc", "test/loss", "val/acc", "val/loss", "train/loss_epoch")


def hparams_of(config: dict) -> dict[str, Any]:
    """The values shown in TensorBoard's HParams table (no seed, so seeds of one config group)."""
    flat = {**config, **config.get("model_args", {})}
    return {k: flat[k] for k in HPARAM_KEYS if flat.get(k) is not None}


def write_hparams_config(study_dir: Path, configs: list[dict]) -> None:
    """The study's experiment config at logs/<study>/, replacing an older one."""
    from tensorboard.plugins.hparams import summary_v2 as hp
    from torch.utils.tensorboard import SummaryWriter

    values: dict[str, set] = {}
    for config in configs:
        for k, v in hparams_of(config).items():
            values.setdefault(k, set()).add(v)
    hparams = [hp.HParam(k, hp.Discrete(sorted(v))) for k, v in values.items()
               if len({type(x) for x in v}) == 1]
    pb = hp.hparams_config_pb(hparams=hparams, metrics=[hp.Metric(t) for t in METRIC_TAGS])
    study_dir.mkdir(parents=True, exist_ok=True)
    old = list(study_dir.glob("events.out.tfevents.*"))
    with tempfile.TemporaryDirectory(dir=study_dir, prefix=temp_prefix("hparams")) as tmp:
        with SummaryWriter(tmp) as writer:
            writer.file_writer.add_summary(pb)
        new = next(Path(tmp).glob("events.out.tfevents.*"))
        os.replace(new, study_dir / new.name)
    for f in old:
        f.unlink(missing_ok=True)


def write_run_hparams(writer, config: dict) -> None:
    from tensorboard.plugins.hparams import summary_v2 as hp

    writer.file_writer.add_summary(hp.hparams_pb(hparams_of(config), trial_id=config["name"]))


# ---- executors ---------------------------------------------------------------------------------

def threads_per_job(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // jobs)


def _init_worker(threads: int) -> None:
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it terminates us
    torch.set_num_threads(threads)


def run_serial(fn: Callable, tasks: list, on_done: Callable | None = None) -> list:
    results = []
    for task in tasks:
        results.append(fn(task))
        if on_done:
            on_done(task, results[-1])
    return results


def _indexed(fn_and_item: tuple) -> tuple:
    fn, i, task = fn_and_item
    return i, fn(task)


def run_processes(fn: Callable, tasks: list, jobs: int, threads: int,
                  on_done: Callable | None = None) -> list:
    """Run fn(task) in `jobs` spawned processes with `threads` torch threads each; results in task order."""
    import multiprocessing as mp

    results: list = [None] * len(tasks)
    pool = mp.get_context("spawn").Pool(jobs, initializer=_init_worker, initargs=(threads,))
    try:
        for i, result in pool.imap_unordered(_indexed, [(fn, i, t) for i, t in enumerate(tasks)]):
            results[i] = result
            if on_done:
                on_done(tasks[i], result)
        pool.close()
    except BaseException:
        pool.terminate()  # unfinished runs keep no result.json, so the next invocation redoes them
        raise
    finally:
        pool.join()
    return results


# ---- Ray --------------------------------------------------------------------------------------

RAY_INSTALL = "pip install -r requirements-ray.txt"
# Kept out of the code shipped to Ray workers: runs, figures, caches and the extracted MNIST files.
# The four data/MNIST/raw/*.gz (11 MB) do travel, so a worker needs no shared data directory.
RAY_EXCLUDES = ["logs/", "runs/", "result/", ".git", "*.pt", "__pycache__/", ".pytest_cache/", ".venv/",
                "venv/", "data/MNIST/raw/*-ubyte", "data/MNIST/raw/*.tmp*", "data/MNIST/processed/"]


def require_ray() -> None:
    """UsageError naming the install command unless Ray can be imported."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UsageError(f"--backend ray needs Ray: {RAY_INSTALL}") from None


def ray_runtime_env(keep_out: Iterable[str | Path] = ()) -> dict:
    """The project as the workers' working_dir; `keep_out`: more folders (a --logdir inside it) not to ship."""
    folders = [Path(p).resolve() for p in keep_out]
    excludes = RAY_EXCLUDES + [f"/{f.relative_to(ROOT).as_posix()}/" for f in folders
                               if f != ROOT and f.is_relative_to(ROOT)]
    # Recent Ray leaves CUDA_VISIBLE_DEVICES alone for a task asking for no GPU (ray-project/ray#54868):
    # without this, a run with --gpus-per-run 0 and --device auto would use a GPU Ray did not give it.
    env_vars = {"RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "1", GIT_COMMIT_ENV: git_commit() or ""}
    return {"working_dir": str(ROOT), "excludes": excludes, "env_vars": env_vars}


def connect_ray(address: str | None = None, num_cpus: int | None = None,
                keep_out: Iterable[str | Path] = ()) -> bool:
    """Connect to the cluster at `address` (else RAY_ADDRESS), else start a local instance.

    True when this call connected, False when Ray already was (then its caller owns the connection).
    """
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    where = {"address": address} if address else {"num_cpus": num_cpus or os.cpu_count(), "include_dashboard": False}
    try:
        ray.init(runtime_env=ray_runtime_env(keep_out), logging_level="WARNING", **where)
    except (ConnectionError, ValueError) as e:  # no cluster there, a malformed address, or too much to ship
        raise UsageError(f"Ray at {address or 'a new local instance'}: {_first_line(e)}") from None
    return True


def _with_threads(fn: Callable, threads: int, task: Any) -> Any:
    # Ray reuses worker processes and sizes their thread pools by its own rules: set ours every time,
    # so that a run computes exactly what the local backend computes with the same --threads.
    torch.set_num_threads(threads)
    return fn(task)


def run_ray(fn: Callable, tasks: list, on_done: Callable | None = None, *, failed: Callable[[Any, str], Any],
            address: str | None = None, cpus_per_run: float = 1.0, gpus_per_run: float = 0.0,
            threads: int | None = None, keep_out: Iterable[str | Path] = ()) -> list:
    """Run fn(task) as Ray tasks; results in task order, each passed to on_done as it arrives.

    A task whose worker dies gets failed(task, why) as its result, and the others go on.
    `threads`: torch threads per run, default the whole CPUs of cpus_per_run (at least 1).
    """
    import ray

    started = connect_ray(address, keep_out=keep_out)
    try:
        # No retries: a run that killed its worker (out of memory, a crash) would most likely do it
        # again; the run store is the retry, since the next invocation redoes exactly the missing runs.
        remote = ray.remote(_with_threads).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0,
                                                   name=getattr(fn, "__name__", "task"))
        threads = threads or max(1, int(cpus_per_run))
        refs = [remote.remote(fn, threads, task) for task in tasks]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list = [None] * len(tasks)
        pending = list(refs)
        try:
            while pending:
                [ref], pending = ray.wait(pending, num_returns=1)
                i = index[ref]
                try:
                    results[i] = ray.get(ref)
                except ray.exceptions.RayTaskError as e:  # fn raised: the worker lives, the task failed
                    results[i] = failed(tasks[i], f"{type(e.cause).__name__}: {e.cause}")
                except ray.exceptions.RayError as e:  # the worker died (killed, out of memory), or Ray failed
                    died = isinstance(e, (ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError))
                    results[i] = failed(tasks[i], ("worker died: " if died else "") + _first_line(e))
                if on_done:
                    on_done(tasks[i], results[i])
        except BaseException:
            for ref in pending:  # unfinished runs keep no result.json, so the next invocation redoes them
                ray.cancel(ref, force=True)
            raise
        return results
    finally:
        if started:
            ray.shutdown()


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
