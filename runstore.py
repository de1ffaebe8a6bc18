"""The run store: a run's identity (config + code digest), reuse of finished runs, locks, failed runs.

A finished run is reused only when its config and the code that decides its numbers both match, the
way a build tool decides what is up to date. "The code" is digest.py's: the statements of the numeric
modules (networks, data pipeline, training step and loop, optimizers and schedules, evaluation, the
config's defaults) that training reaches, with a registry counting only the entries a config uses and a
dataset counting as the values of its numeric facts. Words never count: docstrings, comments,
annotations, exception messages, log and print text, a dataset's title and class names, a module's
command line, code that no training path reaches; nor do the parser, help texts, this module, reports
and plots. A run of other code stays on disk untouched; the new run goes beside it, in a directory of
its own.
"""
from __future__ import annotations

import hashlib
import json
import os
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# the code identity lives in digest.py (no torch); these names stay importable from here
from digest import NUMERIC_MODULES, code_digest, code_modules, numeric_tree  # noqa: F401
from recipes import DEFAULT_CONFIG, make_config
from train import train_run
from utils import clean_dir, disk_full_message, is_disk_full, read_json, valid_result

IDENTITY_EXCLUDES = ("study", "name", "seed")  # the run directory's path already says these
LOCK_NAME = ".lock"


# ---- run identity ------------------------------------------------------------------------------------

def config_id(config: dict, code: str | None = None) -> str:
    """8 hex digits naming a normalised config's training settings (everything but study, name and seed) and its code.

    Only values that differ from DEFAULT_CONFIG count, so a key added to DEFAULT_CONFIG later with the
    old behaviour as its default keeps every identity that the code digest alone would keep.
    """
    distinct = {k: v for k, v in config.items() if k not in IDENTITY_EXCLUDES and DEFAULT_CONFIG.get(k) != v}
    distinct["code_digest"] = code or code_digest()
    return hashlib.sha256(json.dumps(distinct, sort_keys=True).encode()).hexdigest()[:8]


def config_dir(config: dict, code: str | None = None) -> str:
    """`<name>-<id>`: readable in TensorBoard, and unique per distinct config and code."""
    return f"{config['name']}-{config_id(config, code)}"


def run_path(logdir: str | Path, config: dict, code: str | None = None) -> Path:
    """logs/<study>/<name>-<id>/seed<k>/: a run of another config or other code never shares it."""
    return Path(logdir) / config["study"] / config_dir(config, code) / f"seed{config['seed']}"


def identity(config: dict, code: str | None = None) -> dict:
    """What train_run records of a run's identity: config id, code digest, and its HParams trial (the config dir)."""
    code = code or code_digest()
    return {"config_id": config_id(config, code), "code_digest": code, "trial": config_dir(config, code)}


def make_task(config: dict, logdir: str | Path, dataset, code: str, **options) -> dict:
    """A run as the planner resolved it once: the normalised config, its identity, directory and dataset entry."""
    return {"config": config, **identity(config, code), "run_dir": str(run_path(logdir, config, code)),
            "dataset": dataset, **options}


def task_mismatch(task: dict) -> str | None:
    """Why a worker must not train `task` (its config, code or directory is not what the planner resolved), or None."""
    config, code = task["config"], task["code_digest"]
    if code != code_digest():
        return "the code changed on disk after this invocation planned the run (its digest differs): rerun the command"
    if make_config(**config) != config:
        return "the task's config is not normalised: plan runs with runstore.make_task"
    run_dir, expected = Path(task["run_dir"]), identity(config, code)
    if (task.get("config_id"), run_dir.parent.name, run_dir.name, run_dir.parent.parent.name) != (
            expected["config_id"], expected["trial"], f"seed{config['seed']}", config["study"]):
        return f"{run_dir} is not the directory of this config and code ({expected['trial']}/seed{config['seed']})"
    if task["dataset"].name != config["dataset"]:
        return f"the task carries dataset '{task['dataset'].name}' for a config of '{config['dataset']}'"
    return None


# ---- finished runs ----------------------------------------------------------------------------------

def _read_result(run_dir: Path) -> dict | None:
    try:
        result = read_json(Path(run_dir) / "result.json")
    except (OSError, ValueError):  # absent, unreadable or half-written
        return None
    return result if valid_result(result) else None


