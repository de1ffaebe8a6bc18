"""Shared plumbing: device choice, CPUs, git, atomic writes, the run files' formats, TensorBoard helpers.

Outside the code digest (digest.PLUMBING_MODULES): nothing here decides a number.
"""
from __future__ import annotations

import ctypes
import errno
import importlib
import io
import json
import math
import os
import platform
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

ROOT = Path(__file__).resolve().parent
DEVICES = ("auto", "cpu", "cuda", "mps")


class LazyModule:
    """Module `name`, imported when one of its attributes is first read (after `setup`, where given).

    The reading side's modules name numpy, pandas, scipy and matplotlib this way: each takes a noticeable
    part of a second to import, and `plot.py --help` or a module imported for one constant needs none.
    """

    def __init__(self, name: str, setup: Callable[[], None] | None = None):
        self._name, self._setup, self._module = name, setup, None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            if self._setup:
                self._setup()
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


class UsageError(ValueError):
    """A bad command-line value: reported in one line, exit code 2."""


def pick_device(name: str = "auto") -> torch.device:
    """cuda, then mps, then cpu for 'auto'; a named device must exist."""
    import torch  # here, not above: the reading side imports this module and never needs torch

    if name not in DEVICES:
        raise UsageError(f"unknown device '{name}'; valid: {', '.join(DEVICES)}")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if name == "auto":
        name = next(d for d in ("cuda", "mps", "cpu") if available[d])
    if not available[name]:
        raise UsageError(f"device '{name}' is not available on this machine; use --device cpu")
    return torch.device(name)


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 instructions that compute bfloat16 natively


