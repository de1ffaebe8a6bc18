"""The run store: a run's identity (config, code digest, environment), reuse of finished runs, views, locks.

A run is stored once, under logs/runs/<id>/seed<k>/, keyed by what it computes; each study that asks for it
sees it in a view, logs/<study>/<name>-<id>/seed<k>/, of linked files. A finished run is reused when its
config, the code that decides its numbers and the environment all match, the way a build tool decides
what is up to date. "The code" is digest.py's: the statements of the numeric
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
import inspect
import json
import os
import shutil
import tempfile
import traceback
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

# the code identity lives in digest.py (no torch); these names stay importable from here
from digest import NUMERIC_MODULES, code_digest, code_modules, numeric_tree, run_digest  # noqa: F401
from recipes import DEFAULT_CONFIG, make_config
from train import train_run
from utils import (TEMP_PREFIX, clean_dir, disk_full_message, is_disk_full, read_json, temp_prefix, valid_result,
                   write_json)

LOCK_NAME = ".lock"


# ---- run identity ------------------------------------------------------------------------------------
# A run is a pure function of its normalised config, the code that decides its numbers and the environment that can
# change a number (torch version, device type). Its id names all three; it is stored once, under logs/runs/<id>/, and
# every study that asks for it sees it in a view of its own, logs/<study>/<name>-<id>/seed<k>/, whose files are links.

STORE = "runs"  # logs/runs/<run id>/seed<k>/: every run once, keyed by what it computes
VIEW_FILE = "view.json"  # in a study's view of a run: which study and config name show it, and where it is stored
STORED_EVENTS = ".stored-events."  # the store's event files: a name TensorBoard does not list (views list them)
IDENTITY_EXCLUDES = ("study", "name", "seed", "device")  # the view names the first two; seed and device type: below
_MISSING = object()


def run_digest_of(config: dict, source=None) -> str:
    """The digest of the code that decides `config`'s numbers (digest.run_digest; `source`: the modules' text at
    another commit, digest.source_at)."""
    return run_digest(config, source)


def device_type(device) -> str:
    """'cpu', 'cuda', 'mps': a torch.device's type, or of a recorded device string ('cuda:0')."""
    return getattr(device, "type", None) or str(device or "cpu").split(":")[0]


def environment(device) -> dict:
    """What besides the code can change a number: the torch version and the device type."""
    import torch

    return {"torch": torch.__version__, "device_type": device_type(device)}


@lru_cache(maxsize=None)
def model_defaults(model: str) -> dict:
    """The network's constructor arguments with their defaults (the dataset's in_shape and n_classes left out)."""
    from model import MODELS

    params = inspect.signature(MODELS[model]).parameters.values() if model in MODELS else []
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def _plain(value):
    """-0.0 is 0.0: equal numbers, one identity."""
    return 0.0 if isinstance(value, float) and value == 0 else value


def identity_config(config: dict) -> dict:
    """The config as its numbers see it: every value that differs from its default, network arguments included.

    A network argument at its constructor's default is left out, as is a key at DEFAULT_CONFIG's, so relu, conv2 and
    conv_w32 (a ConvNet with its default act, depth or width) are one config, and a key or argument added later with
    the old behaviour as its default keeps every identity.
    """
    config = make_config(**config)
    defaults = model_defaults(config["model"])
    args = {k: _plain(v) for k, v in config["model_args"].items() if defaults.get(k, _MISSING) != v}
    values = {k: _plain(v) for k, v in {**config, "model_args": args}.items() if k not in IDENTITY_EXCLUDES}
    return {k: v for k, v in values.items() if DEFAULT_CONFIG.get(k, _MISSING) != v}


def _short_hash(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:8]


def config_key(config: dict) -> str:
    """8 hex digits of the normalised config: the first half of a run id, the same under any code."""
    return _short_hash(identity_config(config))


def run_id(config: dict, code: str, env: dict) -> str:
    """`<config key>-<code key>`: the config, and the code and environment that computed it."""
    return f"{config_key(config)}-{_short_hash({'code': code, **env})}"


