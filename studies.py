"""The study specs: which configs each compares, against which reference, under which recipe and margin.

Common ground: run.py and compare_optim.py plan from it, plot.py and the report read with it.
"""
from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass
from typing import Callable, Iterable

from dataset_facts import get_dataset
from recipes import (ACTIVATIONS, BEST_RECIPE, DEFAULT_CONFIG, OPTIMIZERS, PRECISIONS, SPEED60_RECIPE, SPEED_RECIPE,
                     precision_of, recipe_values, weight_decay_of)

Spec = list[tuple[str, dict]]  # (config name, config overrides)
Study = Callable[[argparse.Namespace], Spec]
LEGACY_MANIFEST = "study.json"  # logs/<study>/study.json of older logs: one latest invocation per study


def manifest_name(dataset: str, recipe: str) -> str:
    """logs/<study>/study-<dataset>-<recipe>.json (run.py writes, plot.py reads): the latest invocation's
    configs of a study on that dataset under that recipe, so that a Fashion-MNIST or full-recipe run of
    the study does not hide the MNIST or quick one from the report."""
    return f"study-{dataset}-{recipe}.json"


# Equivalence margins (fractions), declared before any run, per recipe: a converged network's
# differences are smaller, so a claim that a choice matters little must be tighter there.
MARGINS: dict[str, float] = {"quick": 0.005, "full": 0.002}
# Studies whose margin is their own whatever the recipe: a claim that bf16 changes nothing has to be
# tighter than a claim that a choice matters little.
STUDY_MARGINS: dict[str, float] = {"precision": 0.002}


def margin_for(recipes: set[str], margin_pp: float | None = None, study: str | None = None) -> float:
    """The study's equivalence margin (fraction): --margin PP where given, else the study's own, else the recipe's;
    the wider where recipes are mixed."""
    if margin_pp is not None:
        return margin_pp / 100
    if study in STUDY_MARGINS:
        return STUDY_MARGINS[study]
    return max(MARGINS.get(r, MARGINS["quick"]) for r in recipes or {"quick"})


def margins_in_words(studies: Iterable[str] | None = None) -> str:
    """'0.5 pp for the quick recipe, 0.2 pp for the full recipe; precision: 0.2 pp': MARGINS and STUDY_MARGINS as the
    report and --help say them; only those of `studies` where given (a script's --help names its own)."""
    return ", ".join([f"{100 * m:g} pp for the {r} recipe" for r, m in MARGINS.items()]
                     + [f"{100 * m:g} pp for the {s} study whatever the recipe" for s, m in STUDY_MARGINS.items()
                        if studies is None or s in studies])


def default_recipe(study: str) -> str:
    """The recipe a study trains with unless --recipe says otherwise."""
    return STUDY_RECIPES.get(study, "quick")
REFERENCE_BATCH = 64  # the batch size whose learning rate the linear scaling rule starts from
SWEEP_FACTORS = (0.1, 10**-0.5, 1.0, 10**0.5, 10.0)  # x the optimizer's default rate: 2 decades


BASE_NETWORKS = ("Net", "LeNet", "NetSigmoid", "NetDeep", "MLP")  # the seed project's five


def study_base(args) -> Spec:
    return [(name, {"model": name}) for name in BASE_NETWORKS]


def study_activation(args) -> Spec:
    return [(act, {"model": "ConvNet", "model_args": {"act": act}}) for act in ACTIVATIONS]


def study_depth(args) -> Spec:
    return ([(f"conv{d}", {"model": "ConvNet", "model_args": {"depth": d}}) for d in range(1, 5)]
            + [(f"mlp{d}", {"model": "MLPNet", "model_args": {"depth": d}}) for d in range(1, 5)])


def study_width(args) -> Spec:
    return ([(f"conv_w{w}", {"model": "ConvNet", "model_args": {"width": w}}) for w in (8, 16, 32, 64)]
            + [(f"mlp_w{w}", {"model": "MLPNet", "model_args": {"depth": 1, "width": w}})
               for w in (32, 128, 512, 2048)])


def study_batch_size(args) -> Spec:
    lr = base_lr(args)
    return [(f"bs{b}", {"model": "Net", "batch_size": b,
                        "lr": lr * b / REFERENCE_BATCH if args.scale_lr else lr})
            for b in (16, 64, 256, 1024)]


