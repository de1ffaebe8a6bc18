"""Bad data: a clear error naming the file and the fix; after the fix the next run recovers."""
import gzip
import os

import pytest

from conftest import run_cli, run_dir_of
from dataloader import DATASETS, DataError, md5sum, prepare_raw

MD5 = DATASETS["mnist"].md5

TINY_RUN = ["run.py", "--model", "MLP", "--epochs", "1", "--seeds", "1", "--subset", "500", "--device", "cpu",
            "--no-plot", "--quiet"]


def corrupt(path, how):
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "flipped":
        path.write_bytes(data[:200] + bytes([data[200] ^ 0xFF]) + data[201:])
    elif how == "magic":
        path.write_bytes(b"\x00\x00\x08\x04" + data[4:])  # a label file's magic is 2049 (0x801)


@pytest.mark.parametrize("how", ["truncated", "empty", "flipped", "magic"])
def test_bad_extracted_file_is_named_and_deleting_it_recovers(raw_copy, how):
    prepare_raw(raw_copy)
    bad = raw_copy / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    corrupt(bad, how)
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte is corrupt \(MD5 mismatch\): delete it"):
        prepare_raw(raw_copy)
    bad.unlink()  # the fix that the message gives
    prepare_raw(raw_copy)
    assert md5sum(bad) == MD5[bad.name]


@pytest.mark.parametrize("how", ["truncated", "empty", "flipped"])
def test_bad_gz_is_named_and_leaves_no_partial_file(raw_copy, how):
    gz = raw_copy / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    good = gz.read_bytes()
    corrupt(gz, how)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz is corrupt or truncated.*git checkout"):
        prepare_raw(raw_copy)
    names = {p.name for p in (raw_copy / "MNIST" / "raw").iterdir()}
    assert "t10k-images-idx3-ubyte" not in names and not any(n.startswith(".tmp") for n in names)
    gz.write_bytes(good)  # the fix: restore the committed file
    prepare_raw(raw_copy)


def test_label_outside_0_to_9_in_a_wellformed_gz_is_refused(raw_copy):
    gz = raw_copy / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    with gzip.open(gz, "rb") as f:
        data = bytearray(f.read())
    data[8] = 11
    with gzip.open(gz, "wb") as f:
        f.write(bytes(data))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz is corrupt"):
        prepare_raw(raw_copy)


def test_the_cli_reports_bad_data_in_one_line_and_recovers(raw_copy, tmp_path):
    prepare_raw(raw_copy)
    bad = raw_copy / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    corrupt(bad, "flipped")
    env = {**os.environ, "MNIST_DATA_DIR": str(raw_copy)}
    argv = [*TINY_RUN, "--logdir", tmp_path / "logs", "--resultdir", tmp_path / "result"]
    out = run_cli(*argv, env=env)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip() == f"run.py: error: {bad} is corrupt (MD5 mismatch): delete it and rerun to extract it again"
    assert not list((tmp_path / "logs").glob("MLP/MLP-*"))  # nothing trained on bad data
    bad.unlink()
    out = run_cli(*argv, env=env)
    assert out.returncode == 0, out.stderr
    assert (run_dir_of(tmp_path / "logs", "MLP", "MLP") / "result.json").exists()


def test_missing_files_give_a_clear_error_and_nothing_is_downloaded(tmp_path):
    empty_root = tmp_path / "data"
    (empty_root / "MNIST" / "raw").mkdir(parents=True)
    env = {**os.environ, "MNIST_DATA_DIR": str(empty_root)}
    out = run_cli(*TINY_RUN, "--logdir", tmp_path / "logs", "--resultdir", tmp_path / "r", env=env)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "are not in" in out.stderr and "copy the four .gz files" in out.stderr
    assert list((empty_root / "MNIST" / "raw").iterdir()) == []  # the data ships: no download was tried
    assert len(out.stderr.strip().splitlines()) == 1
