"""The package's shape is checked, not just described.

Every rule here is one the README's Architecture section states: modules stay
small enough to hold one concept, layers import only downward, there is no
import circle, and only one module talks to the SDN framework. Each test names
the offending module (and line) so a failure says what to move.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "op25b_app"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80

#: What each layer may import (besides itself and the package's ``__init__``).
#: interfaces -> service -> db/core; openflow -> db/core; core -> nothing.
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "db": frozenset({"core"}),
    "service": frozenset({"db", "core"}),
    "openflow": frozenset({"db", "core"}),
    "api": frozenset({"service"}),
    "radius": frozenset({"service"}),
    "customer": frozenset({"service"}),
    # ``op25b api`` and ``op25b radius`` start those servers from the CLI.
    "cli": frozenset({"service", "api", "radius", "customer"}),
}
#: Third-party frameworks only one place may import.
FRAMEWORK_ROOTS = ("ryu", "os_ken")
FRAMEWORK_SEAM = "op25b_app.openflow.ryu_compat"
#: Libraries the pure core must never import (I/O and frameworks).
CORE_FORBIDDEN = ("sqlalchemy", "ryu", "os_ken", "eventlet", "fastapi", "psycopg", "alembic")


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _is_migration(path: Path) -> bool:
    return "migrations" in path.relative_to(PACKAGE).parts


def _imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every module ``name`` imports (at any depth, TYPE_CHECKING included)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield module, node.lineno
            for alias in node.names:
                # "from op25b_app.core import constants" imports a module.
                candidate = f"{module}.{alias.name}"
                if _module_path(candidate) is not None:
                    yield candidate, node.lineno


def _module_path(name: str) -> Path | None:
    if not name.startswith("op25b_app"):
        return None
    rel = Path(*name.split("."))
    for candidate in (PACKAGE.parent / rel.with_suffix(".py"),
                      PACKAGE.parent / rel / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "op25b_app" else None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in _modules():
        graph[name] = {m for m, _ in _imports(name, path)
                       if m.startswith("op25b_app") and _module_path(m) is not None and m != name}
    return graph


def test_no_module_is_longer_than_the_limit() -> None:
    long = [f"{path.relative_to(PACKAGE.parent)}: {len(path.read_text().splitlines())} lines"
            for _, path in _modules()
            if not _is_migration(path) and len(path.read_text().splitlines()) > MAX_MODULE_LINES]
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split by concept):\n" + \
        "\n".join(long)


def test_no_function_is_longer_than_the_limit() -> None:
    long = []
    for _, path in _modules():
        if _is_migration(path):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} "
                                f"{node.name}: {length} lines")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def test_layers_import_only_downward() -> None:
    wrong = []
    for name, path in _modules():
        layer = _layer(name)
        if layer is None or layer not in ALLOWED:
            continue
        for module, line in _imports(name, path):
            target = _layer(module)
            if not module.startswith("op25b_app") or target is None or target == layer:
                continue
            if _module_path(module) is not None and Path(str(_module_path(module))).name \
                    == "__init__.py" and target not in ALLOWED and module == "op25b_app":
                continue
            if target not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({layer}) "
                             f"imports {module} ({target})")
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(wrong)


def test_every_module_belongs_to_a_layer() -> None:
    loose = [name for name, _ in _modules()
             if name != "op25b_app" and _layer(name) not in ALLOWED]
    assert not loose, f"modules outside the layer packages {sorted(ALLOWED)}: {loose}"


def test_there_is_no_import_circle() -> None:
    graph = _graph()
    circles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            # A package's __init__ re-exporting its own modules is its public
            # face, not a circle between concepts.
            if node == nxt.rpartition(".")[0] or nxt == node.rpartition(".")[0]:
                continue
            if state.get(nxt) == 1:
                circles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


@pytest.mark.parametrize("root", FRAMEWORK_ROOTS)
def test_only_the_seam_imports_the_sdn_framework(root: str) -> None:
    users = [f"{name}:{line}" for name, path in _modules() for module, line in
             _imports(name, path) if module.split(".")[0] == root and name != FRAMEWORK_SEAM]
    assert not users, f"{root} imported outside {FRAMEWORK_SEAM}: {users}"


def test_the_core_is_pure() -> None:
    impure = [f"{name}:{line} imports {module}" for name, path in _modules()
              if _layer(name) == "core" for module, line in _imports(name, path)
              if module.split(".")[0] in CORE_FORBIDDEN]
    assert not impure, "the core must not do I/O or import a framework:\n" + "\n".join(impure)


def test_the_checks_see_a_violation() -> None:
    """The import walker resolves relative and from-imports (a walker that found
    nothing would make every test above pass vacuously)."""
    name, path = next((n, p) for n, p in _modules() if n == "op25b_app.openflow.ryu_compat")
    assert any(m.split(".")[0] == "ryu" for m, _ in _imports(name, path))
    graph = _graph()
    assert any(_layer(t) == "core" for t in graph["op25b_app.db.snapshot_loader"])
