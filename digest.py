"""The code digest: a hash of the statements that decide a run's numbers, and of nothing else.

The numeric code is NUMERIC_MODULES. Of it, the digest covers only what the training entry point
(train.train_run) reaches by name, transitively across those modules, after removing what cannot
change a number:
- docstrings, comments, formatting, annotations, a module's `main` and `__main__` block;
- exception messages (`raise X(...)` counts as `raise X`), assertion messages, print and log calls;
- definitions no training path reaches (a command line's helpers, bench.py's, dead code).
Registries count per config: run_digest(config) hashes of MODELS, OPTIMIZERS and DATASETS the entry the
config names and of ACTIVATIONS the entries its config or its network's class names, so a new entry no
config uses changes no run's digest. A dataset's entry counts as the values of its numeric facts (files,
checksums, shapes, splits, normalisation, whether a mirror keeps the class), never as the text that
spells them, and its words (dataset_words.py: titles, class names, the report's target) not at all.
Definitions are keyed by name, not by module, so moving one between numeric modules keeps the digest.

Standard library only: the reading side and old commits' sources (source_at) can be hashed without torch.
"""
from __future__ import annotations

import ast
import hashlib
import json
import subprocess
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

from dataset_words import DatasetWords

ROOT = Path(__file__).resolve().parent
# The modules whose code decides a run's numbers. Numeric code imports only these, PLUMBING_MODULES and
# WORD_MODULES (code_modules checks it), so numeric code cannot hide in a module the digest leaves out.
NUMERIC_MODULES = ("dataloader", "dataset_facts", "evaluate", "model", "recipes", "train")
PLUMBING_MODULES = ("utils",)  # files, TensorBoard, devices, git: what numeric code calls to write, not to compute
WORD_MODULES = ("dataset_words",)  # text for messages and the report: outside the digest
ENTRY_POINTS = (("train", "train_run"),)  # where every run's numbers are computed from
# Registries whose entries count per config: name -> the config key naming the entry (None: ACTIVATIONS' rule)
REGISTRIES: dict[str, str | None] = {"MODELS": "model", "OPTIMIZERS": "optimizer", "DATASETS": "dataset",
                                     "ACTIVATIONS": None}
WORD_FIELDS = frozenset(f.name for f in fields(DatasetWords))  # a dataset record's words, by name
LOG_CALLS = frozenset({"print", "log", "warn"})  # calls whose statement only reports

Source = Callable[[str], str]  # module name -> the text of module_name.py


# ---- removing what decides no number --------------------------------------------------------------

class _Words(ast.NodeTransformer):
    """Strips docstrings, annotations, messages and reporting statements from a parsed module."""

    def visit_Module(self, node: ast.Module) -> ast.Module:
        node.body = [n for n in node.body if not _is_command_line(n)]
        return self.generic_visit(node)

    def visit_FunctionDef(self, node):
        node.returns, node.type_comment = None, None
        for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs, node.args.vararg, node.args.kwarg):
            if arg is not None:
                arg.annotation, arg.type_comment = None, None
        return self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AnnAssign:
        node.annotation = ast.Constant(None)  # a declaration stays (a dataclass field), its type goes
        return self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> ast.Expr | None:
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return None  # a docstring, or any string standing alone
        if isinstance(value, ast.Call) and _callee(value) in LOG_CALLS:
            return None
        return self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> ast.Raise:
        if isinstance(node.exc, ast.Call):  # that it raises, and what, count; the message does not
            node.exc = node.exc.func
        node.cause = None
        return node

    def visit_Assert(self, node: ast.Assert) -> ast.Assert:
        node.msg = None
        return self.generic_visit(node)

    def generic_visit(self, node):
        super().generic_visit(node)
        if isinstance(getattr(node, "body", None), list) and not node.body and not isinstance(node, ast.Module):
            node.body = [ast.Pass()]  # a block emptied of messages (`if log: log(...)`) is still a block
        return node


