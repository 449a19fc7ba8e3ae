"""The import graph of the three Python packages: no circles, and no hidden imports.

Issue 13 found circles held apart by imports inside functions (``batch`` <-> ``bounds_batch``,
``bounds`` <-> ``resolver``, training ``config`` <-> ``factories``, ...). Data flows one way:
this reads every module's source (no import runs) and checks that

* the module-level imports between our modules have no cycle, and
* an import inside a function says why it is there (an optional or heavy dependency, or one
  of our modules that pulls one in) in a comment on its line or just above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2]
PACKAGES = ("safe_pe_cbf", "safe_pe_sim", "safe_pe_training")


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the three packages (tests left out)."""
    out = {}
    for pkg in PACKAGES:
        root = SRC / pkg / pkg
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root.parent).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _absolute(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    """The absolute module an ``ImportFrom`` in module ``name`` reads from."""
    if not node.level:
        return node.module or ""
    base = name.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(node: ast.stmt, name: str) -> list[str]:
    """Our modules an import statement in module ``name`` loads (the most specific ones)."""
    is_package = MODULES[name].name == "__init__.py"
    if isinstance(node, ast.Import):
        found = [a.name for a in node.names]
    else:
        mod = _absolute(node, name, is_package)
        found = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]
    return sorted({m for m in found if m in MODULES})


def _type_checking(node: ast.stmt) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and ("TYPE_CHECKING" in ast.unparse(test))


def _module_level_imports(tree: ast.Module):
    """Import statements that run when the module is imported (``if TYPE_CHECKING`` left out;
    ``try``/``if`` blocks at module level included)."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try)) and not _type_checking(node):
            for field in ("body", "orelse", "finalbody", "handlers"):
                todo.extend(getattr(node, field, []))
        elif isinstance(node, ast.ExceptHandler):
            todo.extend(node.body)


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[name] = {t for node in _module_level_imports(tree) for t in _targets(node, name)
                       if t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_the_graph_reads_every_package():
    assert len(MODULES) > 100
    graph = _graph()
    assert "safe_pe_cbf.kernels.rows" in graph["safe_pe_cbf.kernels.tiers"]
    assert "safe_pe_cbf.constraints" in graph["safe_pe_training.factories"] or \
        "safe_pe_cbf.resolver" in graph["safe_pe_training.factories"]


def test_no_import_circles():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _inner_imports(modules: dict[str, Path]):
    """``(path, lines, node, first)`` of every import statement inside a function, ``first``
    the line of the first import of the run of consecutive import statements it ends."""
    for path in modules.values():
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines), str(path))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for block in ast.walk(fn):
                for field in ("body", "orelse", "finalbody"):
                    first = None
                    stmts = getattr(block, field, None)
                    for node in stmts if isinstance(stmts, list) else ():
                        if not isinstance(node, (ast.Import, ast.ImportFrom)):
                            first = None
                            continue
                        first = node.lineno if first is None else first
                        yield path, lines, node, first


def _explained(lines: list[str], node: ast.stmt, first: int) -> bool:
    """Whether a comment is on the import's lines or on the line above its run of imports."""
    return any("#" in line for line in lines[max(first - 2, 0):node.end_lineno])


def test_imports_inside_functions_say_why():
    unexplained = [f"{path.relative_to(SRC)}:{node.lineno}"
                   for path, lines, node, first in _inner_imports(MODULES)
                   if not _explained(lines, node, first)]
    assert unexplained == [], (
        "imports inside functions must be of optional/heavy dependencies and say why in a "
        f"comment on the line or just above: {unexplained}")


@pytest.mark.parametrize("source, ok", [
    ("def f():\n    import torch  # heavy: only here\n", True),
    ("def f():\n    # heavy: only here\n    import torch\n", True),
    ("def f():\n    # heavy: only here\n    import torch\n    import onnx\n", True),
    ("def f():\n    x = 1\n    from safe_pe_cbf import batch\n    return x\n", False),
    ("def f():\n    # heavy\n    import torch\n    x = 1\n    import onnx\n", False),
])
def test_the_inner_import_check_can_fail(source, ok, tmp_path):
    path = tmp_path / "mod.py"
    path.write_text(source)
    found = list(_inner_imports({"mod": path}))
    assert found
    _, lines, node, first = found[-1]
    assert _explained(lines, node, first) == ok
