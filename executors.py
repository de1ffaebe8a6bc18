"""Executors: run a list of tasks serially, in processes, or as Ray tasks; results in task order."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from utils import GIT_COMMIT_ENV, ON_WINDOWS, ROOT, UsageError, git_commit, process_alive, usable_cpus


# ---- executors ---------------------------------------------------------------------------------

def threads_per_job(jobs: int) -> int:
    """Torch threads for each of `jobs` runs at once: the CPUs this process may use, shared out."""
    return max(1, usable_cpus()[0] // jobs)


EXIT_STOPPED = 75  # a worker's exit code when its pool stopped it (SIGTERM): not a death of its own


def _init_worker(threads: int, parent: int, started) -> None:
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops us
    signal.signal(signal.SIGTERM, lambda *_: os._exit(EXIT_STOPPED))
    _die_with_parent(parent)
    torch.set_num_threads(threads)
    global _STARTED
    _STARTED = started


def _die_with_parent(parent: int) -> None:
    """Never outlive the parent, even when it is SIGKILLed (a killed terminal, the OOM killer, a scheduler).

    Linux: the kernel sends us SIGKILL when the parent dies (PR_SET_PDEATHSIG). Elsewhere a daemon
    thread notices that the parent is gone and exits: on macOS and other POSIX systems we are
    reparented (getppid changes); on Windows getppid keeps the dead parent's pid, so the thread asks
    whether that process still exists (utils.process_alive, a query that does not signal it).
    """
    import signal
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        import ctypes
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the call above: nobody would signal us
            os._exit(1)
        return

    def watch() -> None:
        while parent_alive(parent):
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="watch-parent").start()


def parent_alive(parent: int) -> bool:
    """Whether the process that started this worker still runs (see _die_with_parent)."""
    return process_alive(parent) if ON_WINDOWS else os.getppid() == parent


_STARTED = None  # the queue on which a worker says which task it starts (set by _init_worker)


def _run_one(fn: Callable, i: int, task: Any) -> Any:
    _STARTED.put((os.getpid(), i))  # synchronous: written before the task starts, so a death after it is known
    return fn(task)


def run_serial(fn: Callable, tasks: list, on_done: Callable | None = None) -> list:
    results = []
    for task in tasks:
        results.append(fn(task))
        if on_done:
            on_done(task, results[-1])
    return results


def run_processes(fn: Callable, tasks: list, jobs: int, threads: int, on_done: Callable | None = None, *,
                  failed: Callable[[Any, str], Any]) -> list:
    """Run fn(task) in `jobs` spawned processes with `threads` torch threads each; results in task order.

    A worker that dies (killed, out of memory) breaks its pool: the run it held gets failed(task, why)
    as its result, and a fresh pool runs the tasks not yet done. Workers die with this process.
    """
    results: list = [None] * len(tasks)
    todo = list(range(len(tasks)))
    while todo:
        lost = _run_pool(fn, tasks, todo, jobs, threads, results, on_done)
        for i, why in lost.items():
            results[i] = failed(tasks[i], why)
            if on_done:
                on_done(tasks[i], results[i])
        left = [i for i in todo if results[i] is None]
        if len(left) == len(todo):  # no progress: the workers cannot start at all; never loop forever
            for i in left:
                results[i] = failed(tasks[i], "no worker process could run it (they died on start)")
                if on_done:
                    on_done(tasks[i], results[i])
            left = []
        todo = left
    return results


def _run_pool(fn: Callable, tasks: list, todo: list[int], jobs: int, threads: int, results: list,
              on_done: Callable | None) -> dict[int, str]:
    """Run tasks[todo] in one process pool until all are done or a worker dies: {task index: why it was lost}."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")
    started = ctx.SimpleQueue()
    pool = ProcessPoolExecutor(min(jobs, len(todo)), mp_context=ctx, initializer=_init_worker,
                               initargs=(threads, os.getpid(), started))
    futures = {pool.submit(_run_one, fn, i, tasks[i]): i for i in todo}
    workers = dict(getattr(pool, "_processes", None) or {})  # pid -> Process: every worker is started by now
    try:
        for future in as_completed(futures):
            try:
                result = future.result()
            except BrokenProcessPool:
                break
            i = futures[future]
            results[i] = result
            if on_done:
                on_done(tasks[i], result)
    except BaseException:  # Ctrl-C, SIGTERM, a full disk: stop every worker; unfinished runs keep no result.json
        for process in workers.values():
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)  # after a break, this waits until every worker has exited
    return _lost_runs(started, workers, results)


def _lost_runs(started, workers: dict, results: list) -> dict[int, str]:
    """{task index: why} for each run whose worker died of its own accord while holding it."""
    import signal

    held: dict[int, int] = {}  # pid -> the last task it started
    while not started.empty():
        pid, i = started.get()
        held[pid] = i
    in_flight = {pid: i for pid, i in held.items() if results[i] is None}
    lost = {}
    for pid, i in in_flight.items():
        process = workers.get(pid)
        code = process.exitcode if process is not None else None
        if process is not None and code in (0, EXIT_STOPPED):
            continue  # stopped by its pool because another worker died: run again in the next pool
        if code is not None and code < 0:
            how = f"killed by {signal.Signals(-code).name}" if -code in signal.valid_signals() else f"signal {-code}"
        else:
            how = f"exit code {code}" if code is not None else "its exit status is unknown"
        lost[i] = f"its worker process (pid {pid}) died, {how}; rerun the same command to redo this run"
    return lost


# ---- Ray --------------------------------------------------------------------------------------

RAY_INSTALL = "pip install -r requirements-ray.txt"
# Kept out of the code shipped to Ray workers: runs, figures, caches and every dataset's extracted files.
# The .gz files in data/*/raw (MNIST 11 MB, Fashion-MNIST 30 MB) do travel: a worker needs no shared data folder.
RAY_EXCLUDES = ["logs/", "runs/", "result/", ".git", "*.pt", "__pycache__/", ".pytest_cache/", ".venv/",
                "venv/", "data/*/raw/*-ubyte", "data/*/raw/*.tmp*", "data/*/processed/"]


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
    where = {"address": address} if address else {"num_cpus": num_cpus or usable_cpus()[0], "include_dashboard": False}
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
