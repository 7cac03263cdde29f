"""int8 inference on CPUs: a model's Linear layers as int8 matrix products, by OpenVINO with NNCF's post-training
static quantisation, calibrated on the shipped dev bitext (never on a hub dataset).

The quantised model is cached under ``$OPTICAL_HOME/int8``, named by a digest of the weights it came from, the
calibration data and the engine's versions: new weights never meet a stale export. The engines are the ``int8``
extra (``pip install 'pyterrier-optical[int8]'``).
"""
from __future__ import annotations

import hashlib
import logging
import random
from types import SimpleNamespace

import numpy as np

from ..data.bitext import mixed_bitext, shipped_languages
from ..util.io import folder_lock, optical_home, write_folder_atomically
from .scoring import encode_pairs, model_max_length

logger = logging.getLogger(__name__)
CALIBRATION_PAIRS = 256
CALIBRATION_BATCH = 16
MODEL_FILE = "model.xml"


def require_engine():
    """The OpenVINO and NNCF modules; an ImportError naming the extra when they are missing."""
    try:
        import nncf
        import openvino
    except ImportError:
        raise ImportError("precision='int8' needs OpenVINO and NNCF: pip install 'pyterrier-optical[int8]'"
                          ) from None
    if "CPU" not in openvino.Core().available_devices:
        import platform

        raise RuntimeError(f"precision='int8' needs OpenVINO's CPU plugin, which it does not offer on this platform "
                           f"({platform.machine()}): use precision='fp32' (or 'bf16' where the CPU has bf16 units)")
    return openvino, nncf


def calibration_pairs(n: int = CALIBRATION_PAIRS, seed: int = 0) -> tuple:
    """``n`` (query, text) pairs from the shipped dev bitext of every language: each other-language sentence with its
    own English (a match) or another pair's (a non-match), so that the calibration sees both kinds of input."""
    pairs = mixed_bitext(shipped_languages(), "dev", None)
    rng = random.Random(seed)
    chosen = rng.sample(pairs, min(n, len(pairs)))
    queries = [other for _, other in chosen]
    texts = [en if i % 2 == 0 else rng.choice(pairs)[0] for i, (en, _) in enumerate(chosen)]
    return queries, texts


def _digest(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(str(part).encode())
    return digest.hexdigest()[:16]


class Int8Model:
    """A model's int8 form, called like the torch model it came from (``model(**batch)``) on CPU: its first output
    as ``logits`` and ``last_hidden_state`` (a cross-encoder's relevance logits, an encoder's token states).

    Build it with :func:`int8_cross_encoder` or :func:`int8_encoder`."""

    def __init__(self, compiled, config):
        self.compiled, self.config = compiled, config
        self.inputs = {port.get_any_name() for port in compiled.inputs}

    def __call__(self, **batch):
        import torch

        feed = {name: np.asarray(batch[name]) for name in self.inputs if name in batch}
        out = torch.from_numpy(np.asarray(self.compiled(feed)[0], dtype=np.float32))
        return SimpleNamespace(logits=out, last_hidden_state=out)

    def parameters(self):
        import torch

        yield torch.empty(0)  # its device: the CPU

    def eval(self):
        return self


def int8_cross_encoder(model, tokenizer, max_length: int, weights: str) -> Int8Model:
    """The int8 form of the torch cross-encoder ``model`` (``weights``: a digest of its weights), quantised once on
    shipped dev pairs and cached."""
    max_length = model_max_length(model, tokenizer, max_length)
    queries, texts = calibration_pairs()
    encoded = encode_pairs(tokenizer, queries, texts, max_length)
    return _int8(model, tokenizer, encoded, f"cross-encoder-{_digest(weights, max_length, queries, texts)}")


def int8_encoder(model, tokenizer, max_length: int, weights: str, prompt: str = "passage: ") -> Int8Model:
    """The int8 form of the torch text encoder ``model`` (its token states), quantised once on shipped dev
    sentences (English and the other languages, with ``prompt``) and cached."""
    queries, texts = calibration_pairs()
    sentences = [prompt + t for pair in zip(queries, texts) for t in pair][:CALIBRATION_PAIRS]
    encoded = tokenizer(sentences, truncation=True, max_length=max_length)
    return _int8(model, tokenizer, encoded, f"encoder-{_digest(weights, max_length, sentences)}")


def _int8(model, tokenizer, encoded, name: str) -> Int8Model:
    """The cached int8 model ``name``, quantised first (one process at a time) when it is missing or OpenVINO cannot
    read it (truncated, altered): a damaged cache is never loaded."""
    openvino, nncf = require_engine()
    folder = optical_home() / "int8" / f"{name}-{_digest(openvino.__version__, nncf.__version__)}"
    compiled = _compiled(openvino, folder)
    if compiled is None:
        with folder_lock(folder.with_name(folder.name + ".build"), "quantising a model to int8", wait=True):
            compiled = _compiled(openvino, folder)  # another process may have made it meanwhile
            if compiled is None:
                _quantise(model, tokenizer, encoded, folder)
                compiled = openvino.Core().compile_model(str(folder / MODEL_FILE), "CPU")
    return Int8Model(compiled, model.config)


def _compiled(openvino, folder):
    """The int8 model in ``folder`` compiled for the CPU; None when it is missing or unreadable (said in a warning)."""
    if not (folder / MODEL_FILE).is_file():
        return None
    try:
        return openvino.Core().compile_model(str(folder / MODEL_FILE), "CPU")
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        logger.warning("the cached int8 model %s cannot be read (%s): quantising it again", folder, reason)
        return None


def calibration_batches(tokenizer, encoded) -> list:
    """The tokenised inputs ``encoded`` as padded torch batches of ``CALIBRATION_BATCH`` (the first one is also the
    example input OpenVINO traces the model with)."""
    rows = [{k: encoded[k][i] for k in encoded} for i in range(len(encoded["input_ids"]))]
    return [dict(tokenizer.pad(rows[i:i + CALIBRATION_BATCH], return_tensors="pt"))
            for i in range(0, len(rows), CALIBRATION_BATCH)]


def _quantise(model, tokenizer, encoded, folder):
    import torch

    openvino, nncf = require_engine()
    batches = calibration_batches(tokenizer, encoded)
    logger.warning("quantising %s to int8 once (OpenVINO + NNCF, calibrated on %d shipped dev inputs) into %s",
                   type(model).__name__, len(encoded["input_ids"]), folder)
    model = model.float().eval()
    with torch.no_grad():
        converted = openvino.convert_model(model, example_input=batches[0])
    quantised = nncf.quantize(converted, nncf.Dataset(batches, lambda b: {k: v.numpy() for k, v in b.items()}),
                              model_type=nncf.ModelType.TRANSFORMER, subset_size=len(batches))

    def write(staging):
        openvino.save_model(quantised, str(staging / MODEL_FILE))

    write_folder_atomically(folder, write)
