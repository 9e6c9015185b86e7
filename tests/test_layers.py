"""The package's layers hold: a module imports only from its own layer or the ones below, no
two modules import each other (directly or round a loop), and an import inside a function
says why it is there (an optional heavy dependency, or a command's own subpackage loaded only
when the command runs) in a comment on its line or the line above.

The layers, lowest first, are written down in docs/architecture.md; :data:`LAYERS` is that
list. Imports are read from the source with ``ast`` (nothing is imported), at any depth:
module level, inside functions, under ``if TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "layout2im"
SOURCE = Path(__file__).resolve().parents[1] / "src" / PACKAGE

# lowest first; a module belongs to the first layer with a prefix that names it or a package
# above it (a prefix names a module, ``layout2im.x``, or a package, ``layout2im.x`` for
# ``x/``); the package's own ``__init__`` is its public face, in the pipeline's layer
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "foundations",
        (
            "errors",
            "readers",
            "torch_files",
            "state_dicts",
            "fsutil",
            "hardware",
            "threads",
            "devices",
            "imagenet",
        ),
    ),
    ("schema", ("schema", "config", "layout", "vocab")),
    ("models", ("models", "losses")),
    (
        "pipeline",
        (
            "",
            "pipeline",
            "architectures",
            "model_folder",
            "seeding",
            "visualize",
            "images",
        ),
    ),
    ("data", ("data",)),
    ("tasks", ("training", "evaluation", "conversion")),
    ("interfaces", ("cli", "web", "__main__")),
]


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, "layout2im.x.y"
    target: str  # the imported package module
    line: int
    local: bool  # inside a function
    justified: bool  # a comment on its line or the line above


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SOURCE.rglob("*.py"))}


def layer_of(module: str) -> int:
    rest = module.removeprefix(PACKAGE).removeprefix(".")
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if rest == prefix or (prefix and rest.startswith(prefix + ".")):
                return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The package modules ``from ... import ...`` names: the module itself, or each imported
    name that is a submodule."""
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target != PACKAGE and not target.startswith(PACKAGE + "."):
        return []
    submodules = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
    if submodules and len(submodules) == len(node.names):
        return submodules
    return [target, *submodules]


def _comments(text: str) -> tuple[set[int], set[int]]:
    """The lines holding a comment, and those holding nothing else."""
    anywhere, alone = set(), set()
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            anywhere.add(token.start[0])
            if not token.line[: token.start[1]].strip():
                alone.add(token.start[0])
    return anywhere, alone


def imports_of(module: str) -> list[Import]:
    path = MODULES[module]
    text = path.read_text()
    tree = ast.parse(text, filename=str(path))
    anywhere, alone = _comments(text)
    import_lines = {
        line
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for line in range(node.lineno, node.end_lineno + 1)
    }

    def justified(node: ast.stmt) -> bool:
        """A comment on the statement, or above it or above the imports just before it."""
        if anywhere & set(range(node.lineno, node.end_lineno + 1)):
            return True
        line = node.lineno - 1
        while line in import_lines:
            line -= 1
        return line in alone

    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names if a.name.split(".")[0] == PACKAGE]
            elif isinstance(child, ast.ImportFrom):
                targets = _resolve(module, path.name == "__init__.py", child)
            else:
                targets = []
            for target in targets:
                found.append(Import(module, target, child.lineno, in_function, justified(child)))
            inner = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(child, in_function or inner)

    visit(tree, False)
    return found


IMPORTS = [i for module in MODULES for i in imports_of(module)]


def where(i: Import) -> str:
    return f"{MODULES[i.source].relative_to(SOURCE.parent)}:{i.line}"


def test_every_module_is_in_a_layer_and_imports_resolve():
    for module in MODULES:
        layer_of(module)
    unknown = [f"{where(i)} imports {i.target}" for i in IMPORTS if i.target not in MODULES]
    assert not unknown, unknown


def test_modules_import_only_from_their_layer_or_below():
    upward = [
        f"{where(i)}: {i.source} ({LAYERS[layer_of(i.source)][0]}) imports {i.target} "
        f"({LAYERS[layer_of(i.target)][0]})"
        for i in IMPORTS
        if layer_of(i.target) > layer_of(i.source)
    ]
    assert not upward, "\n".join(upward)


def test_function_local_imports_of_the_package_say_why():
    unexplained = [
        f"{where(i)}: {i.source} imports {i.target} inside a function with no comment"
        for i in IMPORTS
        if i.local and not i.justified
    ]
    assert not unexplained, "\n".join(unexplained)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                connect(nxt)
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
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return components


def test_no_import_cycles():
    edges: dict[str, set[str]] = {}
    for i in IMPORTS:
        if i.target != i.source:
            edges.setdefault(i.source, set()).add(i.target)
    cycles = _cycles(edges)
    assert not cycles, "modules that import each other:\n" + "\n".join(map(", ".join, cycles))


def test_the_checks_see_what_they_check():
    # the reader finds local imports and resolves relative ones, so the checks above are real
    cmd_serve = [i for i in IMPORTS if i.source == "layout2im.cli.serve" and i.local]
    assert {i.target for i in cmd_serve} >= {"layout2im.web.app", "layout2im.web.server"}
    assert all(i.justified for i in cmd_serve)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer_of("layout2im.models.generator") < layer_of("layout2im.pipeline")
    assert layer_of("layout2im.errors") == 0


def test_the_layers_are_the_ones_docs_architecture_lists():
    docs = (SOURCE.parents[1] / "docs" / "architecture.md").read_text()
    section = docs.split("## Layers", 1)[1].split("\n\n")[2]  # the list after one paragraph
    listed = []
    for item in re.split(r"\n(?=\d+\. )", section.strip()):
        name, modules = re.fullmatch(r"\d+\. \*\*(\w+)\*\*: (.*)", item, re.S).groups()
        names = tuple(m.rstrip("/") for m in re.findall(r"`([\w/]+)`", modules.split("(")[0]))
        listed.append((name, names))
    assert listed == [(name, tuple(p for p in prefixes if p)) for name, prefixes in LAYERS]
