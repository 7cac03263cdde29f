"""The OpenVINO backend on CPUs: a torch model converted to OpenVINO and run in fp32 or bf16 (its inference
precision), or quantised to int8 matrix products by NNCF's post-training static quantisation, calibrated on the
shipped dev bitext (never on a hub dataset).

A converted model is made in memory (seconds). A quantised one is cached under ``$OPTICAL_HOME/int8``, named by a
digest of the weights it came from, the calibration data and the engines' versions: new weights never meet a stale
export. The engines are the ``openvino`` extra (``pip install 'pyterrier-optical[openvino]'``; ``int8`` is the same).
"""
from __future__ import annotations

import hashlib
import logging
import random
import re
from types import SimpleNamespace

import numpy as np

from ..data.bitext import mixed_bitext, shipped_languages
from ..util.io import Marker, made_once, optical_home, write_folder_atomically
from .backbones import E5_PASSAGE_PROMPT
from .scoring import encode_pairs, model_max_length, padded_batches

logger = logging.getLogger(__name__)
CALIBRATION_PAIRS = 256
CALIBRATION_BATCH = 16
MODEL_FILE = "model.xml"
INFERENCE_PRECISION = {"fp32": "f32", "bf16": "bf16"}  # OpenVINO's names; int8 models keep its default
# a cached int8 model: OpenVINO's IR and its weights, nothing else (damaged ones too: they are quantised again)
INT8_CACHE = Marker(MODEL_FILE, check=lambda file: b"<net " in file.read_bytes()[:1000],
                    files=(MODEL_FILE, "model.bin"))


def require_engine():
    """The OpenVINO and NNCF modules; an ImportError naming the extra when they are missing."""
    try:
        import nncf
        import openvino
    except ImportError:
        raise ImportError("backend='openvino' (and precision='int8') needs OpenVINO and NNCF: "
                          "pip install 'pyterrier-optical[openvino]'") from None
    if "CPU" not in openvino.Core().available_devices:
        import platform

        raise RuntimeError(f"backend='openvino' needs OpenVINO's CPU plugin, which it does not offer on this platform "
                           f"({platform.machine()}): use backend='torch' (precision 'fp32', or 'bf16' where the CPU "
                           f"has bf16 units)")
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


class OpenVINOModel:
    """A model's OpenVINO form, called like the torch model it came from (``model(**batch)``) on CPU: its first output
    as ``logits`` and ``last_hidden_state`` (a cross-encoder's relevance logits, an encoder's token states).

    Build it with :func:`openvino_cross_encoder` or :func:`openvino_encoder`."""

    def __init__(self, compiled, config):
        self.compiled, self.config = compiled, config
        self.inputs = {port.get_any_name() for port in compiled.inputs}

    def __call__(self, **batch):
        import torch

        feed = {name: np.asarray(batch[name]) for name in self.inputs if name in batch}
        out = torch.from_numpy(np.asarray(self.compiled(feed)[0], dtype=np.float32))
        return SimpleNamespace(logits=out, last_hidden_state=out)

    def __getstate__(self):  # .parallel(): a compiled model does not pickle, its exported form does
        return {"compiled": self.compiled.export_model(), "config": self.config,
                "precision": self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()}

    def __setstate__(self, state):
        import openvino

        compiled = openvino.Core().import_model(state["compiled"], "CPU",
                                                {"INFERENCE_PRECISION_HINT": state["precision"]})
        self.__init__(compiled, state["config"])

    def parameters(self):
        import torch

        yield torch.empty(0)  # its device: the CPU

    def eval(self):
        return self


def openvino_cross_encoder(model, tokenizer, max_length: int, weights: str, precision: str) -> OpenVINOModel:
    """The torch cross-encoder ``model`` run by OpenVINO at ``precision`` (fp32, bf16 or int8; ``weights``: a digest
    of its weights, which names the int8 form, quantised once on shipped dev pairs and cached)."""
    max_length = model_max_length(model, tokenizer, max_length)
    queries, texts = calibration_pairs()
    encoded = encode_pairs(tokenizer, queries, texts, max_length)
    return _openvino(model, tokenizer, encoded, f"cross-encoder-{_digest(weights, max_length, queries, texts)}",
                     precision)


def openvino_encoder(model, tokenizer, max_length: int, weights: str, precision: str,
                     prompt: str = E5_PASSAGE_PROMPT) -> OpenVINOModel:
    """The torch text encoder ``model`` (its token states) run by OpenVINO at ``precision``; its int8 form is
    quantised once on shipped dev sentences (English and the other languages, with ``prompt``) and cached."""
    queries, texts = calibration_pairs()
    sentences = [prompt + t for pair in zip(queries, texts) for t in pair][:CALIBRATION_PAIRS]
    encoded = tokenizer(sentences, truncation=True, max_length=max_length)
    return _openvino(model, tokenizer, encoded, f"encoder-{_digest(weights, max_length, sentences)}", precision)


