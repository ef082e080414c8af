"""The library's module structure: imports between the modules of `onnx_tee.passes` form no cycle,
the target depends on neither partitioning nor lowering, and only the application layer reads the zoo.

The import graph is read from the source with `ast` (module-level and function-level imports
alike), so an import hidden inside a function to dodge a cycle still counts.  An edge goes to the
module an import names (a package's `__init__` when it names a package).  The implicit run of the
parent packages' `__init__` when a submodule is imported is not an edge: those files re-export
for users (`from onnx_tee.passes import FoldBatchNorm`), and counting them would make every
module of `passes` depend on `passes/__init__.py`, hence on the compaction passes it re-exports.
"""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

import onnx_tee.passes

ROOT = Path(onnx_tee.passes.__file__).parent
PACKAGE = "onnx_tee.passes"
APPLICATION = ("passes.commands", "passes.bench")


def _modules() -> dict[str, Path]:
    """Module name ('passes.x.y', packages by their own name) -> file."""
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = ("passes",) + path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules `name` imports, `onnx_tee.` dropped, relative imports resolved: `from pkg import x`
    imports pkg.x if that is a module, else pkg (x is a name defined in pkg)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.removeprefix("onnx_tee.") for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[:len(parts) - node.level + 1]) if node.level else ""
            module = ".".join(x for x in (base, node.module or "") if x).removeprefix("onnx_tee.")
            for alias in node.names:
                sub = f"{module}.{alias.name}" if module != "onnx_tee" else alias.name
                found.add(sub if sub in modules or module == "onnx_tee" else module)
    return found


def import_graph() -> tuple[nx.DiGraph, set[tuple[str, str]]]:
    """(module -> module it imports, (module, missing module) pairs inside `passes`)."""
    modules = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    dangling = set()
    for name, path in modules.items():
        for target in _imported(name, path, modules):
            if target != "passes" and not target.startswith("passes."):
                continue
            if target not in modules:
                dangling.add((name, target))
            elif target != name:
                graph.add_edge(name, target)
    return graph, dangling


def test_the_library_has_no_import_cycle():
    graph, _ = import_graph()
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c + c[:1]) for c in cycles[:10])


def test_every_import_inside_the_library_names_a_module_that_exists():
    _, dangling = import_graph()
    assert not dangling, sorted(dangling)


def test_the_target_depends_on_neither_partitioning_nor_lowering():
    graph, _ = import_graph()
    for module in graph:
        if module.startswith("passes.target"):
            reached = nx.descendants(graph, module)
            forbidden = {m for m in reached if m.startswith(("passes.partition", "passes.lower"))}
            assert forbidden <= {"passes.lower", "passes.lower.format"}, (module, sorted(forbidden))


def test_partitioning_does_not_import_lowering():
    graph, _ = import_graph()
    for module in graph:
        if module.startswith("passes.partition"):
            reached = {m for m in nx.descendants(graph, module) if m.startswith("passes.lower")}
            assert reached <= {"passes.lower", "passes.lower.format"}, (module, sorted(reached))


def test_only_the_application_layer_imports_the_zoo():
    offenders = []
    modules = _modules()
    for name, path in modules.items():
        if name.startswith(APPLICATION):
            continue
        if any(t == "models" or t.startswith("models.") for t in _imported(name, path, modules)):
            offenders.append(name)
    assert not offenders, f"library modules importing onnx_tee.models: {offenders}"
