import gzip

import pytest
import torch

from dataloader import (MD5, N_TRAIN, N_VAL, DataError, batches, load_mnist, md5sum, prepare_raw,
                        split_indices)


def test_extracted_files_match_published_md5():
    prepare_raw()
    from dataloader import DATA_ROOT
    for name, md5 in MD5.items():
        assert md5sum(DATA_ROOT / "MNIST" / "raw" / name) == md5


def test_split_shapes_sizes_and_normalization():
    s = load_mnist("cpu")
    assert s.train_x.shape == (N_TRAIN, 1, 28, 28) and s.train_x.dtype == torch.float32
    assert s.val_x.shape == (N_VAL, 1, 28, 28) and s.test_x.shape == (10_000, 1, 28, 28)
    assert s.train_y.shape == (N_TRAIN,) and s.train_y.dtype == torch.int64
    # normalized with MNIST's published mean and std: about 0 and 1 over the training images
    assert abs(s.train_x.mean().item()) < 0.01
    assert abs(s.train_x.std().item() - 1) < 0.01
    assert set(s.test_y.unique().tolist()) == set(range(10))


def test_split_is_disjoint_complete_and_fixed():
    train_idx, val_idx = split_indices()
    assert len(train_idx) == N_TRAIN and len(val_idx) == N_VAL
    assert len(set(train_idx.tolist()) | set(val_idx.tolist())) == 60_000
    again_train, again_val = split_indices()
    assert torch.equal(train_idx, again_train) and torch.equal(val_idx, again_val)


def test_subset_keeps_the_first_training_images():
    full, small = load_mnist("cpu"), load_mnist("cpu", subset=100)
    assert torch.equal(small.train_x, full.train_x[:100]) and torch.equal(small.val_y, full.val_y)
    with pytest.raises(ValueError, match="subset"):
        load_mnist("cpu", subset=N_TRAIN + 1)


def test_batches_cover_every_sample_and_repeat_with_the_seed():
    x, y = torch.arange(10).float(), torch.arange(10)
    first = [yb.tolist() for _, yb in batches(x, y, 4, torch.Generator().manual_seed(3))]
    again = [yb.tolist() for _, yb in batches(x, y, 4, torch.Generator().manual_seed(3))]
    assert first == again and [len(b) for b in first] == [4, 4, 2]
    assert sorted(sum(first, [])) == list(range(10))
    assert [yb.tolist() for _, yb in batches(x, y, 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_extraction_from_gz_is_verified(raw_copy):
    prepare_raw(raw_copy)
    for name, md5 in MD5.items():
        assert md5sum(raw_copy / "MNIST" / "raw" / name) == md5
    assert not list((raw_copy / "MNIST" / "raw").glob("*.tmp*"))


def test_corrupt_extracted_file_names_the_file_and_the_fix(raw_copy):
    prepare_raw(raw_copy)
    bad = raw_copy / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    data = bytearray(bad.read_bytes())
    data[100] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte is corrupt.*delete it"):
        prepare_raw(raw_copy)
    bad.unlink()  # the fix the message gives
    prepare_raw(raw_copy)
    assert md5sum(bad) == MD5[bad.name]


def test_truncated_gz_raises_and_leaves_no_partial_file(raw_copy):
    gz = raw_copy / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:50_000])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz is corrupt or truncated"):
        prepare_raw(raw_copy)
    raw_files = {p.name for p in (raw_copy / "MNIST" / "raw").iterdir()}
    assert "t10k-images-idx3-ubyte" not in raw_files
    assert not any(".tmp" in n for n in raw_files)


def test_gz_with_wrong_content_is_refused(raw_copy):
    gz = raw_copy / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    with gzip.open(gz, "rb") as f:
        data = bytearray(f.read())
    data[8] = 11  # a label outside 0-9, in a well-formed gzip
    with gzip.open(gz, "wb") as f:
        f.write(bytes(data))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz"):
        prepare_raw(raw_copy)