def own_recipe(recipe: dict) -> Spec:
    """One config named after its network that sets its own epochs, batch, optimizer, lr and schedule."""
    return [(recipe["model"], {**recipe, "model_args": dict(recipe["model_args"])})]


def study_speed(args) -> Spec:
    """The recipe that reaches 99% test accuracy in one epoch."""
    return own_recipe(SPEED_RECIPE)


def study_speed60(args) -> Spec:
    """The most accurate recipe found that trains in a minute of two CPU cores."""
    return own_recipe(SPEED60_RECIPE)


def study_optim(args) -> Spec:
    return [(name, {"model": "Net", "optimizer": name, "lr": args.lr or default})
            for name, (_, default, _) in OPTIMIZERS.items()]


def sweep_rates(center: float) -> list[float]:
    return [float(f"{center * f:.3g}") for f in SWEEP_FACTORS]


def study_optim_sweep(args) -> Spec:
    return [(f"{name}_lr{lr:g}", {"model": "Net", "optimizer": name, "lr": lr})
            for name, (_, default, _) in OPTIMIZERS.items() for lr in sweep_rates(args.lr or default)]


# LeCun, Bottou, Bengio and Haffner 1998, "Gradient-based learning applied to document recognition",
# the table of test errors on MNIST without distortions: {config name: (network, its test error there)}
LECUN98: dict[str, tuple[dict, float]] = {
    "linear": ({"model": "MLPNet", "model_args": {"depth": 0}}, 0.12),
    "mlp300": ({"model": "MLPNet", "model_args": {"widths": "300"}}, 0.047),
    "mlp300-100": ({"model": "MLPNet", "model_args": {"widths": "300-100"}}, 0.0305),
    "LeNet-5": ({"model": "LeNet"}, 0.0095),
}


# Published test accuracies the best study is shown beside, with their sources: {dataset: ((source, accuracy), ...)}
PUBLISHED: dict[str, tuple[tuple[str, float], ...]] = {
    "mnist": (("LeCun et al. 1998, LeNet-5 (table of test errors: 0.95%)", 0.9905),
              ("LeCun et al. 1998, LeNet-5 trained with distortions (0.80%)", 0.9920),
              ("LeCun et al. 1998, boosted LeNet-4 with distortions (0.70%), the paper's best", 0.9930)),
    "fashion-mnist": (("Xiao, Rasul and Vollgraf 2017, best of their scikit-learn benchmark (SVC, C=10, RBF kernel)",
                       0.897),),
}


def study_precision(args) -> Spec:
    """Each base network in fp32 and in bf16; each bf16 config is compared with its fp32 twin (same seeds: same
    initial weights and batches). It sets the precision itself: --precision does not apply."""
    return [(f"{name}-{p}", {"model": name, "precision": p}) for name in BASE_NETWORKS for p in PRECISIONS]


# The regularization study's additions to Net, each as the usual tutorials and pytorch/examples set it
DROPOUT = {"conv_dropout": 0.25, "fc_dropout": 0.5}  # pytorch/examples mnist: after the conv blocks, before the last layer
LABEL_SMOOTHING = 0.1  # Szegedy et al. 2016 (Inception v3), and torch's own examples
# weight decay where a recipe has none: AdamW's decoupled 0.05 (the full recipe's), else a coupled L2 term of 5e-4
WEIGHT_DECAY_ON: dict[str, float] = {"adamw": 0.05}
L2_ON = 5e-4


def dataset_augment(dataset: str) -> str:
    """The augmentation a study applies on `dataset`: shifts and rotations, and mirroring where its classes allow."""
    return "shift_rotate_flip" if get_dataset(dataset).hflip else "shift_rotate"


