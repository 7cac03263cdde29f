"""The package's layers: util < data < retrieve < rerank < train < experiment < cli. A module may import its own
layer and the ones below, never one above (lazy imports inside functions included), and no modules form a cycle."""
import ast
from pathlib import Path

import pyterrier_optical

LAYERS = ["util", "data", "retrieve", "rerank", "train", "experiment", "cli"]
ROOT = Path(pyterrier_optical.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set:
    """The pyterrier_optical modules that ``path`` imports, anywhere in it."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = f"{base}.{node.module}" if node.level and node.module else (base if node.level else node.module)
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)  # "from . import datasets" imports a module
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    modules = {module_name(p) for p in ROOT.rglob("*.py")}
    return {m for m in found if m in modules}


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None  # None: the package root


def graph() -> dict:
    return {module_name(p): imports(p) for p in ROOT.rglob("*.py")}


def test_no_layer_imports_an_upper_one():
    upward = [f"{m} -> {t}" for m, targets in graph().items() if layer(m) is not None
              for t in targets if layer(t) is None or layer(t) > layer(m)]
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def test_no_import_cycle():
    edges = {m: {t for t in ts if t != m and not m.startswith(t + ".")} for m, ts in graph().items()}
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_check_sees_a_violation(tmp_path):
    """The parser finds relative, absolute and lazy imports (so the tests above can fail)."""
    probe = ROOT / "data" / "_layer_probe.py"
    probe.write_text("def f():\n    from ..train import loop\n    import pyterrier_optical.rerank.scoring\n")
    try:
        assert {"pyterrier_optical.train.loop", "pyterrier_optical.rerank.scoring"} <= imports(probe)
    finally:
        probe.unlink()
