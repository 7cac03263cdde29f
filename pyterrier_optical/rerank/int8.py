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


class Int8CrossEncoder:
    """A cross-encoder's int8 form, called like the torch model it came from (``model(**batch).logits``) on CPU.

    Build it with :func:`int8_cross_encoder`."""

    def __init__(self, compiled, config):
        self.compiled, self.config = compiled, config
        self.inputs = {port.get_any_name() for port in compiled.inputs}

    def __call__(self, **batch):
        import torch

        feed = {name: np.asarray(batch[name]) for name in self.inputs if name in batch}
        logits = self.compiled(feed)[0]
        return SimpleNamespace(logits=torch.from_numpy(np.asarray(logits, dtype=np.float32)))

    def parameters(self):
        import torch

        yield torch.empty(0)  # its device: the CPU

    def eval(self):
        return self


def int8_cross_encoder(model, tokenizer, max_length: int, weights: str, verbose: bool = False) -> Int8CrossEncoder:
    """The int8 form of the torch cross-encoder ``model`` (``weights``: a digest of its weights), quantised once and
    cached."""
    openvino, nncf = require_engine()
    max_length = model_max_length(model, tokenizer, max_length)
    queries, texts = calibration_pairs()
    key = _digest(weights, max_length, openvino.__version__, nncf.__version__, queries, texts)
    folder = optical_home() / "int8" / f"cross-encoder-{key}"
    if not (folder / MODEL_FILE).is_file():
        with folder_lock(folder.with_name(folder.name + ".build"), "quantising a cross-encoder", wait=True):
            if not (folder / MODEL_FILE).is_file():
                _quantise(model, tokenizer, queries, texts, max_length, folder, verbose)
    compiled = openvino.Core().compile_model(str(folder / MODEL_FILE), "CPU")
    return Int8CrossEncoder(compiled, model.config)


def _quantise(model, tokenizer, queries, texts, max_length, folder, verbose):
    import torch

    openvino, nncf = require_engine()
    encoded = encode_pairs(tokenizer, queries, texts, max_length)
    rows = [{k: encoded[k][i] for k in encoded} for i in range(len(queries))]
    batches = [dict(tokenizer.pad(rows[i:i + CALIBRATION_BATCH], return_tensors="pt"))
               for i in range(0, len(rows), CALIBRATION_BATCH)]
    logger.warning("quantising the cross-encoder to int8 once (OpenVINO + NNCF, %d calibration pairs); cached in %s",
                   len(rows), folder)
    model = model.float().eval()
    with torch.no_grad():
        converted = openvino.convert_model(model, example_input=batches[0])
    quantised = nncf.quantize(converted, nncf.Dataset(batches, lambda b: {k: v.numpy() for k, v in b.items()}),
                              model_type=nncf.ModelType.TRANSFORMER, subset_size=len(batches))

    def write(staging):
        openvino.save_model(quantised, str(staging / MODEL_FILE))

    write_folder_atomically(folder, write)
