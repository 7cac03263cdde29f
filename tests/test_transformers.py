"""PyTerrier's own checks for every transformer of the package: ``pt.testing.TransformerTestCase`` (the input/output
inspection, and the schematic with its label under 20 characters and its HTML drawing), and
``pt.inspect.transformer_attributes`` in strict mode with ``transformer_apply_attributes`` rebuilding an equal
transformer. ``TransformerTestCase.test_schematic`` runs with an empty documentation inventory: pyterrier 1.1 downloads
``objects.inv`` only to link each class to its documentation page, the one part left out here.

The table below is also what the other kind-tests (``test_transformer_contract.py``) build their transformers from, and
a test checks that it holds every transformer class the package defines."""
import functools
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

import pandas as pd
import pyterrier as pt
import pytest

import pyterrier_optical
from pyterrier_optical import (CodeSwitch, DenseIndex, E5Encoder, LexiconTranslate, MultilingualBM25, NMTTranslate,
                               OpticalReranker, shipped_lexicon)
from pyterrier_optical.rerank.fusion import KeepScore, LinearFusion, fused
from pyterrier_optical.retrieve.lucene import LuceneBM25Index

from conftest import SESSION_SCRATCH, build_tiny_cross_encoder, build_tiny_tokenizer, fixture_sentences


def scratch() -> Path:
    return SESSION_SCRATCH / "transformers"


@functools.cache
def tiny_dir(seed: int = 0) -> str:
    """A tiny cross-encoder folder (its weights drawn with ``seed``)."""
    folder = scratch() / f"tiny-{seed}"
    tokenizer = build_tiny_tokenizer(fixture_sentences())
    build_tiny_cross_encoder(tokenizer, seed).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@functools.cache
def marian_dir(seed: int = 0) -> str:
    import torch

    from test_translate import build_tiny_marian

    state = torch.random.get_rng_state()
    try:
        if seed:  # build_tiny_marian seeds 0 itself: other weights by a perturbation drawn with ``seed``
            folder = build_tiny_marian(scratch() / f"marian-{seed}")
            from transformers import MarianMTModel

            model = MarianMTModel.from_pretrained(folder)
            torch.manual_seed(seed)
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.add_(torch.randn_like(parameter) * 0.1)
            model.save_pretrained(folder)
            return str(folder)
        return str(build_tiny_marian(scratch() / "marian"))
    finally:
        torch.random.set_rng_state(state)


@functools.cache
def corpus() -> list:
    return list(pt.get_dataset("irds:optical/ui/sw-en/test").get_corpus_iter(verbose=False))[:200]


@functools.cache
def encoder(max_length: int = 256) -> E5Encoder:
    return E5Encoder(tiny_dir(), batch_size=4, precision="fp32", max_length=max_length)


@functools.cache
def pisa_index(size: int = 200) -> MultilingualBM25:
    index = MultilingualBM25(scratch() / f"pisa-{size}", lang="en", verbose=False)
    return index if index.built() else index.index(corpus()[:size])


@functools.cache
def dense_index(size: int = 200) -> DenseIndex:
    index = DenseIndex(scratch() / f"dense-{size}", encoder())
    return index if index.built() else index.index(corpus()[:size])


@functools.cache
def lucene_index(size: int = 200) -> LuceneBM25Index:
    index = LuceneBM25Index(scratch() / f"lucene-{size}", "en", verbose=False)
    return index if index.built() else index.index(corpus()[:size])


def pisa_bm25():
    return pisa_index().bm25(num_results=5)


def lucene_bm25():
    return lucene_index().bm25(num_results=5)


def reranker(**kwargs) -> OpticalReranker:
    return OpticalReranker(**{"model": tiny_dir(), "batch_size": 4, "verbose": False, "precision": "fp32", **kwargs})


# name -> a factory of one transformer of the package (its class, or a pipeline the package builds)
FACTORIES = {
    "OpticalReranker": reranker,
    "OpticalRerankerOnOpenVINO": lambda: reranker(backend="openvino"),
    "E5Encoder": encoder,
    "E5EncoderOnOpenVINO": lambda: E5Encoder(tiny_dir(), batch_size=4, precision="fp32", backend="openvino"),
    "TextQueryEncoder": lambda: encoder().query_encoder(),
    "TextDocEncoder": lambda: encoder().doc_encoder(),
    "TextScorer": lambda: encoder().text_scorer(),
    "DenseRetriever": lambda: dense_index().retriever(num_results=5),
    "DenseScorer": lambda: dense_index().scorer(),
    "DenseTextLoader": lambda: dense_index().text_loader(),
    "BM25TextLoader": lambda: pisa_index().text_loader(),
    "MultilingualBM25Retriever": pisa_bm25,
    "LuceneBM25": lucene_bm25,
    "LinearFusion": lambda: LinearFusion(0.3),
    "KeepScore": lambda: KeepScore(),
    "fused": lambda: fused(pisa_bm25(), reranker(), 0.5),
    "CodeSwitch": lambda: CodeSwitch(shipped_lexicon("sw", "from_en"), p=0.5, seed=3),
    "LexiconTranslate": lambda: LexiconTranslate(shipped_lexicon("sw")),
    "NMTTranslate": lambda: NMTTranslate(marian_dir(), "sw", "en", max_length=8, cache_dir=scratch() / "nmt",
                                         verbose=False),
}
INDEXERS = {"MultilingualBM25": pisa_index, "LuceneBM25Index": lucene_index}
PIPELINES = {"fused"}  # PyTerrier's own composition of the package's transformers