def config_id(config: dict, code: str | None = None, env: dict | None = None) -> str:
    """The run id of `config` under `code` (default today's) on `env` (default this machine's CPU)."""
    return run_id(config, code or run_digest_of(config), env or environment("cpu"))


def config_dir(config: dict, code: str | None = None, env: dict | None = None) -> str:
    """`<name>-<run id>`: the directory of a study's view of the config's runs."""
    return f"{config['name']}-{config_id(config, code, env)}"


def store_path(logdir: str | Path, rid: str, seed: int) -> Path:
    return Path(logdir) / STORE / rid / f"seed{seed}"


def view_path(logdir: str | Path, study: str, name: str, rid: str, seed: int) -> Path:
    """logs/<study>/<name>-<run id>/seed<k>/: where TensorBoard and plot.py find a study's config."""
    return Path(logdir) / study / f"{name}-{rid}" / f"seed{seed}"


def identity(config: dict, code: str, env: dict) -> dict:
    """What train_run records of a run's identity: run id, `run_digest` (its config's share of the code, part of the
    id), `code_digest` (the numeric code as a whole: which version trained it, as REPORT.md names it) and its HParams
    trial (the view's dir)."""
    rid = run_id(config, code, env)
    return {"config_id": rid, "run_digest": code, "code_digest": code_digest(), "trial": f"{config['name']}-{rid}"}


def make_task(config: dict, logdir: str | Path, dataset, code: str, env: dict | None = None, **options) -> dict:
    """A run as the planner resolved it once: the normalised config, its identity, store and view, its dataset entry.

    `views`: other studies' views of the same run, linked when it finishes.
    """
    env = env or environment("cpu")
    ids = identity(config, code, env)
    return {"config": config, **ids, "env": env, "dataset": dataset, "views": [],
            "store_dir": str(store_path(logdir, ids["config_id"], config["seed"])),
            "run_dir": str(view_path(logdir, config["study"], config["name"], ids["config_id"], config["seed"])),
            **options}


def task_mismatch(task: dict) -> str | None:
    """Why a worker must not train `task` (its config, code, environment or directories are not what the planner
    resolved), or None."""
    import torch

    config, code = task["config"], task["run_digest"]
    if code != run_digest_of(config):
        return "the code changed on disk after this invocation planned the run (its digest differs): rerun the command"
    if task["env"]["torch"] != torch.__version__:
        return f"this worker has torch {torch.__version__}, the run was planned for torch {task['env']['torch']}"
    if make_config(**config) != config:
        return "the task's config is not normalised: plan runs with runstore.make_task"
    store, view = Path(task["store_dir"]), Path(task["run_dir"])
    rid = run_id(config, code, task["env"])
    if (task.get("config_id"), store.parent.name, store.name) != (rid, rid, f"seed{config['seed']}"):
        return f"{store} is not the store directory of this config and code ({rid}/seed{config['seed']})"
    if (view.parent.name, view.name, view.parent.parent.name) != (task["trial"], f"seed{config['seed']}",
                                                                  config["study"]):
        return f"{view} is not the view of this config ({config['study']}/{task['trial']}/seed{config['seed']})"
    if task["dataset"].name != config["dataset"]:
        return f"the task carries dataset '{task['dataset'].name}' for a config of '{config['dataset']}'"
    return None


# ---- finished runs ----------------------------------------------------------------------------------

def read_result(run_dir: Path) -> dict | None:
    """A run directory's valid result.json, or None (absent, unreadable or half-written)."""
    try:
        result = read_json(Path(run_dir) / "result.json")
    except (OSError, ValueError):
        return None
    return result if valid_result(result) else None


def same_computation(result: dict, config: dict, code: str, env: dict) -> bool:
    """True when `result` is the run of `config` under `code` on `env` (whatever study or name asked for it)."""
    try:
        same_config = identity_config(result["config"]) == identity_config(config)
    except (TypeError, ValueError):
        return False
    return (same_config and result.get("run_digest") == code and result.get("torch_version") == env["torch"]
            and device_type(result.get("device")) == env["device_type"])


