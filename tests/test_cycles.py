"""No import cycle in the package, at module or folder level, lazy imports (inside functions) included.

Read from the source's AST, so an import that runs only on one path counts as much as one at the top: a cycle
that a lazy import hides still ties two layers together.
"""

from __future__ import annotations

import ast
from pathlib import Path

from paths import REPO

PACKAGE = REPO / "ov_reciprocam"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that `path` imports anywhere in its text."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            stem = f"{base}.{node.module}" if node.level and node.module else (base if node.level else node.module)
            found.add(stem)
            found |= {f"{stem}.{alias.name}" for alias in node.names}  # `from . import x` imports module x
    return {m for m in found if m in modules and m != name}


def graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    return {_module_name(p): _imports(p, modules) for p in paths}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            component.append(v)
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _folder(module: str) -> str:
    """The layer a module belongs to: its folder under the package, or the top-level module itself."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _is_package_of(parent: str, child: str) -> bool:
    return child.startswith(parent + ".")


def test_no_module_imports_itself_round_a_cycle():
    # A folder's __init__ gathering its own modules is not a cycle between layers; the package's own __init__ is
    # the public API, which imports every layer: a module that imports it (`from .. import __version__`) is in a
    # cycle with all of them.
    edges = {
        m: {i for i in imported if m == "ov_reciprocam" or not _is_package_of(m, i)} for m, imported in graph().items()
    }
    assert _cycles(edges) == []


def test_no_folder_imports_itself_round_a_cycle():
    folders: dict[str, set[str]] = {}
    for module, imported in graph().items():
        folders.setdefault(_folder(module), set()).update(_folder(i) for i in imported)
    edges = {f: {i for i in imported if i != f} for f, imported in folders.items()}
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