def _callee(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _is_command_line(node: ast.stmt) -> bool:
    """`def main(...)` or `if __name__ == "__main__":` at a module's top level."""
    if isinstance(node, ast.FunctionDef):
        return node.name == "main"
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


def numeric_tree(source: str) -> ast.Module:
    """The parsed source without what decides no number (docstrings, annotations, messages, reporting, `main`)."""
    return _Words().visit(ast.parse(source))


# ---- the numeric program: top-level definitions by name ----------------------------------------------

@dataclass
class _Module:
    name: str
    defs: dict[str, list[ast.stmt]]  # top-level name -> the statements that bind it
    imports: dict[str, tuple[str, str | None]]  # local name -> (module, attribute or None for the module)
    other: list[ast.stmt]  # top-level statements that bind no name (always hashed)


@lru_cache(maxsize=64)
def _reduced(source: str) -> ast.Module:
    """numeric_tree(source), once per text (never mutated: the digest reads it only)."""
    return numeric_tree(source)


@lru_cache(maxsize=64)
def _module(name: str, source: str) -> _Module:
    tree = _reduced(source)
    defs: dict[str, list[ast.stmt]] = {}
    imports: dict[str, tuple[str, str | None]] = {}
    other = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.update(_import_bindings(node))
        elif bound := _bound_names(node):
            for target in bound:
                defs.setdefault(target, []).append(node)
        else:
            other.append(node)
    return _Module(name, defs, imports, other)


def _import_bindings(node: ast.Import | ast.ImportFrom) -> dict[str, tuple[str, str | None]]:
    if isinstance(node, ast.Import):
        return {(a.asname or a.name.split(".")[0]): (a.name if a.asname else a.name.split(".")[0], None)
                for a in node.names}
    if node.module == "__future__":
        return {}
    module = "." * node.level + (node.module or "")
    return {(a.asname or a.name): (module, a.name) for a in node.names}


def _bound_names(node: ast.stmt) -> list[str]:
    """The names a top-level definition or assignment binds; none for anything else (an assignment to an
    attribute or an item changes state, so it counts as a statement of its own, always hashed)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
        node, (ast.AnnAssign, ast.AugAssign)) else []
    names = [n for t in targets for n in ast.walk(t) if not isinstance(n, (ast.Tuple, ast.List, ast.Starred, ast.expr_context))]
    return [n.id for n in names] if names and all(isinstance(n, ast.Name) for n in names) else []


@dataclass
class _Program:
    modules: dict[str, _Module]
    memo: dict = field(default_factory=dict)  # per node: its dump and its references, computed once

    def dump(self, node: ast.AST) -> str:
        key = ("dump", id(node))
        if key not in self.memo:
            self.memo[key] = (node, ast.dump(node))  # the node is kept so that its id is never reused
        return self.memo[key][1]

    def references(self, node: ast.AST) -> list[tuple[str, str | None, bool]]:
        """(name, attribute read from it or None, whether it is a registry-style lookup) of each name `node` uses."""
        key = ("refs", id(node))
        if key not in self.memo:
            self.memo[key] = (node, [(name, attr, _looked_up(parent)) for name, attr, parent in _references(node)])
        return self.memo[key][1]

    def resolve(self, module: str, name: str, seen: frozenset = frozenset()) -> tuple[str, str] | str | None:
        """(module, name) of the definition `name` means in `module`, an external import's dotted path, or None
        (a builtin, a local, plumbing or words)."""
        mod = self.modules.get(module)
        if mod is None or (module, name) in seen:
            return None
        if name in mod.defs:
            return module, name
        if name not in mod.imports:
            return None
        target, attr = mod.imports[name]
        if target in self.modules:
            return (target, "") if attr is None else self.resolve(target, attr, seen | {(module, name)})
        if target.split(".")[0] in PLUMBING_MODULES + WORD_MODULES:
            return None
        return f"{target}.{attr}" if attr else target


def _program(source: Source) -> _Program:
    return _Program({name: _module(name, source(name)) for name in NUMERIC_MODULES})


# ---- registries and dataset records --------------------------------------------------------------------

def _registry_entries(node: ast.stmt) -> dict[str, ast.expr] | None:
    """{key: value expression} of a registry: a dict literal with string keys, or a dict comprehension
    `{d.name: d for d in (Record(name=...), ...)}`; None for any other form."""
    value = getattr(node, "value", None)
    if isinstance(value, ast.Dict) and all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in value.keys):
        return {k.value: v for k, v in zip(value.keys, value.values)}
    if isinstance(value, ast.DictComp) and len(value.generators) == 1 and isinstance(
            value.generators[0].iter, (ast.Tuple, ast.List)):
        entries = {}
        for call in value.generators[0].iter.elts:
            name = next((k.value for k in getattr(call, "keywords", []) if k.arg == "name"), None)
            if not (isinstance(call, ast.Call) and isinstance(name, ast.Constant)):
                return None
            entries[name.value] = call
        return entries
    return None


_SAFE_CALLS = {"len": len, "dict": dict, "zip": zip, "tuple": tuple, "list": list, "str": str, "range": range,
               "int": int, "float": float, "abs": abs, "min": min, "max": max, "sum": sum}
_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
           ast.Pow: lambda a, b: a ** b}
_UNARY = {ast.USub: lambda a: -a, ast.UAdd: lambda a: +a, ast.Not: lambda a: not a}


class _NotAValue(Exception):
    """An expression the digest does not evaluate: it is hashed as code instead."""


def _value(node: ast.expr, names: Callable[[str], object]) -> object:
    """The value of a literal-like expression: constants, containers, names of constants, arithmetic, a few
    builtins and one-loop comprehensions; _NotAValue for anything else."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List)):
        items = [_value(e, names) for e in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_value(k, names): _value(v, names) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.Name):
        return names(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        record = names("self")
        if node.attr not in record:
            raise _NotAValue(node.attr)
        return record[node.attr]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_value(node.operand, names))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_value(node.left, names), _value(node.right, names))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _SAFE_CALLS and not node.keywords:
        return _SAFE_CALLS[node.func.id](*(_value(a, names) for a in node.args))
    if isinstance(node, (ast.GeneratorExp, ast.ListComp)) and len(node.generators) == 1:
        loop = node.generators[0]
        if not isinstance(loop.target, ast.Name) or loop.ifs or loop.is_async:
            raise _NotAValue(ast.dump(node))
        items = [_value(node.elt, lambda n, x=x: x if n == loop.target.id else names(n))
                 for x in _value(loop.iter, names)]
        return items if isinstance(node, ast.ListComp) else iter(items)
    raise _NotAValue(ast.dump(node))


