"""PyTerrier's own checks for every transformer of the package: ``pt.testing.TransformerTestCase``'s input/output
inspection, and ``pt.inspect.transformer_attributes`` in strict mode with ``transformer_apply_attributes`` rebuilding
an equal transformer. (``TransformerTestCase.test_schematic`` is skipped: ``pt.schematic.transformer_schematic``
downloads PyTerrier's documentation inventory, ``objects.inv``, to link each class, which needs the network in
pyterrier 1.1. The labels it would check are checked directly.)"""
import functools
from pathlib import Path

import pandas as pd
import pyterrier as pt
import pytest

from pyterrier_optical import (CodeSwitch, E5Encoder, KeepScore, LexiconTranslate, LinearFusion,
                               MultilingualBM25, NMTTranslate, OpticalReranker, shipped_lexicon)
from pyterrier_optical.retrieve.lucene import LuceneBM25Index

from conftest import SESSION_SCRATCH, build_tiny_cross_encoder, build_tiny_tokenizer, fixture_sentences


def scratch() -> Path:
    return SESSION_SCRATCH / "transformers"


@functools.cache
def tiny_dir() -> str:
    folder = scratch() / "tiny"
    tokenizer = build_tiny_tokenizer(fixture_sentences())
    build_tiny_cross_encoder(tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@functools.cache
def marian_dir() -> str:
    from test_translate import build_tiny_marian

    return str(build_tiny_marian(scratch() / "marian"))


@functools.cache
def corpus() -> list:
    return list(pt.get_dataset("irds:optical/ui/sw-en/test").get_corpus_iter(verbose=False))[:200]


def pisa_bm25():
    index = MultilingualBM25(scratch() / "pisa", lang="en", verbose=False)
    if not index.built():
        index.index(corpus())
    return index.bm25(num_results=5)


def lucene_bm25():
    index = LuceneBM25Index(scratch() / "lucene", "en", verbose=False)
    if not index.built():
        index.index(corpus())
    return index.bm25(num_results=5)


FACTORIES = {
    "OpticalReranker": lambda: OpticalReranker(tiny_dir(), batch_size=4, verbose=False, precision="fp32"),
    "E5Encoder": lambda: E5Encoder(tiny_dir(), batch_size=4, precision="fp32"),
    "OpticalRerankerOnOpenVINO": lambda: OpticalReranker(tiny_dir(), batch_size=4, verbose=False, precision="fp32",
                                                         backend="openvino"),
    "E5EncoderOnOpenVINO": lambda: E5Encoder(tiny_dir(), batch_size=4, precision="fp32", backend="openvino"),
    "LinearFusion": lambda: LinearFusion(0.3),
    "KeepScore": lambda: KeepScore(),
    "CodeSwitch": lambda: CodeSwitch(shipped_lexicon("sw", "from_en"), p=0.5, seed=3),
    "LexiconTranslate": lambda: LexiconTranslate(shipped_lexicon("sw")),
    "NMTTranslate": lambda: NMTTranslate(marian_dir(), "sw", "en", max_length=8, cache_dir=scratch() / "nmt",
                                         verbose=False),
    "MultilingualBM25Retriever": pisa_bm25,
    "LuceneBM25": lucene_bm25,
}


def sample_input(transformer) -> pd.DataFrame:
    """A small valid input for ``transformer``, from its own inspected input columns."""
    columns = pt.inspect.transformer_inputs(transformer)[0]
    rows = [{"qid": "q1", "query": "privacy settings", "docno": "d1", "text": "Privacy and security settings",
             "score": 1.5, "first_score": 0.5},
            {"qid": "q1" if "docno" in columns else "q2", "query": "open a new tab", "docno": "d2",
             "text": "Open a new tab", "score": 0.5, "first_score": 0.9}]
    return pd.DataFrame([{c: row[c] for c in columns} for row in rows])


def make_case(name, factory):
    class Case(pt.testing.TransformerTestCase):
        get_transformer = staticmethod(factory)

        def test_schematic(self):
            self.skipTest("pt.schematic.transformer_schematic downloads objects.inv (network) in pyterrier 1.1")

    Case.__name__ = Case.__qualname__ = f"Test{name}PyTerrierChecks"
    return Case


for _name, _factory in FACTORIES.items():
    globals()[f"Test{_name}PyTerrierChecks"] = make_case(_name, _factory)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_strict_attributes_rebuild_an_equal_transformer(name):
    transformer = FACTORIES[name]()
    attributes = pt.inspect.transformer_attributes(transformer, strict=True)
    assert attributes and all(a.value is not pt.inspect.TransformerAttribute.MISSING for a in attributes)
    rebuilt = pt.inspect.transformer_apply_attributes(transformer)
    assert type(rebuilt) is type(transformer) and rebuilt is not transformer
    inp = sample_input(transformer)
    pd.testing.assert_frame_equal(transformer(inp), rebuilt(inp))


@pytest.mark.parametrize("name", list(FACTORIES))
def test_schematic_labels_are_short(name):
    label = getattr(FACTORIES[name](), "schematic", {}).get("label", "")
    assert len(label) <= 20  # what TransformerTestCase.test_schematic checks
