"""The rules that keep the code's shape, read from the source: no import cycles, the execution layer
knows no job kind, no module reaches into another's private names, only one module imports ray."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("nst", "webapp")


def _modules() -> dict[str, Path]:
    found = {"streamlit_app": ROOT / "streamlit_app.py"}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, name: str, known: set[str]) -> list[tuple[str, list[str]]]:
    """Every import of the module at run time (module level and inside functions, not under
    TYPE_CHECKING): (the module imported, the names taken from it)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for statement in block.body
        for node in ast.walk(statement)
    }
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            names = [alias.name for alias in node.names]
            submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in known]
            found += [(module, []) for module in submodules] + [(base, names)]
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {
        name: {target for target, _ in _imports(path, name, known) if target in known and target != name}
        for name, path in modules.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_module_of_nst_or_webapp_is_in_an_import_cycle() -> None:
    graph = _graph()
    # Importing a package runs its __init__: a module that imports its own package's __init__ is not a cycle.
    for name in graph:
        graph[name] = {target for target in graph[name] if not name.startswith(target + ".")}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_execution_layer_imports_no_job_kind() -> None:
    graph = _graph()
    kinds = ("nst.jobs", "nst.video", "nst.chunks", "nst.batch", "nst.race", "nst.grid", "nst.reconstruct")
    for name, targets in graph.items():
        if name.startswith("nst.execution"):
            assert not [t for t in targets if t.startswith(kinds)], (name, targets)


def test_no_module_imports_another_modules_private_names() -> None:
    modules = _modules()
    known = set(modules)
    taken = [
        (name, target, imported)
        for name, path in modules.items()
        for target, names in _imports(path, name, known)
        for imported in names
        if imported.startswith("_") and not imported.startswith("__") and target != name
    ]
    assert taken == []


def test_the_engine_has_no_path_without_an_executor() -> None:
    # "Here" is a local executor everywhere: no engine function runs work another way when given none.
    # (In webapp/ a None from runs_executor() means that no turn could be had: the page says why.)
    for name, path in _modules().items():
        if name.startswith("nst"):
            assert "executor is None" not in path.read_text(), path
