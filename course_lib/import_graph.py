"""The import graph of course_lib, read from the source files without importing anything.

A module's edges are every `import` and `from ... import` in its file, at
module level or inside a function (a function's import runs when the
function does, so it is as much a dependency as one at the top). Imports
under `if TYPE_CHECKING:` are left out: they never run.

Two uses: pretrain.recipe_sources_hash hashes the files a recipe's module
reaches, so a change in any of them is seen; tests/unit/test_import_graph.py
fails on a cycle, so that the library's modules stay layered.
"""
from __future__ import annotations

import ast
from pathlib import Path

__all__ = ["module_files", "imports_of", "import_graph", "reachable", "find_cycle"]

# the folder that holds course_lib/
ROOT = Path(__file__).resolve().parent.parent


def module_files(root: Path = ROOT, package: str = "course_lib") -> dict[str, Path]:
    """Dotted module name -> its file, for every module of `package` under `root`."""
    files = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts)] = path
    return files


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """The modules among `modules` that the file of module `name` imports.

    `from package import thing` counts package.thing when that is a module,
    else the package. (Parent packages, whose __init__ files run first, are
    added by `reachable`: as edges they would make every package a cycle.)
    """
    is_package = path.name == "__init__.py"
    found = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                # relative: from the module's own package, `level - 1` packages up
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[:len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        for target in targets:
            # `import a.b.c` names a.b.c; the longest part of a name that is a module is the one imported
            parts = target.split(".")
            known = [".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in modules]
            if known:
                found.add(known[0])
    found.discard(name)
    return found


def import_graph(root: Path = ROOT, package: str = "course_lib") -> dict[str, set[str]]:
    """Module -> the modules it imports, for every module of `package`."""
    files = module_files(root, package)
    return {name: imports_of(name, path, set(files)) for name, path in files.items()}


def reachable(start: str, graph: dict[str, set[str]] | None = None, exclude: tuple[str, ...] = (),
              root: Path = ROOT) -> set[str]:
    """`start` and every module it reaches, with their parent packages (whose __init__ runs first),
    skipping modules named in `exclude` (and everything under them).

    graph: the import graph to follow (default: read from `root`, only the files reached).
    """
    files = module_files(root) if graph is None else {}

    def edges(module: str) -> set[str]:
        if graph is not None:
            return graph.get(module, set())
        return imports_of(module, files[module], set(files)) if module in files else set()

    def excluded(module: str) -> bool:
        return any(module == e or module.startswith(e + ".") for e in exclude)

    known = graph if graph is not None else files
    seen, stack = set(), [start]
    while stack:
        module = stack.pop()
        if module in seen or excluded(module):
            continue
        seen.add(module)
        stack.extend(edges(module))
        parts = module.split(".")
        stack.extend(".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in known)
    return seen


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None when the graph has none.

    A submodule's edge to its own package is there only when it imports from
    the package by name (`from course_lib.data import x` in a module that
    course_lib/data/__init__.py imports is a cycle; `from .corpus import x` is
    not).
    """
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for other in sorted(graph.get(module, ())):
            if state.get(other) == 1:
                return path[path.index(other):] + [other]
            if other not in state:
                cycle = visit(other)
                if cycle:
                    return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            if cycle:
                return cycle
    return None
