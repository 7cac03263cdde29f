"""The embedded demo: offline CLIR on the shipped real bitext (sentence-level retrieval over software interface
text), answering how far OPTICAL distillation closes the gap between high- and low-resource languages, and how
that gap moves when the queries are code-switched.

Per language the collection is the English side of a test split; queries are its translations. Systems:
BM25 over dictionary-translated queries (the first stage of all others), the English teacher cross-encoder
zero-shot, the code-switch-trained teacher and OPTICAL on it, the OPTICAL student, the student fused with BM25 and
with the dense model (weights tuned on the dev splits), and the untouched multilingual-e5-small as a dense reranker.
In domain: the Chromium test splits; out of domain: the Kolibri ones.
"""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyterrier as pt
from ir_measures import AP, RR, R, nDCG

from ..data.bitext import CHROMIUM_LANGUAGES, KOLIBRI_LANGUAGES
from ..data.lexicon import shipped_lexicon
from ..rerank.backbones import E5_SMALL
from ..rerank.dense import DenseReranker
from ..rerank.reranker import OpticalReranker
from ..retrieve.bm25 import MultilingualBM25
from ..retrieve.codeswitch import LexiconTranslate
from ..retrieve.translate import NMTTranslate
from .compare import Comparison, code_switch_sweep, compare, significance_table
from .fusion import KeepScore, best_weight, fused, fusion_curve
from .report import prepare_output, write_report

logger = logging.getLogger(__name__)
KOLIBRI_ONLY = tuple(lang for lang in KOLIBRI_LANGUAGES if lang not in CHROMIUM_LANGUAGES)  # zero-shot for the student
QUICK_LANGUAGES = ("sw", "de")
MEASURES = [RR @ 10, nDCG @ 10, AP, R @ 100]
MAIN_MEASURE = "RR@10"
RATIOS = (0.0, 0.25, 0.5, 0.75, 1.0)
BM25_NAME = "BM25 (lexicon translation)"


TEACHER = "teacher zero-shot"
STUDENT = "OPTICAL student"
FUSION = "OPTICAL + BM25 fusion"
DENSE_FUSION = "OPTICAL + mE5 fusion"
CS_TEACHER = "code-switch teacher"
CS_STUDENT = "OPTICAL on code-switch teacher"
DENSE = "mE5 dense"
NMT = "NMT >> BM25 >> teacher"
# system -> the embedded reranker behind it (train.embedded.EMBEDDED); override with ``models``
MODELS = {TEACHER: "optical-teacher", STUDENT: "optical-student", CS_TEACHER: "optical-codeswitch-teacher",
          CS_STUDENT: "optical-codeswitch-student"}
SWEEP_SYSTEMS = (BM25_NAME, TEACHER, STUDENT, FUSION, DENSE, DENSE_FUSION)


def first_stage(lang: str, index: MultilingualBM25, translate=None, num_results: int = 100) -> pt.Transformer:
    """BM25 over the English documents, queries translated (by default word by word with the lexicon induced from
    the shipped train bitext); the query as it came in is restored afterwards for the reranker."""
    translate = translate or LexiconTranslate(shipped_lexicon(lang))
    return translate >> index.bm25(num_results=num_results) >> pt.rewrite.reset()


@contextmanager
def timed(timings: dict, phase: str):
    """Adds the wall-clock seconds of the block to ``timings[phase]``."""
    start = time.perf_counter()
    yield
    timings[phase] = timings.get(phase, 0.0) + time.perf_counter() - start


def cached(reranker, path) -> pt.Transformer:
    """``reranker`` behind an on-disk score cache keyed by (query, docno): systems and runs that share pairs
    score them once, and an interrupted demo keeps what it scored."""
    from pyterrier_caching import Sqlite3ScorerCache

    return Sqlite3ScorerCache(str(path), reranker)


