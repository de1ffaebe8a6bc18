"""Executors: run a list of tasks serially, in processes, or as Ray tasks; results in task order."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from utils import GIT_COMMIT_ENV, ROOT, UsageError, git_commit


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
