"""The embedded rerankers, by name: each a recipe of :mod:`~pyterrier_optical.models.recipes` over the shipped data,
so that ``OpticalReranker()`` needs no download.

``optical-teacher`` is trained on the offline English task (:func:`~.teacher.english_task`) over the English side of
the shipped training split, from the embedded multilingual-e5-small; ``optical-student`` (the default reranker) is
that teacher distilled on the shipped bitext. The code-switch pair does the same from a teacher trained on
code-switched queries.

The trained tensors of each ship with the package (:mod:`~pyterrier_optical.models.shipped`): first use assembles
them with the converted backbone in seconds. A shipped model whose recipe fingerprint or data digest is not the
code's (a recipe was edited) is not used: the model is then trained here, once (on a CPU, minutes for a
teacher, 35 min to two hours for a student; an interrupted build resumes), as is every model with ``retrain``.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..data.bitext import SOURCES, SPLITS, bitext_counts, shipped_bitext_dir, shipped_languages
from ..data.languages import LANGUAGES
from ..util.device import infer_device, resolve_precision, speed_class
from ..util.io import made_once, optical_home
from .backbones import SAFETENSORS_FILE, embedded_backbone_path, quiet_loading
from .checkpoint import is_checkpoint, read_metadata, write_checkpoint
from .cross_encoder import EMBEDDED_PREFIX
from .shipped import BACKBONE, ShippedModel, backbone_state, build_model, read_manifest
from .recipes import (CODESWITCH_STUDENT, CODESWITCH_TEACHER, STUDENT, TEACHER, StudentRecipe, TeacherRecipe,
                     recipe_fingerprint)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedModel:
    """An embedded reranker: the stem of its cache folder, its recipe, the embedded teacher a student starts from,
    and its build time here on 2 CPU cores per :func:`~pyterrier_optical.util.device.speed_class` (minutes: fp32,
    bf16 with AMX, and bf16 on AVX-512 alone, the last from the step times measured on such a CPU; see the docs)."""

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
    "optical-student": EmbeddedModel("student-e5-small", STUDENT, "the OPTICAL student (the default reranker)",
                                     {"fp32": 120, "bf16": 40, "bf16-avx512": 35}, teacher="optical-teacher"),
    "optical-teacher": EmbeddedModel("teacher-e5-small", TEACHER, "the English teacher cross-encoder",
                                     {"fp32": 11, "bf16": 3, "bf16-avx512": 11}),
    "optical-codeswitch-teacher": EmbeddedModel("teacher-e5-small-cs50", CODESWITCH_TEACHER,
                                                "the teacher trained on code-switched queries (p = 0.5)",
                                                {"fp32": 10, "bf16": 3, "bf16-avx512": 11}),
    "optical-codeswitch-student": EmbeddedModel("student-e5-small-cs50", CODESWITCH_STUDENT,
                                                "the OPTICAL student of the code-switch teacher",
                                                {"fp32": 12, "bf16": 5, "bf16-avx512": 11},
                                                teacher="optical-codeswitch-teacher"),
}


def trained_on(name: str) -> set:
    """The languages whose bitext the embedded ``name`` was distilled on (none for a teacher: English only)."""
    recipe = embedded_model(name).recipe
    if not isinstance(recipe, StudentRecipe):
        return set()
    langs = set(recipe.languages) if "chromium" in recipe.bitext_sources else set()
    return langs | (set(shipped_languages("cldr")) if "cldr" in recipe.bitext_sources else set())


def language_coverage() -> list:
    """One row per language of the registry: its name, script, resource level, shipped pairs per source
    (``train/dev/test``) and the embedded models distilled on its bitext."""
    rows = []
    for code, lang in LANGUAGES.items():
        counts = bitext_counts(code) if code != "en" else {}
        rows.append({"code": code, "name": lang.name, "script": lang.script, "resource": lang.resource,
                     **{source: "/".join(str(counts[source][s]) for s in SPLITS) if source in counts else ""
                        for source in SOURCES},
                     "distilled into": ", ".join(n for n in EMBEDDED if code in trained_on(n))})
    return rows


def embedded_model(name: str) -> EmbeddedModel:
    """The :class:`EmbeddedModel` called ``name``; a ValueError lists the known names otherwise."""
    try:
        return EMBEDDED[name]
    except KeyError:
        raise ValueError(f"unknown embedded reranker {name!r}; known: {', '.join(EMBEDDED)}") from None


@cache
def data_digest() -> str:
    """SHA-256 of the shipped bitext files, everything the embedded recipes train and select on."""
    digest = hashlib.sha256()
    for file in sorted(shipped_bitext_dir().glob("*.tsv")):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def model_fingerprint(name: str) -> str:
    """The recipe fingerprint of the embedded ``name``: its recipe's, chained with its teacher's."""
    model = embedded_model(name)
    return recipe_fingerprint(model.recipe, teacher=model_fingerprint(model.teacher) if model.teacher else None)


def build_id(name: str) -> str:
    """Eight hex digits naming what ``name`` is trained from: its recipe fingerprint and the data digest."""
    return hashlib.sha256(f"{model_fingerprint(name)} {data_digest()}".encode()).hexdigest()[:8]


def embedded_folder(name: str) -> Path:
    """Where the embedded reranker ``name`` is (or will be) built here: named by its recipe and data (an edited
    recipe builds into a new folder) and the precision it is built in (fp32 builds have no suffix)."""
    model = embedded_model(name)
    suffix = "" if model.precision == "fp32" else f"-{model.precision}"
    return optical_home() / "rerankers" / f"{model.folder}-{build_id(name)}{suffix}"


def shipped_folder(name: str) -> Path:
    """Where the shipped ``name`` is assembled."""
    return optical_home() / "rerankers" / f"{embedded_model(name).folder}-{build_id(name)}-shipped"


def usable_shipped(name: str) -> ShippedModel | None:
    """The shipped ``name`` when it was trained with the code's recipe and data; None (saying why, once) when there
    is none or it is stale."""
    shipped = read_manifest().get(name)
    if shipped is None:
        _say_once(name, f"no shipped {name} in this installation: building it here")
        return None
    what = stale_part(shipped)
    if what:
        _say_once(name, f"the shipped {name} was trained with another {what} than this code's: building it here")
        return None
    return shipped


def stale_part(shipped: ShippedModel) -> str | None:
    """What the shipped model was trained with that is not the code's: ``"recipe"``, ``"training data"``, or None
    (it is current)."""
    if shipped.recipe_fingerprint != model_fingerprint(shipped.name):
        return "recipe"
    return "training data" if shipped.data_digest != data_digest() else None


_said = set()


def _say_once(name: str, message: str):
    if name not in _said:
        _said.add(name)
        logger.warning(message)


def build_order(names) -> list:
    """``names`` with the teachers their students need first, each once, in build order."""
    order = []
    for name in names:
        teacher = embedded_model(name).teacher
        for needed in ([teacher] if teacher else []) + [name]:
            if needed not in order:
                order.append(needed)
    return order


def remaining_minutes(name: str, retrain: bool = False) -> int:
    """Roughly how long ``name`` and the unbuilt teacher it needs take to build here (0 when shipped)."""
    return build_minutes([name], retrain)


def build_minutes(names, retrain: bool = False) -> int:
    """Roughly how long the unbuilt ones of ``names`` (and the teachers they need, each once) take to build here;
    shipped ones take seconds to assemble and count 0 (with ``retrain``, only for the teachers not in ``names``)."""
    return sum(embedded_model(n).build_minutes for n in build_order(names)
               if ((retrain and n in names) or usable_shipped(n) is None) and not is_checkpoint(embedded_folder(n)))


def embedded_path(name: str, verbose: bool = True, retrain: bool = False) -> Path:
    """The folder of the embedded reranker ``name``: the shipped one assembled on first use, or (when none is
    usable, or with ``retrain``) one trained here from the shipped data on first use. A student starts from its
    teacher as built here when it is, else as shipped (else the teacher is built first)."""
    model = embedded_model(name)
    shipped = None if retrain else usable_shipped(name)
    if shipped is not None:
        return made_once(shipped_folder(name), lambda path: _assembled(path, shipped),
                          lambda path: _assemble(shipped, path, verbose), f"assembling {name}")
    return made_once(embedded_folder(name), is_checkpoint, lambda path: _build(name, model, path, verbose),
                      f"building {name}")


def resolve_name(name_or_path, verbose: bool = True) -> tuple:
    """``(folder or hub id, rebuild hint)`` for ``name_or_path``: an embedded reranker (``optical-...``) is
    assembled or built on first use and handed as its folder (with how to rebuild it); anything else as given."""
    name = str(name_or_path)
    if name.startswith(EMBEDDED_PREFIX) and not Path(name).exists():
        folder = embedded_path(name, verbose)
        return str(folder), f"delete the folder {folder} and it is rebuilt on next use"
    return name, ""


def _assembled(path: Path, shipped: ShippedModel) -> bool:
    return is_checkpoint(path) and read_metadata(path).get("shipped", {}).get("sha256") == shipped.sha256


def _assemble(shipped: ShippedModel, path: Path, verbose: bool):
    """Write the checkpoint of ``shipped`` into ``path``: the tensors it starts from, with its own applied."""
    from transformers import AutoTokenizer

    backbone = embedded_backbone_path()
    if shipped.starts_from == BACKBONE:
        base = backbone_state(backbone, shipped)
    else:
        from safetensors.torch import load_file

        base = load_file(embedded_path(shipped.starts_from, verbose) / SAFETENSORS_FILE)
    with quiet_loading():
        network = build_model(shipped, base)
    meta = {**shipped.metadata, "shipped": {"sha256": shipped.sha256, "recipe_fingerprint": shipped.recipe_fingerprint,
                                            "data_digest": shipped.data_digest, "starts_from": shipped.starts_from}}
    with quiet_loading():  # no "Writing model shards" bar for a write of seconds
        write_checkpoint(network, AutoTokenizer.from_pretrained(backbone), path, meta)
    logger.info("assembled the shipped %s into %s", shipped.name, path)


def _build(name: str, model: EmbeddedModel, path: Path, verbose: bool) -> Path:
    """Train ``name`` here: the one door from inference into the train layer, opened only for a model that ships
    stale (or not at all) or is retrained."""
    from ..train.build import train_embedded

    logger.warning("building the embedded %s (%s) once into %s: about %d minutes on 2 CPU cores, resumable; "
                   "`optical build` does it ahead of time", name, model.description, path,
                   remaining_minutes(name, retrain=True))
    teacher = None
    if model.teacher:
        built_here = embedded_folder(model.teacher)
        teacher = built_here if is_checkpoint(built_here) else embedded_path(model.teacher, verbose)
    train_embedded(model.recipe, path, teacher, verbose)
    return path
