"""The seed's networks, the configurable families the studies vary, and a name registry."""
from __future__ import annotations

import math
from typing import Callable

from torch import nn

from recipes import ACTIVATIONS

DATA_ARGS = ("in_shape", "n_classes")  # constructor arguments the dataset's registry entry sets, not a study


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{name}'; valid: {', '.join(ACTIVATIONS)}")
    return getattr(nn, ACTIVATIONS[name])()


# Activations that never decrease: max pooling commutes with them, pool(act(x)) == act(pool(x)) exactly.
MONOTONIC = frozenset({"relu", "sigmoid", "tanh", "leaky_relu", "elu"})


def conv_block(c_in: int, c_out: int, act: str, kernel: int = 3, padding: int = 0, bn: bool = False) -> list[nn.Module]:
    """A convolution, batch norm where `bn`, the activation and 2x2 max pooling: the same function in either order
    for MONOTONIC activations.

    Those pool first, so the activation and its backward pass touch a quarter of the values: Net's
    training step on a CPU is about a quarter faster. GELU and SiLU dip below zero, so they keep
    activation-then-pooling. The parameter indices (state_dict keys) are the same either way.
    """
    conv, pool = nn.Conv2d(c_in, c_out, kernel, padding=padding), nn.MaxPool2d(2)
    norm = [nn.BatchNorm2d(c_out)] if bn else []
    return [conv, *norm, pool, activation(act)] if act in MONOTONIC else [conv, *norm, activation(act), pool]


def dropout(p: float) -> list[nn.Module]:
    """Dropout with probability `p`, or no layer at all at 0 (a network without dropout keeps its layer indices)."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout must be in [0, 1), got {p}")
    return [nn.Dropout(p)] if p else []


def pooled(hw: tuple[int, ...], kernel: int = 3, padding: int = 0) -> tuple[int, ...]:
    """Height and width after a conv_block: a stride-1 convolution, then 2x2 max pooling."""
    return tuple((s + 2 * padding - kernel + 1) // 2 for s in hw)


class Net(nn.Sequential):
    """The seed's CNN: two 3x3 conv blocks and a 128-unit hidden layer (225,034 parameters).

    The regularization study's additions: `bn`, batch norm after each convolution (+192 parameters);
    `conv_dropout` after the conv blocks and `fc_dropout` before the last layer (pytorch/examples: 0.25, 0.5).
    """

    def __init__(self, act: str = "relu", bn: bool = False, conv_dropout: float = 0.0, fc_dropout: float = 0.0,
                 *, in_shape: tuple[int, ...], n_classes: int):
        h, w = pooled(pooled(in_shape[1:]))
        super().__init__(*conv_block(in_shape[0], 32, act, bn=bn), *conv_block(32, 64, act, bn=bn),
                         *dropout(conv_dropout), nn.Flatten(), nn.Linear(64 * h * w, 128), activation(act),
                         *dropout(fc_dropout), nn.Linear(128, n_classes))


class NetSigmoid(Net):
    """Net with Sigmoid in place of every ReLU."""

    def __init__(self, *, in_shape: tuple[int, ...], n_classes: int):
        super().__init__("sigmoid", in_shape=in_shape, n_classes=n_classes)


class NetDeep(nn.Sequential):
    """Net's conv blocks plus a third, then three linear layers (159,882 parameters)."""

    def __init__(self, act: str = "relu", *, in_shape: tuple[int, ...], n_classes: int):
        h, w = pooled(pooled(pooled(in_shape[1:])))
        super().__init__(*conv_block(in_shape[0], 32, act), *conv_block(32, 64, act), *conv_block(64, 128, act),
                         nn.Flatten(), nn.Linear(128 * h * w, 256), activation(act),
                         nn.Linear(256, 128), activation(act), nn.Linear(128, n_classes))


class MLP(nn.Sequential):
    """Two 512-unit hidden layers (669,706 parameters); the original project called it 'LeNet'."""

    def __init__(self, act: str = "relu", *, in_shape: tuple[int, ...], n_classes: int):
        super().__init__(nn.Flatten(), nn.Linear(math.prod(in_shape), 512), activation(act),
                         nn.Linear(512, 512), activation(act), nn.Linear(512, n_classes))


class LeNet(nn.Sequential):
    """LeNet-5 (LeCun et al. 1998) with tanh and max pooling (61,706 parameters)."""

    def __init__(self, act: str = "tanh", *, in_shape: tuple[int, ...], n_classes: int):
        h, w = pooled(pooled(in_shape[1:], kernel=5, padding=2), kernel=5)
        super().__init__(*conv_block(in_shape[0], 6, act, kernel=5, padding=2), *conv_block(6, 16, act, kernel=5),
                         nn.Flatten(), nn.Linear(16 * h * w, 120), activation(act),
                         nn.Linear(120, 84), activation(act), nn.Linear(84, n_classes))


class ConvNet(nn.Sequential):
    """`depth` 3x3 conv blocks (channels `width`, doubling per block), then a `hidden`-unit layer; `bn`,
    `conv_dropout` and `fc_dropout` as in Net."""

    def __init__(self, act: str = "relu", depth: int = 2, width: int = 32, hidden: int = 128, bn: bool = False,
                 conv_dropout: float = 0.0, fc_dropout: float = 0.0, *, in_shape: tuple[int, ...], n_classes: int):
        if not 1 <= depth <= 4:
            raise ValueError(f"ConvNet depth must be 1 to 4 (28 px halves 4 times), got {depth}")
        layers: list[nn.Module] = []
        channels, hw = in_shape[0], in_shape[1:]
        for i in range(depth):
            layers += conv_block(channels, width * 2**i, act, padding=1, bn=bn)
            channels, hw = width * 2**i, pooled(hw, padding=1)
        super().__init__(*layers, *dropout(conv_dropout), nn.Flatten(), nn.Linear(channels * math.prod(hw), hidden),
                         activation(act), *dropout(fc_dropout), nn.Linear(hidden, n_classes))