class Demo:
    """The demo's components, loaded once; :meth:`systems` builds the pipelines of one collection.

    Args:
        out: the report folder (indexes and score caches go inside).
        rerankers: system name -> cross-encoder or dense reranker transformer.
        rerank_depth: documents each reranker reorders.
        nmt: a translation model for the NMT pipeline (None: skipped); ``nmt_codes`` maps our language codes to
            the model's (e.g. ``{"sw": "swh_Latn"}`` for NLLB).
    """

    def __init__(self, out: Path, rerankers: dict, rerank_depth: int = 10, nmt=None, nmt_codes=None,
                 verbose: bool = True):
        self.out, self.rerankers, self.depth, self.verbose = out, rerankers, rerank_depth, verbose
        self.nmt, self.nmt_codes = nmt, dict(nmt_codes or {})
        self.fusion_weights = {}  # fused system -> weight of the student, tuned on the dev splits

    def index(self, collection: str) -> MultilingualBM25:
        index = MultilingualBM25(self.out / "indexes" / collection.replace("/", "_"), lang="en", verbose=False)
        if not index.built():
            index.index(pt.get_dataset(f"irds:{collection}").get_corpus_iter(verbose=False))
        return index

    def scorer(self, name: str, collection: str) -> pt.Transformer:
        """The reranker ``name`` behind its score cache for ``collection`` (one cache per precision, so a demo
        resumed at another precision never mixes their scores)."""
        reranker = self.rerankers[name]
        folder = f"{name.replace(' ', '-')}-{getattr(reranker, 'precision_', 'fp32')}"
        return cached(reranker, self.out / "cache" / folder / collection.replace("/", "_"))

    def fusion_partners(self, top: pt.Transformer, collection: str) -> dict:
        """Fused system -> the pipeline whose scores the student's are fused with."""
        if STUDENT not in self.rerankers:
            return {}
        partners = {FUSION: top}
        if DENSE in self.rerankers:
            partners[DENSE_FUSION] = top >> self.scorer(DENSE, collection)
        return partners

    def systems(self, collection: str, lang: str) -> dict:
        index = self.index(collection)
        top = first_stage(lang, index) % self.depth
        systems = {BM25_NAME: top}
        systems.update({name: top >> self.scorer(name, collection) for name in self.rerankers})
        for name, partner in self.fusion_partners(top, collection).items():
            if name in self.fusion_weights:
                systems[name] = fused(partner, self.scorer(STUDENT, collection), self.fusion_weights[name])
        if self.nmt is not None:
            translate = NMTTranslate(self.nmt, self.nmt_codes.get(lang, lang), self.nmt_codes.get("en", "en"),
                                     verbose=self.verbose)
            systems[NMT] = first_stage(lang, index, translate) % self.depth >> self.scorer(TEACHER, collection)
        return systems

    def tune_fusion(self, languages, max_queries: int) -> dict:
        """One weight per fused system for all languages: the best mean MRR@10 over their dev splits' queries."""
        curves = []
        for lang in languages:
            collection = f"optical/ui/{lang}-en/dev"
            dataset = pt.get_dataset(f"irds:{collection}")
            top = first_stage(lang, self.index(collection)) % self.depth
            for name, partner in self.fusion_partners(top, collection).items():
                pipeline = partner >> KeepScore() >> self.scorer(STUDENT, collection)
                curves.append(fusion_curve(pipeline(dataset.get_topics().head(max_queries)), dataset.get_qrels(),
                                           RR @ 10).assign(lang=lang, system=name))
        if not curves:
            return self.fusion_weights
        curve = pd.concat(curves, ignore_index=True)
        curve.to_csv(self.out / "fusion_dev.csv", index=False)
        for name, system_curve in curve.groupby("system", sort=False):
            self.fusion_weights[name] = best_weight(system_curve)
            logger.info("%s: student weight %.2f (dev MRR@10 by weight: %s)", name, self.fusion_weights[name],
                        system_curve.groupby("weight")["value"].mean().round(3).to_dict())
        return self.fusion_weights


