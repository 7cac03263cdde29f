"""Keys of what a transformer computes, for caches of its results (the saved runs of ``experiment``).

Every transformer of this package is :class:`Keyed`: its :meth:`~Keyed.cache_key` describes it completely, so that
two transformers with the same key give the same results. The key holds

* every constructor argument, read from the signature of ``__init__`` (so an argument added later is keyed without
  anyone remembering to), but for those a class lists in ``unkeyed`` with the reason they cannot change the results
  (progress bars, batch sizes of batch-invariant scoring, ...);
* the digests of what it reads (:meth:`~Keyed.content_key`): model weights and tokenizer, lexicon entries, the
  documents and settings of an index.

An argument whose value cannot be described (an object of a foreign class) gets a key of its own every time, with a
warning: results made with it are never served from a cache.
"""
from __future__ import annotations

import enum
import hashlib
import inspect
import json
import math
import uuid
import warnings
import weakref
from pathlib import PurePath

# reasons shared by the arguments that do not change what a transformer computes
PROGRESS = "a progress bar"
BATCHING = ("inputs are scored in batches, each padded with an attention mask: a result does not depend on the batch "
            "it lands in (up to float rounding; tests/test_reranker.py::test_batch_size_does_not_change_scores)")
DEVICE = ("where the arithmetic runs; the concrete precision and backend that 'auto' and None resolve to on it are "
          "keyed (content_key)")


def constructor_arguments(cls) -> list:
    """The names of the arguments of ``cls.__init__`` (not ``self``, ``*args`` or ``**kwargs``)."""
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def digest(*parts) -> str:
    """A short SHA-256 of JSON-serialisable ``parts``."""
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def describe(value, where: str):
    """``value`` as a JSON-serialisable description for a key: plain values as they are (floats exact, NaN named),
    containers element by element, enums by value, keyed objects by their :meth:`~Keyed.cache_key`. Anything else
    cannot be described: it gets a fresh random key (never equal to another) and a warning naming ``where``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, bytes):
        return {"bytes": hashlib.sha256(value).hexdigest()}
    if isinstance(value, enum.Enum):
        return {"enum": f"{type(value).__qualname__}.{value.name}"}
    if isinstance(value, (list, tuple)):
        return [describe(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return sorted((describe(v, where) for v in value), key=repr)
    if isinstance(value, dict):
        return {str(k): describe(v, f"{where}[{k!r}]") for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    key = getattr(value, "cache_key", None)
    if callable(key):
        return {"key": key()}
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return describe(value.item(), where)
    warnings.warn(f"{where}={type(value).__module__}.{type(value).__qualname__} cannot be described for a cache key: "
                  "results made with it are never reused", stacklevel=3)
    return {"undescribed": uuid.uuid4().hex}


class Keyed:
    """A transformer (or index) that describes itself completely: :meth:`cache_key`.

    Subclasses list in ``unkeyed`` the constructor arguments that cannot change their results, each with the reason
    (a test checks that every other argument changes the key); :meth:`key_argument` turns an argument into what
    is keyed (a model object into its class name, say, its weights being in :meth:`content_key`).
    """

    unkeyed: dict = {}  # argument -> why it does not change the results

    def key_argument(self, name: str):
        """The value of constructor argument ``name`` as stored (``self._name`` or ``self.name``, the way
        ``pt.inspect.transformer_attributes`` reads it)."""
        for attribute in ("_" + name, name):
            if hasattr(self, attribute):
                return getattr(self, attribute)
        raise AttributeError(f"{type(self).__name__} keeps no attribute for its argument {name!r}")

    def content_key(self) -> dict:
        """Digests of what the results depend on besides the arguments: weights, tokenizer, lexicon, index."""
        return {}

    def key_description(self) -> dict:
        """The class, every keyed argument and :meth:`content_key`, JSON-serialisable."""
        cls = type(self)
        args = {name: describe(self.key_argument(name), f"{cls.__name__}({name})")
                for name in constructor_arguments(cls) if name not in self.unkeyed}
        return {"class": f"{cls.__module__}.{cls.__qualname__}", "args": args,
                "content": describe(self.content_key(), f"{cls.__name__} content")}

    def cache_key(self) -> str:
        """What this computes, as one string: equal keys give equal results (a cache of results is keyed by it)."""
        return json.dumps(self.key_description(), sort_keys=True, ensure_ascii=False)


def tokenizer_digest(tokenizer) -> str:
    """A digest of a Hugging Face tokenizer: its whole definition for a fast one (vocabulary, normaliser,
    pre-tokeniser, post-processor), its vocabulary otherwise, plus the limits it truncates to and its special
    tokens."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # but for the truncation and padding of its last call, which each call sets anew
        definition = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("truncation", "padding")}
    else:
        definition = sorted(tokenizer.get_vocab().items())
    settings = {k: getattr(tokenizer, k, None) for k in ("model_max_length", "padding_side", "truncation_side")}
    settings["special"] = getattr(tokenizer, "special_tokens_map", {})
    return digest(type(tokenizer).__name__, definition, settings)


def config_digest(config) -> str:
    """A digest of a Hugging Face model config, without where it was read from."""
    values = {k: v for k, v in config.to_dict().items() if k not in ("_name_or_path", "transformers_version")}
    return digest(values)


_WEIGHTS = weakref.WeakKeyDictionary()  # model -> (the identity and version of each tensor, digest)


def weights_key(model, compute) -> str:
    """``compute(model)`` (a digest of its weights), computed again only when a tensor of the model was replaced or
    changed in place since the last call (torch counts the in-place changes of each tensor)."""
    state = tuple((name, tensor.data_ptr(), tensor._version) for name, tensor in model.state_dict().items())
    memo = _WEIGHTS.get(model)
    if memo is None or memo[0] != state:
        memo = _WEIGHTS[model] = (state, compute(model))
    return memo[1]


_FILES = {}  # (path, inode, size, mtime) of each file -> digest of them all


def files_digest(folder, names=None) -> str:
    """A SHA-256 of the files ``names`` of ``folder`` (default: every file under it, by relative path; a missing one
    counts as absent), computed again only when one of them changed (another inode, size or modification time)."""
    from pathlib import Path

    folder = Path(folder)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) \
        if names is None else list(names)
    stats = []
    for name in files:
        try:
            st = (folder / name).stat()
            stats.append((name, st.st_ino, st.st_size, st.st_mtime_ns))
        except FileNotFoundError:
            stats.append((name, None))
    memo_key = (str(folder.absolute()), tuple(stats))
    if memo_key not in _FILES:
        sha = hashlib.sha256()
        for name, *stat in stats:
            sha.update(json.dumps([name, stat[0] is not None]).encode())
            if stat[0] is not None:
                with open(folder / name, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        sha.update(block)
        _FILES[memo_key] = sha.hexdigest()[:16]
    return _FILES[memo_key]
