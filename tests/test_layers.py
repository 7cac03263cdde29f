"""The package's layers: util < data < models < retrieve < rerank < train < experiment < cli. A module may import its
own layer and the ones below, never one above (lazy imports inside functions included), and no modules form a
cycle; the one door upward is the model registry's call into training for a model that does not ship current."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import pyterrier_optical

LAYERS = ["util", "data", "models", "retrieve", "rerank", "train", "experiment", "cli"]
ROOT = Path(pyterrier_optical.__file__).parent
# (module, what it may import from above): opened only for a stale shipped model or --retrain
DOORS_UP = {("pyterrier_optical.models.registry", "pyterrier_optical.train.build")}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool = False) -> set:
    """The pyterrier_optical modules that ``source`` (the text of ``module``) imports, anywhere in it."""
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
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
    return {module_name(p): imports(p.read_text(), module_name(p), p.name == "__init__.py")
            for p in ROOT.rglob("*.py")}


def test_no_layer_imports_an_upper_one_but_the_registrys_door_to_training():
    upward = [f"{m} -> {t}" for m, targets in graph().items() if layer(m) is not None
              for t in targets if (layer(t) is None or layer(t) > layer(m)) and (m, t) not in DOORS_UP]
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))
    assert all(t in graph()[m] for m, t in DOORS_UP), "a door upward is declared but no longer used: remove it"


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


def test_the_check_sees_relative_absolute_and_lazy_imports():
    probe = "def f():\n    from ..train import loop\n    import pyterrier_optical.models.scoring\n"
    found = imports(probe, "pyterrier_optical.data.probe")
    assert {"pyterrier_optical.train.loop", "pyterrier_optical.models.scoring"} <= found


INFERENCE = """
import json, sys
sys.modules["accelerate"] = sys.modules["ot"] = None  # as if not installed (transformers loads accelerate if it is)
import pandas as pd
import pytest

import pyterrier_optical
imported = {m for m, v in sys.modules.items() if v is not None}
from pyterrier_optical import OpticalReranker
reranker = OpticalReranker(verbose=False)
out = reranker(pd.DataFrame({"qid": ["q1", "q1"], "query": ["fungua faili", "fungua faili"],
                             "docno": ["d1", "d2"], "text": ["Open file", "Close the window"]}))
print(json.dumps({"import": sorted(imported), "all": sorted(m for m, v in sys.modules.items() if v is not None),
                  "ranks": out["rank"].tolist()}))
"""


@pytest.mark.slow
def test_inference_loads_no_training_code_and_import_no_heavy_dependency(tmp_path):
    """``import pyterrier_optical``, ``OpticalReranker()`` from an empty home and scoring a frame load no
    ``pyterrier_optical.train`` module and work without Accelerate and POT (transformers imports Accelerate
    whenever it is installed, so the test hides both, as ``sys.modules[name] = None`` does); the import alone loads
    none of the heavy optional dependencies."""
    env = {**__import__("os").environ, "OPTICAL_HOME": str(tmp_path / "home")}
    env.pop("OPTICAL_QUIET", None)
    done = subprocess.run([sys.executable, "-c", INFERENCE], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    loaded = set(result["all"])
    assert not {m for m in loaded if m.startswith("pyterrier_optical.train")}
    heavy = {"pyterrier_dr", "sentence_transformers", "openvino", "matplotlib", "pyserini", "accelerate", "ot"}
    assert not heavy & set(result["import"]), heavy & set(result["import"])
    assert sorted(result["ranks"]) == [0, 1]