def run_demo(out="runs/demo", languages=None, quick: bool = False, models: dict | None = None,
             max_queries: int | None = None, rerank_depth: int = 10, ratios=None, sweep_queries: int | None = None,
             ood: bool = True, overwrite: bool = False, nmt=None, nmt_codes=None, dense: str = E5_SMALL,
             verbose: bool = True, precision: str = "auto") -> Path:
    """Run the demo and write its report folder (``report.md``, CSVs, PNGs); returns the report's path.

    ``models`` overrides the checkpoint behind a system (``{"OPTICAL student": "path/to/student"}``; None drops
    it); by default the embedded rerankers, built from the shipped data on first use. ``nmt`` adds the NMT
    translate-test pipeline (a translation model id or folder; ``nmt_codes`` for its language codes).

    ``max_queries`` per language (default 100; 50 in ``quick`` mode), ``sweep_queries`` for each code-switch ratio
    (default 20). BM25 retrieves 100 documents and the rerankers reorder the top ``rerank_depth``. An existing
    report is refused unless ``overwrite``; an interrupted run is resumed (saved runs and scores are reused).
    """
    out = prepare_output(out, overwrite)
    languages = list(languages or (QUICK_LANGUAGES if quick else CHROMIUM_LANGUAGES))
    max_queries = max_queries or (50 if quick else 100)
    sweep_queries = sweep_queries or 20
    ratios = ratios or ((0.0, 0.5, 1.0) if quick else RATIOS)
    models = {**MODELS, **(models or {})}
    rerankers = {name: OpticalReranker(str(m), batch_size=64, verbose=verbose, precision=precision)
                 for name, m in models.items() if m is not None}
    rerankers[DENSE] = DenseReranker(dense, verbose=verbose, precision=precision)
    demo, timings = Demo(out, rerankers, rerank_depth, nmt, nmt_codes, verbose), {}
    with timed(timings, "fusion tuning"):
        demo.tune_fusion(languages, 50)

    def comparison(source: str, langs):
        template = "optical/ui/{}-en/test" if source == "chromium" else "optical/ui-kolibri/{}-en/test"
        datasets, systems = {}, {}
        for lang in langs:
            collection = template.format(lang)
            dataset = pt.get_dataset(f"irds:{collection}")
            datasets[lang] = (dataset.get_topics().head(max_queries), dataset.get_qrels())
            for name, pipeline in demo.systems(collection, lang).items():
                systems.setdefault(name, {})[lang] = pipeline
        return systems, datasets

    with timed(timings, "in domain"):
        systems, datasets = comparison("chromium", languages)
        main = compare(systems, datasets, MEASURES, TEACHER, correction="bonferroni",
                       save_dir=out / "runs" / "chromium", verbose=verbose)
    sections = [("Chromium test splits (in domain)", main, main.gap(MAIN_MEASURE))]
    for reference, heading in ((STUDENT, "against the OPTICAL student"), (DENSE, "against mE5 dense")):
        if reference in systems:  # OPTICAL against the alternatives a user would pick instead
            against = significance_table(main.per_query, reference, correction="bonferroni")
            sections.append((f"Chromium test splits, {heading}", Comparison(against, main.per_query, reference), None))
    ood_langs = [lang for lang in KOLIBRI_LANGUAGES if lang in languages or (not quick and lang in KOLIBRI_ONLY)]
    if ood and ood_langs:
        with timed(timings, "out of domain"):
            o_systems, o_datasets = comparison("kolibri", ood_langs)
            other = compare(o_systems, o_datasets, MEASURES, TEACHER, correction="bonferroni",
                            save_dir=out / "runs" / "kolibri", verbose=verbose)
        levels = set(other.table["resource"])
        sections.append(("Kolibri test splits (out of domain)", other,
                         other.gap(MAIN_MEASURE) if levels == {"high", "low"} else None))
    sweep_data = {lang: (t.head(sweep_queries), q) for lang, (t, q) in datasets.items()}
    sweep_systems = {name: systems[name] for name in SWEEP_SYSTEMS if name in systems}
    with timed(timings, "code-switch sweep"):
        sweep = code_switch_sweep(sweep_systems, sweep_data, {lang: shipped_lexicon(lang) for lang in languages},
                                  [RR @ 10], ratios, TEACHER, correction="bonferroni",
                                  save_dir=out / "runs" / "sweep", verbose=verbose)
    skipped = [] if nmt else ["The NMT translate-test pipeline was skipped: no translation model was given "
                              "(`--nmt MODEL`; none is reachable offline)."]
    weights = "; ".join(f"{name}: student weight {w:.2f}" for name, w in demo.fusion_weights.items())
    notes = [*skipped, f"Queries per language: {max_queries} (sweep: {sweep_queries}); rerank depth {rerank_depth}."
             + (f" Fusion weights, tuned on the Chromium dev splits (`fusion_dev.csv`): {weights}." if weights else ""),
             "Wall clock of this run (saved runs and cached scores are reused on a resumed run): "
             + ", ".join(f"{phase} {seconds / 60:.1f} min" for phase, seconds in timings.items()) + ".",
             "Sentence-level retrieval over software interface strings: a small, real, offline CLIR task, "
             "not a substitute for CLIRMatrix, WikiCLIR or mMARCO (see the README for those)."]
    return write_report(out, sections, MAIN_MEASURE, sweep, "OPTICAL embedded demo", notes)
