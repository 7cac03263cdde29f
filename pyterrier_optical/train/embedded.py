"""The embedded rerankers: built once from the shipped data into the user cache, with the recipes of
:mod:`~pyterrier_optical.train.config`, so that ``OpticalReranker()`` needs no download.

``optical-teacher`` is trained on the offline English task (:func:`~.teacher.english_task`) over the English side of
the shipped training split, from the embedded multilingual-e5-small; ``optical-student`` (the default reranker) is
that teacher distilled on the shipped bitext. The code-switch pair does the same from a teacher trained on
code-switched queries. Building takes minutes on a CPU, once; an interrupted build resumes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from ..rerank.checkpoint import is_checkpoint, provide_embedded
from ..util.device import infer_device, resolve_precision, speed_class
from ..util.io import folder_lock, optical_home
from .config import CODESWITCH_TEACHER, STUDENT, STUDENT_LONG, TEACHER, StudentRecipe, TeacherRecipe
from .distill import distill_student
from .teacher import offline_teacher_examples, train_teacher

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedModel:
    """An embedded reranker: its cache folder (named by the precision it is built in: ``<folder>-bf16``; fp32 builds
    keep the bare name), its recipe, the embedded teacher a student starts from, and its build time on 2 CPU cores
    per :func:`~pyterrier_optical.util.device.speed_class` (minutes: fp32, bf16 with AMX, and bf16 on AVX-512 alone,
    the last from the step times measured on such a CPU; see the README)."""

    folder: str
    recipe: TeacherRecipe | StudentRecipe
    description: str
    minutes: dict
    teacher: str | None = None

    @property
    def precision(self) -> str:
        """The precision this machine builds it in (the recipe's, ``auto`` resolved)."""
        return resolve_precision(self.recipe.training.precision, infer_device(self.recipe.training.device))

    @property
    def build_minutes(self) -> int:
        """About how long it takes to build on this machine."""
        return self.minutes.get(speed_class(self.precision, infer_device(self.recipe.training.device)), 15)


EMBEDDED = {
    "optical-student": EmbeddedModel("student-e5-small-v2", STUDENT, "the OPTICAL student (the default reranker)",
                                     {"fp32": 14, "bf16": 5, "bf16-avx512": 11}, teacher="optical-teacher"),
    "optical-student-long": EmbeddedModel("student-e5-small-long-v2", STUDENT_LONG,
                                          "the stronger OPTICAL student (4x the steps; `optical demo --full`)",
                                          {"fp32": 45, "bf16": 20, "bf16-avx512": 45}, teacher="optical-teacher"),
    "optical-teacher": EmbeddedModel("teacher-e5-small-v2", TEACHER, "the English teacher cross-encoder",
                                     {"fp32": 11, "bf16": 3, "bf16-avx512": 11}),
    "optical-codeswitch-teacher": EmbeddedModel("teacher-e5-small-cs50-v2", CODESWITCH_TEACHER,
                                                "the teacher trained on code-switched queries (p = 0.5)",
                                                {"fp32": 10, "bf16": 3, "bf16-avx512": 11}),
    "optical-codeswitch-student": EmbeddedModel("student-e5-small-cs50-v2", STUDENT,
                                                "the OPTICAL student of the code-switch teacher",
                                                {"fp32": 12, "bf16": 5, "bf16-avx512": 11},
                                                teacher="optical-codeswitch-teacher"),
}


def embedded_model(name: str) -> EmbeddedModel:
    """The :class:`EmbeddedModel` called ``name``; a ValueError lists the known names otherwise."""
    try:
        return EMBEDDED[name]
    except KeyError:
        raise ValueError(f"unknown embedded reranker {name!r}; known: {', '.join(EMBEDDED)}") from None


def embedded_folder(name: str) -> Path:
    """Where the embedded reranker ``name`` is (or will be) cached."""
    model = embedded_model(name)
    suffix = "" if model.precision == "fp32" else f"-{model.precision}"
    return optical_home() / "rerankers" / f"{model.folder}{suffix}"


def build_order(names) -> list:
    """``names`` with the teachers their students need first, each once, in build order."""
    order = []
    for name in names:
        teacher = embedded_model(name).teacher
        for needed in ([teacher] if teacher else []) + [name]:
            if needed not in order:
                order.append(needed)
    return order


def remaining_minutes(name: str) -> int:
    """Roughly how long ``name`` and the unbuilt teacher it needs take to build here."""
    return build_minutes([name])


def build_minutes(names) -> int:
    """Roughly how long the unbuilt ones of ``names`` (and the teachers they need, each once) take to build here."""
    return sum(embedded_model(n).build_minutes for n in build_order(names) if not is_checkpoint(embedded_folder(n)))


def embedded_path(name: str, verbose: bool = True) -> Path:
    """The folder of the embedded reranker ``name``, built from the shipped data on first use (its teacher first)."""
    model = embedded_model(name)
    path = embedded_folder(name)
    if is_checkpoint(path):
        return path
    with folder_lock(path.with_name(path.name + ".build"), f"building {name}", wait=True):  # one builder at a time
        if is_checkpoint(path):  # built by the process this one waited for
            return path
        return _build(name, model, path, verbose)


def _build(name: str, model: EmbeddedModel, path: Path, verbose: bool) -> Path:
    logger.warning("building the embedded %s (%s) once into %s: about %d minutes on 2 CPU cores, resumable; "
                   "`optical build` does it ahead of time", name, model.description, path, remaining_minutes(name))
    if isinstance(model.recipe, TeacherRecipe):
        recipe = replace(model.recipe, training=replace(model.recipe.training, verbose=verbose))
        train_teacher(offline_teacher_examples(recipe, verbose), path, recipe)
    else:
        distill_student(embedded_path(model.teacher, verbose), path, model.recipe, verbose=verbose)
    return path


provide_embedded(embedded_path)
