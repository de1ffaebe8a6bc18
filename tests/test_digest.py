"""The code digest covers statements that compute, never words; registries count per config; old commits hash alike.

Every edit is made on a temporary copy of the project's modules, never on the real files.
"""
import argparse
import json
import shutil

import pytest

import digest
from conftest import ROOT
from dataset_facts import DATASETS
from dataset_words import WORDS
from recipes import DEFAULT_CONFIG, RECIPES, make_config, recipe_values
from studies import OPTIM_STUDIES, RUN_STUDIES

REFERENCE_COMMIT = "6c87466"  # main when every committed reference run was trained (numeric code of 392ca93)

CONFIGS = {  # a few configs apart in every way the digest tells apart
    "Net": make_config(),
    "NetSigmoid fashion": make_config(model="NetSigmoid", dataset="fashion-mnist"),
    "MLP sgd": make_config(model="MLP", optimizer="sgd"),
    "ConvNet gelu fashion adamw": make_config(model="ConvNet", model_args={"act": "gelu"}, optimizer="adamw",
                                             dataset="fashion-mnist"),
}


@pytest.fixture
def project(tmp_path):
    """A copy of the project's modules, to edit."""
    copy = tmp_path / "project"
    copy.mkdir()
    for path in ROOT.glob("*.py"):
        shutil.copy(path, copy / path.name)
    return copy


def edit(project, module: str, old: str, new: str) -> None:
    """Replace `old` (which must be there) by `new` in the copy's module.py."""
    path = project / f"{module}.py"
    source = path.read_text()
    assert old in source, (module, old)
    path.write_text(source.replace(old, new, 1))


def digests(project) -> dict[str, str]:
    """{"code": code_digest, each CONFIGS name: its run_digest} of the copy's sources as they are now."""
    digest.code_digest.cache_clear()  # the copy's files as edited, not as first hashed
    source = digest._files(project)
    return {"code": digest.code_digest(project), **{name: digest.run_digest(config, source) for name, config in CONFIGS.items()}}


def test_the_copy_hashes_as_the_project_and_the_modules_are_the_numeric_ones(project):
    assert digest.code_modules(project) == ["dataloader", "dataset_facts", "evaluate", "model", "recipes", "train"]
    assert digests(project) == {"code": digest.code_digest(), **{n: digest.run_digest(c) for n, c in CONFIGS.items()}}
    assert len(set(digests(project).values())) == len(CONFIGS) + 1  # every config names other code
    assert all(len(d) == 16 and int(d, 16) >= 0 for d in digests(project).values())


WORD_EDITS = [
    ("train", "f\"val acc {100 * val['val_acc']:.2f}% ({seconds:.1f}s)\"", "f\"val accuracy {val['val_acc']:.4f}\""),
    ("train", "if log:\n                    log(f\"{config['name']}", "if log:\n                    print(f\"{config['name']}"),
    ("recipes", "raise ValueError(f\"unknown optimizer '{config['optimizer']}'; valid:",
     "raise ValueError(f\"no optimizer called '{config['optimizer']}'; choose from"),
    ("dataloader", "is corrupt (MD5 mismatch): delete it and rerun", "has the wrong MD5: remove it and run again"),
    ("evaluate", "is not a model checkpoint written by train.py", "is no checkpoint of train.py"),
    ("dataset_words", 'title="MNIST"', 'title="The MNIST digits"'),
    ("dataset_words", '"Ankle boot"', '"Ankle-boot"'),
    ("dataset_words", "target_val_acc=0.87", "target_val_acc=0.88"),
    ("train", "def train_step(model: nn.Module, optimizer: torch.optim.Optimizer,",
     "def train_step(model: torch.nn.Module, optimizer: 'torch.optim.Optimizer',"),  # annotations
    ("model", "        layers: list[nn.Module] = [nn.Flatten()]", "        layers: list = [nn.Flatten()]"),
    ("dataloader", "def check_augment(augment: str, ds: Dataset) -> None:", "def check_augment(augment, ds):"),
    ("bench", "download=False", "download=False, target_transform=None"),  # torchvision_dataset, bench's alone
    ("dataloader", "\ndef normalize(", "\ndef unused_helper(x):\n    return x * 2\n\n\ndef normalize("),  # reached by nothing
    ("model", '"""The seed\'s networks', '"""Networks'),  # a docstring
    ("model", "from torch import nn\n", "from torch import nn  # a comment\n\n\n"),  # comments and formatting
    ("evaluate", 'per-class accuracy: "', 'accuracy per class: "'),  # evaluate.py's command line (main)
    ("run", '"which comparison to run;', '"which comparison to train;'),  # a flag's help text
    ("utils", '"the disk is full: no space left', '"disk full: no space left'),  # plumbing's messages
]


