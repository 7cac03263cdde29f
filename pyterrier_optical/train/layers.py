"""The transformer blocks of a BERT-style cross-encoder: finding them, running the first k, choosing what trains."""
from __future__ import annotations

import contextlib


def encoder_layers(model):
    """The transformer blocks of a BERT-style model (``base_model.encoder.layer``)."""
    try:
        return model.base_model.encoder.layer
    except AttributeError:
        raise ValueError(f"{type(model).__name__} has no base_model.encoder.layer; OPTICAL supports BERT-style "
                         "encoders (BERT, RoBERTa, XLM-R, multilingual-e5)") from None


def resolve_layer(model, align_layer) -> int:
    """``align_layer`` as a number of transformer blocks (0 = the embedding output)."""
    n = len(encoder_layers(model))
    k = {"embeddings": 0, "last": n}.get(align_layer, align_layer)
    if not isinstance(k, int) or not 0 <= k <= n:
        raise ValueError(f"align_layer must be 'embeddings', 'last' or 0..{n}, got {align_layer!r}")
    return k


def keep_blocks(model, n: int):
    """Keep ``n`` of ``model``'s transformer blocks, evenly spaced with the last one kept (a smaller student that
    starts from its teacher); returns ``model``."""
    import torch

    layers = encoder_layers(model)
    if not 1 <= n <= len(layers):
        raise ValueError(f"student_layers must be in 1..{len(layers)} (the teacher's blocks), got {n}")
    step = len(layers) / n
    kept = sorted({round(len(layers) - 1 - i * step) for i in range(n)})
    model.base_model.encoder.layer = torch.nn.ModuleList([layers[i] for i in kept])
    model.config.num_hidden_layers = n
    return model


@contextlib.contextmanager
def first_layers(model, k: int):
    """Run only the first ``k`` transformer blocks while inside the block."""
    encoder = model.base_model.encoder
    full = encoder.layer
    encoder.layer = full[:k]
    try:
        yield
    finally:
        encoder.layer = full


def set_trainable(model, k: int, lower: bool, upper: bool, word_embeddings: bool) -> list:
    """Set ``requires_grad`` of the lower part (the embedding layer and the first ``k`` blocks) and of the upper
    part (the other blocks and the head); ``word_embeddings=False`` keeps the word embeddings fixed either way.
    Returns the names of the trainable parameters."""
    layers = encoder_layers(model)
    if k > len(layers):
        raise ValueError(f"freeze_layers is {k}, but the model has {len(layers)} transformer blocks")
    model.requires_grad_(upper)
    model.base_model.embeddings.requires_grad_(lower)
    for block in layers[:k]:
        block.requires_grad_(lower)
    if not word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    if not trainable:
        raise ValueError(f"nothing to train: the embeddings, the first {k} blocks and the rest are all frozen")
    return trainable