class _Code(str):
    """An expression the evaluator could not reduce to a value: its dump stands for it."""


def _json(value: object) -> object:
    """A value as JSON can hold it, tuples and lists alike; code as {"code": its dump}."""
    if isinstance(value, _Code):
        return {"code": str(value)}
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (tuple, list)):
        return [_json(v) for v in value]
    return value


def _property_value(member: ast.stmt) -> ast.expr | None:
    """The returned expression of a `@property` that takes only self and is one return statement, else None."""
    if (isinstance(member, ast.FunctionDef) and len(member.body) == 1 and isinstance(member.body[0], ast.Return)
            and any(isinstance(d, ast.Name) and d.id == "property" for d in member.decorator_list)
            and len(member.args.args) == 1 and member.body[0].value is not None):
        return member.body[0].value
    return None


def _member_name(member: ast.stmt) -> str | None:
    if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return member.name
    if isinstance(member, (ast.AnnAssign, ast.Assign)):
        names = _bound_names(member)
        return names[0] if len(names) == 1 else None
    return None


def _record_facts(cls: ast.ClassDef, call: ast.Call, constant: Callable[[str], object]) -> tuple[dict, set[str]]:
    """(the facts of one registry entry, the names of the record's members those facts replace).

    The facts are the record's fields (defaults, then the entry's arguments, positional ones in the fields'
    order) and the values of its one-line properties, without its words (WORD_FIELDS). A value the digest
    cannot evaluate is kept as its code.
    """
    facts: dict[str, object] = {}

    def value(expr: ast.expr) -> object:
        try:
            return _value(expr, lambda n: facts if n == "self" else constant(n))
        except Exception:  # noqa: BLE001 - anything the evaluator cannot do: the expression counts as code
            return _Code(ast.dump(expr))

    fields = [m for m in cls.body if isinstance(m, ast.AnnAssign) and isinstance(m.target, ast.Name)]
    replaced = {f.target.id for f in fields}
    for member in fields:
        if member.value is not None:
            facts[member.target.id] = value(member.value)
    for i, arg in enumerate(call.args):
        facts[fields[i].target.id if i < len(fields) and not isinstance(arg, ast.Starred) else f"*{i}"] = value(arg)
    for keyword in call.keywords:
        facts[keyword.arg or "**"] = value(keyword.value)
    for member in cls.body:
        expr = _property_value(member)
        if expr is not None and member.name not in WORD_FIELDS:
            result = value(expr)
            if not isinstance(result, _Code):
                facts[member.name] = result
                replaced.add(member.name)
    return {k: _json(v) for k, v in facts.items() if k not in WORD_FIELDS}, replaced | WORD_FIELDS