def stored_result(store_dir: Path, config: dict, code: str, env: dict) -> dict | None:
    """The finished result in store_dir when it is the run of `config` under `code` on `env`, else None."""
    result = read_result(store_dir)
    return result if result is not None and same_computation(result, config, code, env) else None


def as_view(result: dict, config: dict) -> dict:
    """A stored result as a study's view shows it: under that study's and config's name."""
    names = {"study": config["study"], "name": config["name"]}
    return {**result, **names, "config": {**result["config"], **names}}


def failed_result(task: dict, error: str, **extra) -> dict:
    """The result of a run that did not finish: which run, and why."""
    config = task["config"]
    return {"status": "failed", "study": config["study"], "name": config["name"], "seed": config["seed"],
            "run_dir": str(task["run_dir"]), "error": error, **extra}


# ---- the store and its views -------------------------------------------------------------------------

def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link (no space, and a live event file stays live); a copy where the file system has none."""
    try:
        os.link(source, target)
    except OSError as e:
        if is_disk_full(e):
            raise
        shutil.copy2(source, target)


def _fill(source: Path, target: Path, rename) -> None:
    """Link every file of a run directory into `target`, each under rename(its name); locks and temporaries stay."""
    for entry in sorted(source.iterdir()):
        if entry.is_file() and entry.name not in (LOCK_NAME, VIEW_FILE) and not entry.name.startswith(TEMP_PREFIX):
            _link_or_copy(entry, target / rename(entry.name))


def _swap_in(new: Path, target: Path) -> None:
    """Rename directory `new` to `target`; an older `target` (a copy of the same run, or a partial one) goes."""
    if target.exists():
        old = target.parent / f"{temp_prefix(target.name)}old"
        os.rename(target, old)
        os.rename(new, target)
        shutil.rmtree(old)
    else:
        os.rename(new, target)


def _temp_dir(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=target.parent, prefix=temp_prefix(target.name)))


def to_store_name(name: str) -> str:
    return name.replace(".tfevents.", STORED_EVENTS)


def to_view_name(name: str) -> str:
    return name.replace(STORED_EVENTS, ".tfevents.")


def store_copy(source: Path, store_dir: Path, rename, updates: dict) -> None:
    """Store the run in `source` under store_dir, its result.json and config.json updated (new files: the source's
    stay as they were), atomically."""
    tmp = _temp_dir(store_dir)
    try:
        _fill(source, tmp, rename)
        for name in ("result.json", "config.json"):
            if (tmp / name).is_file():
                record = {**read_json(tmp / name), **updates}
                (tmp / name).unlink()  # a link to the source's file: that one stays as it was
                write_json(tmp / name, record)
        _swap_in(tmp, store_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish(view_dir: Path, store_dir: Path) -> None:
    """Put the finished run in view_dir into the store, atomically (the whole directory appears at once)."""
    tmp = _temp_dir(store_dir)
    try:
        _fill(view_dir, tmp, to_store_name)
        _swap_in(tmp, store_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def view_record(store_dir: Path, study: str, name: str) -> dict:
    return {"study": study, "name": name, "run": f"{STORE}/{store_dir.parent.name}/{store_dir.name}"}


def link_view(store_dir: Path, view_dir: Path, study: str, name: str) -> None:
    """Make view_dir a study's view of the stored run: its files linked, the event file under TensorBoard's name."""
    record = view_record(store_dir, study, name)
    if _is_view_of(view_dir, record) and read_result(view_dir) == read_result(store_dir):
        return
    tmp = _temp_dir(view_dir)
    try:
        _fill(store_dir, tmp, to_view_name)
        write_json(tmp / VIEW_FILE, record)
        _swap_in(tmp, view_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def mark_view(view_dir: Path, store_dir: Path, study: str, name: str) -> None:
    write_json(view_dir / VIEW_FILE, view_record(store_dir, study, name))


def _is_view_of(view_dir: Path, record: dict) -> bool:
    try:
        return read_json(view_dir / VIEW_FILE) == record
    except (OSError, ValueError):
        return False


def views_of(logdir: Path, store_dir: Path) -> list[Path]:
    """Every study's view of a stored run."""
    rid, seed = store_dir.parent.name, store_dir.name
    return sorted(d for d in Path(logdir).glob(f"*/*-{rid}/{seed}") if d.parent.parent.name != STORE)


