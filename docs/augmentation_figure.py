"""docs/augmentation.png: 16 augmented training images, as the first batch of seed 0 sees them.

    python docs/augmentation_figure.py

For MNIST and Fashion-MNIST, 8 training images of the first batch of seed 0 (batch 128), above them as
stored and below them as the `augment` of the regularization and best studies transforms them: shifts
of up to 2 pixels and rotations of up to 10 degrees, and on Fashion-MNIST mirroring of about half.
"""
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from dataloader import augmenter, batches, get_dataset, load_splits  # noqa: E402
from studies import dataset_augment  # noqa: E402
from utils import atomic_path  # noqa: E402

N, BATCH, SEED = 8, 128, 0


def first_batch(dataset: str) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(images as stored, as augmented, the augmentation's name): the first N of seed SEED's first batch."""
    ds = get_dataset(dataset)
    splits = load_splits(ds)
    xb, _ = next(batches(splits.train_x, splits.train_y, BATCH, torch.Generator().manual_seed(SEED)))
    augment = dataset_augment(dataset)
    return xb[:N], augmenter(augment, ds, SEED)(xb)[:N], augment


def main() -> None:
    fig, axes = plt.subplots(4, N, figsize=(N * 1.1, 4 * 1.25))
    for k, dataset in enumerate(("mnist", "fashion-mnist")):
        stored, augmented, augment = first_batch(dataset)
        title = get_dataset(dataset).title
        for row, (images, words) in enumerate(((stored, f"{title}, as stored"), (augmented, f"augment={augment}"))):
            for i, ax in enumerate(axes[2 * k + row]):
                ax.imshow(images[i, 0].numpy(), cmap="gray_r")
                ax.set_xticks([]), ax.set_yticks([])
            axes[2 * k + row, 0].set_ylabel(words, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(f"The first {N} images of seed {SEED}'s first training batch, as stored and augmented", fontsize=9)
    fig.tight_layout()
    path = ROOT / "docs" / "augmentation.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
