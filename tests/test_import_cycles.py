"""No import cycles among the project's own modules (inspection_app, training, chalicelib).

The graph is read from the source with `ast`, imports inside functions included: a function-local import
only postpones a cycle to the first call, it does not remove it.
"""
from __future__ import annotations

import ast
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
PACKAGES = ("inspection_app", "training", "chalicelib")


def _modules() -> dict[str, Path]:
    """Every module of PACKAGES by dotted name (a package by its own name, for its __init__.py)."""
    modules = {}
    for package in PACKAGES:
        for path in (PROJECT_DIR / package).rglob("*.py"):
            parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that module `name` (at `path`) imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from package import name`: a submodule when there is one, else a name in the package itself
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else base)
    return {module for module in found if module in modules and module != name}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_graph_sees_relative_and_function_local_imports():
    graph = import_graph()
    assert "inspection_app.errors" in graph["inspection_app.cli.main"]  # from ..errors import ...
    assert "inspection_app.cli.main" in graph["inspection_app.cli"]  # from .main import main
    assert "training.report" in graph["training.evaluate"]  # imported inside evaluate()
    assert "inspection_app.demo" in graph["inspection_app.cli.stack_commands"]  # from ..demo import run_demo, inside


def test_a_cycle_is_found_and_named():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_of_the_project_imports_itself_through_others():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(component) for component in found)


# What each package may import of the others (docs/architecture.md): Lambda loads chalicelib alone, and the
# SageMaker job ships training with chalicelib's settings only.
ALLOWED_LAYERS = {
    "chalicelib": {"chalicelib"},
    "training": {"training", "chalicelib"},
    "inspection_app": {"inspection_app", "training", "chalicelib"},
}


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{module} imports {target}" for module, targets in graph.items() for target in targets
                  if target.split(".")[0] not in ALLOWED_LAYERS[module.split(".")[0]])


def test_a_layer_violation_is_found_and_named():
    graph = {"chalicelib.classify": {"training.predictor"}, "training.train": {"chalicelib.settings"}}
    assert layer_violations(graph) == ["chalicelib.classify imports training.predictor"]


def test_chalicelib_and_training_import_only_the_layers_below_them():
    assert layer_violations(import_graph()) == []
