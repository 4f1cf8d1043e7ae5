"""The package's import graph, read with ``ast`` (nothing is imported): no cycle, value types at the bottom,
matplotlib only in plots/.

Every import statement counts, wherever it sits: at module level, inside a function (a lazy import),
under ``if TYPE_CHECKING:``. A lazy import only hides a cycle from the interpreter, not from a reader,
so the graph takes them all. ``from audit.x import y`` is an edge to ``audit.x.y`` when ``y`` is a
submodule, else to ``audit.x``. Importing ``audit.x.y`` runs ``audit/x/__init__.py`` first, but that
implicit edge is left out: every package that re-exports its submodules would otherwise be a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "audit"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Every ``audit`` module that ``path`` (module ``name``) imports, lazily or not."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import audit.x.y as z` of a name inside a module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """``module -> the audit modules it imports`` for every module of the package."""
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if state.get(root):
            continue
        path: list[str] = [root]
        stack = [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_the_graph_sees_lazy_type_only_and_relative_imports(tmp_path):
    pkg = tmp_path / "audit"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from audit.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("from .b import g\n")
    (pkg / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import audit.a\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, pkg
    try:
        graph = import_graph()
    finally:
        PACKAGE = saved
    assert graph == {"audit": set(), "audit.a": {"audit.sub.b"}, "audit.sub": {"audit.sub.b"}, "audit.sub.b": {"audit.a"}}
    assert find_cycle(graph) == ["audit.a", "audit.sub.b", "audit.a"]


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_only_plots_imports_matplotlib():
    offenders = []
    for name, path in _modules().items():
        if name == "audit.plots" or name.startswith("audit.plots."):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{name}: {m}" for m in mods if m == "matplotlib" or m.startswith("matplotlib.")]
    assert not offenders, "matplotlib imported outside audit.plots:\n" + "\n".join(offenders)


#: the layers, bottom first (docs/architecture.md). A module imports from its own layer or the ones below,
#: never from a layer above; a new top-level module or package is placed here when it is added.
LAYERS: list[tuple[str, set[str]]] = [
    ("value types", {"audit.errors", "audit.text", "audit.formats", "audit.section", "audit.findings", "audit.policy",
                     "audit.baseline", "audit.report"}),
    ("shared helpers", {"audit.stats", "audit._inputs", "audit._batching", "audit._arrays", "audit._text_inputs"}),
    ("models and data", {"audit.backends", "audit.transforms", "audit.model", "audit.space", "audit.data",
                         "audit.data_files", "audit.datasets", "audit.models", "audit.context"}),
    ("domain", {"audit.fairness", "audit.explain", "audit.robustness", "audit.saliency", "audit.health",
                "audit.slices"}),
    ("plots", {"audit.plots"}),
    ("checks", {"audit.checks"}),
    ("renderers", {"audit.render"}),
    ("entry points", {"audit", "audit._api", "audit.config", "audit.cli", "audit.__main__", "audit.engines"}),
]


def layer_of(module: str) -> int | None:
    """Index in :data:`LAYERS` of the layer holding ``module`` (by its top-level name under ``audit``)."""
    top = "audit" if module == "audit" else ".".join(module.split(".")[:2])
    return next((i for i, (_, members) in enumerate(LAYERS) if top in members), None)


def test_every_module_has_a_layer_and_imports_point_down():
    graph = import_graph()
    unplaced = sorted(m for m in graph if layer_of(m) is None)
    assert not unplaced, f"place these in a layer of LAYERS (and docs/architecture.md): {unplaced}"
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {d} ({LAYERS[layer_of(d)][0]})"
              for m, deps in sorted(graph.items()) for d in sorted(deps) if layer_of(d) > layer_of(m)]
    assert not upward, "imports that point up:\n" + "\n".join(upward)


#: value types: what a Report is made of. They sit at the bottom and import no renderer, check or plot.
VALUE_TYPES = ("audit.section", "audit.findings", "audit.report", "audit.policy", "audit.baseline")


@pytest.mark.parametrize("module", VALUE_TYPES)
def test_value_types_import_nothing_above_them(module):
    graph = import_graph()
    reach, todo = set(), [module]
    while todo:  # everything the module pulls in, directly or through others
        for dep in graph[todo.pop()]:
            if dep not in reach:
                reach.add(dep)
                todo.append(dep)
    above = sorted(m for m in reach if m.split(".")[1] in {"render", "checks", "plots", "_api", "cli", "context"})
    assert not above, f"{module} reaches {above}"


#: private-module imports across packages that are allowed for now, each with the reason
PRIVATE_IMPORT_EXCEPTIONS: set[tuple[str, str]] = set()  # none: every package is reached through its public face


def _home(module: str) -> str:
    """The package (or top-level module) that owns ``module``: ``audit.x`` for ``audit.x.y``."""
    return ".".join(module.split(".")[:2])


def private_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """``(importer, imported)`` for every import of another package's private module.

    A private module is one whose name, below its top-level package ``audit.x``, starts with ``_``
    (``audit.x._y``). Only ``audit.x`` itself imports it; everyone else imports the name from
    ``audit.x``, its public face. The top-level ``audit._inputs``, ``audit._arrays``, ``audit._batching``,
    ``audit._text_inputs`` and ``audit._api``
    are shared helpers of the whole package, importable from any module of it.
    """
    found = []
    for module, deps in sorted(graph.items()):
        for dep in sorted(deps):
            parts = dep.split(".")
            private = any(p.startswith("_") and not p.startswith("__") for p in parts[2:])
            if private and _home(dep) != _home(module):
                found.append((module, dep))
    return found


def test_the_private_rule_sees_cross_package_and_allows_own_package():
    graph = {
        "audit.model": {"audit.backends._device", "audit.backends", "audit._inputs"},
        "audit.backends": {"audit.backends._device"},
        "audit.backends._torch": {"audit.backends._scores"},
        "audit.checks.fairness": {"audit.fairness._text", "audit.checks._base"},
        "audit._api": {"audit._batching"},
    }
    assert private_imports(graph) == [("audit.checks.fairness", "audit.fairness._text"),
                                      ("audit.model", "audit.backends._device")]


def test_no_private_module_imported_from_another_package():
    found = [f"{m} imports {d}" for m, d in private_imports(import_graph()) if (m, d) not in PRIVATE_IMPORT_EXCEPTIONS]
    assert not found, ("import these names from the package's public face (export them from its __init__.py):\n"
                       + "\n".join(found))


def test_fairness_no_longer_reexports_stats():
    """``percentile_interval`` and ``resample_counts`` live in ``audit.stats`` only (issue 25)."""
    import audit.fairness
    import audit.stats

    for name in ("percentile_interval", "resample_counts"):
        assert not hasattr(audit.fairness, name) and name not in audit.fairness.__all__
        assert callable(getattr(audit.stats, name))
