"""The run store: a run's identity (config + code digest), reuse of finished runs, locks, failed runs.

A finished run is reused only when its config and the code that trained it both match, the way a
build tool decides what is up to date. "The code" is the parsed source of train.py and of every
project module it imports, directly or not (data, model, training, evaluation, their helpers):
comments, docstrings and formatting do not count, any other change does. A run of other code stays
on disk untouched; the new run goes beside it, in a directory of its own.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import traceback
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from train import DEFAULT_CONFIG, EVALS_PER_EPOCH, make_config, train_run
from utils import ROOT, clean_dir, disk_full_message, is_disk_full, read_json

CODE_ROOTS = ("train",)  # the module that trains a run; with what it imports, it decides the run's numbers
IDENTITY_EXCLUDES = ("study", "name", "seed")  # the run directory's path already says these
LOCK_NAME = ".lock"


# ---- code identity ---------------------------------------------------------------------------------

def _without_docstrings(tree: ast.AST) -> ast.AST:
    """The tree with every module, class and function docstring removed (they do not change a number)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


def _project_imports(tree: ast.AST, root: Path) -> set[str]:
    """Names of the project's top-level modules that `tree` imports anywhere (lazy imports included)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if (root / f"{n}.py").is_file()}


def code_modules(root: Path = ROOT) -> list[str]:
    """The project modules whose source decides a run's numbers: CODE_ROOTS and their imports, transitively."""
    seen: set[str] = set()
    todo = list(CODE_ROOTS)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _project_imports(ast.parse((root / f"{name}.py").read_text()), root) - seen
    return sorted(seen)


@lru_cache(maxsize=4)
def code_digest(root: Path = ROOT) -> str:
    """16 hex digits of the parsed source (the AST, without docstrings) of code_modules(root)."""
    h = hashlib.sha256()
    for name in code_modules(root):
        tree = _without_docstrings(ast.parse((root / f"{name}.py").read_text()))
        h.update(f"{name}\0{ast.dump(tree)}\0".encode())
    return h.hexdigest()[:16]


# ---- run identity ------------------------------------------------------------------------------------

def config_id(config: dict, code: str | None = None) -> str:
    """8 hex digits naming a config's training settings (everything but study, name and seed) and its code.

    Only values that differ from DEFAULT_CONFIG count, so a key added to DEFAULT_CONFIG later with the
    old behaviour as its default keeps every identity that the code digest alone would keep.
    """
    config = make_config(**config)
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


# ---- finished runs ----------------------------------------------------------------------------------

def valid_result(r: object) -> bool:
    """A result.json whose fields the suite reads are there and of the right kind (else it is damaged)."""
    try:
        ok = r["status"] == "ok"
        return (isinstance(r["name"], str) and isinstance(r["seed"], int) and isinstance(r["config"], dict)
                and isinstance(r["history"], list) and (not ok or isinstance(r["test_acc"], float)))
    except (KeyError, TypeError):
        return False


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
    config, run_dir = make_config(**task["config"]), Path(task["run_dir"])
    code = task.get("code_digest") or code_digest()
    if code != code_digest():
        return failed_result(task, "the code changed on disk after this invocation planned the run "
                                   "(its digest differs): rerun the command")
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
                return train_run(config, run_dir, log=log, evals_per_epoch=task.get("evals_per_epoch", EVALS_PER_EPOCH),
                                 identity=identity(config, code))
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
