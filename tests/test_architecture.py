"""The house rules of ARCHITECTURE.md ("four floors, one-way stairs"), checked on the source.

Imports are read with ``ast`` (nothing is executed): every ``import`` and ``from ... import``
in a module, at the top or inside a function, except under ``if TYPE_CHECKING:``; and every
module named in a string, the way lazy imports name them (``importlib.import_module
("ltlab.x")``, ``"ltlab.x:name"`` targets, the tables of lazy ``__getattr__``s): a string
constant that is an ltlab module path, possibly followed by ``:attribute`` or
``.attribute``, outside docstrings. Both kinds of edge count for the floors and for cycles.
"""

from __future__ import annotations

import ast
import importlib
import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ltlab"

#: Modules allowed past the 450-line limit, each with its reason.
LONG_MODULES: dict[str, str] = {}

TEACHING = ("ltlab.experiments", "ltlab.exercises")
PRESENTATION = ("ltlab.viz", "ltlab.widgets")
TOOLING = ("ltlab.runner", "ltlab.sweep", "ltlab.cli", "ltlab.recipes", "ltlab.full_runs",
           "ltlab.course", "ltlab.notebook_parameters",
           "ltlab.notebook_execution", "ltlab.run_folder", "ltlab.__main__")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _under(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def floor(name: str) -> str:
    if name == "ltlab" or _under(name, TOOLING):
        return "tooling"
    if _under(name, PRESENTATION):
        return "presentation"
    if _under(name, TEACHING):
        return "teaching"
    return "core"


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    out = []
    for alias in node.names:
        candidate = f"{prefix}.{alias.name}"
        out.append(candidate if candidate in MODULES else prefix)
    return out


def imports_of(name: str, top_level_only: bool = False) -> set[str]:
    """ltlab modules that ``name`` imports (resolved to the module, not the package)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def visit(node: ast.AST, depth: int) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child, depth)
            return
        if isinstance(node, ast.Import):
            if not (top_level_only and depth):
                found.update(a.name for a in node.names if a.name.split(".")[0] == "ltlab")
        elif isinstance(node, ast.ImportFrom):
            if not (top_level_only and depth) and (node.level or (node.module or "").startswith("ltlab")):
                found.update(_resolve(name, is_package, node))
        inner = depth + isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, 0)
    found.discard(name)
    return {m for m in found if m.startswith("ltlab")}


#: an ltlab module path in a string, optionally with ``:attribute`` (``"ltlab.x:name"``)
MODULE_STRING = re.compile(r"^(ltlab(?:\.[A-Za-z_]\w*)+)(?::[A-Za-z_][\w.]*)?$")


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                found.add(id(first.value))
    return found


def modules_in_strings(source: str, modules=None, own: str = "") -> set[str]:
    """ltlab modules named by string constants of ``source`` (docstrings excepted): the
    longest known module that the string names, ``"ltlab.x.attr"`` -> ``ltlab.x``."""
    modules = MODULES if modules is None else modules
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in skip:
            continue
        match = MODULE_STRING.match(node.value.strip())
        if not match:
            continue
        name = match.group(1)
        while name not in modules and name.count(".") > 1:
            name = name.rsplit(".", 1)[0]
        if name in modules and name != own:
            found.add(name)
    return found


STATIC = {name: imports_of(name) for name in MODULES}
STRINGS = {name: modules_in_strings(MODULES[name].read_text(), own=name) for name in MODULES}
#: every edge: import statements and module names in strings
GRAPH = {name: STATIC[name] | STRINGS[name] for name in MODULES}


def test_the_house_has_its_floors():
    floors = {floor(n) for n in MODULES}
    assert floors == {"core", "teaching", "presentation", "tooling"}
    for required in ("ltlab._validation", "ltlab.experiments", "ltlab.exercises",
                     "ltlab.exercises.protocol", "ltlab.metrics", "ltlab.data",
                     "ltlab.contrastive", "ltlab.analysis", "ltlab.cli"):
        assert required in MODULES, f"{required} is missing from the house"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if floor(n) == "core"))
def test_core_imports_only_core(name):
    bad = sorted(m for m in GRAPH[name] if floor(m) != "core")
    assert not bad, f"core module {name} imports {bad} (imports only go down)"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _under(n, ("ltlab.exercises",))))
def test_exercises_import_core_only(name):
    bad = sorted(m for m in GRAPH[name]
                 if floor(m) != "core" and not _under(m, ("ltlab.exercises",)))
    assert not bad, f"{name} imports {bad}; exercises import core only"


VIZ_MAY_IMPORT = ("ltlab.metrics", "ltlab.priors", "ltlab.data", "ltlab._validation", "ltlab.viz")


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _under(n, ("ltlab.viz",))))
def test_viz_imports_core_types_and_metrics_only(name):
    bad = sorted(m for m in GRAPH[name] if not _under(m, VIZ_MAY_IMPORT))
    assert not bad, f"{name} imports {bad}; viz builds figures from data it is given"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if floor(n) == "teaching"))
def test_teaching_does_not_import_presentation_or_tooling(name):
    bad = sorted(m for m in GRAPH[name] if floor(m) in ("presentation", "tooling"))
    assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if floor(n) == "presentation"))
def test_presentation_does_not_import_tooling(name):
    bad = sorted(m for m in GRAPH[name] if floor(m) == "tooling")
    assert not bad, f"{name} imports {bad}"


#: what ``ltlab.runner`` may load at import time: small modules without torch or papermill
RUNNER_TOP = {"ltlab._records", "ltlab.notebook_parameters", "ltlab.notebook_execution",
              "ltlab.run_folder"}


def test_runner_imports_only_its_small_helpers_at_import_time():
    """A notebook's ``from ltlab import record`` stays cheap: the runner imports only the
    record codec and the notebook helpers, which import nothing else from ltlab."""
    assert imports_of("ltlab.runner", top_level_only=True) <= RUNNER_TOP
    assert imports_of("ltlab._records") == set()
    for name in RUNNER_TOP:
        assert GRAPH[name] <= RUNNER_TOP, (name, GRAPH[name])


def test_runner_and_sweep_share_one_parameter_inspection():
    """Reading and checking a parameters cell lives in `ltlab.notebook_parameters`; the
    sweep does not import the runner (which offers ``ltlab.runner.sweep``)."""
    for name in ("ltlab.runner", "ltlab.sweep.engine"):
        assert "ltlab.notebook_parameters" in GRAPH[name], name
    sweep = {n for n in MODULES if _under(n, ("ltlab.sweep",))}
    assert not any("ltlab.runner" in GRAPH[n] for n in sweep)
    for name, path in MODULES.items():
        if name == "ltlab.notebook_parameters":
            continue
        defined = {node.name for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.FunctionDef)}
        assert not defined & {"notebook_parameters", "validate_parameters"}, name


def test_module_strings_are_read():
    source = ('"""Docstring naming ltlab.cli is prose."""\n'
              'import importlib\n'
              'def f():\n    return importlib.import_module("ltlab.sweep")\n'
              'TABLE = {"x": "ltlab.metrics:accuracy", "y": "ltlab.priors.tempered"}\n'
              'OTHER = "ltlab.not_a_module", "ltlab.js", "ltlab"\n')
    modules = {"ltlab.cli": 0, "ltlab.sweep": 0, "ltlab.metrics": 0, "ltlab.priors": 0}
    assert modules_in_strings(source, modules) == {"ltlab.sweep", "ltlab.metrics",
                                                   "ltlab.priors"}
    graph = {"a": {"b"}, "b": set()}
    graph["b"] |= {"a"}  # a lazy string import back up closes a cycle
    assert [c for c in _strongly_connected(graph) if len(c) > 1] == [["a", "b"]]


def test_no_forwarded_names_before_the_first_release():
    """No module forwards moved names (`ltlab._deprecation.moved_names`): there was no
    release, so callers use the new paths (CHANGELOG lists where each name went)."""
    users = sorted(name for name, path in MODULES.items()
                   if name != "ltlab._deprecation" and "moved_names(" in path.read_text())
    assert not users, f"modules still forwarding moved names: {users}"


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_no_import_cycles():
    cycles = [c for c in _strongly_connected(GRAPH) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert [c for c in _strongly_connected(graph) if len(c) > 1] == [["a", "b", "c"]]


def _only_reexports(tree: ast.Module) -> list[str]:
    bad = []
    for i, node in enumerate(tree.body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.If) and _is_type_checking(node):
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            if names <= {"__all__", "__version__", "__getattr__"}:
                continue
        bad.append(f"line {node.lineno}: {type(node).__name__}")
    return bad


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("__init__.py")),
                         ids=lambda p: module_name(p))
def test_package_init_only_reexports(path):
    bad = _only_reexports(ast.parse(path.read_text()))
    assert not bad, f"{path.relative_to(ROOT)} does more than re-export: {bad}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_short_enough_to_read(name):
    lines = len(MODULES[name].read_text().splitlines())
    if name in LONG_MODULES:
        assert LONG_MODULES[name].strip(), f"{name}: an allow-list entry needs a reason"
        return
    assert lines <= 450, f"{name} has {lines} lines (> 450): split it along the paper's sections"


def test_check_names_are_exercise_checkers():
    """``check_*`` means "grade a student's answer" and lives in ltlab/exercises/ only."""
    offenders = []
    for name, path in MODULES.items():
        if _under(name, ("ltlab.exercises",)):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name.startswith("check_"):
                offenders.append(f"{name}.{node.name}")
    assert not offenders, f"validation is _validation.as_*; checkers live in exercises: {offenders}"


# ----------------------------------------------------------------------------- contracts
CONTRACT = {
    "ltlab": ["record", "read_results", "run_notebook", "__version__"],
    "ltlab.priors": ["long_tailed_counts", "prior_from_counts", "shifted_prior", "tempered",
                     "kl_divergence"],
    "ltlab.data": ["GaussianMixtureLT", "mnist1d_lt", "digits_lt", "cifar_lt", "LTData",
                   "label_shift_subset", "ssl_split"],
    "ltlab.losses": ["logit_adjusted_cross_entropy", "adjust_logits",
                     "balanced_softmax_cross_entropy", "focal_loss", "class_balanced_cross_entropy",
                     "ldam_loss", "log_prior_of"],
    "ltlab.experts": ["BalPoE"],
    "ltlab.flexda": ["PriorEstimator", "alpha_schedule", "flexda_supervised_loss",
                     "flexda_consistency_loss", "complementary_consistency_loss",
                     "imbalance_temperature"],
    "ltlab.lda": ["LDA", "BalanceFactor", "balance_factor"],
    "ltlab.gh": ["uniform_structure", "sinkhorn_allocation", "gh_loss"],
    "ltlab.metrics": ["accuracy", "balanced_accuracy", "per_class_accuracy", "shot_accuracy",
                      "expected_calibration_error", "maximum_calibration_error",
                      "classwise_calibration_error", "reliability_bins",
                      "negative_log_likelihood", "brier_score", "fit_temperature", "summary"],
    "ltlab.label_shift": ["em_prior", "bbse_prior"],
    "ltlab.train": ["fit", "History"],
    "ltlab.runner": ["record", "read_results", "run_notebook", "sweep"],
    "ltlab.semi_supervised": ["FixMatch", "FlexDA", "ADELLO"],
    "ltlab.contrastive": ["nt_xent", "SimCLR"],
}


@pytest.mark.parametrize("module", sorted(CONTRACT))
def test_contract_names_import_from_their_paths(module):
    mod = importlib.import_module(module)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # contract paths are not forwarders
        missing = [n for n in CONTRACT[module] if not hasattr(mod, n)]
    assert not missing, f"{module} lost contract names {missing}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if floor(n) == "teaching"
                                        and _under(n, ("ltlab.experiments",))
                                        and not MODULES[n].name.startswith("__")))
def test_experiment_modules_share_three_verbs(name):
    """Notebook drivers (modules named after a notebook's topic) have the same verbs."""
    mod = importlib.import_module(name)
    if not getattr(mod, "NOTEBOOK", None):
        pytest.skip(f"{name} is a shared piece, not a notebook's driver")
    for verb in ("settings", "compare", "recorded_results"):
        assert callable(getattr(mod, verb, None)), f"{name} lacks `{verb}`"