def _same_config(result: dict, config: dict) -> bool:
    try:  # defaults filled in on both sides, so a key added to DEFAULT_CONFIG later keeps old runs valid
        return make_config(**result["config"]) == make_config(**config)
    except (TypeError, ValueError):
        return False


def stored_result(run_dir: Path, config: dict, code: str | None = None) -> dict | None:
    """The finished result in run_dir when its config and its code digest equal `config` and `code`, else None."""
    result = _read_result(run_dir)
    if result is None or result.get("code_digest") != (code or code_digest()):
        return None
    return result if _same_config(result, config) else None


def holds_other_run(run_dir: Path, config: dict, code: str | None = None) -> bool:
    """True when run_dir holds a readable finished run of another config or other code."""
    result = _read_result(run_dir)
    return result is not None and (result.get("code_digest") != (code or code_digest())
                                   or not _same_config(result, config))


def failed_result(task: dict, error: str, **extra) -> dict:
    """The result of a run that did not finish: which run, and why."""
    config = task["config"]
    return {"status": "failed", "study": config["study"], "name": config["name"], "seed": config["seed"],
            "run_dir": str(task["run_dir"]), "error": error, **extra}


# ---- running one task ---------------------------------------------------------------------------------

def run_task(task: dict) -> dict:
    """Train task['config'] into task['run_dir'] under a per-run lock; never raises for a failed run.

    Returns the result, a finished result found on disk, {"status": "busy"} when another process
    holds the run, or {"status": "failed", "error": ...} (with "disk_full": the path, when the disk is
    full). A directory that holds another config's or other code's finished run is never emptied, and
    a worker whose code is not the code the run was planned with refuses to train it.
    """
    if why := task_mismatch(task):
        return failed_result(task, f"refused to train: {why}")
    config, run_dir, code = task["config"], Path(task["run_dir"]), task["code_digest"]
    log = None if task.get("quiet") else task.get("log", _print_flush)
    try:
        with dir_lock(run_dir) as locked:
            if not locked:
                return {"status": "busy", "study": config["study"], "name": config["name"], "seed": config["seed"],
                        "run_dir": str(run_dir)}
            if done := stored_result(run_dir, config, code):
                if not task.get("force"):
                    return {**done, "skipped": True}  # another invocation finished it meanwhile
            elif holds_other_run(run_dir, config, code):
                return failed_result(task, f"{run_dir} holds a finished run of another config or other code; "
                                           f"left untouched")
            clean_dir(run_dir, keep=[LOCK_NAME])  # a partial run of this config is redone from scratch
            try:
                return train_run(config, run_dir, log=log, identity=identity(config, code), dataset=task["dataset"])
            except Exception as e:  # one broken run must not stop the study
                if is_disk_full(e):
                    clean_dir(run_dir, keep=[LOCK_NAME])  # nothing half-written stays; it frees the space too
                    return failed_result(task, disk_full_message(run_dir), disk_full=str(run_dir))
                return failed_result(task, f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
    except OSError as e:  # the lock file itself could not be written
        if is_disk_full(e):
            return failed_result(task, disk_full_message(run_dir), disk_full=str(run_dir))
        raise


def _print_flush(line: str) -> None:
    print(line, flush=True)


# ---- locks ----------------------------------------------------------------------------------------

@contextmanager
def dir_lock(path: Path) -> Iterator[bool]:
    """Hold an exclusive, non-blocking lock on path/.lock; yields False when another process has it.

    The operating system drops the lock when its holder dies, even by SIGKILL, so no stale lock
    survives. POSIX locks with flock; Windows, which has no fcntl, with msvcrt's byte-range lock.
    """
    path.mkdir(parents=True, exist_ok=True)
    with open(path / LOCK_NAME, "a+") as f:
        locked = _try_lock(f)
        try:
            if locked:  # the holder's pid, for a person wondering who holds it
                f.seek(0)
                f.truncate()
                f.write(f"{os.getpid()}\n")
                f.flush()
            yield locked
        finally:
            if locked:
                _unlock(f)


def _fcntl():
    """The fcntl module, or None where there is none (Windows)."""
    try:
        import fcntl
        return fcntl
    except ImportError:
        return None


def _try_lock(f) -> bool:
    if fcntl := _fcntl():
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
    import msvcrt
    try:
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        return True
    except OSError:
        return False


def _unlock(f) -> None:
    if fcntl := _fcntl():
        fcntl.flock(f, fcntl.LOCK_UN)
        return
    import msvcrt
    f.seek(0)
    msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
