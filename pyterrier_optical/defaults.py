"""The embedded default reranker, built once from the shipped data into the user cache.

``OpticalReranker()`` needs no download: on first use the English teacher is trained here on the offline English
task (:func:`~pyterrier_optical.teacher.english_task`) over the English side of the shipped training split, starting
from the embedded multilingual-e5-small. It takes a few minutes on a CPU, once; the result is cached.
"""
from __future__ import annotations

import logging
from pathlib import Path

from .backbones import E5_SMALL, optical_home
from .bitext import load_bitext, shipped_languages
from .model import METADATA_FILE
from .training import TrainingConfig

logger = logging.getLogger(__name__)
DEFAULT_TEACHER = "teacher-e5-small-v1"
TEACHER_CONFIG = dict(steps=160, batch_size=8, lr=3e-5, head_lr=3e-4, checkpoint_every=40)
TEACHER_MAX_LENGTH = 64


def english_training_sentences() -> list:
    """English side of the shipped training split, all languages and sources, without repeats."""
    return list(dict.fromkeys(en for lang in shipped_languages() for en, _ in load_bitext(lang, "train", None)))


def build_default_teacher(out, verbose: bool = True, **overrides) -> str:
    """Train the offline English teacher into ``out`` (resumes an interrupted build)."""
    from .teacher import english_task, train_teacher

    examples = english_task(english_training_sentences(), verbose=verbose)
    config = TrainingConfig(**{**TEACHER_CONFIG, "verbose": verbose, **overrides})
    return train_teacher(examples, out, E5_SMALL, config, max_length=TEACHER_MAX_LENGTH)


def default_teacher_path(verbose: bool = True) -> Path:
    """Folder of the embedded default teacher, building it on first use."""
    path = optical_home() / "rerankers" / DEFAULT_TEACHER
    if not (path / METADATA_FILE).exists():
        logger.warning("building the embedded default reranker once into %s (a few minutes on a CPU)", path)
        build_default_teacher(path, verbose=verbose)
    return path


def default_reranker_path() -> Path:
    """Folder of the model behind ``OpticalReranker()``."""
    return default_teacher_path()