def package_classes(base) -> list:
    """Every class of the package (all its modules imported) that subclasses ``base``."""
    for module in pkgutil.walk_packages(pyterrier_optical.__path__, "pyterrier_optical."):
        importlib.import_module(module.name)
    found = set()
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("pyterrier_optical."):
            found.update(cls for _, cls in inspect.getmembers(module, inspect.isclass)
                         if issubclass(cls, base) and cls.__module__.startswith("pyterrier_optical."))
    return sorted(found, key=lambda c: c.__qualname__)


def test_the_table_holds_every_transformer_class_of_the_package():
    made = {type(factory()) for name, factory in FACTORIES.items() if name not in PIPELINES}
    transformers = [c for c in package_classes(pt.Transformer) if not issubclass(c, pt.Indexer)]
    assert transformers and not [c.__qualname__ for c in transformers if c not in made], "add them to FACTORIES"
    indexers = package_classes(pt.Indexer)
    assert {type(factory()) for factory in INDEXERS.values()} == set(indexers)


def sample_input(transformer) -> pd.DataFrame:
    """A small valid input for ``transformer``: its first inspected input columns made of text and scores (with qid
    when one has it: pyterrier-dr's scorer accepts a frame without, then fails ranking it)."""
    known = {"qid", "query", "docno", "text", "score", "first_score"}
    configs = [c for c in pt.inspect.transformer_inputs(transformer) if set(c) <= known]
    columns = next((c for c in configs if "qid" in c), configs[0])
    first, second = (d["docno"] for d in corpus()[:2])  # documents of the indexes, for the scorers that read them
    rows = [{"qid": "q1", "query": "privacy settings", "docno": first, "text": "Privacy and security settings",
             "score": 1.5, "first_score": 0.5},
            {"qid": "q1" if "docno" in columns else "q2", "query": "privacy settings" if "docno" in columns else
             "open a new tab", "docno": second, "text": "Open a new tab", "score": 0.5, "first_score": 0.9}]
    return pd.DataFrame([{c: row[c] for c in columns} for row in rows])


def make_case(name, factory):
    class Case(pt.testing.TransformerTestCase):
        get_transformer = staticmethod(factory)

        def test_schematic(self):
            saved = pt.documentation._cached_objects_inv
            pt.documentation._cached_objects_inv = {}  # no documentation links: objects.inv needs the network
            try:
                super().test_schematic()
            finally:
                pt.documentation._cached_objects_inv = saved

    Case.__name__ = Case.__qualname__ = f"Test{name}PyTerrierChecks"
    return Case


for _name, _factory in FACTORIES.items():
    globals()[f"Test{_name}PyTerrierChecks"] = make_case(_name, _factory)


@pytest.mark.parametrize("name", [n for n in FACTORIES if n not in PIPELINES])
def test_strict_attributes_rebuild_an_equal_transformer(name):
    transformer = FACTORIES[name]()
    attributes = pt.inspect.transformer_attributes(transformer, strict=True)
    assert attributes and all(a.value is not pt.inspect.TransformerAttribute.MISSING for a in attributes)
    rebuilt = pt.inspect.transformer_apply_attributes(transformer)
    assert type(rebuilt) is type(transformer) and rebuilt is not transformer
    assert rebuilt.cache_key() == transformer.cache_key()
    inp = sample_input(transformer)
    pd.testing.assert_frame_equal(transformer(inp), rebuilt(inp))


@pytest.mark.parametrize("name", list(FACTORIES))
def test_schematic_labels_are_the_packages_own_and_short(name):
    """Each transformer class names itself in a schematic (not by its class name, PyTerrier's default), in at most 20
    characters; a pipeline's stages do."""
    transformer = FACTORIES[name]()
    stages = transformer._transformers if name in PIPELINES else [transformer]
    saved = pt.documentation._cached_objects_inv
    pt.documentation._cached_objects_inv = {}
    try:
        for stage in stages:
            label = pt.schematic.transformer_schematic(stage)["label"]
            assert label == stage.schematic["label"] and 0 < len(label) <= 20, (type(stage).__name__, label)
    finally:
        pt.documentation._cached_objects_inv = saved


@pytest.mark.parametrize("name", list(INDEXERS))
def test_indexers_say_what_they_index(name):
    assert pt.inspect.indexer_inputs(INDEXERS[name]()) == [["docno", "text"]]
