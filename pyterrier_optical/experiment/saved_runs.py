"""Saved runs of a comparison: each system's run is kept in ``save_dir/<lang>/<system>.res.gz`` and reused only
under the same key, a digest of what determines it (the pipeline's description and the topics), recorded in
``fingerprints.json`` beside the runs; one comparison at a time holds a folder's lock. A language folder is this
package's (claimed, :func:`~pyterrier_optical.util.io.claim_folder`) before a run in it is served or deleted: a
folder of a user's own runs is refused, never emptied."""
from __future__ import annotations

import glob
import hashlib
import json
import logging
import pickle
import re
import types
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyterrier as pt

from ..util.io import Marker, claim_folder, folder_lock, write_file_atomically

logger = logging.getLogger(__name__)
FINGERPRINTS = "fingerprints.json"
SAVED_RUNS = "saved-runs folder"  # the kind of folder claimed


def _is_fingerprints_file(file: Path) -> bool:
    saved = json.loads(file.read_text(encoding="utf-8"))
    return isinstance(saved, dict) and all(v is None or isinstance(v, str) for v in saved.values())


# a language folder of saved runs written before folders were claimed, by its fingerprints
RUNS_BEFORE_CLAIMS = Marker(FINGERPRINTS, check=_is_fingerprints_file)
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def _code_parts(code) -> list:
    """What a code object computes: its bytecode, names and constants (nested functions included; a set constant in
    a stable order: a set of strings is ordered by the process's hash seed)."""
    parts = [code.co_code.hex(), code.co_names]
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            parts.append(_code_parts(const))
        else:
            parts.append(sorted(map(repr, const)) if isinstance(const, frozenset) else repr(const))
    return parts


def _content_digest(value) -> str | None:
    """A digest of a frame's or an array's content (None when its cells cannot be hashed or pickled)."""
    try:
        if isinstance(value, np.ndarray) and value.dtype != object:
            data = np.ascontiguousarray(value).tobytes()
        elif isinstance(value, np.ndarray):
            data = pd.util.hash_array(value.ravel()).tobytes()  # the elements, not their addresses
        else:
            data = pd.util.hash_pandas_object(value).to_numpy().tobytes()
    except TypeError:  # cells such as lists or arrays (pyterrier-dr's vectors)
        try:
            data = pickle.dumps(value, protocol=4)
        except Exception:
            return None
    return hashlib.sha256(data).hexdigest()


def _value_parts(value, problems: list, depth: int = 2, seen: frozenset = frozenset()):
    """A description of one value of a pipeline: its repr (with the content digest of what it reads, when it has
    one), frames and arrays by content, containers and functions by what they hold, or for an object with the
    default repr its type, the code of its ``transform`` and its public attributes; what cannot be described so is
    appended to ``problems``. ``seen``: the containers and functions being described (a cycle ends there)."""
    if isinstance(value, (str, bytes, int, float, bool, type(None), Path, np.generic)):
        return repr(value)
    if isinstance(value, type):  # a class, not an instance: its methods are not keys
        return f"{value.__module__}.{value.__qualname__}"
    if isinstance(value, types.ModuleType):
        return value.__name__
    if id(value) in seen:
        return "<cycle>"
    seen = seen | {id(value)}
    if isinstance(value, (pd.DataFrame, pd.Series, np.ndarray)):  # a frame's repr elides the middle rows
        digest = _content_digest(value)
        if digest is None:
            problems.append(f"a {type(value).__name__} whose cells cannot be hashed")
        return [type(value).__name__, getattr(value, "shape", None), digest]
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [_value_parts(v, problems, depth, seen) for v in value]]
    if isinstance(value, dict):
        return ["dict", sorted([repr(k), _value_parts(v, problems, depth, seen)] for k, v in value.items())]
    if isinstance(value, (set, frozenset)):  # a set of strings is ordered by the process's hash seed
        return [type(value).__name__, sorted(json.dumps(_value_parts(v, problems, depth, seen), default=str)
                                             for v in value)]
    if isinstance(value, (types.FunctionType, types.MethodType)):
        return _callable_parts(value, problems, depth, seen)
    digest = getattr(value, "cache_key", None) or getattr(value, "content_digest", None)  # a complete key first
    if callable(digest):
        return [_ADDRESS.sub("", repr(value)), digest()]
    if type(value).__repr__ is not object.__repr__:
        return _ADDRESS.sub("", repr(value))
    if depth == 0 or not hasattr(value, "__dict__"):
        problems.append(f"{type(value).__name__} has no descriptive repr")
        return type(value).__qualname__
    visited = set(pt.inspect.subtransformers(value)) if isinstance(value, pt.Transformer) else set()
    transform = getattr(type(value), "transform", None)  # what a transformer of a user's class does
    code = _code_parts(transform.__code__) if hasattr(transform, "__code__") else None
    return [type(value).__module__, type(value).__qualname__, code,
            {k: _value_parts(v, problems, depth - 1, seen) for k, v in sorted(vars(value).items())
             if not k.startswith("_") and k not in visited}]


def _global_names(code) -> set:
    """The names ``code`` (nested functions included) may read from its module's globals."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            names |= _global_names(const)
    return names


def _callable_parts(fn, problems: list, depth: int = 2, seen: frozenset = frozenset()) -> list:
    """What a function computes with: its code, its captured values, its default arguments, the object it is bound
    to (a method), and the module globals it reads (their values; functions it calls, by their code)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        problems.append(f"{fn!r} has no readable code")
        return []
    seen = seen | {id(fn), id(getattr(fn, "__func__", fn))}
    parts = [_code_parts(code),
             [_value_parts(cell.cell_contents, problems, depth, seen) for cell in fn.__closure__ or ()],
             _value_parts(list(fn.__defaults__ or ()), problems, depth, seen),
             _value_parts(dict(fn.__kwdefaults__ or {}), problems, depth, seen)]
    if isinstance(fn, types.MethodType):
        parts.append(_value_parts(fn.__self__, problems, depth, seen))
    module = getattr(fn, "__globals__", {})
    parts.append({name: _global_parts(module[name], fn, problems, depth, seen)
                  for name in sorted(_global_names(code)) if name in module})
    return parts


