"""One run per computation: the content-keyed store, study views, migration of the older layout, adoption by probe."""
import json
import shutil
from pathlib import Path

import pytest

import adoption
import analysis
import run
import runstore
from recipes import make_config

TINY = ["--epochs", "1", "--subset", "300", "--device", "cpu", "--jobs", "1", "--no-plot", "--quiet",
        "--evals-per-epoch", "1"]


def main(tmp_path, *args) -> int:
    return run.main([*args, *TINY, "--logdir", str(tmp_path / "logs"), "--resultdir", str(tmp_path / "result")])


def stored(tmp_path) -> list[Path]:
    return sorted((tmp_path / "logs" / runstore.STORE).glob("*/seed*"))


def test_configs_that_compute_the_same_share_one_run_id():
    relu, conv2, conv_w32 = (make_config(model="ConvNet", model_args=args, study=s, name=n) for args, s, n in (
        ({"act": "relu"}, "activation", "relu"), ({"depth": 2}, "depth", "conv2"), ({"width": 32}, "width", "conv_w32")))
    assert runstore.config_id(relu) == runstore.config_id(conv2) == runstore.config_id(conv_w32)
    net, bs64 = make_config(model="Net", study="base"), make_config(model="Net", batch_size=64, study="batch_size")
    assert runstore.config_id(net) == runstore.config_id(bs64)
    assert runstore.config_id(make_config(weight_decay=-0.0)) == runstore.config_id(make_config(weight_decay=0.0))
    assert runstore.config_id(make_config(model="ConvNet", model_args={"width": 48})) != runstore.config_id(relu)
    cpu, gpu = runstore.environment("cpu"), runstore.environment("cuda")
    assert runstore.run_id(net, "c", cpu) != runstore.run_id(net, "c", gpu)  # the device type can change a number
    assert runstore.run_id(net, "c", cpu) != runstore.run_id(net, "c", {**cpu, "torch": "0.0"})


def test_three_studies_asking_for_one_computation_train_it_once_and_each_shows_it(tmp_path, capsys):
    grid = ["--grid", "model=ConvNet", "act=relu", "--seeds", "1"]
    assert main(tmp_path, *grid, "--name", "activation") == 0
    assert main(tmp_path, "--grid", "model=ConvNet", "depth=2", "--seeds", "1", "--name", "depth") == 0
    out = capsys.readouterr().out
    assert "1 runs trained" in out and "0 runs trained, 1 skipped" in out  # the second study trained nothing
    assert len(stored(tmp_path)) == 1
    views = sorted((tmp_path / "logs").glob("*/*/seed0/view.json"))
    assert [v.parent.parent.parent.name for v in views] == ["activation", "depth"]
    rid = stored(tmp_path)[0].parent.name
    assert all(v.parent.parent.name.endswith(rid) for v in views)
    # each view is a whole run directory under its study's name, with TensorBoard's event file; the store's is hidden
    for view in views:
        assert len(list(view.parent.glob("events.out.tfevents.*"))) == 1 and (view.parent / "model.pt").is_file()
    assert not list(stored(tmp_path)[0].glob("*tfevents*"))
    runs, _ = analysis.load_runs(tmp_path / "logs" / "depth")
    assert [(r["study"], r["name"], r["config"]["name"]) for r in runs] == [("depth", "model=ConvNet,depth=2",
                                                                             "model=ConvNet,depth=2")]
    assert analysis.find_studies(tmp_path / "logs") == ["activation", "depth"]  # the store is no study