@pytest.mark.parametrize("module, old, new", WORD_EDITS, ids=[f"{m}:{o[:30]}" for m, o, _ in WORD_EDITS])
def test_an_edit_of_words_keeps_every_digest(project, module, old, new):
    before = digests(project)
    edit(project, module, old, new)
    assert digests(project) == before


@pytest.mark.parametrize("module, old, new", [
    ("model", '    "SpeedNetLite": SpeedNetLite,\n}', '    "SpeedNetLite": SpeedNetLite,\n    "WideMLP": MLPNet,\n}'),
    ("recipes", '    "adadelta": ("Adadelta", 1.0, {}),\n', '    "adadelta": ("Adadelta", 1.0, {}),\n    "asgd": ("ASGD", 0.01, {}),\n'),
    ("recipes", '"gelu": "GELU",', '"gelu": "GELU", "mish": "Mish",'),
])
def test_a_registry_entry_no_config_uses_keeps_every_run_digest(project, module, old, new):
    """It is new numeric code, so the digest of the whole (code_digest) changes; no run's does."""
    before = digests(project)
    edit(project, module, old, new)
    after = digests(project)
    assert after["code"] != before["code"]
    assert {k: v for k, v in after.items() if k != "code"} == {k: v for k, v in before.items() if k != "code"}


@pytest.mark.parametrize("module, old, new, changed", [
    ("train", "    optimizer.step()\n    return loss, logits", "    optimizer.step()\n    optimizer.step()\n    return loss, logits",
     set(CONFIGS)),  # train_step
    ("train", "enumerate(batches(x, y, batch_size, generator))", "enumerate(batches(x, y, batch_size, None))",
     set(CONFIGS)),  # the step loop
    ("train", "return cls(params, lr=lr, fused=True, **extra)", "return cls(params, lr=lr, fused=False, **extra)",
     set(CONFIGS)),  # the optimizer setup
    ("dataloader", "ROTATE_DEG = 10.0", "ROTATE_DEG = 12.0", set(CONFIGS)),  # the augmentation
    ("dataloader", "mirror = torch.where(u[:, 3] < 0, -1.0, 1.0)", "mirror = torch.where(u[:, 3] < 0.5, -1.0, 1.0)",
     set(CONFIGS)),
    ("dataloader", "SPLIT_SEED = 0", "SPLIT_SEED = 1", set(CONFIGS)),
    ("evaluate", "EVAL_BATCH = 256", "EVAL_BATCH = 128", set(CONFIGS)),
    ("recipes", "raise ValueError(f\"unknown optimizer", "raise TypeError(f\"unknown optimizer", set(CONFIGS)),
    ("model", "nn.Linear(64 * h * w, 128), activation(act),", "nn.Linear(64 * h * w, 128, bias=False), activation(act),",
     {"Net", "NetSigmoid fashion"}),  # Net's constructor, NetSigmoid's base
    ("model", "return [conv, *norm, pool, activation(act)] if act in MONOTONIC",
     "return [conv, *norm, activation(act), pool] if act in MONOTONIC",
     {"Net", "NetSigmoid fashion", "ConvNet gelu fashion adamw"}),  # every convolutional network's forward
    ("recipes", '"sgd": ("SGD", 0.1, {}),', '"sgd": ("SGD", 0.05, {}),', {"MLP sgd"}),
    ("recipes", '"gelu": "GELU",', '"gelu": "Mish",', {"ConvNet gelu fashion adamw"}),
    ("dataset_facts", "hflip=True),", "hflip=False),", {"NetSigmoid fashion", "ConvNet gelu fashion adamw"}),
    ("dataset_facts", "mean=0.1307", "mean=0.13066", {"Net", "MLP sgd"}),
    ("dataset_facts", '"6bbc9ace898e44ae57da46a324031adb"', '"0bbc9ace898e44ae57da46a324031adb"', {"Net", "MLP sgd"}),
    ("dataset_facts", "return -self.mean / self.std", "return 0.0", set(CONFIGS)),  # a fact a property computes
])
def test_a_statement_that_computes_changes_the_digest_of_the_configs_it_serves(project, module, old, new, changed):
    before = digests(project)
    edit(project, module, old, new)
    after = digests(project)
    assert after["code"] != before["code"]
    assert {name for name in CONFIGS if after[name] != before[name]} == changed


def test_a_registry_read_other_than_by_key_counts_whole(project):
    """Code that reads MODELS as a whole (here its size) makes every entry count, for every config."""
    edit(project, "train", "    config = make_config(**config)\n", "    config = make_config(**config)\n"
                                                                     "    n_models = len(MODELS)\n")
    edit(project, "train", "from model import build_model,", "from model import MODELS, build_model,")
    before = digests(project)
    edit(project, "model", '    "SpeedNetLite": SpeedNetLite,\n}', '    "SpeedNetLite": SpeedNetLite,\n    "WideMLP": MLPNet,\n}')
    after = digests(project)
    assert all(after[name] != before[name] for name in CONFIGS)


