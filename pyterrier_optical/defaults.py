"""The embedded default teacher and OPTICAL student, built once from the shipped data into the user cache.

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
TEACHER_CONFIG = dict(steps=160, batch_size=8, lr=3e-5, head_lr=3e-4, checkpoint_every=40)
TEACHER_MAX_LENGTH = 64
CODESWITCH_P = 0.5
STUDENT_LANGUAGES = ("sw", "am", "mr", "tl", "de", "fr", "fi")
STUDENT_DISTILL = dict(align_layer=6, score_weight=1.0, score_candidates=8)
STUDENT_TRAINING = dict(steps=100, batch_size=8, lr=2e-5, head_lr=None, checkpoint_every=25)
STUDENT_EVAL_EVERY = 25


def english_training_sentences() -> list:
    """English side of the shipped training split, all languages and sources, without repeats."""
    return list(dict.fromkeys(en for lang in shipped_languages() for en, _ in load_bitext(lang, "train", None)))


def student_bitext(split: str, source: str = "chromium") -> list:
    """The shipped bitext of the student languages for ``split`` and ``source``, mixed in one list (a language the
    source lacks adds nothing)."""
    return [pair for lang in STUDENT_LANGUAGES for pair in load_bitext(lang, split, source)]


def build_default_teacher(out, verbose: bool = True, codeswitch: float | None = None, **overrides) -> str:
    """Train the offline English teacher into ``out`` (resumes an interrupted build). With ``codeswitch`` = p,
    its queries are code-switched at ratio p into the student languages (one drawn per word): the code-switched
    training baseline."""
    from .teacher import code_switch_examples, english_task, train_teacher

    examples = english_task(english_training_sentences(), verbose=verbose)
    if codeswitch is not None:
        from .lexicon import shipped_lexicon

        lexicons = [shipped_lexicon(lang, "from_en") for lang in STUDENT_LANGUAGES]
        examples, stats = code_switch_examples(examples, lexicons, codeswitch, seed=42)
        logger.info("code-switched the teacher's queries: %.1f%% of switchable words", 100 * stats.rate)
    config = TrainingConfig(**{**TEACHER_CONFIG, "verbose": verbose, **overrides})
    return train_teacher(examples, out, E5_SMALL, config, max_length=TEACHER_MAX_LENGTH)


def build_default_student(out, teacher, seed: int = 42, verbose: bool = True, **overrides) -> str:
    """Distil ``teacher`` into an OPTICAL student with the default recipe (resumes an interrupted build).

    One multilingual student for the Chromium languages (their training bitext mixed), selected on the Kolibri dev
    splits (another source) — the teacher itself when no checkpoint beats it.
    """
    from .distill import DistillConfig, OpticalDistiller

    config = TrainingConfig(**{**STUDENT_TRAINING, "seed": seed, "verbose": verbose, **overrides})
    distiller = OpticalDistiller(str(teacher), DistillConfig(**STUDENT_DISTILL), config)
    return distiller.fit(student_bitext("train"), out, dev_bitext=student_bitext("dev", "kolibri"),
                         eval_every=STUDENT_EVAL_EVERY)


EMBEDDED = {  # name -> (folder, build(out, verbose)); students build their teacher first
    "teacher": ("teacher-e5-small-v1", lambda out, v: build_default_teacher(out, v)),
    "student": ("student-e5-small-v1", lambda out, v: build_default_student(out, embedded_path("teacher", v),
                                                                            verbose=v)),
    "codeswitch-teacher": ("teacher-e5-small-cs50-v1", lambda out, v: build_default_teacher(out, v, CODESWITCH_P)),
    "codeswitch-student": ("student-e5-small-cs50-v1", lambda out, v: build_default_student(
        out, embedded_path("codeswitch-teacher", v), verbose=v)),
}


def embedded_path(name: str, verbose: bool = True) -> Path:
    """Folder of an embedded reranker (``teacher``, ``student``, ``codeswitch-teacher``, ``codeswitch-student``),
    built from the shipped data on first use (minutes to tens of minutes on a CPU, once)."""
    if name not in EMBEDDED:
        raise ValueError(f"unknown embedded reranker {name!r}; choose from {sorted(EMBEDDED)}")
    folder, build = EMBEDDED[name]
    path = optical_home() / "rerankers" / folder
    if not (path / METADATA_FILE).exists():
        logger.warning("building the embedded %s once into %s (minutes on a CPU; resumable)", name, path)
        build(path, verbose)
    return path