def _openvino(model, tokenizer, encoded, name: str, precision: str) -> OpenVINOModel:
    """``model`` converted and compiled at ``precision``, or for int8 the cached quantised model ``name``."""
    if precision == "int8":
        return _int8(model, tokenizer, encoded, name)
    if precision not in INFERENCE_PRECISION:
        raise ValueError(f"backend='openvino' runs precision fp32, bf16 or int8, not {precision!r}")
    openvino, _ = require_engine()
    converted = converted_model(openvino, model, calibration_batches(tokenizer, encoded)[0])
    compiled = openvino.Core().compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT":
                                                                INFERENCE_PRECISION[precision]})
    return OpenVINOModel(compiled, model.config)


def converted_model(openvino, model, example: dict):
    """The fp32 torch ``model`` as an OpenVINO model, traced on the ``example`` batch (dynamic shapes). The tracer's
    warnings about the attention code's Python conditions are silenced: they hold for every batch given here (the
    attention mask is always passed); so are transformers' warnings about the attributes the tracer looks at one by
    one (``loss_type=None`` "unrecognized", ``is_gradient_checkpointing`` deprecated): no loss is computed and no
    gradient is checkpointed here."""
    import warnings

    import torch

    from .backbones import quiet_loading

    with torch.no_grad(), warnings.catch_warnings(), quiet_loading():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", r".*is_gradient_checkpointing.*", FutureWarning)
        return openvino.convert_model(model.float().eval(), example_input=example)


def _int8(model, tokenizer, encoded, name: str) -> OpenVINOModel:
    """The cached int8 model ``name``, quantised first (one process at a time, :func:`~..util.io.made_once`) when it
    is missing or OpenVINO cannot read it (truncated, altered): a damaged cache is never loaded, and is said once,
    with OpenVINO's reason."""
    openvino, nncf = require_engine()
    folder = optical_home() / "int8" / f"{name}-{_digest(openvino.__version__, nncf.__version__)}"
    said = set()

    def readable(path) -> bool:
        if not (path / MODEL_FILE).is_file():
            return False
        try:
            openvino.Core().read_model(str(path / MODEL_FILE))
            return True
        except RuntimeError as error:
            if str(path) not in said:
                said.add(str(path))
                logger.warning("the cached int8 model %s cannot be read (%s): quantising it again", path,
                               openvino_reason(error))
            return False

    made_once(folder, readable, lambda path: _quantise(model, tokenizer, encoded, path), "quantising a model to int8")
    return OpenVINOModel(openvino.Core().compile_model(str(folder / MODEL_FILE), "CPU"), model.config)


def openvino_reason(error: BaseException) -> str:
    """What an OpenVINO error says went wrong, without the source locations it is wrapped in ("Exception from
    src/inference/src/cpp/core.cpp:132:", "Check '...' failed at ...:900:")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    said = [line for line in lines if not re.fullmatch(r"Exception from \S+:\d+:?|Check '.*' failed at \S+:\d+:?",
                                                          line)]
    return "; ".join(said) or (lines[-1] if lines else type(error).__name__)


def calibration_batches(tokenizer, encoded) -> list:
    """The tokenised inputs ``encoded`` as padded torch batches of ``CALIBRATION_BATCH`` (the first one is also the
    example input OpenVINO traces the model with)."""
    return [dict(padded) for _, padded in padded_batches(tokenizer, encoded, CALIBRATION_BATCH, sort=False)]


def _quantise(model, tokenizer, encoded, folder):
    openvino, nncf = require_engine()
    batches = calibration_batches(tokenizer, encoded)
    logger.warning("quantising %s to int8 once (OpenVINO + NNCF, calibrated on %d shipped dev inputs) into %s",
                   type(model).__name__, len(encoded["input_ids"]), folder)
    quantised = static_int8(nncf, converted_model(openvino, model, batches[0]), batches)

    def write(staging):
        openvino.save_model(quantised, str(staging / MODEL_FILE))

    write_folder_atomically(folder, write, (INT8_CACHE,), "int8 model cache")


def static_int8(nncf, converted, batches: list, **options):
    """The OpenVINO model ``converted`` quantised by the recipe of ``precision="int8"``: NNCF's post-training static
    quantisation, transformer preset (SmoothQuant, per-channel weights), calibrated on all of ``batches``; ``options``
    go to ``nncf.quantize`` (the benchmarks' variants)."""
    dataset = nncf.Dataset(batches, lambda batch: {k: v.numpy() for k, v in batch.items()})
    return nncf.quantize(converted, dataset, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(batches),
                         **options)
