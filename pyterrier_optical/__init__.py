"""OPTICAL for PyTerrier: optimal-transport distillation for low-resource cross-lingual retrieval.

The package is layered; each layer imports only the ones below it (``tests/test_layers.py`` checks this):
``util`` < ``data`` < ``models`` < ``retrieve`` < ``rerank`` < ``train`` < ``experiment`` < ``cli``. Importing it
registers the shipped ir_datasets ids; the names below load their modules on first use, so that ``import
pyterrier_optical`` stays quick and inference never loads the training code.
"""
__version__ = "0.2.0"

import importlib

from .data import datasets  # noqa: F401  (registers the optical/... ids with ir_datasets)

_EXPORTS = {
    "OpticalReranker": "rerank.reranker", "OpticalCheckpoint": "rerank.artifact", "fused": "rerank.fusion",
    "E5Encoder": "retrieve.dense", "DenseIndex": "retrieve.dense", "MultilingualBM25": "retrieve.bm25",
    "LuceneBM25Index": "retrieve.lucene", "LexiconTranslate": "retrieve.codeswitch",
    "CodeSwitch": "retrieve.codeswitch", "NMTTranslate": "retrieve.translate", "Lexicon": "data.lexicon",
    "shipped_lexicon": "data.lexicon", "load_bitext": "data.bitext", "register_local": "data.datasets",
    "compare": "experiment.compare", "OpticalDistiller": "train.distill",
}
__all__ = sorted(_EXPORTS, key=str.lower)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