def _global_parts(value, fn, problems: list, depth: int, seen: frozenset):
    """A module global ``fn`` reads: a function of another module (a library's) by its name, anything else by
    :func:`_value_parts`."""
    if isinstance(value, types.FunctionType) and value.__module__ != fn.__module__:
        return f"{value.__module__}.{value.__qualname__}"
    return _value_parts(value, problems, depth, seen)


def _function_parts(transformer, problems: list) -> list:
    """What the function inside a ``pt.apply`` stage computes with ([] for other stages)."""
    fn = getattr(transformer, "fn", None)
    if not callable(fn):
        return []
    if getattr(fn, "__code__", None) is None:
        problems.append(f"the function of {transformer!r} has no readable code")
        return []
    return _callable_parts(fn, problems)


def describe_system(pipeline) -> tuple:
    """``(description, why_not)``: what determines a system's run — each stage's repr (or, for a stage with the
    default repr, its type and attributes), the code and captured values of the functions inside ``pt.apply``
    stages, the content digest of the indexes they read — and, when some part cannot be described so (a function
    without readable code, an object with neither a repr nor plain attributes), why not (else None)."""
    parts, problems = [], []

    def visit(transformer):
        parts.append(_value_parts(transformer, problems))
        parts.extend(_function_parts(transformer, problems))
        for sub in pt.inspect.subtransformers(transformer).values():
            for child in sub if isinstance(sub, (list, tuple)) else [sub]:
                visit(child)

    visit(pipeline)
    return json.dumps(parts, default=str, ensure_ascii=False), "; ".join(dict.fromkeys(problems)) or None


def run_fingerprint(pipeline, topics: pd.DataFrame) -> str | None:
    """A digest of what determines a system's run (:func:`describe_system`) and of the topics it runs on (qids and
    query texts): a saved run is reused only under the same one. None when the system cannot be described."""
    description, why_not = describe_system(pipeline)
    if why_not:
        return None
    queries = sorted(zip(topics["qid"].astype(str), topics["query"].astype(str)))
    return hashlib.sha256(json.dumps([description, queries], ensure_ascii=False).encode()).hexdigest()[:16]


def read_fingerprints(file: Path) -> dict:
    """The saved fingerprints ({} when there are none, or when the file is damaged: then every run is redone)."""
    if not file.is_file():
        return {}
    try:
        saved = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(saved, dict):
            raise ValueError("not an object")
        return saved
    except (ValueError, UnicodeDecodeError) as e:
        logger.warning("%s is damaged (%s): every saved run beside it is redone", file, e)
        return {}


def readable_run(path: Path) -> bool:
    """True when the saved run at ``path`` reads whole."""
    try:
        pt.io.read_results(str(path))
    except Exception:  # a truncated gzip (EOFError), bad lines (ValueError), ...
        return False
    return True


def _reusable(run: Path, name: str, pipeline, fingerprint: str | None, saved: dict) -> bool:
    """Whether the saved ``run`` of system ``name`` may be served (saying why not when it may not)."""
    folder = run.parent
    if fingerprint is None:
        logger.warning("%s: %r cannot be fingerprinted reliably (%s): rerunning it instead of reusing its "
                       "saved run", folder, name, describe_system(pipeline)[1])
    elif saved.get(name) != fingerprint:
        logger.info("%s: the saved run of %r was made for other topics or another pipeline: rerunning", folder, name)
    elif not readable_run(run):
        logger.warning("%s is damaged: rerunning %r", run, name)
    else:
        return True
    return False


def forget_stale_runs(folder: Path, names, pipelines, topics: pd.DataFrame) -> None:
    """Delete the saved runs in ``folder`` that were made for other topics or by another pipeline of the same name,
    that carry no fingerprint, that are damaged, or whose system cannot be fingerprinted (saying why), and record
    the fingerprints of the runs about to be made."""
    file = folder / FINGERPRINTS
    saved = read_fingerprints(file)
    for name, pipeline in zip(names, pipelines):
        fingerprint = run_fingerprint(pipeline, topics)
        for run in folder.glob(f"{glob.escape(name)}.res.gz"):
            if not _reusable(run, name, pipeline, fingerprint, saved):
                run.unlink()
        saved[name] = fingerprint
    write_file_atomically(file, lambda f: f.write_text(json.dumps(saved, indent=1), encoding="utf-8"))


@contextmanager
def saved_runs(save_dir, lang: str, names: list, pipelines: list, topics: pd.DataFrame):
    """The ``pt.Experiment`` arguments that save and reuse the runs of one language in ``save_dir/<lang>/`` (none
    when ``save_dir`` is None), yielded while that folder's lock is held and after its stale runs are deleted."""
    if save_dir is None:
        yield {}
        return
    if Path(save_dir).exists() and not Path(save_dir).is_dir():
        raise FileExistsError(f"save_dir {save_dir} is a file, not a folder: choose a folder for the saved runs")
    folder = Path(save_dir) / lang
    with folder_lock(folder, "comparing systems", wait=True):  # one comparison at a time per save_dir
        claim_folder(folder, SAVED_RUNS, (RUNS_BEFORE_CLAIMS,))  # under the lock: a claim being written is not seen
        forget_stale_runs(folder, names, pipelines, topics)
        yield {"save_dir": str(folder), "save_mode": "reuse"}