# ---- walking what the entry points reach -----------------------------------------------------------

def _references(node: ast.AST) -> Iterable[tuple[str, str | None, ast.AST | None]]:
    """(name, attribute read from it or None, the name's parent node) of every name `node` uses."""
    parents = {child: parent for parent in ast.walk(node) for child in ast.iter_child_nodes(parent)}
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            parent = parents.get(n)
            attr = parent.attr if isinstance(parent, ast.Attribute) and parent.value is n else None
            yield n.id, attr, parent


def _inner_imports(node: ast.AST) -> Iterable[tuple[str, str | None]]:
    """(module, name or None) of every import statement inside `node` (a function's lazy imports)."""
    for n in ast.walk(node):
        if isinstance(n, (ast.Import, ast.ImportFrom)) and n is not node:
            yield from _import_bindings(n).values()


def _looked_up(parent: ast.AST | None) -> bool:
    """A registry read by key (`R[key]`) or tested for one (`key in R`): then only the entries read count."""
    if isinstance(parent, ast.Subscript):
        return True
    return isinstance(parent, ast.Compare) and all(isinstance(op, (ast.In, ast.NotIn)) for op in parent.ops)


def _record_calls(entries: dict[str, ast.expr]) -> bool:
    """True when every entry is a record built with keyword arguments, one of them `name` (a dataset)."""
    return bool(entries) and all(isinstance(e, ast.Call) and isinstance(e.func, ast.Name)
                                 and "name" in {k.arg for k in e.keywords} for e in entries.values())