def study_regularization(args) -> Spec:
    """Net and one change each: dropout, batch norm, weight decay switched (off where the recipe has it, on where
    not), label smoothing, augmentation; then every addition together."""
    recipe = recipe_values(args.recipe or default_recipe("regularization"), "Net")
    optimizer = args.optimizer or recipe["optimizer"]
    decay = args.weight_decay if args.weight_decay is not None else weight_decay_of(recipe["recipe"], optimizer)
    switched = 0.0 if decay > 0 else WEIGHT_DECAY_ON.get(optimizer, L2_ON)
    augment = dataset_augment(args.dataset)
    additions = {"model_args": {**DROPOUT, "bn": True}, "label_smoothing": LABEL_SMOOTHING, "augment": augment,
                 **({"weight_decay": switched} if switched else {})}
    return [("Net", {"model": "Net"}),
            ("dropout", {"model": "Net", "model_args": dict(DROPOUT)}),
            ("batchnorm", {"model": "Net", "model_args": {"bn": True}}),
            ("no_weight_decay" if decay > 0 else "weight_decay", {"model": "Net", "weight_decay": switched}),
            ("label_smoothing", {"model": "Net", "label_smoothing": LABEL_SMOOTHING}),
            ("augment", {"model": "Net", "augment": augment}),
            ("all", {"model": "Net", **additions})]


# What the best study changes in BEST_RECIPE on a dataset (model_args merged). Fashion-MNIST: at width 32 the
# training accuracy on augmented images (94.0%) stayed within about 1 pp of validation's (92.9%), so the network
# underfits garments. Of two candidates of about the same cost, width 48 for 30 epochs and width 64 for 20, the
# first had the higher validation accuracy at its last epoch (seed 0: 93.76% and 93.48%; width 32: 92.94%);
# no test accuracy was read to choose (docs/best.md). Kept here, outside the code digest, so that MNIST's
# best runs stay those of the recipe they trained with.
BEST_BY_DATASET: dict[str, dict] = {"fashion-mnist": {"model_args": {"width": 48}, "epochs": 30}}


def best_recipe(dataset: str) -> dict:
    """BEST_RECIPE as the best study trains it on `dataset`: its overrides there and its augmentation."""
    override = BEST_BY_DATASET.get(dataset, {})
    model_args = {**BEST_RECIPE["model_args"], **override.get("model_args", {})}
    return {**BEST_RECIPE, **override, "model_args": model_args, "augment": dataset_augment(dataset)}


def study_best(args) -> Spec:
    """One network and recipe for accuracy per CPU-minute (docs/best.md), fixed before any run; the last epoch counts."""
    return [("best", best_recipe(args.dataset))]


def study_lecun98(args) -> Spec:
    """The 1998 paper's networks; converged, so it trains with the full recipe unless --recipe says otherwise."""
    return [(name, network) for name, (network, _) in LECUN98.items()]


RUN_STUDIES: dict[str, Study] = {"base": study_base, "activation": study_activation, "depth": study_depth,
                                 "width": study_width, "batch_size": study_batch_size, "speed": study_speed,
                                 "speed60": study_speed60,
                                 "lecun98": study_lecun98, "precision": study_precision,
                                 "regularization": study_regularization, "best": study_best}
# studies whose default recipe is not `quick`: regularizers pay off late, so the regularization study trains to convergence
STUDY_RECIPES = {"lecun98": "full", "regularization": "full"}


# The one recipe the reference parts (docs/results/regenerate.sh) train a study under: its own (STUDY_RECIPES), and
# the rate sweep's quick one, as its 400 runs under the full recipe's 12 epochs are 8.5 h on a 2-core CPU (511 min
# by --dry-run, 6x the quick sweep's); the full recipe's optimizer answer is optim's, at the usual rates.
REFERENCE_RECIPES = {**STUDY_RECIPES, "optim_sweep": "quick"}


def unrun_words(study: str, recipe: str) -> str:
    """README's table's and the overview's words where no part has `study` under `recipe`: "not run", or "full
    recipe only" where the reference parts train the study under one recipe (REFERENCE_RECIPES) and this is another."""
    own = REFERENCE_RECIPES.get(study)
    return f"{own} recipe only" if own and recipe != own else "not run"


