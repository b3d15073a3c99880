"""The package's modules import one another in one direction: no cycle, lazy imports included.

Every ``import`` of a backprop_cli module is read from the source with ``ast`` (those inside
functions too, which run later but still tie the modules together; those under
``if TYPE_CHECKING:`` are left out, as they never run). Importing ``a.b.c`` runs the package
``a.b`` first, so that counts as an import of the package too (the top package, the Python API,
is the entry point and is left out, and so are a module's own packages, which run before it
whatever it imports). A printer chosen by name at run time (``render.render``) is a plug-in, not
an import of the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import backprop_cli

PACKAGE = Path(backprop_cli.__file__).parent
ROOT = "backprop_cli"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(name: str) -> set[str]:
    """The backprop_cli modules ``name`` imports (with the packages that importing them runs)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.add(base)
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:
                    found.add(f"{base}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    out: set[str] = set()
    own = {".".join(name.split(".")[:end]) for end in range(1, name.count(".") + 1)}
    for module in found:
        if module == ROOT or not module.startswith(ROOT + "."):
            continue
        parts = module.split(".")
        for end in range(2, len(parts) + 1):  # the packages on the way, then the module
            candidate = ".".join(parts[:end])
            # A module's own packages run before it whatever it imports: no dependency of its choosing.
            if candidate in MODULES and (candidate not in own or candidate == module):
                out.add(candidate)
    out.discard(name)
    return out


def graph() -> dict[str, set[str]]:
    return {name: imports(name) for name in MODULES if name != ROOT}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph, as the modules along it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_modules_import_each_other_without_a_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_lazy_imports_count_and_type_checking_ones_do_not():
    edges = graph()
    # build.py imports build_matrix inside a function: an edge all the same.
    assert "backprop_cli.build_matrix" in edges["backprop_cli.build"]
    # the layer kinds name the matrix page only for type checking.
    assert "backprop_cli.build_matrix" not in edges["backprop_cli.layers.dense"]


def test_the_layers_below_the_builders_and_engines():
    """DESIGN.md's direction: builders, engines and files use the layer kinds, never the reverse."""
    edges = graph()
    upper = {"backprop_cli.build", "backprop_cli.build_matrix", "backprop_cli.cli", "backprop_cli.training",
             "backprop_cli.verification", "backprop_cli.io", "backprop_cli.torch_io"}
    for name, targets in edges.items():
        if name.startswith("backprop_cli.layers"):
            assert not (targets & upper), f"{name} imports {sorted(targets & upper)}"
            above = ("backprop_cli.render", "backprop_cli.engines.numpy", "backprop_cli.engines.torch")
            assert not any(t.startswith(above) for t in targets), name


def _third_party(name: str) -> set[str]:
    """The top-level packages outside backprop_cli that ``name`` imports (lazily or not)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found - {ROOT}


def test_only_the_command_line_knows_typer_and_only_it_and_the_terminal_printers_know_rich():
    terminal = {"backprop_cli.cli", *(f"backprop_cli.render.{name}" for name in (
        "terminal", "equation", "matrix_terminal", "train_terminal", "tree", "verify_terminal", "status",
        "figure_terminal"))}
    for name in MODULES:
        packages = _third_party(name)
        if name != "backprop_cli.cli":
            assert not packages & {"typer", "click"}, f"{name} imports typer"
        if name not in terminal:
            assert "rich" not in packages, f"{name} imports rich"