def test_words_inside_the_registry_literal_do_not_count(project):
    """A dataset's words as fields and arguments of the numeric registry (the layout before dataset_words.py)
    hash as if they were not there: the facts count as values."""
    before = digests(project)
    edit(project, "dataset_facts", "    @property\n    def title(self) -> str:\n        return words(self.name).title\n",
         "")
    edit(project, "dataset_facts", "    folder: str  #", "    title: str\n    spare: str\n    folder: str  #")
    edit(project, "dataset_facts", 'name="mnist", folder="MNIST",', 'name="mnist", title="MNIST", folder="MNIST",')
    edit(project, "dataset_facts", 'name="fashion-mnist", folder=', 'name="fashion-mnist", title="Fashion", folder=')
    edit(project, "dataset_facts", "hflip=False),", 'hflip=False, spare="x"),')
    after = digests(project)
    assert after["Net"] != before["Net"]  # `spare` is no word: a new fact of MNIST's entry counts
    assert {k: after[k] for k in ("NetSigmoid fashion", "ConvNet gelu fashion adamw")} == {
        k: before[k] for k in ("NetSigmoid fashion", "ConvNet gelu fashion adamw")}


def test_numeric_code_that_imports_a_module_outside_the_digest_is_refused(project):
    (project / "helpers.py").write_text("SCALE = 2\n")
    edit(project, "train", "import torch\n", "import torch\nimport helpers\n")
    with pytest.raises(RuntimeError, match="train.py imports helpers"):
        digest.code_modules(project)


def test_words_and_facts_name_the_same_datasets():
    assert list(WORDS) == list(DATASETS)
    for name, facts in DATASETS.items():
        assert len(WORDS[name].classes) == facts.n_classes == len(set(facts.classes)) == 10
        assert facts.title == WORDS[name].title and 0.5 < facts.target_val_acc < 1


def study_configs() -> list[dict]:
    """A config for every (network, its arguments, optimizer, dataset) that run.py's and compare_optim.py's
    studies train, under either recipe: the config keys that choose which code a run executes."""
    configs = {}
    for dataset in DATASETS:
        for recipe in RECIPES:
            args = argparse.Namespace(dataset=dataset, recipe=recipe, lr=None, scale_lr=False, optimizer=None,
                                      weight_decay=None)
            for study in {**RUN_STUDIES, **OPTIM_STUDIES}.values():
                for _, overrides in study(args):
                    model = overrides.get("model", DEFAULT_CONFIG["model"])
                    config = make_config(model=model, model_args=overrides.get("model_args", {}), dataset=dataset,
                                         optimizer=overrides.get("optimizer", recipe_values(recipe, model)["optimizer"]))
                    configs[json.dumps(config, sort_keys=True)] = config
    return list(configs.values())


def test_the_reference_runs_code_hashes_as_todays():
    """The digest of the code at the commit that trained the committed reference runs, computed today, equals
    today's digest for every config of the studies: moving words out and code between modules changed no
    statement that computes, so those runs are today's runs."""
    old = digest.source_at(REFERENCE_COMMIT)
    if old is None:
        pytest.skip(f"no git history with commit {REFERENCE_COMMIT}")
    # a network added since (the speed recipes' SpeedNetLite) has no runs of that code to be
    configs = [c for c in study_configs() if f"class {c['model']}(" in old("model")]
    assert len(configs) > 100 and {c["model"] for c in study_configs()} - {c["model"] for c in configs} == {"SpeedNetLite"}
    differ = [c for c in configs if digest.run_digest(c, old) != digest.run_digest(c)]
    assert not differ, differ[:3]


def test_an_unknown_commit_or_a_folder_without_git_has_no_source(tmp_path):
    assert digest.source_at("0" * 40) is None
    assert digest.source_at("HEAD", tmp_path) is None


def test_what_the_digest_covers_is_what_training_reaches():
    names = digest.reached(make_config(model="MLP", optimizer="sgd"))
    assert {"train_run", "train_step", "make_optimizer", "augment_batch", "load_splits", "evaluate", "MLP",
            "MODELS['MLP']", "OPTIMIZERS['sgd']", "DATASETS['mnist']", "ACTIVATIONS['relu']"} <= set(names)
    assert not {"main", "load_checkpoint", "Net", "MODELS['Net']", "OPTIMIZERS['adam']", "ACTIVATIONS['tanh']",
                "DATASETS['fashion-mnist']", "FULL_RECIPE", "torchvision_dataset"} & set(names)
