"""Check the package's layout properties and print each one; exit 1 when any does not hold.

Run from the repository root: ``python tools/check_layout.py``. It reads the code (AST and imports)
and runs nothing of it. The properties are those of the layout: subpackages stacked in layers, each
module importing only its own layer and the ones below, no import circles, small modules and
functions, and single homes for what must exist once (study attributes, metrics parsing, the
best-config writer, "did you mean", the Console, the trial table).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tuner"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 40

# Layers from the ground up: a module may import its own layer and the layers below it only.
LAYERS: list[tuple[str, ...]] = [
    (
        "tuner._aliases",
        "tuner.errors",
        "tuner.contract",
        "tuner.train",
        "tuner.pykeen_trainer",
        "tuner.integrations",
    ),
    ("tuner.space",),
    ("tuner.config",),
    ("tuner.study",),
    ("tuner.trials",),
    ("tuner.analysis",),
    ("tuner.display",),
    ("tuner.plan",),
    ("tuner.api",),
    ("tuner.cluster",),
    ("tuner.cli", "tuner.__main__"),
    ("tuner",),
]
# The trainers stand alone: they talk to `tune` through the trial contract only.
STANDALONE = {
    "tuner.train": ("tuner.contract", "tuner.train"),
    "tuner.pykeen_trainer": ("tuner.contract", "tuner.train", "tuner.pykeen_trainer"),
    "tuner.integrations": ("tuner.contract", "tuner.integrations"),
}


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    lines: int
    imports: set[str] = field(default_factory=set)


@dataclass
class Check:
    title: str
    problems: list[str]


def load_modules() -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        text = path.read_text(encoding="utf-8")
        modules[name] = Module(name, path, ast.parse(text), len(text.splitlines()))
    for module in modules.values():
        module.imports = set(_imported(module, modules))
    return modules


def _imported(module: Module, modules: dict[str, Module]) -> Iterator[str]:
    """The tuner modules ``module`` imports, anywhere in it (functions included), TYPE_CHECKING aside."""
    for node in _runtime_nodes(module.tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [
                f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            target = _known(name, modules)
            if target and target != module.name:
                yield target


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        yield node
        yield from _runtime_nodes(node)


def _known(name: str, modules: dict[str, Module]) -> str | None:
    """The module ``name`` is (``tuner.x.y``) or is a name of; the package face ``tuner`` only as itself."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def layer_of(name: str) -> int:
    for index, prefixes in reversed(list(enumerate(LAYERS))):
        if any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes if prefix != "tuner"):
            return index
    return len(LAYERS) - 1


def check_layers(modules: dict[str, Module]) -> Check:
    problems = []
    for module in modules.values():
        standalone = next((k for k in STANDALONE if module.name == k or module.name.startswith(k + ".")), None)
        for target in sorted(module.imports):
            if standalone:
                allowed = STANDALONE[standalone]
                if not any(target == a or target.startswith(a + ".") for a in allowed):
                    problems.append(
                        f"{module.name} -> {target}: a stand-alone trainer imports only {', '.join(allowed)}"
                    )
            elif target == "tuner" and module.name != "tuner":
                problems.append(f"{module.name} -> tuner: import the module that defines the name")
            elif layer_of(target) > layer_of(module.name):
                problems.append(f"{module.name} (layer {layer_of(module.name)}) -> {target} (layer {layer_of(target)})")
    return Check("every import runs to the same layer or below (trainers: the contract only)", problems)


def check_circles(modules: dict[str, Module]) -> Check:
    graph = {name: {t for t in module.imports if t in modules and t != "tuner"} for name, module in modules.items()}
    circles = [sorted(group) for group in _strongly_connected(graph) if len(group) > 1]
    return Check("no import circles", [" <-> ".join(circle) for circle in circles])


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            groups.append(group)

    for node in graph:
        if node not in index:
            visit(node)
    return groups