STUDY_SEEDS = {"precision": 10}  # studies whose default number of seeds is not run.py's SEEDS
# studies whose default --precision is not run.py's: the best study is about accuracy per CPU-minute, so it takes
# bf16 where the hardware computes it natively (1.5-1.8x its fp32 speed on an AVX512-BF16 CPU, docs/best.md)
STUDY_PRECISIONS = {"best": "auto"}
# `--study all` runs the assignment's questions: not the paper's converged reproduction, not the precision check,
# not the questions beyond the assignment (regularization, best), which train for long, nor the minute-long
# speed record (speed60)
NOT_IN_ALL = ("lecun98", "precision", "regularization", "best", "speed60")
# studies that only mean something on some datasets: the paper's MNIST table; the speed recipe's 99% target
STUDY_DATASETS: dict[str, tuple[str, ...]] = {"lecun98": ("mnist",), "speed": ("mnist",), "speed60": ("mnist",)}
OPTIM_STUDIES: dict[str, Study] = {"optim": study_optim, "optim_sweep": study_optim_sweep}
# a flag that names a study, as `--lr-sweep` names optim_sweep: {study: (flag, help)}
STUDY_FLAGS: dict[str, tuple[str, str]] = {
    "optim_sweep": ("--lr-sweep", "same as --study optim_sweep: a grid of 5 rates per optimizer, the best picked on val")}

# Each config is compared with its study's reference: the seed network's choice. Where a study holds
# two network families (depth, width), each config is compared with the reference of its own family.
REFERENCES: dict[str, tuple[str, ...]] = {
    "base": ("Net",), "activation": ("relu",), "batch_size": (f"bs{REFERENCE_BATCH}",), "optim": ("adam",),
    "depth": ("conv2", "mlp2"),  # the seed's Net has 2 conv blocks, its MLP 2 hidden layers
    "width": ("conv_w32", "mlp_w512"),  # Net's first block has 32 channels, the MLP 512 neurons a layer
    "lecun98": ("LeNet-5",),
    "regularization": ("Net",),  # each addition against Net without it
    "precision": tuple(f"{name}-fp32" for name in BASE_NETWORKS),  # each network's bf16 config against its fp32 one
    "optim_sweep": ("adam",),  # an optimizer: each optimizer at its best rate against adam at its best rate
}


def references_in_words() -> str:
    """'base: Net; activation: relu; ...': each study's reference configs, as the report's method names them."""
    return "; ".join(f"{study}: {' or '.join(refs)}" for study, refs in REFERENCES.items())


@dataclass(frozen=True)
class Traits:
    """What a study shows beyond the tables every study has; other modules ask here instead of testing names."""
    best_rates: bool = False  # a learning-rate sweep: figures and tests take each optimizer at its best rate on val
    gradients: bool = False  # figures and findings include per-layer gradient norms
    growth: str | None = None  # the model argument it varies by size: findings list accuracy by it
    paper: dict[str, tuple[dict, float]] | None = None  # published test errors shown beside the suite's
    question: str | None = None  # the choice it answers, a row of README's "what each choice does" table
    own_recipe: bool = False  # its configs set epochs, batch, optimizer, lr and schedule: no named recipe applies
    own_precision: bool = False  # its configs set their precision: --precision does not apply
    timed: bool = False  # a speed record: one run at a time on every core, its training seconds reported
    published: dict[str, tuple[tuple[str, float], ...]] | None = None  # {dataset: (source, test accuracy), ...} beside it


TRAITS: dict[str, Traits] = {
    "base": Traits(question="the seed project's networks"),
    "activation": Traits(gradients=True, question="activation function"),
    "depth": Traits(gradients=True, growth="depth", question="number of layers"),
    "width": Traits(growth="width", question="neurons per layer"),
    "optim": Traits(question="optimizer"),
    "optim_sweep": Traits(best_rates=True, question="optimizer, each at its best rate"),
    "batch_size": Traits(question="batch size"),
    "lecun98": Traits(paper=LECUN98),
    "speed": Traits(own_recipe=True, timed=True),
    "speed60": Traits(own_recipe=True, timed=True),
    "regularization": Traits(question="regularization and augmentation"),
    "best": Traits(own_recipe=True, published=PUBLISHED),
    "precision": Traits(own_precision=True),
}


def traits(study: str) -> Traits:
    return TRAITS.get(study, Traits())


