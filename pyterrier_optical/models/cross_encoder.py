"""Loading a cross-encoder from a checkpoint folder, a backbone folder, the embedded backbone or a Hugging Face hub
id. Embedded rerankers (``optical-...``) are found by name in :mod:`.registry`, which hands their folder here."""
from __future__ import annotations

import logging
from pathlib import Path

from ..util.device import infer_device
from ..util.io import optical_home
from .backbones import E5_SMALL, checked_model_path, quiet_loading, resolve_model_path
from .checkpoint import read_metadata

logger = logging.getLogger(__name__)
DEFAULT_MODEL = "optical-student"
EMBEDDED_PREFIX = "optical-"


def load_cross_encoder(name_or_path, device=None, rebuild_hint: str = ""):
    """Load ``(model, tokenizer, metadata)`` of a cross-encoder with a single relevance logit.

    ``name_or_path`` is a reranker checkpoint folder, a backbone folder (a new head is added), a Hugging Face hub
    id, or ``multilingual-e5-small`` (the embedded backbone). An embedded reranker's name (``optical-...``) is
    refused here: ``OpticalReranker(name)`` or :func:`.registry.embedded_path` give its folder. ``rebuild_hint``
    says what to do with a damaged folder that this package made.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    name = str(name_or_path)
    if name.startswith(EMBEDDED_PREFIX) and not Path(name).exists():
        raise ValueError(f"{name!r} is the name of an embedded reranker, not a folder: OpticalReranker({name!r}) "
                         f"loads it, pyterrier_optical.models.registry.embedded_path({name!r}) gives its folder")
    name = resolve_model_path(name)
    try:
        name = checked_model_path(name, rebuild_hint)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e} Embedded rerankers: {DEFAULT_MODEL!r} and the other optical-... names."
                                ) from None
    path = Path(name).expanduser()
    try:
        config = AutoConfig.from_pretrained(name)
        heads = [a for a in config.architectures or [] if a.endswith("ForSequenceClassification")]
        if heads and config.num_labels != 1:  # monoBERT-style two-class heads are not a relevance logit
            raise ValueError(f"{name} has a classification head of {config.num_labels} labels; OpticalReranker "
                             "reads cross-encoders with one relevance logit (as sentence-transformers' CrossEncoder)")
        tokenizer = AutoTokenizer.from_pretrained(name)
        with quiet_loading():
            model = AutoModelForSequenceClassification.from_pretrained(name, num_labels=1)
    except OSError as e:
        raise OSError(
            f"could not load model {name!r}: it is neither a local folder nor a reachable Hugging Face hub id "
            f"({e.__class__.__name__}). Offline, pass a local folder or {DEFAULT_MODEL!r} / {E5_SMALL!r} "
            f"(embedded, cached under {optical_home()}).") from e
    if len(tokenizer) > model.config.vocab_size:  # its ids past the embeddings would fail at the first batch
        raise ValueError(f"{name}: the tokenizer has {len(tokenizer)} tokens but the model embeds "
                         f"{model.config.vocab_size}: they are not one model's")
    metadata = read_metadata(path) if path.is_dir() else {}
    if not metadata:
        logger.info("%s is not a reranker checkpoint: a new relevance head is added", name)
    metadata.setdefault("base_model", name)
    return model.to(infer_device(device)).eval(), tokenizer, metadata