class _Walk:
    """The hashable items of what a config's training reaches in a program (every config's, for None)."""

    def __init__(self, program: _Program, config: dict | None, whole: frozenset = frozenset()):
        self.program, self.config = program, config
        self.whole = whole  # registries some reached code uses other than by key: hashed whole
        self.items: set[tuple[str, ...]] = set()
        self.done: set[tuple[str, str]] = set()
        self.queue: list[tuple[str, str]] = []
        self.misused: set[tuple[str, str]] = set()
        self.records = self.find_records()  # record class -> the members its facts replace

    def run(self) -> set[tuple[str, ...]]:
        for module, name in ENTRY_POINTS:
            self.reach(module, name)
        for mod in self.program.modules.values():
            for node in mod.other:
                self.items.add(("statement", mod.name, ast.dump(node)))
                self.scan(mod.name, node)
        while self.queue:
            self.define(*self.queue.pop())
        if self.misused - self.whole:  # a registry used other than by key: every entry counts
            return _Walk(self.program, self.config, self.whole | self.misused).run()
        return self.items

    def reach(self, module: str, name: str) -> None:
        target = self.program.resolve(module, name)
        if isinstance(target, str):
            self.items.add(("import", name, target))
        elif target is not None and target not in self.done:
            self.done.add(target)
            self.queue.append(target)

    def define(self, module: str, name: str) -> None:
        if not name:  # a whole project module imported by name: everything in it
            for other in self.program.modules[module].defs:
                self.reach(module, other)
            return
        for node in self.program.modules[module].defs[name]:
            if name in REGISTRIES and (entries := _registry_entries(node)) is not None:
                self.registry(module, name, entries)
                continue
            code = self.record_code(module, node)
            self.items.add(("def", name, self.program.dump(code)))
            self.scan(module, code)

    def scan(self, module: str, node: ast.AST) -> None:
        for target_module, attr in _inner_imports(node):
            if target_module in self.program.modules:
                self.reach(target_module, attr) if attr else self.queue.append((target_module, ""))
        for name, attr, looked_up in self.program.references(node):
            target = self.program.resolve(module, name)
            if isinstance(target, tuple) and target[1] == "" and attr:  # module.attribute
                self.reach(target[0], attr)
                continue
            if isinstance(target, tuple) and target[1] in REGISTRIES and not looked_up:
                self.misused.add(target)
            self.reach(module, name)

    def registry(self, module: str, name: str, entries: dict[str, ast.expr]) -> None:
        whole = self.config is None or (module, name) in self.whole
        records = _record_calls(entries)
        for key in sorted(set(entries) if whole else self.keys(name, entries)):
            expr = entries.get(key)
            if expr is None:
                self.items.add(("entry", name, key, "absent"))
            elif records and (cls := self.record_class(module, expr)) is not None:
                facts = _record_facts(cls[1], expr, lambda n: self.constant(module, n))[0]
                self.items.add(("entry", name, key, json.dumps(facts, sort_keys=True)))
                self.reach(*cls[0])
            else:
                self.items.add(("entry", name, key, self.program.dump(expr)))
                self.scan(module, expr)

    def find_records(self) -> dict[tuple[str, str], set[str]]:
        """Every record class a registry builds its entries with, and the members its entries' facts replace."""
        records: dict[tuple[str, str], set[str]] = {}
        for mod in self.program.modules.values():
            for name in REGISTRIES:
                for node in mod.defs.get(name, []):
                    entries = _registry_entries(node) or {}
                    if not _record_calls(entries):
                        continue
                    for call in entries.values():
                        if (cls := self.record_class(mod.name, call)) is not None:
                            replaced = _record_facts(cls[1], call, lambda n: self.constant(mod.name, n))[1]
                            records.setdefault(cls[0], set()).update(replaced)
        return records

    def record_class(self, module: str, call: ast.Call) -> tuple[tuple[str, str], ast.ClassDef] | None:
        target = self.program.resolve(module, call.func.id)
        cls = self.node(target) if isinstance(target, tuple) else None
        return (target, cls) if isinstance(cls, ast.ClassDef) else None

    def node(self, target: tuple[str, str]) -> ast.stmt | None:
        nodes = self.program.modules[target[0]].defs.get(target[1], [])
        return nodes[0] if len(nodes) == 1 else None

    def record_code(self, module: str, node: ast.stmt) -> ast.stmt:
        """A record class without its fields and the members its facts replace; any other node as it is."""
        replaced = self.records.get((module, getattr(node, "name", "")))
        if replaced is None or not isinstance(node, ast.ClassDef):
            return node
        key = ("record", id(node), frozenset(replaced))
        if key not in self.program.memo:
            body = [m for m in node.body if not isinstance(m, ast.AnnAssign) and _member_name(m) not in replaced]
            self.program.memo[key] = ast.ClassDef(name=node.name, bases=node.bases, keywords=node.keywords,
                                                  body=body or [ast.Pass()], decorator_list=node.decorator_list)
        return self.program.memo[key]

    def constant(self, module: str, name: str) -> object:
        """The value of the module-level constant `name` means in `module`."""
        target = self.program.resolve(module, name)
        node = self.node(target) if isinstance(target, tuple) else None
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
            raise _NotAValue(name)
        return _value(node.value, lambda n: self.constant(target[0], n))

    def keys(self, registry: str, entries: dict[str, ast.expr]) -> set[str]:
        """The entries of `registry` a config uses: the one its key names; for ACTIVATIONS, every name that the
        config's values or its network's class (and bases) spell."""
        key = REGISTRIES[registry]
        if key is not None:
            return {str(self.config.get(key))}
        spelled = set(_strings(self.config.get("model_args", {})))
        for cls in self.model_classes(self.config.get("model")):
            spelled |= {n.value for n in ast.walk(cls) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        return spelled & set(entries)

    def model_classes(self, model: str | None) -> list[ast.ClassDef]:
        """The class MODELS maps `model` to, and its bases among the numeric definitions."""
        classes, names = [], []
        for mod in self.program.modules.values():
            for node in mod.defs.get("MODELS", []):
                value = (_registry_entries(node) or {}).get(model)
                if isinstance(value, ast.Name):
                    names.append((mod.name, value.id))
        while names:
            target = self.program.resolve(*names.pop())
            cls = self.node(target) if isinstance(target, tuple) else None
            if isinstance(cls, ast.ClassDef) and cls not in classes:
                classes.append(cls)
                names += [(target[0], b.id) for b in cls.bases if isinstance(b, ast.Name)]
        return classes


def _strings(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _hash(items: set[tuple[str, ...]]) -> str:
    return hashlib.sha256(json.dumps(sorted(items)).encode()).hexdigest()[:16]


# ---- sources ------------------------------------------------------------------------------------------

def _files(root: Path) -> Source:
    """Module name -> its source under root, read now."""
    return lambda name: (Path(root) / f"{name}.py").read_text()


@lru_cache(maxsize=16)
def source_at(commit: str, root: Path = ROOT) -> Source | None:
    """The modules as commit `commit` of the repository at `root` holds them (`git show`, each read once), a
    module it lacks as empty; None where git or that commit is not available."""
    try:
        found = subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if found.returncode != 0:
        return None
    full = found.stdout.strip()

    @lru_cache(maxsize=None)
    def read(name: str) -> str:
        shown = subprocess.run(["git", "-C", str(root), "show", f"{full}:./{name}.py"],
                               capture_output=True, text=True, timeout=30)
        return shown.stdout if shown.returncode == 0 else ""
    return read


@lru_cache(maxsize=16)
def _parsed(source: Source) -> _Program:
    return _program(source)


@lru_cache(maxsize=1)
def _today() -> _Program:
    """The program under ROOT, checked by code_modules and parsed once per process (like the code it names)."""
    code_modules(ROOT)
    return _program(_files(ROOT))


# ---- public ------------------------------------------------------------------------------------------------

def _project_imports(tree: ast.AST, root: Path) -> set[str]:
    """Names of the project's top-level modules that `tree` imports anywhere (lazy imports included)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if (root / f"{n}.py").is_file()}


def code_modules(root: Path = ROOT) -> list[str]:
    """NUMERIC_MODULES; RuntimeError when one of them imports a project module that is neither numeric, plumbing
    nor words."""
    allowed = set(NUMERIC_MODULES) | set(PLUMBING_MODULES) | set(WORD_MODULES)
    for name in NUMERIC_MODULES:
        stray = _project_imports(_reduced(_files(Path(root))(name)), Path(root)) - allowed
        if stray:
            raise RuntimeError(f"{name}.py imports {', '.join(sorted(stray))}, which the code digest does not "
                               f"cover: add it to digest.NUMERIC_MODULES or move the numeric code")
    return sorted(NUMERIC_MODULES)


@lru_cache(maxsize=4)
def code_digest(root: Path = ROOT) -> str:
    """16 hex digits of the numeric code as a whole: what the entry points reach, every registry entry included."""
    code_modules(root)
    return _hash(_Walk(_program(_files(Path(root))), None).run())


def source_digest(source: Source) -> str:
    """code_digest of the modules `source` gives (source_at(commit): the numeric code as a whole at that commit)."""
    return _hash(_Walk(_parsed(source), None).run())


def run_digest(config: dict, source: Source | None = None) -> str:
    """16 hex digits naming the code that decides this (normalised) config's numbers.

    `source(module_name)` gives the text of module_name.py (default: the files under ROOT, checked by
    code_modules); run_digest(config, source_at(commit)) is the digest of the code at `commit`.
    """
    program = _today() if source is None else _parsed(source)
    # the walk reads a config's registry keys and network arguments only: configs alike in those share it
    chosen = {**{key: config.get(key) for key in REGISTRIES.values() if key},
              "model_args": sorted(set(_strings(config.get("model_args", {}))))}
    key = ("digest", json.dumps(chosen, sort_keys=True, default=str))
    if key not in program.memo:
        program.memo[key] = (None, _hash(_Walk(program, chosen).run()))
    return program.memo[key][1]


def reached(config: dict | None = None, source: Source | None = None) -> list[str]:
    """The names whose code the digest covers (for `config`, or for every config): to see what counts."""
    items = _Walk(_today() if source is None else _parsed(source), config).run()
    return sorted({f"{i[1]}[{i[2]!r}]" if i[0] == "entry" else i[1] for i in items if i[0] in ("def", "entry")})
