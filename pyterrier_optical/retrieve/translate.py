"""``NMTTranslate``: query translation with a Hugging Face sequence-to-sequence model (MarianMT, NLLB, M2M100),
cached on disk, as a PyTerrier transformer — the translate-test baseline of CLIR."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path

import pandas as pd
import pyterrier as pt

from ..data.text import as_text
from ..models.checkpoint import weights_digest
from ..util.checks import check_bool, check_positive_int, check_text, check_texts
from ..util.device import infer_device
from ..util.io import optical_home, write_file_atomically
from ..util.keys import DEVICE, PROGRESS, Keyed, config_digest, digest, tokenizer_digest, weights_key

logger = logging.getLogger(__name__)
LANGUAGE_TOKEN = re.compile(r"^(>>[a-z]{2,3}(_[A-Za-z]+)?<<|__[a-z]{2,3}__|[a-z]{3}_[A-Z][a-z]{3}|[a-z]{2}_[A-Z]{2})$")


def language_codes(tokenizer) -> dict:
    """The model's language codes and the token that stands for each (empty for a one-pair model)."""
    tokens = [t for t in tokenizer.get_vocab() if LANGUAGE_TOKEN.match(t)]
    return {t.strip("<>_") if t.startswith((">>", "__")) else t: t for t in tokens}


class TranslationCache:
    """Translations of one (model, source, target, settings) on disk: a JSON-lines file of ``{"text",
    "translation"}``; ``settings`` is what else changes a translation (the weights' digest, the token budget, the
    beam size), so that a cache never serves the translations of another model saved under the same name.

    A corrupt file is rebuilt from its readable lines, with a warning.
    """

    def __init__(self, folder, model: str, source: str, target: str, settings: str = ""):
        key = hashlib.sha1(f"{model}\t{source}\t{target}\t{settings}".encode()).hexdigest()[:16]
        self.path = Path(folder) / f"{source}-{target}-{key}.jsonl"
        self.entries = {}
        if self.path.exists():
            self._read()

    def _read(self):
        bad = 0
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
                self.entries[record["text"]] = record["translation"]
            except (json.JSONDecodeError, KeyError, TypeError):
                bad += 1
        if bad:
            logger.warning("translation cache %s had %d corrupt lines; rebuilt from the %d readable ones", self.path,
                           bad, len(self.entries))
            self._write_all()

    def _write_all(self):
        def write(file: Path):
            file.write_text("".join(json.dumps({"text": t, "translation": tr}, ensure_ascii=False) + "\n"
                                    for t, tr in self.entries.items()), encoding="utf-8")

        write_file_atomically(self.path, write)

    def add(self, translations: dict):
        self.entries.update(translations)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.writelines(json.dumps({"text": t, "translation": tr}, ensure_ascii=False) + "\n"
                         for t, tr in translations.items())


