"""Loss, accuracy, per-class accuracy and confusion matrix; `python evaluate.py PATH/model.pt`."""
from __future__ import annotations

import sys
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

# Images per evaluation batch. Small enough that a CNN's activations stay in blocks malloc reuses
# (utils.keep_freed_memory): on a CPU, 256 evaluated Net's test set in 1.5 s against 3.3 s at 2000,
# with about 300 MB less peak memory.
EVAL_BATCH = 256


def autocast(device: torch.device, precision: str):
    """bf16 autocast around a forward pass (training and evaluation alike); fp32: nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext()


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = EVAL_BATCH,
             precision: str = "fp32") -> dict:
    """Mean loss, accuracy, per-class accuracy, the confusion matrix (rows: true, columns: predicted), predictions.

    The number of classes is the model's output width, so the matrix fits any dataset.
    """
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    confusion, n_classes = None, 0
    predictions = torch.empty(len(x), dtype=torch.uint8, device=x.device)
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        with autocast(x.device, precision):
            logits = model(xb)
        loss_sum += F.cross_entropy(logits.float(), yb, reduction="sum")
        predicted = logits.argmax(1)
        predictions[i:i + batch_size] = predicted
        if confusion is None:
            n_classes = logits.shape[1]
            confusion = torch.zeros(n_classes * n_classes, dtype=torch.long, device=x.device)
        confusion += torch.bincount(yb * n_classes + predicted, minlength=n_classes**2)
    model.train(was_training)
    confusion = confusion.view(n_classes, n_classes).cpu()  # the one host sync
    per_class = confusion.diag() / confusion.sum(1).clamp(min=1)
    return {
        "loss": loss_sum.item() / len(x),
        "acc": confusion.diag().sum().item() / len(x),
        "per_class_acc": per_class.tolist(),
        "confusion": confusion.tolist(),
        "predictions": predictions.cpu(),
    }


def load_checkpoint(path: str, device: torch.device) -> tuple[nn.Module, dict]:
    """The model saved by train.py at `path`, and the checkpoint with its dataset filled in (older ones: the default).

    ValueError when the file is not such a checkpoint.
    """
    from dataloader import get_dataset
    from model import build_model
    from recipes import DEFAULT_DATASET

    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
        ckpt["dataset"] = ckpt.get("dataset", DEFAULT_DATASET)  # written before datasets had names
        ds = get_dataset(ckpt["dataset"])
        model = build_model(ckpt["model"], ds.image_shape, ds.n_classes, **ckpt["model_args"])
    except FileNotFoundError:
        raise
    except Exception as e:
        raise ValueError(f"{path} is not a model checkpoint written by train.py ({type(e).__name__})") from None
    try:
        model.load_state_dict(ckpt["state_dict"])
    except Exception as e:  # shapes or names that do not match: the file was altered or mixed up
        first = str(e).strip().splitlines()
        detail = next((line.strip() for line in first[1:] if line.strip()), type(e).__name__)
        raise ValueError(f"{path}: its weights do not fit a {ckpt['model']} {ckpt['model_args']} network "
                         f"({detail})") from None
    return model.to(device), ckpt


def main(argv: list[str] | None = None) -> int:
    from dataloader import DataError, get_dataset, load_splits
    from cli import Parser
    from recipes import precision_of
    from utils import DEVICES, UsageError, pick_device

    parser = Parser(prog="evaluate.py", description="Evaluate a saved model on the test set of the dataset it was "
                                                    "trained on (MNIST or Fashion-MNIST, read from the checkpoint).")
    parser.add_argument("checkpoint", help="path to a model.pt written by a run")
    parser.add_argument("--device", default="auto", choices=DEVICES,
                        help="where to evaluate; auto: cuda, else mps, else the CPU, whichever this machine has")
    args = parser.parse_args(argv)
    try:
        device = pick_device(args.device)
        model, ckpt = load_checkpoint(args.checkpoint, device)
    except FileNotFoundError:
        print(f"evaluate.py: error: no such file: {args.checkpoint}", file=sys.stderr)
        return 2
    except (ValueError, UsageError) as e:
        print(f"evaluate.py: error: {e}", file=sys.stderr)
        return 2
    try:
        splits = load_splits(ckpt["dataset"], device)
    except DataError as e:
        print(f"evaluate.py: error: {e}", file=sys.stderr)
        return 1
    ds = get_dataset(ckpt["dataset"])
    # the precision the run trained and tested in, so that the numbers are the run's; older checkpoints hold no config
    precision = precision_of(ckpt.get("config") or {})
    metrics = evaluate(model, splits.test_x, splits.test_y, precision=precision)
    print(f"{ckpt['model']} {ckpt['model_args']} on {len(splits.test_x)} {ds.title} test images in {precision} "
          f"(the precision it trained in): loss {metrics['loss']:.4f}, accuracy {100 * metrics['acc']:.2f}%")
    print("per-class accuracy: " + "  ".join(f"{name}: {100 * a:.1f}%"
                                             for name, a in zip(ds.classes, metrics["per_class_acc"])))
    print("confusion matrix (rows: true class, columns: predicted):")
    width = max(map(len, ds.classes))
    for name, row in zip(ds.classes, metrics["confusion"]):
        print(f"  {name:>{width}} " + " ".join(f"{v:5d}" for v in row))
    return 0


if __name__ == "__main__":
    from cli import exit_with

    exit_with(main)