class MLPNet(nn.Sequential):
    """`depth` hidden layers of `width` neurons each; `widths` ("300-100") sets layers of different sizes instead."""

    def __init__(self, act: str = "relu", depth: int = 2, width: int = 512, widths: str = "",
                 *, in_shape: tuple[int, ...], n_classes: int):
        try:
            sizes = [int(w) for w in widths.split("-")] if widths else [width] * depth
        except ValueError:
            raise ValueError(f"widths must look like 300-100, got '{widths}'") from None
        if any(w <= 0 for w in sizes):
            raise ValueError(f"layer sizes must be positive, got {sizes}")
        layers: list[nn.Module] = [nn.Flatten()]
        n_in = math.prod(in_shape)
        for width in sizes:
            layers += [nn.Linear(n_in, width), activation(act)]
            n_in = width
        super().__init__(*layers, nn.Linear(n_in, n_classes))


class SpeedNet(nn.Sequential):
    """The first speed recipe's CNN (SpeedNetLite replaced it): 5x5 conv to 24 channels, 3x3 conv to 32, each
    batch-normed and pooled, a 512-unit layer.

    422,922 parameters but 1.45 M multiply-adds per image, about half of Net's: cheap enough for one
    epoch to take seconds, and, with batch norm, able to pass 99% test accuracy in that one epoch.
    SpeedNet(bn=False, hidden=256) is the plain version (215,194 parameters), which reached only
    about 98.9% in one epoch on the suite's 55,000 training images.
    """

    def __init__(self, act: str = "relu", c1: int = 24, c2: int = 32, hidden: int = 512, bn: bool = True,
                 *, in_shape: tuple[int, ...], n_classes: int):
        h, w = pooled(pooled(in_shape[1:], kernel=5))
        super().__init__(*conv_block(in_shape[0], c1, act, kernel=5, bn=bn), *conv_block(c1, c2, act, bn=bn), nn.Flatten(),
                         nn.Linear(c2 * h * w, hidden), activation(act), nn.Linear(hidden, n_classes))


def norm_after_pool_block(c_in: int, c_out: int, act: str, kernel: int) -> list[nn.Module]:
    """A convolution (no bias: the batch norm after it has one), 2x2 max pooling, batch norm, the activation.

    Batch norm on the pooled map touches a quarter of the values of conv_block's order: on a 2-core CPU,
    batch norm and its backward pass took 45% of SpeedNet's step. Not the same function as conv_block's
    (batch norm's scale may be negative, and its statistics are the pooled map's).
    """
    return [nn.Conv2d(c_in, c_out, kernel, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(c_out), activation(act)]


class SpeedNetLite(nn.Sequential):
    """The speed recipes' CNN: SpeedNet's two convolutions, narrower, with batch norm after pooling.

    5x5 conv to c1 channels and 3x3 conv to c2, each pooled then batch-normed, then `hidden` units:
    212,730 parameters and 0.90 M multiply-adds an image (SpeedNet: 1.45 M). On 2 CPU cores its
    training step ran about twice as fast as SpeedNet's, at about the same validation accuracy after
    one epoch (docs/performance.md).
    """

    def __init__(self, act: str = "relu", c1: int = 16, c2: int = 32, hidden: int = 256,
                 *, in_shape: tuple[int, ...], n_classes: int):
        h, w = pooled(pooled(in_shape[1:], kernel=5))
        super().__init__(*norm_after_pool_block(in_shape[0], c1, act, 5), *norm_after_pool_block(c1, c2, act, 3),
                         nn.Flatten(), nn.Linear(c2 * h * w, hidden), activation(act), nn.Linear(hidden, n_classes))


MODELS: dict[str, Callable[..., nn.Module]] = {
    "Net": Net,
    "NetSigmoid": NetSigmoid,
    "NetDeep": NetDeep,
    "MLP": MLP,
    "LeNet": LeNet,
    "ConvNet": ConvNet,
    "MLPNet": MLPNet,
    "SpeedNet": SpeedNet,
    "SpeedNetLite": SpeedNetLite,
}


def build_model(name: str, in_shape: tuple[int, ...], n_classes: int, **kwargs) -> nn.Module:
    """Network `name` for images of `in_shape` (C, H, W) and `n_classes` classes; kwargs: its own arguments."""
    if name not in MODELS:
        raise ValueError(f"unknown model '{name}'; valid: {', '.join(MODELS)}")
    return MODELS[name](in_shape=tuple(in_shape), n_classes=n_classes, **kwargs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def named_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(conv1, ...), (fc1, ...): the modules that own parameters, input side first."""
    kinds = {nn.Conv2d: "conv", nn.Linear: "fc"}
    counts: dict[str, int] = {}
    layers = []
    for m in model.modules():
        if next(m.parameters(recurse=False), None) is None:
            continue
        kind = kinds.get(type(m), type(m).__name__.lower())
        counts[kind] = counts.get(kind, 0) + 1
        layers.append((f"{kind}{counts[kind]}", m))
    return layers
