"""The reranker checkpoint format: a Hugging Face model folder plus ``pt_meta.json`` (PyTerrier's artifact metadata:
``type``, ``format``, ``package_hint``, and the checkpoint's own fields). One writer, one loader.

A folder is a finished checkpoint once its ``pt_meta.json`` exists: the writer puts it last. Folders of the first
layout (``optical.json`` instead of ``pt_meta.json``) still load.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from ..util.device import infer_device
from ..util.io import optical_home, staging_folder, write_folder_atomically
from .backbones import E5_SMALL, checked_model_path, quiet_loading, resolve_model_path, save_model_files

logger = logging.getLogger(__name__)
METADATA_FILE = "pt_meta.json"
LEGACY_METADATA_FILE = "optical.json"
ARTIFACT_TYPE = "reranker"
ARTIFACT_FORMAT = "optical"
ARTIFACT_FIELDS = {"type": ARTIFACT_TYPE, "format": ARTIFACT_FORMAT, "package_hint": "pyterrier-optical"}
DEFAULT_MODEL = "optical-student"
EMBEDDED_PREFIX = "optical-"
_embedded_provider = None  # name -> folder of a built embedded reranker; installed by the train layer


def provide_embedded(provider) -> None:
    """Install ``provider(name, verbose) -> Path``, which builds (once) and returns the folder of an embedded
    reranker named ``optical-...``. The train layer installs it; this layer never imports that one."""
    global _embedded_provider
    _embedded_provider = provider


def embedded_folder(name: str, verbose: bool = True) -> Path:
    """The folder of the embedded reranker ``name`` (built from the shipped data on first use)."""
    if _embedded_provider is None:
        raise RuntimeError("no embedded rerankers are available: import pyterrier_optical first")
    return Path(_embedded_provider(name, verbose))


def is_checkpoint(path) -> bool:
    """True when ``path`` is a finished reranker checkpoint (either layout)."""
    path = Path(path)
    return (path / METADATA_FILE).is_file() or (path / LEGACY_METADATA_FILE).is_file()


def read_metadata(path) -> dict:
    """The metadata of a checkpoint folder without the artifact fields ({} for a plain model folder)."""
    path = Path(path)
    for name in (METADATA_FILE, LEGACY_METADATA_FILE):
        file = path / name
        if file.is_file():
            try:
                meta = json.loads(file.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise ValueError(f"{file} is not valid JSON ({e.msg}, line {e.lineno}): delete the folder "
                                 f"{path} and rebuild it") from None
            if name == METADATA_FILE and meta.get("type") != ARTIFACT_TYPE:
                return {}  # another artifact (an index, ...): no checkpoint metadata of ours
            return {k: v for k, v in meta.items() if k not in ARTIFACT_FIELDS}
    return {}


def write_checkpoint(model, tokenizer, path, metadata: dict | None = None, in_place: bool = False) -> Path:
    """Write a reranker checkpoint (model, tokenizer, ``pt_meta.json``) to ``path``.

    By default the folder is built beside ``path`` and renamed into place (an old one is replaced whole). With
    ``in_place`` the files are written into ``path`` next to what it holds (a training run's state and logs):
    ``pt_meta.json`` is removed first and written last, so the folder never reads as a finished checkpoint while
    half-written.
    """
    meta = {**ARTIFACT_FIELDS, **(metadata or {})}

    def write(folder: Path):
        save_model_files(model, tokenizer, folder)
        (folder / METADATA_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")

    path = Path(path)
    if not in_place:
        return write_folder_atomically(path, write, (METADATA_FILE, LEGACY_METADATA_FILE), "reranker checkpoint")
    path.mkdir(parents=True, exist_ok=True)
    for name in (METADATA_FILE, LEGACY_METADATA_FILE):
        (path / name).unlink(missing_ok=True)
    staging = staging_folder(path, ".checkpoint.")
    try:
        write(staging)
        for file in sorted(staging.iterdir(), key=lambda f: f.name == METADATA_FILE):
            os.replace(file, path / file.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def resolve_name(name_or_path, verbose: bool = True) -> str:
    """A local folder or hub id for ``name_or_path``: embedded rerankers (``optical-...``) and the embedded backbone
    (``multilingual-e5-small``) are mapped to their cached folders, built on first use."""
    name = str(name_or_path)
    if name.startswith(EMBEDDED_PREFIX) and not Path(name).exists():
        return str(embedded_folder(name, verbose))
    return resolve_model_path(name)


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


def load_cross_encoder(name_or_path, device=None, verbose: bool = True):
    """Load ``(model, tokenizer, metadata)`` of a cross-encoder with a single relevance logit.

    ``name_or_path`` is a reranker checkpoint folder, a backbone folder (a new head is added), a Hugging Face hub
    id, ``multilingual-e5-small`` (the embedded backbone), or an embedded reranker: ``optical-student`` (the OPTICAL
    student, the default), ``optical-teacher`` (the English teacher), ``optical-codeswitch-teacher``,
    ``optical-codeswitch-student``.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    name = resolve_name(name_or_path, verbose)
    embedded = str(name_or_path).startswith(EMBEDDED_PREFIX) and not Path(str(name_or_path)).exists()
    try:
        name = checked_model_path(name, f"delete the folder {name} and it is rebuilt on next use" if embedded else "")
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e} Embedded rerankers: {DEFAULT_MODEL!r} and the other optical-... names."
                                ) from None
    path = Path(name).expanduser()
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        with quiet_loading():
            model = AutoModelForSequenceClassification.from_pretrained(name, num_labels=1)
    except OSError as e:
        raise OSError(
            f"could not load model {name!r}: it is neither a local folder nor a reachable Hugging Face hub id "
            f"({e.__class__.__name__}). Offline, pass a local folder or {DEFAULT_MODEL!r} / {E5_SMALL!r} "
            f"(embedded, cached under {optical_home()}).") from e
    metadata = read_metadata(path) if path.is_dir() else {}
    if not metadata:
        logger.info("%s is not a reranker checkpoint: a new relevance head is added", name)
    metadata.setdefault("base_model", name)
    return model.to(infer_device(device)).eval(), tokenizer, metadata
