"""The reranker checkpoint format: a Hugging Face model folder plus ``pt_meta.json`` (PyTerrier's artifact metadata:
``type``, ``format``, ``package_hint``, and the checkpoint's own fields). One writer, one loader.

A folder is a finished checkpoint once its ``pt_meta.json`` exists and is this package's (its ``type`` and
``format``): the writer puts it last. Only such a folder (or an empty one) is replaced by a checkpoint; a training run
writes into its output only once it has claimed it (:data:`TRAINING_RUN`).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from ..util.io import (Marker, check_replaceable, claim_marker, follow_umask_tree, naming_full_disk, staging_folder,
                       write_folder_atomically)
from .backbones import save_model_files

METADATA_FILE = "pt_meta.json"
ARTIFACT_TYPE = "reranker"
ARTIFACT_FORMAT = "optical"
ARTIFACT_FIELDS = {"type": ARTIFACT_TYPE, "format": ARTIFACT_FORMAT, "package_hint": "pyterrier-optical"}
CHECKPOINT = Marker(METADATA_FILE, {"type": ARTIFACT_TYPE, "format": ARTIFACT_FORMAT})  # a PISA index's is not ours
TRAINING_RUN = "training run"  # the kind a Trainer claims its output folder as (util.io.claim_folder)


def is_checkpoint(path) -> bool:
    """True when ``path`` is a finished reranker checkpoint: its ``pt_meta.json`` is this package's (a folder with
    another artifact's ``pt_meta.json``, such as a PISA index, is not one)."""
    return Path(path).is_dir() and CHECKPOINT.found(path)


def _artifact_metadata(path: Path) -> dict | None:
    """The whole ``pt_meta.json`` of ``path`` (None without one)."""
    file = path / METADATA_FILE
    if not file.is_file():
        return None
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{file} is not valid JSON ({e}): delete the folder {path} and rebuild it") from None


def read_metadata(path) -> dict:
    """The metadata of a checkpoint folder without the artifact fields ({} for a plain model folder or another
    artifact, such as an index)."""
    meta = _artifact_metadata(Path(path))
    if not meta or meta.get("type") != ARTIFACT_TYPE or meta.get("format") != ARTIFACT_FORMAT:
        return {}
    return {k: v for k, v in meta.items() if k not in ARTIFACT_FIELDS}


def write_checkpoint(model, tokenizer, path, metadata: dict | None = None, in_place: bool = False) -> Path:
    """Write a reranker checkpoint (model, tokenizer, ``pt_meta.json``) to ``path``.

    By default the folder is built beside ``path`` and renamed into place (an old one is replaced whole). With
    ``in_place`` the files are written into ``path`` next to what it holds (a training run's state and logs):
    ``pt_meta.json`` is removed first and written last, so the folder never reads as a finished checkpoint while
    half-written; ``path`` must then be new, empty, a checkpoint of this package or a folder claimed by a training
    run (anything else, such as a user's folder, is refused before anything is written).
    """
    meta = {**ARTIFACT_FIELDS, **(metadata or {})}

    def write(folder: Path):
        save_model_files(model, tokenizer, folder)
        (folder / METADATA_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")

    path = Path(path)
    if not in_place:
        return write_folder_atomically(path, write, (CHECKPOINT,), "reranker checkpoint")
    check_replaceable(path, (CHECKPOINT, claim_marker(TRAINING_RUN)), TRAINING_RUN)
    path.mkdir(parents=True, exist_ok=True)
    (path / METADATA_FILE).unlink(missing_ok=True)
    staging = staging_folder(path, ".checkpoint.")
    try:
        with naming_full_disk(path, staging):
            write(staging)
        follow_umask_tree(staging)
        for file in sorted(staging.iterdir(), key=lambda f: f.name == METADATA_FILE):
            os.replace(file, path / file.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def weights_digest(model, unused: tuple = ()) -> str:
    """A short digest of a model's weights (names and bytes of its state dict, but for those whose names start with
    one of ``unused``): equal only for equal weights, so a score cache keyed by it never serves the scores of another
    model saved under the same name."""
    import torch

    digest = hashlib.blake2b(digest_size=8)
    for name, tensor in model.state_dict().items():
        if name.startswith(unused):
            continue
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
