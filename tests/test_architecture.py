"""The layout's rules, checked on the source (issue 22): no import cycle among the core's and
the plugins' modules (imports under TYPE_CHECKING and inside functions count too), no
module over 450 lines, and plugins that import only `core.api` of the core and nothing
of another plugin."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "plugins")
MAX_LINES = 450


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    """Every module of core/ and plugins/ by dotted name, migrations left out."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.relative_to(ROOT).parts:
                continue
            found[_module_name(path)] = path
    return found


def _imports(name: str, path: Path, modules: set[str]) -> set[str]:
    """The modules of `modules` that `name` imports, wherever the import statement is."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from a import b` imports module a.b when there is one, else a name of a.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            # The closest enclosing module we know (`import core.api.x` is core.api).
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    sources = _sources()
    names = set(sources)
    graph = {name: _imports(name, path, names) for name, path in sources.items()}
    # A package's __init__ runs before any of its modules: importing core.x imports core.
    # Parents are left out of the edges (every module would then depend on core/__init__),
    # which only holds while package __init__ files import nothing; checked below.
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_scan_sees_imports_under_type_checking_and_inside_functions(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from core.platform import Platform\n"
        "def f():\n    import core.rooms\n    from core import turns\n"
        "from core.api import Room\nfrom core import VERSION\n"
    )
    modules = {"core.platform", "core.rooms", "core.turns", "core.api", "core"}
    assert _imports("plugins.x.m", source, modules) == {
        "core.platform",
        "core.rooms",
        "core.turns",
        "core.api",
        "core",  # a name of the package itself
    }
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_among_core_and_plugin_modules():
    assert _cycles(_graph()) == []


def test_package_init_files_of_the_core_import_nothing_of_it():
    """The cycle check leaves out the implicit import of a package by its modules: it holds
    while the core's package __init__ files import nothing of the core."""
    graph = _graph()
    for name, path in _sources().items():
        if path.name == "__init__.py" and name.startswith("core"):
            assert graph[name] == set(), f"{name} imports {sorted(graph[name])}"


def test_no_module_over_450_lines():
    long = {
        str(path.relative_to(ROOT)): lines
        for path in _sources().values()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_plugins_import_only_core_api_of_the_core_and_nothing_of_other_plugins():
    graph = _graph()
    wrong = {}
    for name, imported in graph.items():
        if not name.startswith("plugins."):
            continue
        plugin = ".".join(name.split(".")[:2])
        bad = sorted(
            target
            for target in imported
            if (target.startswith("core") and target != "core.api")
            or (target.startswith("plugins.") and not (target + ".").startswith(plugin + "."))
        )
        if bad:
            wrong[name] = bad
    assert wrong == {}


def test_the_core_imports_no_plugin():
    graph = _graph()
    assert {
        name: sorted(t for t in imported if t.startswith("plugins"))
        for name, imported in graph.items()
        if name.startswith("core") and any(t.startswith("plugins") for t in imported)
    } == {}


def test_plugins_reach_their_state_settings_and_metrics_typed():
    """`ctx.state_as(MessagesState)`, `platform.state_of(NAME, MessagesState)`: never the
    untyped `ctx.state` / `state_of(NAME)`, so no Any reaches a plugin's handlers."""
    untyped = []
    for name, path in _sources().items():
        if not name.startswith("plugins."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("state", "settings", "metrics")
                and isinstance(node.value, ast.Name)
                and node.value.id == "ctx"
            ):
                untyped.append(f"{name}:{node.lineno} ctx.{node.attr}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("state_of", "settings_of", "metrics_of")
                and len(node.args) < 2
            ):
                untyped.append(f"{name}:{node.lineno} {node.func.attr} with no type")
    assert untyped == []


def test_the_architecture_pages_table_names_every_core_module():
    """docs/architecture.md's table of the core lists each module (a package's modules may
    share its row), so the map stays the territory."""
    page = (ROOT / "docs" / "architecture.md").read_text()
    table = page.split("## The core (`core/`)", 1)[1].split("\n## ", 1)[0]
    missing = []
    for name, path in _sources().items():
        if not name.startswith("core.") or path.name == "__init__.py":
            continue
        relative = path.relative_to(ROOT / "core").as_posix()
        if f"`{relative}`" not in table and f"`{path.name}`" not in table:
            missing.append(relative)
    assert missing == []
