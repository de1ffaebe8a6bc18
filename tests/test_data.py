import pytest
import torch

from bench import torchvision_dataset
from dataloader import DATA_ROOT, DATASETS, DataError, batches, load_splits, md5sum, prepare_raw, read_idx, \
    split_indices

MNIST = DATASETS["mnist"]
MD5, N_TRAIN, N_VAL = MNIST.md5, MNIST.n_train, MNIST.n_val


def load_mnist(device: str, subset: int | None = None):
    return load_splits("mnist", device, subset)


@pytest.mark.parametrize("name", DATASETS)
def test_extracted_files_match_published_md5(name):
    prepare_raw(dataset=name)
    for file, md5 in DATASETS[name].md5.items():
        assert md5sum(DATASETS[name].raw() / file) == md5


@pytest.mark.parametrize("name", DATASETS)
def test_the_idx_reader_reads_what_torchvision_reads(name):
    ds = DATASETS[name]
    prepare_raw(dataset=name)
    test = torchvision_dataset(ds, DATA_ROOT, train=False)
    images, labels = (read_idx(ds.raw() / f) for f in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
    assert images.shape == (10_000, 28, 28) and images.dtype == torch.uint8 and torch.equal(images, test.data)
    assert torch.equal(labels.long(), test.targets)


def test_the_idx_reader_refuses_other_files(tmp_path):
    path = tmp_path / "not-idx"
    path.write_bytes(b"\0\0\x0d\x01" + (4).to_bytes(4, "big") + bytes(16))  # float32 values, not bytes
    with pytest.raises(DataError, match="not an IDX file of bytes"):
        read_idx(path)


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
    train_idx, val_idx = split_indices(N_TRAIN + N_VAL, N_VAL)
    assert len(train_idx) == N_TRAIN and len(val_idx) == N_VAL
    assert len(set(train_idx.tolist()) | set(val_idx.tolist())) == 60_000
    again_train, again_val = split_indices(N_TRAIN + N_VAL, N_VAL)
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
