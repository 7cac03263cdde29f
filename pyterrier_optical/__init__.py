"""OPTICAL for PyTerrier: optimal-transport distillation for low-resource cross-lingual retrieval."""
__version__ = "0.1.0"

from . import datasets  # noqa: F401  (registers the optical/... ids with ir_datasets)
from .bitext import load_bitext, read_bitext
from .bm25 import MultilingualBM25, MultilingualBM25Retriever
from .codeswitch import CodeSwitch, LexiconTranslate
from .datasets import clir_dataset_id, register_local
from .distill import DistillConfig, OpticalDistiller
from .languages import LANGUAGES, Language, language
from .lexicon import Lexicon, induce_lexicon, read_freedict, read_word_pairs, shipped_lexicon
from .reranker import OpticalReranker
from .training import TrainingConfig

__all__ = ["CodeSwitch", "DistillConfig", "LANGUAGES", "Language", "Lexicon", "LexiconTranslate", "MultilingualBM25",
           "MultilingualBM25Retriever", "OpticalDistiller", "OpticalReranker", "TrainingConfig", "clir_dataset_id",
           "induce_lexicon", "language", "load_bitext", "read_bitext", "read_freedict", "read_word_pairs",
           "register_local", "shipped_lexicon"]