# What each study means, in plain words that name no measured number (findings.py puts the runs' numbers
# beside them, and says a piece only where the numbers agree with it): "varies", what the study changes; the
# other keys, the reasons a finding gives. One place per study, so that README, FINDINGS.md and REPORT.md agree.
EXPLANATIONS: dict[str, dict[str, str]] = {
    "base": {
        "varies": "the seed project's five networks as it defined them (Net, LeNet, NetSigmoid, NetDeep, MLP), "
                  "each against Net",
        "why": "the convolutional networks see a digit's strokes wherever they are, where the MLP must learn each "
               "pixel position on its own; NetSigmoid is Net with sigmoid, which learns slower (see the activation "
               "function)"},
    "activation": {
        "varies": "one ConvNet with a different activation function after every layer, everything else the same, "
                  "each against relu",
        "sigmoid": "sigmoid squashes every input into the range from zero to one, its slope is at most a quarter and "
                   "its output never negative, so each sigmoid layer hands back only a fraction of the gradient it "
                   "receives and the layers nearest the input learn slowest; more epochs give them the updates they "
                   "lacked",
        "tanh": "the textbook puts tanh beside sigmoid as a saturating function that starves the first layers of "
                "gradient, yet here its first layer got relatively more gradient than relu's, not less: tanh is "
                "centred on zero with a slope of one there, and a network this shallow does not push it into "
                "saturation"},
    "depth": {
        "varies": "ConvNets of one to four conv blocks and MLPs of one to four hidden layers, each against the seed "
                  "project's depth (conv2, mlp2)",
        "textbook": "the textbook blames depth's trouble on vanishing gradients: every layer scales the backward "
                    "signal down, so a deeper network's first layer should get relatively less gradient",
        "against": "these runs show the opposite, so vanishing gradients are not why the deeper MLPs did worse here; "
                   "each extra layer adds parameters to fit in the same number of steps",
        "conv1": "one conv block hands a large feature map to the dense layer, so most of its parameters sit in that "
                 "one layer: more parameters, yet a worse network"},
    "width": {
        "varies": "ConvNets whose blocks have 8 to 64 channels and one-hidden-layer MLPs of 32 to 2048 neurons, each "
                  "against the seed project's width (conv_w32, mlp_w512)",
        "why": "a wider layer has more parameters to fit the images with, and every parameter costs time; width pays "
               "only while the network is too small for its task, so it pays longer on clothing than on digits"},
    "optim": {
        "varies": "Net trained with each of eight optimizers at the learning rate usually given for it, each "
                  "against adam",
        "confound": "so every verdict compares an optimizer together with its rate: a rate that suits one optimizer "
                    "can be far from another's best, and part of each difference may be the rate's",
        "sweep": "`compare_optim.py --lr-sweep` removes the confound: it trains each optimizer at five rates and "
                 "compares each at its best on validation"},
    "batch_size": {
        "varies": "Net at batch sizes 16, 64, 256 and 1024, with the same learning rate and the same epochs, each "
                  "against batch 64",
        "why": "in the same epochs a larger batch sees the same images in fewer steps, and at the same rate each step "
               "moves the weights no further, so the large batches simply took fewer steps",
        "remedy": "`run.py --study batch_size --scale-lr` raises the rate with the batch (the linear scaling rule), "
                  "the usual remedy"},
    "regularization": {
        "varies": "Net trained to convergence with one addition each (dropout, batch norm, weight decay switched, "
                  "label smoothing, augmentation) and all together, each against Net",
        "why": "a regularizer trades fitting the training images for doing well on new ones, so it pays only where "
               "the network overfits; augmentation makes the training images harder to fit, which costs where "
               "the network does not overfit in the epochs it has"},
    "precision": {
        "varies": "each of the seed project's networks in fp32 and in bf16 autocast, same seeds, bf16 against its "
                  "fp32 twin",
        "why": "bf16 keeps fp32's range with fewer digits, and the weights, the loss and the optimizer state stay in "
               "fp32, so its rounding is too small to move the accuracy while a CPU with native bf16 computes faster"},
}


def reference_map(study: str, models: dict[str, str]) -> dict[str, str]:
    """{config name: its reference's name} for a study's configs (`models`: name -> model class name)."""
    refs = [r for r in REFERENCES.get(study, ()) if r in models]
    out = {}
    for name, model in models.items():
        if name in refs:
            continue
        same_family = [r for r in refs if models[r] == model]
        ref = same_family[0] if len(refs) > 1 and same_family else (refs[0] if len(refs) == 1 else None)
        if ref:
            out[name] = ref
    return out


