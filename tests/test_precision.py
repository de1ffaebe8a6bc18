"""--precision: bf16 where the hardware computes it natively, fp32 elsewhere; the precision study's plan and pairing."""
import json

import pytest
import torch

import bench
import plot
import run
import utils
from model import build_model
from recipes import make_config, precision_of
from studies import recipe_summary
from train import make_optimizer, train_step

CPU = torch.device("cpu")


def test_cpu_flags_and_model_come_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu sse2 avx512f avx512_bf16 sha_ni\n")
    assert "avx512_bf16" in utils.cpu_flags(info) and utils.cpu_model(info) == "AMD EPYC 9R14"
    assert utils.cpu_flags(tmp_path / "absent") == set()


@pytest.mark.parametrize("flags,expected,why", [
    ({"avx512f", "avx512_bf16"}, "bf16", "auto: this CPU has avx512_bf16"),
    ({"amx_bf16", "avx512_bf16"}, "bf16", "auto: this CPU has avx512_bf16 and amx_bf16"),
    ({"avx2", "avx512f"}, "fp32", "auto: this CPU has neither avx512_bf16 nor amx_bf16")])
def test_auto_takes_bf16_only_where_the_cpu_computes_it_natively(monkeypatch, flags, expected, why):
    monkeypatch.setattr(utils, "cpu_flags", lambda: flags)
    assert utils.resolve_precision("auto", CPU) == (expected, why)
    assert utils.resolve_precision("fp32", CPU) == ("fp32", "--precision fp32")
    assert utils.resolve_precision("auto", "Ray workers (--device auto)")[0] == "fp32"


def test_a_machine_without_native_bf16_plans_fp32_under_auto(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(utils, "cpu_flags", lambda: {"avx2"})  # as on a CPU without AVX512-BF16 or AMX
    planned = []
    monkeypatch.setattr(run, "print_plan", lambda studies, plan, *a: planned.extend(plan.tasks) or print(
        run.precision_line(a[-2], a[-1])))
    assert run.main(["--dry-run", "--precision", "auto", "--model", "MLP", "--seeds", "2",
                     "--logdir", str(tmp_path / "l"), "--resultdir", str(tmp_path / "r")]) == 0
    assert {t["config"]["precision"] for t in planned} == {"fp32"}
    assert "precision: fp32 (auto: this CPU has neither avx512_bf16 nor amx_bf16)" in capsys.readouterr().out
    monkeypatch.setattr(utils, "cpu_flags", lambda: {"avx512_bf16"})
    planned.clear()
    assert run.main(["--dry-run", "--precision", "auto", "--model", "MLP", "--seeds", "2",
                     "--logdir", str(tmp_path / "l"), "--resultdir", str(tmp_path / "r")]) == 0
    assert {t["config"]["precision"] for t in planned} == {"bf16"}
    assert "precision: bf16 (auto: this CPU has avx512_bf16)" in capsys.readouterr().out


def test_precision_is_part_of_the_identity_and_old_logs_that_say_amp_keep_reading():
    from runstore import config_id
    fp32, bf16 = make_config(model="MLP"), make_config(model="MLP", precision="bf16")
    assert config_id(fp32) != config_id(bf16)
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        make_config(precision="fp16")
    legacy = {k: v for k, v in fp32.items() if k != "precision"}
    assert precision_of({**legacy, "amp": True}) == "bf16" and precision_of(legacy) == "fp32"
    assert "precision bf16" in recipe_summary([{**legacy, "amp": True}])
    assert "precision" in utils.hparams_of(bf16) and utils.hparams_of(bf16)["precision"] == "bf16"


def test_a_bf16_step_keeps_the_loss_weights_grads_and_optimizer_state_in_fp32():
    torch.manual_seed(0)
    model = build_model("Net", (1, 28, 28), 10)
    optimizer = make_optimizer("adam", model.parameters(), 1e-3)
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    loss, logits = train_step(model, optimizer, x, y, "bf16")
    assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32  # the forward pass ran in bf16
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in model.parameters())
    assert all(v.dtype == torch.float32 for s in optimizer.state.values() for v in s.values() if v.dim() > 0)
    _, logits32 = train_step(model, optimizer, x, y, "fp32")
    assert logits32.dtype == torch.float32


def test_the_precision_study_pairs_each_bf16_config_with_its_fp32_twin(tmp_path, capsys):
    assert run.main(["--study", "precision", "--dry-run", "--epochs", "1", "--subset", "20000", "--seeds", "3",
                     "--logdir", str(tmp_path / "l"), "--resultdir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "plan: precision: 10 configs x 3 seeds = 30 runs" in out
    pairs = ", ".join(f"{n}-bf16 vs {n}-fp32" for n in ("Net", "LeNet", "NetSigmoid", "NetDeep", "MLP"))
    assert f"precision study: each config against its twin ({pairs}), paired by seed, margin ±0.2 pp" in out
    assert run.main(["--study", "precision", "--dry-run", "--logdir", str(tmp_path / "l"),
                     "--resultdir", str(tmp_path / "r")]) == 0
    assert "10 configs x 10 seeds = 100 runs" in capsys.readouterr().out  # the study's own default


def test_a_trained_precision_study_compares_bf16_with_fp32_at_its_own_margin(tmp_path, monkeypatch):
    from studies import study_precision
    monkeypatch.setitem(run.STUDIES, "precision", lambda args: [c for c in study_precision(args) if "MLP" in c[0]])
    logs = tmp_path / "l"
    assert run.main(["--study", "precision", "--epochs", "1", "--subset", "500", "--seeds", "3", "--jobs", "1",
                     "--evals-per-epoch", "1", "--device", "cpu", "--no-plot", "--quiet", "--logdir", str(logs)]) == 0
    manifest = json.loads((logs / "precision" / "study-mnist-quick.json").read_text())
    assert manifest["margin"] == 0.002 and manifest["references"] == {"MLP-bf16": "MLP-fp32"}
    assert plot.main(["--logdir", str(logs), "--resultdir", str(tmp_path / "r")]) == 0
    lines = (tmp_path / "r" / "precision_comparisons.csv").read_text().splitlines()
    assert len(lines) == 2 and lines[1].startswith("precision,MLP-bf16,MLP-fp32,3,") and ",0.002," in lines[1]
    shared = [json.loads(p.read_text())["shared"] for p in sorted(logs.glob("precision/*/seed0/result.json"))]
    assert shared[0] == shared[1]  # paired: the same initial weights and batches


def test_bench_compares_fp32_and_bf16_in_one_command(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--precision-compare", "--models", "MLP", "--steps", "2", "--reps", "2", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    r = report["precision_compare"]["MLP"]
    assert r["fp32_sps"] > 0 and r["bf16_sps"] > 0 and r["ratio"] == pytest.approx(r["bf16_sps"] / r["fp32_sps"])
    assert report["machine"]["cpu"] and "native_bf16" in report["machine"] and "throughput" not in report
    assert "bf16 / fp32" in capsys.readouterr().out
