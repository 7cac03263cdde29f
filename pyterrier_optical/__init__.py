"""OPTICAL for PyTerrier: optimal-transport distillation for low-resource cross-lingual retrieval.

The package is layered; each layer imports only the ones below it (``tests/test_layers.py`` checks this):
``util`` < ``data`` < ``retrieve`` < ``rerank`` < ``train`` < ``experiment`` < ``cli``. This module is the
composition root: importing it registers the shipped ir_datasets ids and lets ``OpticalReranker("optical-...")``
build the embedded rerankers with the train layer's recipes.
"""
__version__ = "0.2.0"

from .data import datasets  # noqa: F401  (registers the optical/... ids with ir_datasets)
from .data.bitext import load_bitext, read_bitext
from .data.datasets import clir_dataset_id, register_local
from .data.languages import LANGUAGES, Language, language
from .data.lexicon import Lexicon, induce_lexicon, read_freedict, read_word_pairs, shipped_lexicon
from .experiment.fusion import KeepScore, LinearFusion, fused
from .rerank.artifact import OpticalCheckpoint
from .rerank.dense import DenseIndex, E5Encoder
from .rerank.reranker import OpticalReranker
from .retrieve.bm25 import MultilingualBM25, MultilingualBM25Retriever
from .retrieve.codeswitch import CodeSwitch, LexiconTranslate
from .retrieve.lucene import LuceneBM25, LuceneBM25Index
from .retrieve.translate import NMTTranslate
from .train import embedded  # noqa: F401  (provides the embedded rerankers to the rerank layer)
from .train.config import DistillConfig, StudentRecipe, TeacherRecipe, TrainingConfig
from .train.distill import OpticalDistiller

__all__ = ["clir_dataset_id", "CodeSwitch", "DenseIndex", "DistillConfig", "E5Encoder", "fused", "induce_lexicon",
           "KeepScore", "Language", "language", "LANGUAGES", "Lexicon", "LexiconTranslate", "LinearFusion",
           "load_bitext",
           "LuceneBM25", "LuceneBM25Index", "MultilingualBM25", "MultilingualBM25Retriever", "NMTTranslate",
           "OpticalCheckpoint", "OpticalDistiller", "OpticalReranker", "read_bitext", "read_freedict",
           "read_word_pairs", "register_local", "shipped_lexicon", "StudentRecipe", "TeacherRecipe", "TrainingConfig"]
