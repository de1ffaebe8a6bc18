"""What a run's config may say: its keys and defaults, the named recipes, the optimizers, schedules and activations.

Common ground: the training side builds runs from it, the reading side names them with it. No torch here;
train.py and model.py map the names to torch classes. It is numeric code (digest.NUMERIC_MODULES): an
optimizer's momentum or a recipe's epochs decide a run's numbers.
"""
from __future__ import annotations

DEFAULT_DATASET = "mnist"  # a dataloader.DATASETS name

# name -> (torch.optim class, default learning rate, extra arguments). Each rate is the usual default
# for that optimizer on small CNNs; Adadelta's is 1.0 (its own paper and pytorch/examples).
OPTIMIZERS: dict[str, tuple[str, float, dict]] = {
    "sgd": ("SGD", 0.1, {}),
    "momentum": ("SGD", 0.01, {"momentum": 0.9}),
    "nesterov": ("SGD", 0.01, {"momentum": 0.9, "nesterov": True}),
    "adam": ("Adam", 1e-3, {}),
    "adamw": ("AdamW", 1e-3, {"weight_decay": 0.01}),
    "rmsprop": ("RMSprop", 1e-3, {}),
    "adagrad": ("Adagrad", 0.01, {}),
    "adadelta": ("Adadelta", 1.0, {}),
}
SCHEDULES = ("none", "onecycle", "step")
# name -> torch.nn class: the activations a network may use
ACTIVATIONS: dict[str, str] = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "leaky_relu": "LeakyReLU",
                               "elu": "ELU", "gelu": "GELU", "silu": "SiLU"}
# training-image augmentations (dataloader.augment_batch): each image shifted by up to 2 pixels and rotated by up to
# 10 degrees; `_flip` also mirrors half of them, only where the dataset's classes allow it (Dataset.hflip)
AUGMENTS = ("none", "shift_rotate", "shift_rotate_flip")
PRECISIONS = ("fp32", "bf16")  # bf16: autocast around the forward pass; loss, optimizer state, weights in fp32
EVALS_PER_EPOCH = 4  # validation evaluations per epoch: curves with resolution from the first epoch

DEFAULT_CONFIG: dict = {
    "study": "single", "name": "Net", "seed": 0,
    "model": "Net", "model_args": {},
    "optimizer": "adam", "lr": None,  # None: the optimizer's default from OPTIMIZERS
    "weight_decay": None,  # None: the recipe's for this optimizer (RECIPE_WEIGHT_DECAY), else the optimizer's own
    "batch_size": 64, "epochs": 1, "schedule": "none", "recipe": "quick",
    "augment": "none", "label_smoothing": 0.0,  # the training images and targets; evaluation never changes them
    "subset": None, "device": "auto",
    "deterministic": False, "precision": "fp32", "channels_last": False,
    "dataset": DEFAULT_DATASET,  # part of the run's identity like every key
    "evals_per_epoch": EVALS_PER_EPOCH,  # epochs-to-target and the val curves depend on it
}
# The `speed` study's recipe (run.py, bench.py): 99% test accuracy in one epoch; `speed60`'s: the most accurate found
# that trains in a minute of two CPU cores (issue 55 asked 99.5%; it reached 99.42%, docs/performance.md). Every
# choice was made on val accuracy. One validation pass an epoch: it runs inside the training time they report.
SPEED_RECIPE: dict = {"model": "SpeedNetLite", "model_args": {}, "optimizer": "adam", "lr": 0.01,
                      "weight_decay": None, "batch_size": 128, "schedule": "onecycle", "epochs": 1, "evals_per_epoch": 1}
SPEED60_RECIPE: dict = {**SPEED_RECIPE, "epochs": 6}
# The `best` study's network and recipe (docs/best.md: chosen for accuracy per CPU-minute, fixed before any run,
# never tuned on the test set; the last epoch's weights are the ones tested). Its augmentation is the dataset's.
BEST_RECIPE: dict = {"model": "ConvNet", "model_args": {"depth": 3, "width": 32, "hidden": 256, "bn": True,
                                                        "fc_dropout": 0.25},
                     "optimizer": "adamw", "lr": 0.003, "weight_decay": 0.05, "batch_size": 128,
                     "schedule": "onecycle", "epochs": 20, "label_smoothing": 0.1}