def test_the_all_study_plans_each_computation_once(tmp_path, capsys):
    assert run.main(["--study", "all", "--seeds", "1", "--dry-run", "--logdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "33 runs" in out and "29 distinct computations (4 asked for again" in out
    shared = [line for line in out.splitlines() if "activation/relu" in line]
    assert len(shared) == 1 and "depth/conv2" in shared[0] and "width/conv_w32" in shared[0]


def to_older_layout(logdir: Path) -> list[Path]:
    """Turn every view into a run directory of the older layout (its files, no view.json, an 8-digit id) and empty
    the store, as logs written before the store look."""
    old = []
    for view in sorted(logdir.glob("*/*/seed*/view.json")):
        seed_dir = view.parent
        legacy = seed_dir.parent.parent / f"{seed_dir.parent.name.rsplit('-', 2)[0]}-0123abcd" / seed_dir.name
        legacy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(seed_dir, legacy)
        (legacy / "view.json").unlink()
        for f in legacy.glob("*"):
            if f.name in ("result.json", "config.json"):
                record = json.loads(f.read_text())
                record["config_id"] = "0123abcd"
                f.write_text(json.dumps(record))
        old.append(legacy)
    for view in sorted(logdir.glob("*/*/seed*/view.json")):
        shutil.rmtree(view.parent.parent, ignore_errors=True)
    shutil.rmtree(logdir / runstore.STORE)
    for manifest in logdir.glob("*/study-*.json"):
        record = json.loads(manifest.read_text())
        record["configs"] = {k: f"{k}-0123abcd" for k in record["configs"]}
        manifest.write_text(json.dumps(record))
    return old


def test_logs_of_the_older_layout_migrate_and_train_nothing(tmp_path, capsys):
    model = ["--model", "MLP", "--seeds", "2"]
    assert main(tmp_path, *model) == 0
    before = {p.name: json.loads((p / "result.json").read_text())["test_acc"]
              for p in sorted((tmp_path / "logs" / "MLP").glob("*/seed*"))}
    old = to_older_layout(tmp_path / "logs")
    capsys.readouterr()
    assert main(tmp_path, *model, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "2 runs, 2 finished, 0 to train" in out and "2 of the older layout to move" in out
    assert all(p.is_dir() for p in old)  # a dry run moves nothing
    assert main(tmp_path, *model) == 0
    out = capsys.readouterr().out
    assert "moved 2 runs of the older layout" in out and "0 runs trained, 2 skipped" in out
    assert not any(p.exists() for p in old) and len(stored(tmp_path)) == 2
    after = {p.name: json.loads((p / "result.json").read_text())["test_acc"]
             for p in sorted((tmp_path / "logs" / "MLP").glob("*/seed*"))}
    assert after == before
    manifest = json.loads((tmp_path / "logs" / "MLP" / "study-mnist-quick.json").read_text())
    assert (tmp_path / "logs" / "MLP" / manifest["configs"]["MLP"] / "seed0" / "view.json").is_file()


@pytest.fixture
def other_code(monkeypatch):
    """As if the numeric code had been edited without changing a number (an option that is off by default)."""
    def edit():
        monkeypatch.setattr(runstore, "run_digest_of", lambda config, source=None: "0123456789abcdef")
        monkeypatch.setattr(run, "run_digest_of", lambda config, source=None: "0123456789abcdef")
    return edit


def test_a_code_change_that_keeps_the_numbers_costs_one_probe_per_config(tmp_path, capsys, other_code):
    model = ["--model", "MLP", "--seeds", "3"]
    assert main(tmp_path, *model) == 0
    other_code()
    capsys.readouterr()
    assert main(tmp_path, *model, "--dry-run") == 0
    assert "1 probes, 2 adopted after their probe" in capsys.readouterr().out
    assert main(tmp_path, *model) == 0
    out = capsys.readouterr().out
    assert "1 runs trained, 0 skipped (already finished), 2 adopted after their probe" in out
    new = [d for d in stored(tmp_path) if json.loads((d / "result.json").read_text())["run_digest"] == "0123456789abcdef"]
    adopted = [json.loads((d / "result.json").read_text()).get("adopted") for d in new]
    assert len(new) == 3 and sum(a is not None for a in adopted) == 2
    assert all(a["probe"].endswith("/seed0") and a["from"].startswith("runs/") for a in adopted if a)
    assert all(a["run_digest"] != "0123456789abcdef" for a in adopted if a)  # the older run's, recorded
    assert len(stored(tmp_path)) == 6  # the older runs stay as they were
    assert main(tmp_path, *model) == 0 and "0 runs trained, 3 skipped" in capsys.readouterr().out


def test_a_code_change_that_changes_a_number_retrains_every_seed(tmp_path, capsys, other_code, monkeypatch):
    import train

    model = ["--model", "MLP", "--seeds", "2"]
    assert main(tmp_path, *model) == 0
    other_code()
    seed_everything = train.seed_everything
    monkeypatch.setattr(train, "seed_everything", lambda seed: seed_everything(seed + 100))  # other initial weights
    capsys.readouterr()
    assert main(tmp_path, *model) == 0
    out = capsys.readouterr().out
    assert "differ from" in out and "2 runs trained, 0 skipped (already finished), 0 adopted" in out


def test_a_gpu_never_adopts(tmp_path, capsys):
    assert main(tmp_path, "--model", "MLP", "--seeds", "1") == 0
    config = json.loads((stored(tmp_path)[0] / "result.json").read_text())["config"]
    cpu, gpu = runstore.environment("cpu"), runstore.environment("cuda")
    logdir = tmp_path / "logs"
    assert adoption.candidates(logdir, config, {**cpu, "torch": "9.9"}, "none")  # another torch on a CPU: a probe
    assert adoption.candidates(logdir, config, gpu, "none") == {}  # a GPU's training is not bit-reproducible
    result = stored(tmp_path)[0] / "result.json"
    result.write_text(json.dumps({**json.loads(result.read_text()), "device": "cuda:0"}))
    assert adoption.candidates(logdir, config, {**cpu, "torch": "9.9"}, "none") == {}  # nor is an older GPU run's


def test_force_retrains_and_every_view_shows_the_new_run(tmp_path, capsys):
    assert main(tmp_path, "--grid", "model=ConvNet", "act=relu", "--seeds", "1", "--name", "a") == 0
    assert main(tmp_path, "--grid", "model=ConvNet", "depth=2", "--seeds", "1", "--name", "b") == 0
    before = json.loads(next((tmp_path / "logs" / "a").glob("*/seed0/result.json")).read_text())["wall_time_s"]
    assert main(tmp_path, "--grid", "model=ConvNet", "act=relu", "--seeds", "1", "--name", "a", "--force") == 0
    a, b = (json.loads(next((tmp_path / "logs" / s).glob("*/seed0/result.json")).read_text()) for s in "ab")
    assert a["wall_time_s"] == b["wall_time_s"] != before
