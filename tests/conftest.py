import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

# One torch thread in the tests and in every script they start: on a 2-core machine that also runs
# other jobs, OpenMP threads spin-waiting for a busy core make a 2-thread step many times slower.
os.environ["OMP_NUM_THREADS"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def results_script(stem: str, name: str):
    """docs/results/<stem>.py imported as module `name` (that folder is no package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "results" / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_configure(config):
    config.addinivalue_line("markers", "render(*stems): plot.py's figures (those named, if any) are rendered to PNG in this test (tests/test_plot.py)")


def run_cli(*args, cwd: Path = ROOT, timeout: float = 240, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run one of the project's scripts as a user would, in a subprocess."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture
def cli(capsys):
    """Call a script's main(argv) in this process: run_cli's answer without a Python and torch start-up each.

    For argument and input errors, which main reports before any training; a traceback would fail the test.
    """
    def call(script: str, *args) -> subprocess.CompletedProcess:
        main = importlib.import_module(Path(script).stem).main
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse's usage errors
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
        out = capsys.readouterr()
        return subprocess.CompletedProcess([script, *args], code, out.out, out.err)
    return call


@pytest.fixture(autouse=True)
def no_estimate(request, monkeypatch):
    """Plans in this process without the time estimate: it times real training steps of every network before any run
    (bf16 emulated where the CPU lacks it: tens of seconds a study), which only tests/test_estimate.py and the tests
    marked `estimate` are about."""
    if not request.node.get_closest_marker("estimate"):
        import run
        monkeypatch.setattr(run, "estimate_seconds", lambda *a, **k: (0.0, "not estimated"))


@pytest.fixture
def raw_copy(tmp_path: Path) -> Path:
    """A private data root holding the committed .gz files only (tests corrupt it freely)."""
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in (ROOT / "data" / "MNIST" / "raw").glob("*.gz"):
        shutil.copy(gz, raw / gz.name)
    return tmp_path / "data"


def run_dir_of(logdir: Path, study: str, name: str, seed: int = 0) -> Path:
    """The one view of config `name` and `seed`: logdir/<study>/<name>-<run id>/seed<k>/ (a run id is two 8-digit
    parts)."""
    found = [d for d in Path(logdir, study).glob(f"*/seed{seed}") if d.parent.name.rsplit("-", 2)[0] == name]
    assert len(found) == 1, f"expected one run directory of {name} seed {seed}, found {found}"
    return found[0]
