"""The dataset registry: MNIST and Fashion-MNIST through one interface, checked, trained and evaluated alike."""
import os
import shutil

import pytest
import torch

import run
from conftest import ROOT, run_cli
from dataloader import DATASETS, DataError, _load_cpu, get_dataset, load_splits, md5sum, prepare_raw
from evaluate import load_checkpoint
from model import build_model, count_parameters
from train import train_run

FASHION = DATASETS["fashion-mnist"]


@pytest.fixture
def fashion_copy(tmp_path):
    """A private data root holding Fashion-MNIST's committed .gz files only (tests corrupt it freely)."""
    raw = FASHION.raw(tmp_path / "data")
    raw.mkdir(parents=True)
    for gz in FASHION.raw().glob("*.gz"):
        shutil.copy(gz, raw / gz.name)
    return tmp_path / "data"


@pytest.mark.parametrize("name", DATASETS)
def test_registry_entry_describes_its_files(name):
    ds = get_dataset(name)
    train_images, train_labels, test_images, _ = _load_cpu(ROOT / "data", name)
    assert (len(train_images), len(test_images)) == (ds.n_train + ds.n_val, ds.n_test)
    assert tuple(train_images.shape[1:]) == ds.image_shape[1:] and ds.image_shape[0] == 1
    assert ds.n_classes == len(set(ds.classes)) == int(train_labels.max()) + 1
    # the normalization constants are the training images' own mean and std (to the 4 digits written)
    pixels = train_images.double() / 255
    assert ds.mean == pytest.approx(pixels.mean().item(), abs=1e-4)
    assert ds.std == pytest.approx(pixels.std().item(), abs=1e-4)
    assert 0.5 < ds.target_val_acc < 1 and ds.item_word and ds.title


def test_fashion_mnist_is_the_clothing_set_with_its_class_names():
    assert FASHION.classes[0] == "T-shirt/top" and FASHION.classes[9] == "Ankle boot"
    labels = load_splits("fashion-mnist", subset=1).test_y
    assert torch.bincount(labels).tolist() == [1000] * 10  # 1,000 test images per class
    with pytest.raises(ValueError, match="unknown dataset 'nope'; valid: mnist, fashion-mnist"):
        get_dataset("nope")


def test_fashion_mnist_extraction_is_verified_and_a_corrupt_file_is_named(fashion_copy):
    prepare_raw(fashion_copy, "fashion-mnist")
    raw = FASHION.raw(fashion_copy)
    for name, md5 in FASHION.md5.items():
        assert md5sum(raw / name) == md5
    bad = raw / "train-images-idx3-ubyte"
    data = bad.read_bytes()
    bad.write_bytes(data[:5000] + bytes([data[5000] ^ 0xFF]) + data[5001:])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte is corrupt \(MD5 mismatch\): delete it"):
        prepare_raw(fashion_copy, "fashion-mnist")
    bad.unlink()  # the fix the message gives
    prepare_raw(fashion_copy, "fashion-mnist")
    gz = raw / "t10k-labels-idx1-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:100])
    (raw / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz is corrupt or truncated.*Fashion-MNIST"):
        prepare_raw(fashion_copy, "fashion-mnist")


def test_the_cli_names_a_corrupt_fashion_mnist_file_in_one_line(fashion_copy, tmp_path):
    prepare_raw(fashion_copy, "fashion-mnist")
    bad = FASHION.raw(fashion_copy) / "t10k-images-idx3-ubyte"
    bad.write_bytes(bad.read_bytes()[:-10])
    out = run_cli("run.py", "--dataset", "fashion-mnist", "--model", "MLP", "--epochs", "1", "--seeds", "1",
                  "--subset", "100", "--device", "cpu", "--no-plot", "--logdir", tmp_path / "logs",
                  "--resultdir", tmp_path / "result", env={**os.environ, "MNIST_DATA_DIR": str(fashion_copy)})
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (f"run.py: error: {bad} is corrupt (MD5 mismatch): "
                                  "delete it and rerun to extract it again")


def test_networks_take_their_sizes_from_the_image_shape_and_classes():
    for name in ("Net", "NetDeep", "MLP", "LeNet", "ConvNet", "MLPNet", "SpeedNet"):
        model = build_model(name, (3, 32, 32), 5).eval()
        assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    with pytest.raises(TypeError):  # no MNIST default: the shape comes from the dataset's registry entry
        build_model("MLP")


def test_a_fashion_mnist_run_learns_and_evaluate_reads_its_dataset_from_the_checkpoint(cli, tmp_path):
    config = {"dataset": "fashion-mnist", "model": "MLP", "subset": 5000, "epochs": 1, "device": "cpu",
              "evals_per_epoch": 1}
    result = train_run(config, tmp_path / "run")
    assert result["config"]["dataset"] == "fashion-mnist" and len(result["test_confusion"]) == 10
    assert result["test_acc"] >= 0.75  # chance is 10%; 1 epoch on 5,000 images gave about 79%
    out = cli("evaluate.py", tmp_path / "run" / "model.pt", "--device", "cpu")
    assert out.returncode == 0, out.stderr
    assert f"accuracy {100 * result['test_acc']:.2f}%" in out.stdout and "Fashion-MNIST test images" in out.stdout
    assert "Ankle boot" in out.stdout and "T-shirt/top:" in out.stdout


def test_a_checkpoint_without_a_dataset_is_mnist(tmp_path):
    model = build_model("MLP", (1, 28, 28), 10)
    torch.save({"model": "MLP", "model_args": {}, "state_dict": model.state_dict()}, tmp_path / "old.pt")
    loaded, ckpt = load_checkpoint(str(tmp_path / "old.pt"), torch.device("cpu"))
    assert ckpt["dataset"] == "mnist" and count_parameters(loaded) == count_parameters(model)


def test_the_dataset_is_part_of_the_run_identity():
    from runstore import config_id

    plain, mnist = config_id({}, code="c"), config_id({"dataset": "mnist"}, code="c")
    assert plain == mnist != config_id({"dataset": "fashion-mnist"}, code="c")  # old MNIST ids stay


@pytest.mark.parametrize("argv,message", [
    (["--dataset", "nope"], "invalid choice: 'nope'"),
    (["--dataset", "fashion-mnist", "--study", "lecun98"], "--study lecun98 is for MNIST only, not Fashion-MNIST"),
    (["--dataset", "fashion-mnist", "--study", "speed"], "--study speed is for MNIST only"),
])
def test_datasets_a_study_cannot_use_stop_in_one_line(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        run.main([*argv, "--dry-run", "--logdir", str(tmp_path / "l"), "--resultdir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_study_all_on_fashion_mnist_leaves_out_the_mnist_only_studies():
    args = run.build_parser("run.py", "", run.STUDIES, "base").parse_args(
        ["--dataset", "fashion-mnist", "--study", "all", "--seeds", "1"])
    selected = run.selected_studies(args, run.STUDIES)
    assert "base" in selected and "speed" not in selected and "lecun98" not in selected
    assert {c["dataset"] for c in run.expand("base", selected["base"], args)} == {"fashion-mnist"}