class NMTTranslate(Keyed, pt.Transformer):
    """Translates the ``query`` column with a sequence-to-sequence MT model; the original is kept in ``query_0``.

    Args:
        model: a hub id (``Helsinki-NLP/opus-mt-sw-en``, ``facebook/nllb-200-distilled-600M``,
            ``facebook/m2m100_418M``) or a local folder.
        source_lang, target_lang: language codes as the model names them (``sw``/``en`` for M2M100 and Marian,
            ``swh_Latn``/``eng_Latn`` for NLLB); a one-pair Marian model needs none but accepts any.
        batch_size: queries per generation batch; ``device``; ``max_length``: tokens read and generated.
        num_beams: beam size.
        cache_dir: where translations are kept, keyed by (model, languages, text), so that repeated experiments
            do not translate again (default ``$OPTICAL_HOME/translations``).
        verbose: progress bar over the batches.
    """

    schematic = {"label": "NMT"}
    unkeyed = {"batch_size": "queries are translated in batches padded with attention masks, and cached by text: a "
                             "translation does not depend on its batch (up to float rounding)",
               "device": DEVICE, "verbose": PROGRESS,
               "cache_dir": "where translations are kept; they are keyed by everything that makes them (the weights' "
                            "digest, the languages, max_length, num_beams), so it holds no others"}

    def __init__(self, model: str, source_lang: str, target_lang: str = "en", batch_size: int = 16, device=None,
                 max_length: int = 128, num_beams: int = 1, cache_dir=None, verbose: bool = True):
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        if not isinstance(model, (str, os.PathLike)) or not str(model):
            raise ValueError(f"model must be a translation model's folder or hub id, got {model!r}"[:300])
        check_text("source_lang", source_lang)
        check_text("target_lang", target_lang)
        check_positive_int("batch_size", batch_size)
        check_positive_int("max_length", max_length, 2)
        check_positive_int("num_beams", num_beams)
        if cache_dir is not None and (not isinstance(cache_dir, (str, os.PathLike)) or not str(cache_dir)):
            raise ValueError(f"cache_dir must be a folder path or None, got {cache_dir!r}"[:300])
        check_bool("verbose", verbose)
        infer_device(device)  # before the model is loaded
        self.model, self.source_lang, self.target_lang = str(model), source_lang, target_lang
        self.batch_size, self.max_length, self.num_beams, self.verbose = batch_size, max_length, num_beams, verbose
        self.device, self.cache_dir = device, cache_dir
        try:
            self.tokenizer_ = AutoTokenizer.from_pretrained(self.model)
            self.model_ = AutoModelForSeq2SeqLM.from_pretrained(self.model).to(infer_device(device)).eval()
        except OSError as e:
            raise OSError(f"cannot load the translation model {self.model!r} ({str(e).splitlines()[0]}). Offline, "
                          "pass the folder of a local copy (save_pretrained of the model and its tokenizer), or "
                          "download it on a machine with network first") from None
        self.max_length_ = min(max_length, getattr(self.model_.config, "max_position_embeddings", max_length))
        self.codes_ = language_codes(self.tokenizer_)
        self._generate_kwargs = self._language_settings()
        self.empty_translations_ = 0
        settings = digest(weights_key(self.model_, weights_digest), self.max_length_, num_beams)
        self.cache_ = TranslationCache(Path(cache_dir) if cache_dir else optical_home() / "translations",
                                       self.model, source_lang, target_lang, settings)

    def __repr__(self):
        return f"NMTTranslate({self.model!r}, {self.source_lang!r}, {self.target_lang!r})"

    def content_key(self) -> dict:
        """The digests of the weights, the model config and the tokenizer actually loaded, and the token budget."""
        return {"weights": weights_key(self.model_, weights_digest), "config": config_digest(self.model_.config),
                "tokenizer": tokenizer_digest(self.tokenizer_), "max_length": self.max_length_}

    def _check_code(self, code: str, role: str):
        if self.codes_ and code not in self.codes_:
            raise ValueError(f"{self.model} does not know the {role} language {code!r}; its codes: "
                             f"{', '.join(sorted(self.codes_))}")

    def _language_settings(self) -> dict:
        """Source/target language set-up for the model family: target prefix token (multilingual Marian) or
        ``src_lang`` + forced first token (NLLB, M2M100, mBART)."""
        self._prefix = ""
        if not self.codes_:
            return {}
        self._check_code(self.target_lang, "target")
        token = self.codes_[self.target_lang]
        if token.startswith(">>"):  # multilingual Marian: the target token starts the source text
            self._prefix = token + " "
            return {}
        self._check_code(self.source_lang, "source")
        if hasattr(self.tokenizer_, "src_lang"):
            self.tokenizer_.src_lang = self.source_lang
        return {"forced_bos_token_id": self.tokenizer_.convert_tokens_to_ids(token)}

    def translate(self, texts) -> list:
        """Translations of ``texts``; empty texts stay empty, empty translations fall back to the original."""
        import torch

        texts = [as_text(t) for t in check_texts("texts", texts)]
        todo = [t for t in dict.fromkeys(texts) if t.strip() and t not in self.cache_.entries]
        batches = [todo[i:i + self.batch_size] for i in range(0, len(todo), self.batch_size)]
        if self.verbose and batches:
            batches = pt.tqdm(batches, desc="NMT", unit="batch")
        for batch in batches:
            enc = self.tokenizer_([self._prefix + t for t in batch], padding=True, truncation=True,
                                  max_length=self.max_length_, return_tensors="pt").to(self.model_.device)
            with torch.inference_mode():
                generated = self.model_.generate(**enc, max_new_tokens=self.max_length_ - 1, num_beams=self.num_beams,
                                                 **self._generate_kwargs)
            outputs = self.tokenizer_.batch_decode(generated, skip_special_tokens=True)
            self.cache_.add({t: o.strip() for t, o in zip(batch, outputs)})
        out, empty = [], 0
        for t in texts:
            translation = self.cache_.entries.get(t, "") if t.strip() else ""
            if t.strip() and not translation:
                empty += 1
                translation = t
            out.append(translation)
        if empty:
            logger.warning("%d translations came back empty; the original queries were kept", empty)
        self.empty_translations_ = empty
        return out

    def transform(self, inp: pd.DataFrame) -> pd.DataFrame:
        """Translate ``query``; the original moves to ``query_0``."""
        pt.validate.query_frame(inp, ["query"])
        out = pt.model.push_queries(inp, inplace=False)
        out["query"] = self.translate(inp["query"].tolist()) if len(inp) else []
        return out
