"""Grids from the command line (`run.py --grid KEY=V1,V2 ...`): parsed, typed and checked against the networks."""
from __future__ import annotations

import argparse
import inspect
import itertools
from typing import Callable

from cli import non_negative_float, plain_zero, positive_float, positive_int
from dataloader import Dataset
from model import DATA_ARGS, MODELS, build_model
from recipes import ACTIVATIONS, AUGMENTS, OPTIMIZERS, SCHEDULES
from studies import Spec
from utils import UsageError

RECIPE_KEYS: dict[str, Callable[[str], object]] = {  # the recipe's keys a grid may vary, each with its parser
    "model": str, "optimizer": str, "lr": positive_float, "batch_size": positive_int, "epochs": positive_int,
    "schedule": str, "weight_decay": non_negative_float, "augment": str, "label_smoothing": non_negative_float}
CHOICES = {"model": list(MODELS), "optimizer": list(OPTIMIZERS), "schedule": list(SCHEDULES),
           "act": list(ACTIVATIONS), "augment": list(AUGMENTS)}
# Integer network arguments are layer counts and sizes: 1 or more, unless listed here as (least, most, None: no
# bound). MLPNet(depth=0) is the linear classifier (the lecun98 study's); ConvNet halves 28 px once a block.
# Checked here, at planning, because a constructor given width=0 builds a network that fails only when it first
# computes, and the constructors are numeric code (runstore.code_digest).
INT_RANGES: dict[tuple[str, str], tuple[int, int | None]] = {("MLPNet", "depth"): (0, None),
                                                             ("ConvNet", "depth"): (1, 4)}
FRACTIONS = ("conv_dropout", "fc_dropout")  # probabilities of dropping a value: 0 (no layer) up to, not including, 1


def model_arguments(model: str) -> dict[str, object]:
    """{argument: default} of a model's constructor: the grid keys it accepts beyond the recipe's."""
    return {name: p.default for name, p in inspect.signature(MODELS[model]).parameters.items()
            if p.default is not inspect.Parameter.empty and name not in DATA_ARGS}


def parse_value(key: str, text: str, default: object = None) -> object:
    """One grid value, typed like the recipe's flag or the constructor argument's default; UsageError if bad."""
    try:
        if key in RECIPE_KEYS:
            value = RECIPE_KEYS[key](text)
        elif isinstance(default, bool):
            value = {"true": True, "false": False}[text.lower()]
        elif isinstance(default, int):
            value = int(text)
        elif isinstance(default, float):
            value = plain_zero(float(text))
        else:
            value = text
    except (ValueError, KeyError, argparse.ArgumentTypeError):
        kind = "true or false" if isinstance(default, bool) else type(default).__name__
        raise UsageError(f"--grid {key}={text}: '{text}' is not a valid {kind if key not in RECIPE_KEYS else key}") from None
    if key in CHOICES and value not in CHOICES[key]:
        raise UsageError(f"--grid {key}={text}: unknown {key}; valid: {', '.join(CHOICES[key])}")
    return value


def check_range(model: str, key: str, value: object) -> None:
    """UsageError naming the valid values where a network argument is out of its range."""
    if key in FRACTIONS and not 0 <= value < 1:  # NaN fails both comparisons
        raise UsageError(f"--grid {key}={value:g}: {model}'s {key} must be in [0, 1)")
    if isinstance(value, int) and not isinstance(value, bool):
        least, most = INT_RANGES.get((model, key), (1, None))
        if value < least or (most is not None and value > most):
            valid = f"from {least} to {most}" if most is not None else f"{least} or more"
            raise UsageError(f"--grid {key}={value}: {model}'s {key} must be an integer {valid}")


def split_grid(items: list[str]) -> dict[str, list[str]]:
    """['width=300,100', 'depth=1'] -> {'width': ['300', '100'], 'depth': ['1']}; UsageError if malformed."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().replace("-", "_")
        texts = [v.strip() for v in values.split(",")]
        if not sep or not key or not all(texts):
            raise UsageError(f"--grid expects KEY=V1,V2,... (for instance width=300,100), got '{item}'")
        if key in grid:
            raise UsageError(f"--grid {key} is given twice")
        grid[key] = list(dict.fromkeys(texts))
    return grid


def grid_spec(items: list[str], dataset: Dataset, model: str | None = None,
              name: str | None = None) -> tuple[str, Spec]:
    """(study name, spec) of a --grid: the cartesian product of its values, configs named by what differs.

    Keys are the recipe's (RECIPE_KEYS) and the chosen model's constructor arguments; the model is
    the grid's `model` values, else `model`, else Net. Each distinct network is built once here, so a
    value the network rejects is a usage error before anything trains.
    """
    grid = split_grid(items)
    keys = list(grid)  # in the order given; the config names and the study's name follow it
    models = [parse_value("model", m) for m in grid.pop("model", [model or "Net"])]
    for key in grid:
        for m in models:
            if key not in RECIPE_KEYS and key not in model_arguments(m):
                valid = ", ".join([*RECIPE_KEYS, *model_arguments(m)])
                raise UsageError(f"--grid {key}: not a key for model {m}; valid: {valid}")
    spec: Spec = []
    for m in models:
        defaults = model_arguments(m)
        # values equal once typed (lr=0.1,1e-1) are one value: one config, never planned twice
        typed = {k: list(dict.fromkeys(parse_value(k, v, defaults.get(k)) for v in vs)) for k, vs in grid.items()}
        for k, values in typed.items():
            for value in values if k not in RECIPE_KEYS else ():  # the recipe's parsers check their own ranges
                check_range(m, k, value)
        for combo in itertools.product(*typed.values()):
            values = dict(zip(typed, combo))
            recipe = {k: v for k, v in values.items() if k in RECIPE_KEYS}
            model_args = {k: v for k, v in values.items() if k not in RECIPE_KEYS}
            check_model(m, model_args, dataset)
            spec.append((config_name({"model": m, **values}, keys, {"model": models, **typed}),
                         {**recipe, "model": m, "model_args": model_args}))
    return name or "grid-" + "-".join(keys), spec


def config_name(values: dict, keys: list[str], options: dict[str, list]) -> str:
    """'act=gelu,depth=3': the keys that take more than one value, else every key given."""
    varying = [k for k in keys if len(options[k]) > 1] or keys
    return ",".join(f"{k}={values[k]:g}" if isinstance(values[k], float) else f"{k}={values[k]}" for k in varying)


def check_model(model: str, model_args: dict, dataset: Dataset) -> None:
    try:
        build_model(model, dataset.image_shape, dataset.n_classes, **model_args)
    except (ValueError, TypeError, RuntimeError) as e:  # RuntimeError: torch refusing a shape check_range let by
        raise UsageError(f"--grid: {model}({', '.join(f'{k}={v}' for k, v in model_args.items())}): {e}") from None