def link_views(task: dict) -> None:
    """Link the stored run into the other views that asked for it (the first view trained it)."""
    for view in task.get("views", ()):
        link_view(Path(task["store_dir"]), Path(view["run_dir"]), view["study"], view["name"])


# ---- running one task ---------------------------------------------------------------------------------

def run_task(task: dict) -> dict:
    """Train task['config'] in its view directory under a per-run lock, then store it and link its other views.

    Never raises for a failed run. Returns the result, a finished result found in the store, {"status": "busy"} when
    another process holds the run, or {"status": "failed", "error": ...} (with "disk_full": the path, when the disk
    is full). A view that holds a finished run of another computation is never emptied, and a worker whose code is
    not the code the run was planned with refuses to train it.
    """
    if why := task_mismatch(task):
        return failed_result(task, f"refused to train: {why}")
    config, view, store = task["config"], Path(task["run_dir"]), Path(task["store_dir"])
    code, env = task["run_digest"], task["env"]
    log = None if task.get("quiet") else task.get("log", _print_flush)
    try:
        with run_lock(store) as locked:
            if not locked:
                return {"status": "busy", "study": config["study"], "name": config["name"], "seed": config["seed"],
                        "run_dir": str(view)}
            if not task.get("force") and (done := stored_result(store, config, code, env)):
                link_view(store, view, config["study"], config["name"])
                link_views(task)
                return {**as_view(done, config), "skipped": True}  # another invocation finished it meanwhile
            if (other := read_result(view)) is not None and not same_computation(other, config, code, env):
                return failed_result(task, f"{view} holds a finished run of another config or other code; "
                                           f"left untouched")
            if view.is_dir():
                clean_dir(view, keep=[LOCK_NAME])  # a partial run (or a copy of this one, --force) is redone
            try:
                result = train_run(config, view, log=log, identity=identity(config, code, env),
                                   dataset=task["dataset"])
                publish(view, store)
                mark_view(view, store, config["study"], config["name"])
                if task.get("force"):  # every view of the run shows the new one
                    logdir = store.parent.parent.parent
                    for other_view in views_of(logdir, store):
                        if other_view != view:
                            record = read_json(other_view / VIEW_FILE) if (other_view / VIEW_FILE).is_file() else {}
                            link_view(store, other_view, record.get("study", other_view.parent.parent.name),
                                      record.get("name", config["name"]))
                link_views(task)
                return result
            except Exception as e:  # one broken run must not stop the study
                if is_disk_full(e):
                    clean_dir(view, keep=[LOCK_NAME])  # nothing half-written stays; it frees the space too
                    return failed_result(task, disk_full_message(view), disk_full=str(view))
                return failed_result(task, f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
    except OSError as e:  # the lock file itself could not be written
        if is_disk_full(e):
            return failed_result(task, disk_full_message(store), disk_full=str(store))
        raise


def _print_flush(line: str) -> None:
    print(line, flush=True)


# ---- locks ----------------------------------------------------------------------------------------

@contextmanager
def dir_lock(path: Path, name: str = LOCK_NAME) -> Iterator[bool]:
    """Hold an exclusive, non-blocking lock on path/name; yields False when another process has it.

    The operating system drops the lock when its holder dies, even by SIGKILL, so no stale lock
    survives. POSIX locks with flock; Windows, which has no fcntl, with msvcrt's byte-range lock.
    """
    path.mkdir(parents=True, exist_ok=True)
    with open(path / name, "a+") as f:
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


def run_lock(store_dir: Path):
    """The lock of one run, beside its store directory (which appears only when the run is stored)."""
    return dir_lock(store_dir.parent, f"{LOCK_NAME}-{store_dir.name}")


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