def base_lr(args) -> float:
    """The batch_size study's rate at batch 64: --lr, else the recipe's for Net, else the optimizer's default."""
    recipe = recipe_values(args.recipe or default_recipe("batch_size"), "Net")
    if args.lr is not None:
        return args.lr
    if args.optimizer is None and recipe["lr"] is not None:
        return recipe["lr"]
    return OPTIMIZERS[args.optimizer or recipe["optimizer"]][1]


def lr_rule(args) -> str:
    """What the batch_size study does with the learning rate, said in the output."""
    lr = base_lr(args)
    if args.scale_lr:
        return f"linear scaling rule: lr = {lr:g} x batch_size / {REFERENCE_BATCH}"
    return f"no scaling: lr = {lr:g} for every batch size (--scale-lr applies the linear scaling rule)"


def recipe_summary(configs: list[dict], label: str | None = None) -> str:
    """The values the runs share, and which ones vary, after `label` (default: the recipe's name)."""
    def text(value) -> str:
        return f"{value:g}" if isinstance(value, float) else "the optimizer's" if value is None else str(value)

    def shared(key: str) -> str:
        values = {precision_of(c) if key == "precision" else c.get(key, DEFAULT_CONFIG.get(key)) for c in configs}
        if len(values) > 1:
            numbers = sorted(v for v in values if isinstance(v, (int, float)))
            return "varies (" + ", ".join(map(text, numbers + sorted(values - set(numbers), key=str))) + ")"
        return text(values.pop())
    dataset = get_dataset(configs[0].get("dataset", DEFAULT_CONFIG["dataset"]))
    # augmentation and label smoothing only where a run used them: the recipes have neither
    extras = "".join(f"{words} {shared(key)}, " for key, words in (("augment", "augment"), ("label_smoothing", "label smoothing"))
                     if any(c.get(key, DEFAULT_CONFIG[key]) != DEFAULT_CONFIG[key] for c in configs))
    return (f"{label or 'recipe ' + shared('recipe')}: epochs {shared('epochs')}, batch {shared('batch_size')}, "
            f"optimizer {shared('optimizer')}, lr {shared('lr')}, weight decay {shared('weight_decay')}, "
            f"schedule {shared('schedule')}, {extras}precision {shared('precision')}, "
            f"{configs[0]['subset'] or dataset.n_train} {dataset.title} training images")


def best_rates(results: list[dict]) -> list[dict]:
    """Per optimizer, the rate with the best mean validation accuracy, and the test accuracy there.

    Diverged runs count as failures at that rate: a rate where any seed diverged is never picked.
    """
    by_rate: dict[tuple[str, float], list[dict]] = {}
    for r in results:
        by_rate.setdefault((r["config"]["optimizer"], r["config"]["lr"]), []).append(r)
    best: dict[str, dict] = {}
    for (opt, lr), runs in by_rate.items():
        if any(r["status"] != "ok" for r in runs):
            continue
        val = statistics.mean(r["best_val_acc"] for r in runs)
        if opt not in best or val > best[opt]["val_acc"]:
            test = [r["test_acc"] for r in runs]
            best[opt] = {"optimizer": opt, "lr": lr, "val_acc": val, "test_acc": statistics.mean(test),
                         "test_std": statistics.stdev(test) if len(test) > 1 else None, "seeds": len(runs)}
    return sorted(best.values(), key=lambda b: -b["val_acc"])


BEST_RATE_HEADER = ("optimizer", "best lr", "val accuracy (mean)", "test accuracy (mean ± std)")


def best_rate_rows(results: list[dict]) -> list[tuple[str, str, str, str]]:
    """best_rates as the cells of BEST_RATE_HEADER's table: what compare_optim.py prints and REPORT.md shows."""
    rows = []
    for b in best_rates(results):
        std = f" ± {100 * b['test_std']:.2f}" if b["test_std"] is not None else ""
        rows.append((b["optimizer"], f"{b['lr']:g}", f"{100 * b['val_acc']:.2f}%", f"{100 * b['test_acc']:.2f}{std}%"))
    return rows
