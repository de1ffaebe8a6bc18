"""Older runs into today's store: the older layout migrated, and runs of older code adopted by proof.

Migration: a run directory of the layout before the store (logs/<study>/<name>-<id>/seed<k>/, holding the run's
files) moves to the store under the id of its own computation (its config, the digest of the code at its commit,
its torch version and device type) and stays visible as its study's view. Where that id is today's, the run is
simply finished; nothing retrains.

Adoption: when the code or the environment changed, a config's finished runs are not thrown away. One seed of the
config retrains under today's code (the probe); where its result, predictions and final weights are bit-identical
to the old run's of that seed, the other seeds' runs are adopted under today's id and say so in their result.json.
Only runs trained on a CPU are adopted: there training is bit-reproducible; a GPU's is not guaranteed.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from runstore import (STORE, VIEW_FILE, code_digest, config_key, device_type, identity_config, link_view, read_result,
                      run_digest_of, run_id, store_copy, store_path, to_store_name, view_path)
from studies import manifest_name
from utils import read_json, write_json

LEGACY = "legacy:"  # the code name of a run whose commit cannot be read: it can only be adopted by a probe
REPRODUCIBLE = ("cpu",)  # device types whose training is bit-reproducible run to run
# what a probe must reproduce, bit for bit (times and where it ran may differ)
SAME_FIELDS = ("status", "test_loss", "test_acc", "test_per_class_acc", "test_confusion", "best_val_acc", "n_params",
               "steps_per_epoch", "diverged_at_step", "shared", "val_curve", "epochs")


# ---- migration of the older layout ---------------------------------------------------------------------

@dataclass
class Move:
    """A run of the older layout (or a view whose stored run is missing) and where it goes."""
    old_dir: Path
    store_dir: Path
    view_dir: Path
    result: dict  # as it will be stored: with its run digest and id
    updates: dict  # what the store's result.json and config.json add to the old ones


def old_code(result: dict, sources: dict) -> str:
    """The digest of the code at the run's commit, computed today's way; a legacy name where the commit is unknown."""
    commit = result.get("git_commit")
    if commit and commit not in sources:
        try:
            from digest import source_at
            sources[commit] = source_at(commit)
        except ImportError:
            sources[commit] = None
    source = sources.get(commit) if commit else None
    if source is None:
        return LEGACY + str(result.get("code_digest") or "unrecorded")
    return run_digest_of(result["config"], source)


def old_environment(result: dict) -> dict:
    return {"torch": result.get("torch_version"), "device_type": device_type(result.get("device"))}


def migration_plan(logdir: Path) -> list[Move]:
    """Finished runs outside the store: each with the store directory of its computation and its new view."""
    moves, sources = [], {}
    logdir = Path(logdir)
    if not logdir.is_dir():
        return []
    for study_dir in sorted(d for d in logdir.iterdir() if d.is_dir() and d.name != STORE):
        for old in sorted(study_dir.glob("*/seed*")):
            result = read_result(old)
            if result is None or not old.is_dir():
                continue
            if (old / VIEW_FILE).is_file() and read_result(_stored(logdir, old)) is not None:
                continue  # a view of a stored run
            code = old_code(result, sources)
            rid = run_id(result["config"], code, old_environment(result))
            name = result["name"] if not (old / VIEW_FILE).is_file() else read_json(old / VIEW_FILE)["name"]
            updates = {"run_digest": code, "config_id": rid}
            if result.get("config_id") != rid:  # it was named another way
                updates["migrated"] = {"config_id": result.get("config_id"), "from": old.relative_to(logdir).as_posix()}
            moves.append(Move(old, store_path(logdir, rid, result["seed"]),
                              view_path(logdir, study_dir.name, name, rid, result["seed"]), {**result, **updates},
                              updates))
    return moves


def _stored(logdir: Path, view: Path) -> Path:
    try:
        return Path(logdir) / read_json(view / VIEW_FILE)["run"]
    except (OSError, ValueError, KeyError, TypeError):
        return Path(logdir) / STORE / "missing"


def migrate(logdir: Path, moves: list[Move]) -> int:
    """Carry out a migration plan; the number of runs moved. Each step is a rename or a link: a kill loses nothing."""
    renamed: dict[Path, dict[str, str]] = {}
    for move in moves:
        if read_result(move.store_dir) is None:
            store_copy(move.old_dir, move.store_dir, to_store_name, move.updates)
        study = move.view_dir.parent.parent.name
        name = move.view_dir.parent.name[:-len(move.store_dir.parent.name) - 1]
        if move.old_dir != move.view_dir:
            link_view(move.store_dir, move.view_dir, study, name)
            _set_aside(move.old_dir)
            renamed.setdefault(move.old_dir.parent.parent, {})[move.old_dir.parent.name] = move.view_dir.parent.name
        else:
            link_view(move.store_dir, move.view_dir, study, name)
    for study_dir, names in renamed.items():
        _rename_in_manifests(study_dir, names)
    return len(moves)


def _set_aside(old: Path) -> None:
    """The old directory's files are in the store now; the directory goes, and its config directory once empty."""
    shutil.rmtree(old)
    parent = old.parent
    if parent.is_dir() and not any(p for p in parent.iterdir() if p.name != ".lock"):
        shutil.rmtree(parent)


