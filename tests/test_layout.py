"""The shape of the code (issue 46): no import cycle between trickbench's modules, no function over
80 lines, no module over 500. The graph counts every `import` and `from ... import` of a trickbench
module, at module level or inside a function (a lazy import is still a dependency)."""
import ast

from conftest import REPO

SRC = REPO / "src" / "trickbench"


def _modules() -> dict[str, ast.Module]:
    out = {}
    for p in SRC.rglob("*.py"):
        parts = ("trickbench",) + p.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(p.read_text(), str(p))
    return out


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, tree in mods.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("trickbench"):
                for a in node.names:   # `from trickbench import config` names a module; `from x import f` a function of x
                    sub = f"{node.module}.{a.name}"
                    graph[name].add(sub if sub in mods else node.module)
            elif isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name in mods}
    # a module's package imports first (trickbench.rules.base runs trickbench/rules/__init__): not a cycle of its own
    return {m: {d for d in deps if d in mods and not m.startswith(d + ".")} - {m} for m, deps in graph.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_checker_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_trickbench_modules():
    graph = import_graph()
    assert "trickbench.rules" in graph["trickbench.verdict"] and "trickbench.ops.changes" in graph["trickbench.cli"]  # lazy ones too
    assert cycles(graph) == []


def test_no_function_over_80_lines_and_no_module_over_500():
    long_functions, long_modules = [], []
    for p in SRC.rglob("*.py"):
        text = p.read_text()
        if len(text.splitlines()) > 500:
            long_modules.append(f"{p.relative_to(SRC)} ({len(text.splitlines())})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80:
                long_functions.append(f"{p.relative_to(SRC)}:{node.name} ({node.end_lineno - node.lineno + 1})")
    assert not long_functions and not long_modules, (long_functions, long_modules)
