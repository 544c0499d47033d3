"""The import rules between the framework and the backends, checked on the source with ``ast``.

* flowser/* never imports backends, except the composition roots flowser/cli/common.py (the operator commands' client),
  flowser/cli/runtime.py (serve, worker, decider, reset), flowser/cli/ui.py (the dashboard's server) and flowser/testing.py;
* backends/local never imports backends.http nor flowser;
* backends/http never imports flowser.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    """Every absolute module a file imports (``from . import x`` resolved against its package)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def violations(folder: str, forbidden: tuple[str, ...], allowed_files: tuple[str, ...] = ()) -> list[str]:
    out = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in allowed_files:
            continue
        for module in imported_modules(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                out.append(f"{rel} imports {module}")
    return out


@pytest.mark.parametrize(
    ("folder", "forbidden", "allowed"),
    [
        # flowser/cli/ui.py: the dashboard's server (flowser ui) and its mount in flowser serve --ui
        (
            "flowser",
            ("backends",),
            ("flowser/cli/common.py", "flowser/cli/runtime.py", "flowser/cli/ui.py", "flowser/testing.py"),
        ),
        ("backends/local", ("backends.http", "flowser"), ()),
        ("backends/http", ("flowser",), ()),
    ],
)
def test_import_direction(folder: str, forbidden: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    assert violations(folder, forbidden, allowed) == []


def test_the_check_sees_relative_and_absolute_imports() -> None:
    assert "backends.local.testing" in imported_modules(ROOT / "flowser" / "testing.py")
    assert "backends.local.engine" in imported_modules(ROOT / "backends" / "local" / "__init__.py")
    assert "flowser.domain" in imported_modules(ROOT / "flowser" / "__init__.py")


def test_the_engine_modules_import_no_cycle() -> None:
    """backends/local is layered: each module imports only modules below it (engine.py routes, rooms share core)."""
    folder = ROOT / "backends" / "local"
    names = {path.stem for path in folder.glob("*.py")} - {"__init__"}
    graph = {
        name: {
            module.split(".")[2]
            for module in imported_modules(folder / f"{name}.py")
            if module.startswith("backends.local.") and module.split(".")[2] in names and module.split(".")[2] != name
        }
        for name in names
    }
    cycles: list[str] = []
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[name] = "done"

    for name in sorted(names):
        if name not in state:
            visit(name, [name])
    assert cycles == []
    rooms = ("registration", "executions", "polling", "decision_tasks", "activity_tasks", "deadlines", "core")
    assert all("engine" not in graph[room] for room in rooms)