def _rename_in_manifests(study_dir: Path, names: dict[str, str]) -> None:
    for path in sorted(study_dir.glob(manifest_name("*", "*"))) + sorted(study_dir.glob("study.json")):
        try:
            manifest = read_json(path)
            configs = manifest["configs"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if any(v in names for v in configs.values()):
            manifest["configs"] = {k: names.get(v, v) for k, v in configs.items()}
            write_json(path, manifest)


# ---- adoption by probe ------------------------------------------------------------------------------------

@dataclass
class Adoption:
    """A config whose runs of older code or another environment may be adopted once one seed is reproduced."""
    probe: dict  # the task that retrains one seed
    old_runs: dict[int, Path]  # seed -> the older run's directory
    pending: list[dict] = field(default_factory=list)  # the other seeds' tasks, adopted or trained after the probe


def candidates(logdir: Path, config: dict, env: dict, rid: str, pending: dict[Path, dict] | None = None
               ) -> dict[int, Path]:
    """{seed: directory} of finished runs of the same config under other code or environment, from the one older
    run id with the most seeds; none unless both sides ran on a reproducible device."""
    if env["device_type"] not in REPRODUCIBLE:
        return {}
    want = identity_config(config)
    found: dict[str, dict[int, Path]] = {}
    known = {d: read_result(d) for d in Path(logdir, STORE).glob(f"{config_key(config)}-*/seed*")}
    known.update({d: r for d, r in (pending or {}).items() if d.name.startswith("seed")
                  and d.parent.name.startswith(config_key(config) + "-")})
    for d, result in known.items():
        if (result is None or d.parent.name == rid or device_type(result.get("device")) not in REPRODUCIBLE
                or identity_config(result["config"]) != want):
            continue
        found.setdefault(d.parent.name, {})[result["seed"]] = d
    return max(found.values(), key=len, default={})


def differences(new_dir: Path, old_dir: Path) -> list[str]:
    """What differs between two runs' numbers: results, test predictions, final weights; [] when bit-identical."""
    new, old = read_result(new_dir), read_result(old_dir)
    if new is None or old is None:
        return ["a result is missing"]
    diffs = [k for k in SAME_FIELDS if new.get(k) != old.get(k)]
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in new.get("history", [])]
    if strip != [{k: v for k, v in h.items() if k != "seconds"} for h in old.get("history", [])]:
        diffs.append("history")
    for name in ("predictions.npy", "model.pt"):
        a, b = new_dir / name, old_dir / name
        if a.is_file() != b.is_file():
            diffs.append(name)
        elif a.is_file() and name == "predictions.npy" and a.read_bytes() != b.read_bytes():
            diffs.append(name)
        elif a.is_file() and name == "model.pt" and not _same_weights(a, b):
            diffs.append("final weights")
    return diffs


def _same_weights(a: Path, b: Path) -> bool:
    import torch

    sa = torch.load(a, map_location="cpu", weights_only=True)["state_dict"]
    sb = torch.load(b, map_location="cpu", weights_only=True)["state_dict"]
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def adopt(old_dir: Path, task: dict, probe_dir: Path) -> dict:
    """Store the older run under the task's id, its result saying where it came from; returns that result."""
    store = Path(task["store_dir"])
    logdir = store.parent.parent.parent
    result, config = read_result(old_dir), task["config"]
    adopted = {"from": _relative(old_dir, logdir), "probe": _relative(probe_dir, logdir),
               "run_digest": result.get("run_digest"), "code_digest": result.get("code_digest"),
               "torch_version": result.get("torch_version")}
    # named by today's code from now on: it computes what today's code computes, bit for bit
    updates = {"run_digest": task["run_digest"], "config_id": task["config_id"], "code_digest": code_digest(),
               "adopted": adopted}
    store_copy(old_dir, store, lambda name: name, updates)
    link_view(store, Path(task["run_dir"]), config["study"], config["name"])
    return {**result, **updates}


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)
