"""Train an embedded reranker from its recipe: a teacher on the offline English task, a student by distilling its
teacher on the shipped bitext. The model registry calls this only for a model that does not ship current."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..models.recipes import TeacherRecipe
from .distill import distill_student
from .teacher import offline_teacher_examples, train_teacher


def train_embedded(recipe, path: Path, teacher: Path | None = None, verbose: bool = True) -> Path:
    """Train the model of ``recipe`` into ``path`` (a student starts from the checkpoint ``teacher``)."""
    if isinstance(recipe, TeacherRecipe):
        recipe = replace(recipe, training=replace(recipe.training, verbose=verbose))
        train_teacher(offline_teacher_examples(recipe, verbose), path, recipe)
    else:
        distill_student(teacher, path, recipe, verbose=verbose)
    return path