def check_sizes(modules: dict[str, Module]) -> list[Check]:
    long_modules = [
        f"{m.path.relative_to(ROOT)}: {m.lines} lines" for m in modules.values() if m.lines > MAX_MODULE_LINES
    ]
    long_functions = [
        f"{module.path.relative_to(ROOT)}:{node.lineno} {node.name}: {body_lines(node)} lines"
        for module in modules.values()
        for node in ast.walk(module.tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and body_lines(node) > MAX_FUNCTION_LINES
    ]
    return [
        Check(f"every module <= {MAX_MODULE_LINES} lines", long_modules),
        Check(f"every function body <= {MAX_FUNCTION_LINES} lines (signature and docstring aside)", long_functions),
    ]


def body_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the end: a long signature is no second job."""
    body = function.body
    if (
        isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    return function.end_lineno - body[0].lineno + 1 if body else 0


def _tuner_proper(modules: dict[str, Module]) -> list[Module]:
    return [m for m in modules.values() if not any(m.name.startswith(k) for k in STANDALONE)]


def _where(modules: list[Module], found: Callable[[ast.AST], bool]) -> set[str]:
    return {m.name for m in modules for node in ast.walk(m.tree) if found(node)}


def _assigns_prefix(prefix: str) -> Callable[[ast.AST], bool]:
    def found(node: ast.AST) -> bool:
        return isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id.startswith(prefix) for t in node.targets
        )

    return found


def _calls(attribute: str) -> Callable[[ast.AST], bool]:
    def found(node: ast.AST) -> bool:
        return isinstance(node, ast.Call) and (
            (isinstance(node.func, ast.Attribute) and node.func.attr == attribute)
            or (isinstance(node.func, ast.Name) and node.func.id == attribute)
        )

    return found


def _loads_metrics(node: ast.AST) -> bool:
    """A ``json.loads(...)`` of something named for metrics: a second reader of trainers' output."""
    return _calls("loads")(node) and "metric" in ast.unparse(node).lower()


def _defines(name: str) -> Callable[[ast.AST], bool]:
    def found(node: ast.AST) -> bool:
        return isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name

    return found


def _only_in(title: str, where: set[str], allowed: set[str], *, at_least_one: bool = True) -> Check:
    problems = [f"also in {name}" for name in sorted(where - allowed)]
    if at_least_one and not where & allowed:
        problems.append(f"not found in {', '.join(sorted(allowed))}")
    return Check(title, problems)


def check_single_homes(modules: dict[str, Module]) -> list[Check]:
    proper = _tuner_proper(modules)
    records = {"tuner.study.records"}
    return [
        _only_in("study attribute names defined in one module", _where(proper, _assigns_prefix("ATTR_")), records),
        _only_in("failure reasons defined in one module", _where(proper, _assigns_prefix("REASON_")), records),
        _only_in(
            "study and trial attributes written from one module",
            _where(proper, _calls("set_user_attr")) | _where(proper, _calls("set_system_attr")),
            records,
        ),
        _only_in("metrics files parsed in one place", _where(proper, _defines("parse_metrics")), {"tuner.contract"}),
        _only_in(
            "metrics lines read only through the contract's reader",
            _where(proper, _loads_metrics),
            {"tuner.contract"},
            at_least_one=False,
        ),
        _only_in(
            "best_config.json written by one function",
            _where(proper, _defines("write_best_config")),
            {"tuner.study.best_config"},
        ),
        _only_in("one did-you-mean helper", _where(proper, _calls("get_close_matches")), {"tuner.errors"}),
        _only_in(
            "one did-you-mean helper in the stand-alone trainers",
            {m.name for m in modules.values() if m not in proper and "get_close_matches" in ast.unparse(m.tree)},
            {"tuner.train.errors"},
        ),
        # Below both the CLI and the API, which must share a default console and may not import each other's layer.
        _only_in(
            "rich Consoles made in one place and passed down",
            _where(proper, _calls("Console")),
            {"tuner.display.consoles"},
        ),
        _only_in(
            "one trial table (no pandas dataframe of trials)",
            _where(proper, _calls("trials_dataframe")),
            set(),
            at_least_one=False,
        ),
    ]


def check_cli_types(modules: dict[str, Module]) -> Check:
    problems = []
    for module in modules.values():
        if not module.name.startswith("tuner.cli"):
            continue
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "click.option":
                for keyword in node.keywords:
                    kind = ast.unparse(keyword.value)
                    if keyword.arg == "type" and kind in ("int", "float"):
                        problems.append(f"{module.name}:{node.lineno} {ast.unparse(node.args[0])}: type={kind}")
    return Check("numeric CLI options checked by click types (IntRange/FloatRange)", problems)


# Private Optuna calls kept on purpose, each with the reason; the function using it says so too.
PRIVATE_OPTUNA_ALLOWED = {
    (
        "tuner.study.heartbeat",
        "_get_stale_trial_ids",
    ): "no public call finds heartbeat-stale trials without failing them",
    ("tuner.study.heartbeat", "_trial_id"): "a trial's storage id: a lookup by number costs a storage session",
    ("tuner.study.sqlite_reader", "_trial_id"): "its own StoredTrial, shaped as Optuna's FrozenTrial",
}


def check_public_optuna(modules: dict[str, Module]) -> Check:
    problems = []
    for module in modules.values():
        for node in ast.walk(module.tree):
            allowed = (module.name, getattr(node, "attr", None)) in PRIVATE_OPTUNA_ALLOWED
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("_storage", "_get_stale_trial_ids", "_study_id", "_trial_id")
                and not allowed
            ):
                problems.append(f"{module.name}:{node.lineno} .{node.attr}")
            module_name = getattr(node, "module", None) or ""
            private_module = any(part.startswith("_") for part in module_name.split("."))
            if isinstance(node, ast.ImportFrom) and private_module and module_name.startswith("optuna"):
                problems.append(f"{module.name}:{node.lineno} from {node.module} import ...")
            if (
                isinstance(node, ast.Attribute)
                and ast.unparse(node).startswith("optuna.")
                and any(part.startswith("_") and not part.startswith("__") for part in ast.unparse(node).split("."))
            ):
                problems.append(f"{module.name}:{node.lineno} {ast.unparse(node)}")
    kept = "; ".join(f"{name}.{attr}: {why}" for (name, attr), why in PRIVATE_OPTUNA_ALLOWED.items())
    return Check(f"Optuna used through its public API (kept on purpose: {kept})", sorted(set(problems)))


def check_runner_says_why(modules: dict[str, Module]) -> Check:
    runner = modules.get("tuner.trials.runner")
    text = runner.path.read_text(encoding="utf-8") if runner else ""
    said = "study.optimize" in text and "ask" in text
    return Check("the runner says why it uses ask/tell and not study.optimize", [] if said else ["no such comment"])


def main() -> int:
    modules = load_modules()
    checks = [
        check_circles(modules),
        check_layers(modules),
        *check_sizes(modules),
        *check_single_homes(modules),
        check_cli_types(modules),
        check_public_optuna(modules),
        check_runner_says_why(modules),
    ]
    arrows = sum(len(m.imports) for m in modules.values())
    print(
        f"layout of {PACKAGE.relative_to(ROOT)}/: {len(modules)} modules, {arrows} import arrows, {len(LAYERS)} layers"
    )
    for check in checks:
        print(f"{'ok  ' if not check.problems else 'FAIL'}  {check.title}")
        for problem in check.problems:
            print(f"        {problem}")
    failed = sum(1 for check in checks if check.problems)
    print(f"{len(checks) - failed} of {len(checks)} properties hold")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
