import json
import math
import platform
import resource

import pytest
import torch
import torch.nn.functional as F

from evaluate import evaluate, load_checkpoint
from model import build_model
from recipes import OPTIMIZERS, make_config
from train import make_optimizer, train_run
from utils import keep_freed_memory

pytestmark = pytest.mark.xdist_group("train")  # one process: its module fixtures are costly


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run") / "seed0"
    result = train_run({"model": "LeNet", "subset": 3000, "epochs": 2, "device": "cpu", "evals_per_epoch": 1}, run_dir)
    return run_dir, result


def test_short_run_learns(short_run):
    _, r = short_run
    assert r["status"] == "ok" and r["epochs"] == 2
    h = r["history"]
    assert h[1]["train_loss"] < h[0]["train_loss"] < math.log(10)
    assert r["test_acc"] > 0.85 and r["best_val_acc"] > 0.85  # chance is 0.10
    assert r["n_params"] == 61_706 and r["device"] == "cpu" and r["torch_version"] == torch.__version__


def test_result_follows_the_contract(short_run):
    run_dir, r = short_run
    stored = json.loads((run_dir / "result.json").read_text())
    for key in ("status", "study", "name", "seed", "config", "epochs", "history", "test_loss", "test_acc",
                "best_val_acc", "n_params", "wall_time_s", "samples_per_s", "device", "torch_version"):
        assert key in stored
    assert set(stored["history"][0]) >= {"train_loss", "train_acc", "val_loss", "val_acc", "seconds"}
    assert all(0 <= h[k] <= 1 for h in stored["history"] for k in ("train_acc", "val_acc"))
    assert stored["test_acc"] == r["test_acc"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["config"] == r["config"] and config["torch_version"] == torch.__version__


def test_confusion_matrix_sums_to_the_test_set(short_run):
    _, r = short_run
    confusion = torch.tensor(r["test_confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == 10_000
    assert confusion.diag().sum() / 10_000 == pytest.approx(r["test_acc"])
    per_class = confusion.diag() / confusion.sum(1)
    assert per_class.tolist() == pytest.approx(r["test_per_class_acc"])


def test_evaluate_counts_exactly():
    model = torch.nn.Flatten()  # logits = the 10 inputs, so the prediction is the argmax we choose
    x = torch.eye(10)[[0, 1, 2, 3]].view(4, 10)
    y = torch.tensor([0, 1, 5, 3])
    m = evaluate(model, x, y, batch_size=3)
    assert m["acc"] == 0.75 and sum(map(sum, m["confusion"])) == 4
    assert m["confusion"][5][2] == 1 and m["per_class_acc"][5] == 0.0


def test_evaluate_cli_on_a_saved_model(cli, short_run):
    run_dir, r = short_run
    model, ckpt = load_checkpoint(str(run_dir / "model.pt"), torch.device("cpu"))
    assert ckpt["model"] == "LeNet"
    out = cli("evaluate.py", run_dir / "model.pt", "--device", "cpu")
    assert out.returncode == 0, out.stderr
    assert f"accuracy {100 * r['test_acc']:.2f}%" in out.stdout


def test_make_config_resolves_the_optimizers_default_lr():
    assert make_config(optimizer="adadelta")["lr"] == 1.0
    assert make_config(optimizer="sgd", lr=0.5)["lr"] == 0.5
    with pytest.raises(ValueError, match="valid: sgd, momentum"):
        make_config(optimizer="lbfgs")
    assert set(OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad", "adadelta"}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_make_optimizer_fuses_where_torch_can_and_updates_the_same(name):
    """The fused kernel is taken where torch has one for the CPU, and its step equals the loop's."""
    torch.manual_seed(0)
    weights = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(3))]
    grads = [torch.randn(5, 3), torch.randn(3)]
    plain = [torch.nn.Parameter(w.detach().clone()) for w in weights]
    class_name, lr, extra = OPTIMIZERS[name]
    cls = getattr(torch.optim, class_name)
    optimizer, reference = make_optimizer(name, weights, lr), cls(plain, lr=lr, foreach=False, **extra)
    for _ in range(3):
        for w, p, g in zip(weights, plain, grads):
            w.grad, p.grad = g.clone(), g.clone()
        optimizer.step()
        reference.step()
    if torch.__version__ >= (2, 6):  # older torch lacks some of the CPU fused kernels
        assert bool(optimizer.defaults.get("fused")) == (name not in ("rmsprop", "adadelta"))
    for w, p in zip(weights, plain):
        torch.testing.assert_close(w, p)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="keep_freed_memory tunes glibc's malloc only")
def test_keep_freed_memory_stops_the_page_faults_of_every_conv_step():
    torch.manual_seed(0)
    model = build_model("Net", (1, 28, 28), 10)
    optimizer = make_optimizer("adam", model.parameters(), 1e-3)
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    assert keep_freed_memory()
    for _ in range(3):  # the heap grows to the step's high-water mark once
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        step()
    faults_per_step = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5
    assert faults_per_step < 100  # glibc's defaults: about 3,000 a step (12 MB of activations refaulted)


def test_common_random_numbers_pair_the_configs_of_a_study():
    """With one seed, same-shaped networks start from the same weights and every config sees the same batches."""
    common = {"subset": 300, "epochs": 1, "device": "cpu", "seed": 5, "channels_last": True}
    relu, gelu, mlp, other_seed = (train_run({**common, **c, "evals_per_epoch": 1}) for c in (
        {"model": "ConvNet", "model_args": {"act": "relu"}}, {"model": "ConvNet", "model_args": {"act": "gelu"}},
        {"model": "MLP", "batch_size": 32}, {"model": "ConvNet", "seed": 6}))
    assert relu["shared"]["init_digest"] == gelu["shared"]["init_digest"] != mlp["shared"]["init_digest"]
    assert relu["shared"]["batch_order_digest"] == gelu["shared"]["batch_order_digest"] == mlp["shared"]["batch_order_digest"]
    assert other_seed["shared"]["init_digest"] != relu["shared"]["init_digest"]
    assert other_seed["shared"]["batch_order_digest"] != relu["shared"]["batch_order_digest"]
    assert relu["history"][0]["train_loss"] != gelu["history"][0]["train_loss"]  # the activation did change training
