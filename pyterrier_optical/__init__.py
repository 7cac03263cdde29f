"""OPTICAL for PyTerrier: optimal-transport distillation for low-resource cross-lingual retrieval."""
__version__ = "0.1.0"

from .bm25 import MultilingualBM25, MultilingualBM25Retriever
from .languages import LANGUAGES, Language, language
from .reranker import OpticalReranker

__all__ = ["LANGUAGES", "Language", "MultilingualBM25", "MultilingualBM25Retriever", "OpticalReranker", "language"]
