"""Cross-encoder checkpoints: load a backbone or a reranker checkpoint, save one atomically."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ._io import write_folder_atomically
from .backbones import E5_SMALL, optical_home, resolve_model_path

logger = logging.getLogger(__name__)
METADATA_FILE = "optical.json"
DEFAULT_MODEL = "optical-default"
# names of the rerankers built from the shipped data on first use (see defaults.EMBEDDED)
EMBEDDED_MODELS = {DEFAULT_MODEL: "teacher", "optical-teacher": "teacher", "optical-student": "student",
                   "optical-codeswitch-teacher": "codeswitch-teacher",
                   "optical-codeswitch-student": "codeswitch-student"}


def infer_device(device=None):
    """``device`` as a ``torch.device``; None picks CUDA when available."""
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or os.sep in name and name.count("/") != 1


def load_cross_encoder(name_or_path, device=None):
    """Load ``(model, tokenizer, metadata)`` of a cross-encoder with a single relevance logit.

    ``name_or_path`` is a reranker checkpoint folder, a backbone folder (a new head is added), a Hugging Face hub
    id, ``multilingual-e5-small`` (the embedded backbone), or an embedded reranker: ``optical-default`` (the
    English teacher), ``optical-student`` (the OPTICAL student), ``optical-codeswitch-teacher``,
    ``optical-codeswitch-student``.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    name = str(name_or_path)
    if name in EMBEDDED_MODELS:
        from .defaults import embedded_path

        name = str(embedded_path(EMBEDDED_MODELS[name]))
    name = resolve_model_path(name)
    path = Path(name).expanduser()
    if _looks_like_path(name) and not path.exists():
        raise FileNotFoundError(
            f"model path {name!r} does not exist. Pass a reranker checkpoint folder, a Hugging Face hub id, or "
            f"{DEFAULT_MODEL!r} / {E5_SMALL!r} (embedded, cached under {optical_home()}).")
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForSequenceClassification.from_pretrained(name, num_labels=1)
    except OSError as e:
        raise OSError(
            f"could not load model {name!r}: it is neither a local folder nor a reachable Hugging Face hub id "
            f"({e.__class__.__name__}). Offline, pass a local folder or {DEFAULT_MODEL!r} / {E5_SMALL!r} "
            f"(embedded, cached under {optical_home()}).") from e
    metadata = read_metadata(path) if path.is_dir() else {}
    metadata.setdefault("base_model", name)
    return model.to(infer_device(device)).eval(), tokenizer, metadata


def read_metadata(path) -> dict:
    """The ``optical.json`` metadata of a checkpoint folder ({} when absent)."""
    file = Path(path) / METADATA_FILE
    return json.loads(file.read_text()) if file.exists() else {}


def save_checkpoint(model, tokenizer, path, metadata: dict | None = None, extra_files: dict | None = None) -> Path:
    """Write a reranker checkpoint (HF files + ``optical.json`` + ``extra_files``) atomically to ``path``."""
    def write(folder: Path):
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        (folder / METADATA_FILE).write_text(json.dumps(metadata or {}, indent=2, ensure_ascii=False))
        for name, save in (extra_files or {}).items():
            save(folder / name)

    return write_folder_atomically(path, write)


def encode_pairs(tokenizer, queries: list, texts: list, max_length: int, **kwargs):
    """Tokenise (query, text) pairs to at most ``max_length`` tokens, truncating the text, never the query
    (a query longer than half of ``max_length`` is shortened to that half, with a warning)."""
    unique = list(dict.fromkeys(queries))
    limit = max_length // 2
    offsets = tokenizer(unique, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    shortened = {q: q[:spans[limit][0]] for q, spans in zip(unique, offsets) if len(spans) > limit}
    if shortened:
        logger.warning("%d queries exceed %d tokens (half of max_length) and were shortened", len(shortened), limit)
        queries = [shortened.get(q, q) for q in queries]
    return tokenizer(queries, texts, truncation="only_second", max_length=max_length, **kwargs)


def model_max_length(model, tokenizer, requested: int) -> int:
    """``requested`` capped by the model's position embeddings and the tokenizer's limit."""
    limits = [requested, getattr(model.config, "max_position_embeddings", requested)]
    if 0 < getattr(tokenizer, "model_max_length", 0) < 10**6:
        limits.append(tokenizer.model_max_length)
    return min(limits)
