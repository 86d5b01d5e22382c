"""The house a newcomer can read: screens are declarations, no module imports another back."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each module of app/ and the modules of app/ it imports, at the top or inside a
    function alike (a lazy import still ties the two modules together)."""
    modules = {module_name(p): p for p in APP.rglob("*.py")}
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                subs = [f"{source}.{alias.name}" for alias in node.names]
                targets = [s for s in subs if s in modules]
                if len(targets) < len(subs):
                    targets.append(source)  # a name from the module itself
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_of_the_app_imports_another_back():
    graph = import_graph()
    assert graph["app.api"] and graph["app.views"], "the graph reads the imports"
    assert cycles(graph) == []


def test_the_graph_would_see_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def statements(function: ast.FunctionDef) -> list[ast.stmt]:
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return body


def test_the_screens_are_declarations():
    """app/views.py and app/api.py: classes of declarations whose methods are at most
    two-line hooks into a domain function; the machinery lives in app/admin/."""
    too_long = []
    for source in (APP / "views.py", APP / "api.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in tree.body:
            assert not isinstance(node, ast.FunctionDef), f"{source.name}: function {node.name}"
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and len(statements(item)) > 2:
                        too_long.append(f"{source.name}: {node.name}.{item.name}")
    assert too_long == []


def test_every_import_of_the_app_names_a_module_that_exists():
    """A module moved without its lazy imports moved along fails here, not on the page
    that first runs the function (a function-level ``from .worker import`` did)."""
    import importlib.util

    missing = []
    modules = {module_name(p) for p in APP.rglob("*.py")}
    for path in APP.rglob("*.py"):
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
                if source in modules:
                    continue
                if not node.module:  # «from . import x»: each x a module of the package
                    missing += [
                        f"{name}: {source}.{a.name}"
                        for a in node.names
                        if f"{source}.{a.name}" not in modules
                    ]
                elif importlib.util.find_spec(source) is None:
                    missing.append(f"{name}: {source}")
    assert missing == []