# Named recipes: `quick` says how fast each choice learns in minutes (the studies' default); `full`
# trains every network to convergence: common practice (one-cycle AdamW with weight decay), fixed
# before any run and never tuned on the test set; runs report validation accuracy beside test.
# No data augmentation (`augment` stays "none"; the regularization and best studies set it). Values a study or an
# explicit flag sets win over the recipe's.
QUICK_RECIPE: dict = {"epochs": 2, "batch_size": 64, "optimizer": "adam", "lr": None, "schedule": "none",
                      "weight_decay": None, "augment": "none"}
FULL_RECIPE: dict = {"epochs": 12, "batch_size": 128, "optimizer": "adamw", "lr": 0.003, "schedule": "onecycle",
                     "weight_decay": None, "augment": "none"}
# A recipe's weight decay belongs to its optimizer: 0.05 is usual for AdamW's decoupled decay, but as
# the coupled L2 term of SGD, RMSprop or Adam it is about 100x the usual value. Every other optimizer
# keeps its own default (0 but AdamW's 0.01) unless --weight-decay is given.
RECIPE_WEIGHT_DECAY: dict[str, dict[str, float]] = {"full": {"adamw": 0.05}}
FULL_BY_MODEL: dict[str, dict] = {  # networks whose converged recipe differs from FULL_RECIPE
    "MLPNet": {"epochs": 20}, "MLP": {"epochs": 20}, "LeNet": {"epochs": 15},
}
RECIPES = ("quick", "full")


def recipe_values(recipe: str, model: str) -> dict:
    """The config values recipe `recipe` gives network `model` (and the recipe's name)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe '{recipe}'; valid: {', '.join(RECIPES)}")
    values = dict(QUICK_RECIPE) if recipe == "quick" else {**FULL_RECIPE, **FULL_BY_MODEL.get(model, {})}
    return {**values, "recipe": recipe}


def make_config(**overrides) -> dict:
    """DEFAULT_CONFIG with `overrides`, the learning rate resolved; ValueError on unknown keys."""
    unknown = set(overrides) - set(DEFAULT_CONFIG)
    if unknown:
        raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
    config = {**DEFAULT_CONFIG, **overrides}
    if config["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer '{config['optimizer']}'; valid: {', '.join(OPTIMIZERS)}")
    if config["recipe"] not in RECIPES:
        raise ValueError(f"unknown recipe '{config['recipe']}'; valid: {', '.join(RECIPES)}")
    if config["precision"] not in PRECISIONS:
        raise ValueError(f"unknown precision '{config['precision']}'; valid: {', '.join(PRECISIONS)}")
    if config["augment"] not in AUGMENTS:
        raise ValueError(f"unknown augment '{config['augment']}'; valid: {', '.join(AUGMENTS)}")
    if not 0 <= config["label_smoothing"] < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {config['label_smoothing']}")
    if config["schedule"] not in SCHEDULES:
        raise ValueError(f"unknown schedule '{config['schedule']}'; valid: {', '.join(SCHEDULES)}")
    if config["lr"] is None:
        config["lr"] = OPTIMIZERS[config["optimizer"]][1]
    if config["weight_decay"] is None:  # resolved, so config.json and HParams show the value the run used
        config["weight_decay"] = weight_decay_of(config["recipe"], config["optimizer"])
    return config


def precision_of(config: dict) -> str:
    """A stored config's precision; logs of older code say `amp` (True: bf16 autocast) instead."""
    return config.get("precision") or ("bf16" if config.get("amp") else "fp32")


def weight_decay_of(recipe: str, optimizer: str) -> float:
    """The weight decay `optimizer` trains with under `recipe` when none is given."""
    own = OPTIMIZERS[optimizer][2].get("weight_decay", 0.0)
    return RECIPE_WEIGHT_DECAY.get(recipe, {}).get(optimizer, own)