def _cpuinfo_field(cpuinfo: Path, keys: tuple[str, ...]) -> str | None:
    """The value of the first /proc/cpuinfo line that starts with one of `keys`; None where there is none."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith(keys):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags as Linux lists them; empty where it does not (another OS: no bf16 claimed)."""
    return set((_cpuinfo_field(cpuinfo, ("flags", "Features")) or "").split())


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name as Linux lists it (lscpu's 'Model name'), else what platform says."""
    return _cpuinfo_field(cpuinfo, ("model name",)) or platform.processor() or platform.machine()


_IMPORTED = time.monotonic()


def process_seconds() -> float:
    """Seconds since this process started (Linux: from /proc, the interpreter's start-up included), else since
    this module was imported."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic() - _IMPORTED


def native_bf16(device: torch.device) -> tuple[bool, str]:
    """(whether `device` computes bfloat16 natively, why, in a few words for the plan line)."""
    import torch

    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        name = torch.cuda.get_device_name(device)
        if major >= 8:  # Ampere and later: bf16 tensor cores
            return True, f"this GPU ({name}, compute capability {major}.{minor}) computes bf16 natively"
        return False, f"this GPU ({name}, compute capability {major}.{minor}) has no native bf16"
    if device.type == "cpu":
        found = [flag for flag in BF16_CPU_FLAGS if flag in cpu_flags()]
        if found:
            return True, f"this CPU has {' and '.join(found)}"
        return False, f"this CPU has neither {' nor '.join(BF16_CPU_FLAGS)}"
    return False, f"no native bf16 is known for {device.type}"


def resolve_precision(choice: str, device: torch.device | str) -> tuple[str, str]:
    """(fp32 or bf16, why): `auto` takes bf16 where the device computes it natively, fp32 elsewhere."""
    if choice != "auto":
        return choice, "--precision " + choice
    import torch

    if not isinstance(device, torch.device):  # Ray: the workers' hardware is not known here
        return "fp32", "auto on Ray workers, whose hardware is not known here (--precision bf16 chooses it)"
    native, why = native_bf16(device)
    return ("bf16" if native else "fp32"), f"auto: {why}"


def usable_cpus(cgroup_root: Path = Path("/sys/fs/cgroup"),
                proc_cgroup: Path = Path("/proc/self/cgroup")) -> tuple[int, str]:
    """(CPUs this process may use, how that was found): its affinity mask, capped by a cgroup CPU quota.

    os.cpu_count() is the host's: in a container limited to 2 CPUs on a 64-core host it says 64.
    """
    try:
        n, how = len(os.sched_getaffinity(0)), "the CPU affinity mask"
    except AttributeError:  # macOS and Windows have no affinity call
        n, how = os.cpu_count() or 1, "os.cpu_count()"
    quota = cgroup_cpu_quota(cgroup_root, proc_cgroup)
    if quota and quota[0] < n:
        return quota[0], f"{n} in {how}, capped by the cgroup CPU quota ({quota[1]})"
    return n, f"{how}" + (f"; cgroup quota {quota[1]}" if quota else "; no cgroup CPU quota")


def cgroup_cpu_quota(root: Path, proc_cgroup: Path) -> tuple[int, str] | None:
    """(whole CPUs, the file and its values) of the tightest CPU quota over this process's cgroup and its
    ancestors: cgroup v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us; None without a quota."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    found = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: one unified hierarchy
            dirs = [root / p for p in _ancestors(path)]
            found += [q for d in dirs if (q := _read_quota(d / "cpu.max", None))]
        elif "cpu" in controllers.split(","):
            for mount in (root / controllers, root / "cpu", root / "cpu,cpuacct"):
                dirs = [mount / p for p in _ancestors(path)]
                found += [q for d in dirs if (q := _read_quota(d / "cpu.cfs_quota_us", d / "cpu.cfs_period_us"))]
    return min(found, default=None)


def _ancestors(path: str) -> list[str]:
    """'/a/b' -> ['a/b', 'a', '']: a cgroup and every cgroup above it, relative to the hierarchy's root."""
    parts = [p for p in path.strip("/").split("/") if p]
    return ["/".join(parts[:i]) for i in range(len(parts), -1, -1)]


def _read_quota(quota_file: Path, period_file: Path | None) -> tuple[int, str] | None:
    try:
        if period_file is None:  # v2 cpu.max: "<quota> <period>" or "max <period>"
            text = quota_file.read_text().split()
            quota, period = text[0], text[1]
        else:
            quota, period = quota_file.read_text().strip(), period_file.read_text().strip()
        if quota in ("max", "-1"):
            return None
        cpus = max(1, int(quota) // int(period))  # whole CPUs: a thread more than the quota is throttled
    except (OSError, ValueError, IndexError):
        return None
    return cpus, f"{quota_file.name} {quota}/{period}"


ON_WINDOWS = os.name == "nt"
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


# ---- files ---------------------------------------------------------------------------------

def is_disk_full(error: BaseException | None) -> bool:
    """True when `error`, or an error it was raised from, is 'no space left on device' (or over quota)."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        error = error.__cause__ or error.__context__
    return False


def disk_full_message(path: str | Path) -> str:
    return f"the disk is full: no space left to write in {path}"


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
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink(missing_ok=True)
            removed += 1
    return removed


def process_alive(pid: int) -> bool:
    """True while process `pid` exists. Never signals it: on Windows os.kill(pid, 0) would terminate it."""
    if ON_WINDOWS:
        return _windows_process_alive(pid)
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True


def _windows_process_alive(pid: int, kernel32=None, last_error=None) -> bool:
    """Windows: OpenProcess for a query only, then its exit code (STILL_ACTIVE while it runs)."""
    kernel32 = kernel32 or ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    last_error = last_error or ctypes.get_last_error  # type: ignore[attr-defined]
    process_query_limited_information, still_active, error_access_denied = 0x1000, 259, 5
    handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
    if not handle:  # no such process, or one we may not open (which exists)
        return last_error() == error_access_denied
    try:
        code = ctypes.c_ulong()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == still_active
    finally:
        kernel32.CloseHandle(handle)


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


def write_between(path: str | Path, mark: str, text: str) -> Path:
    """Replace what lies between the two `mark` lines of a text file (README's generated tables), atomically."""
    before, _, after = Path(path).read_text().split(mark)
    with atomic_path(path) as tmp:
        tmp.write_text(f"{before}{mark}\n{text}{mark}{after}")
    return Path(path)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def valid_result(r: object) -> bool:
    """A result.json whose fields the suite reads are there and of the right kind (else it is damaged)."""
    try:
        ok = r["status"] == "ok"
        return (isinstance(r["name"], str) and isinstance(r["seed"], int) and isinstance(r["config"], dict)
                and isinstance(r["history"], list) and (not ok or isinstance(r["test_acc"], float)))
    except (KeyError, TypeError):
        return False


def save_checkpoint(path: str | Path, checkpoint: dict) -> None:
    import torch

    buffer = io.BytesIO()
    # serialized in memory first: on a full disk the write below fails with OSError(ENOSPC), where
    # torch.save to a file fails with a bare "RuntimeError: ... unexpected pos"
    torch.save(checkpoint, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def save_predictions(path: str | Path, predictions: torch.Tensor) -> None:
    """Predicted labels as a uint8 .npy file (10 KB for the test set), written atomically."""
    import numpy as np
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, predictions.to(torch.uint8).numpy())


def load_predictions(path: str | Path) -> np.ndarray:
    import numpy as np

    return np.load(path, allow_pickle=False)


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


# ---- TensorBoard -----------------------------------------------------------------------------

HPARAM_KEYS = ("dataset", "recipe", "model", "optimizer", "lr", "weight_decay", "batch_size", "epochs", "schedule",
               "augment", "label_smoothing", "precision")  # and every model argument
METRIC_TAGS = ("test/acc", "test/loss", "val/acc", "val/loss", "train/loss_epoch")


def hparams_of(config: dict) -> dict[str, Any]:
    """The values shown in TensorBoard's HParams table (no seed, so seeds of one config group)."""
    flat = {**config, **config.get("model_args", {})}
    return {k: flat[k] for k in (*HPARAM_KEYS, *config.get("model_args", {})) if flat.get(k) is not None}


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


def write_run_hparams(writer, config: dict, trial_id: str) -> None:
    """The run's hparams; `trial_id` (its config directory) groups the seeds of one config, and only those."""
    from tensorboard.plugins.hparams import summary_v2 as hp

    writer.file_writer.add_summary(hp.hparams_pb(hparams_of(config), trial_id=trial_id))
