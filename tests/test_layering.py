"""The layering data_schemas <- model <- pipelines <- flows, read from the sources: a lower layer never
imports a higher one, the Prefect flows never import the command line (the CLI is an app over the
library, not a library), and no modules import each other in a cycle. Imports inside functions count
too, so a cycle cannot hide behind a late import."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("data_schemas", "model", "pipelines", "flows")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def own_imports(path: Path) -> set[str]:
    """Our modules that `path` imports anywhere in it (`from pkg import module` names the module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in LAYERS}


def import_graph() -> dict[str, set[str]]:
    paths = [path for layer in LAYERS for path in (REPO / layer).rglob("*.py")]
    modules = {module_name(path): path for path in paths}
    return {name: {target for target in own_imports(path) if target in modules and target != name}
            for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None; package `__init__`s count as modules."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_layer_imports_a_higher_one():
    graph = import_graph()
    assert len(graph) > 80  # the whole tree was read
    wrong = sorted(f"{source} imports {target}" for source, targets in graph.items() for target in targets
                   if LAYERS.index(target.split(".")[0]) > LAYERS.index(source.split(".")[0]))
    assert wrong == []


def test_prefect_flows_do_not_import_the_command_line():
    graph = import_graph()
    assert sorted(f"{s} imports {t}" for s, ts in graph.items() if s.startswith("flows.prefect")
                  for t in ts if t.startswith("flows.cli")) == []


def test_no_import_cycles():
    assert find_cycle(import_graph()) is None


def test_the_checks_see_a_violation_and_a_cycle():
    graph = {"model.a": {"pipelines.b"}, "pipelines.b": {"model.a"}}
    assert find_cycle(graph) == ["model.a", "pipelines.b", "model.a"]
    assert find_cycle({"model.a": {"model.b"}, "model.b": set()}) is None
