"""The embedded demo: offline CLIR on the shipped real bitext (sentence-level retrieval over software interface
text), answering how far OPTICAL distillation closes the gap between high- and low-resource languages, against the
strongest dense baseline, and how that gap moves when the queries are code-switched.

Per language the collection is the English side of a test split; queries are its translations. Systems: BM25 over
dictionary-translated queries; the English teacher cross-encoder zero-shot and the OPTICAL student reranking BM25;
the student fused with BM25; multilingual-e5-small retrieving over the whole collection (pyterrier-dr), the student
reranking its top k, the student fused with it, and the control: the teacher fused with it (no OT distillation).
Rerank depth, fusion method and weight are chosen on the dev splits of the *other* source (Kolibri dev for the
Chromium tests and vice versa), never on a test split. ``full`` adds the code-switch teacher and OPTICAL on it and
the code-switch sweep.
"""
from __future__ import annotations

import json
import logging
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyterrier as pt
from ir_measures import AP, RR, R, nDCG

from ..data.bitext import CHROMIUM_LANGUAGES, KOLIBRI_LANGUAGES
from ..data.languages import language
from ..data.lexicon import shipped_lexicon
from ..rerank.backbones import E5_SMALL
from ..rerank.checkpoint import weights_digest
from ..rerank.dense import DenseIndex, E5Encoder
from ..rerank.reranker import OpticalReranker
from ..rerank.scoring import check_positive_int
from ..retrieve.bm25 import MultilingualBM25
from ..retrieve.codeswitch import LexiconTranslate
from ..retrieve.translate import NMTTranslate
from ..train.embedded import EMBEDDED, build_minutes
from .compare import Comparison, code_switch_sweep, compare, significance_table
from .fusion import KeepScore, best_setting, fused, fusion_grid, without_overlap
from .report import (Section, detectable_difference, distillation_share, markdown_table, prepare_output,
                     reranking_ceiling, results_table, write_report)

logger = logging.getLogger(__name__)
QUICK_LANGUAGES = ("sw", "de")
MAIN_MEASURE = "RR@10"
RATIOS = (0.0, 0.25, 0.5, 0.75, 1.0)
FIRST_STAGE_DEPTH = 100  # documents each first stage retrieves
MEASURES = [RR @ 10, nDCG @ 10, AP, R @ FIRST_STAGE_DEPTH]  # the recall bounds the reranking ceiling
DEPTHS = (10,)  # rerank depth of the first run (its dev grid tunes the fusion weights only)
FULL_DEPTHS = (10, 20)  # and in the full study (50 gained at most .005 dev RR@10 for a third of its time)
SOURCES = {"chromium": "optical/ui/{}-en/{}", "kolibri": "optical/ui-kolibri/{}-en/{}"}
SOURCE_LANGUAGES = {"chromium": CHROMIUM_LANGUAGES, "kolibri": KOLIBRI_LANGUAGES}
DEV_OF = {"chromium": "kolibri", "kolibri": "chromium"}  # the dev source each test source is tuned on

BM25_NAME = "BM25 (lexicon translation)"
TEACHER = "teacher zero-shot"
STUDENT = "OPTICAL student"
FUSION = "OPTICAL + BM25 fusion"
DENSE = "mE5 retrieval"
DENSE_STUDENT = "mE5 then OPTICAL student"
DENSE_CONTROL = "mE5 + teacher fusion"
DENSE_FUSION = "mE5 + OPTICAL fusion"
CS_TEACHER = "code-switch teacher"
CS_STUDENT = "OPTICAL on code-switch teacher"
NMT = "NMT >> BM25 >> teacher"
# system -> the embedded reranker behind it (train.embedded.EMBEDDED); override with ``models``
MODELS = {TEACHER: "optical-teacher", STUDENT: "optical-student", CS_TEACHER: "optical-codeswitch-teacher",
          CS_STUDENT: "optical-codeswitch-student"}
FULL_ONLY = (CS_TEACHER, CS_STUDENT)
CHROMIUM_LABEL, KOLIBRI_LABEL = "Chromium test splits (in domain)", "Kolibri test splits (out of domain)"
HEADLINE_FILE = "headline.md"
# tuned system -> (first stage, reranker, fused); DENSE_STUDENT is the reranker alone (weight 1) at the chosen depth
TUNED = {FUSION: ("bm25", STUDENT, True), DENSE_STUDENT: ("dense", STUDENT, False),
         DENSE_CONTROL: ("dense", TEACHER, True), DENSE_FUSION: ("dense", STUDENT, True)}
SWEEP_SYSTEMS = (BM25_NAME, TEACHER, STUDENT, DENSE, DENSE_CONTROL, DENSE_FUSION)


def first_stage(lang: str, index: MultilingualBM25, translate=None, num_results: int = FIRST_STAGE_DEPTH
                ) -> pt.Transformer:
    """BM25 over the English documents, queries translated (by default word by word with the lexicon induced from
    the shipped train bitext); the query as it came in is restored afterwards for the reranker."""
    translate = translate or LexiconTranslate(shipped_lexicon(lang))
    return translate >> index.bm25(num_results=num_results) >> pt.rewrite.reset()


def check_depth(depth: int, available: int = FIRST_STAGE_DEPTH) -> int:
    """``depth`` (a positive integer) capped, with a warning, at what the first stage returns."""
    check_positive_int("rerank depth", depth)
    if depth > available:
        warnings.warn(f"rerank depth {depth} is larger than the {available} documents the first stage returns: "
                      f"reranking {available}")
        return available
    return depth


@contextmanager
def timed(timings: dict, phase: str):
    """Adds the wall-clock seconds of the block to ``timings[phase]``."""
    start = time.perf_counter()
    yield
    timings[phase] = timings.get(phase, 0.0) + time.perf_counter() - start


class Phases:
    """Announces each phase of the demo on one line: its number, what it does, and about how long is left in all,
    from planned minutes per phase; the scoring phases' plan is rescaled by how long the finished scoring phases took
    against theirs (the model builds have their own estimate and bars)."""

    def __init__(self, plan: dict, verbose: bool = True):
        self.plan, self.verbose, self.done, self.timings = dict(plan), verbose, [], {}

    @contextmanager
    def phase(self, name: str, what: str):
        scoring = [p for p in self.done if p != "models"]
        planned = sum(self.plan[p] for p in scoring)
        pace = sum(self.timings[p] for p in scoring) / 60 / planned if planned > 0.5 else 1.0
        left = sum(minutes * (1.0 if phase == "models" else pace) for phase, minutes in self.plan.items()
                   if phase not in self.done)
        if self.verbose:
            print(f"[{len(self.done) + 1}/{len(self.plan)}] {what} (about {max(1, round(left))} min left in all)",
                  flush=True)
        with timed(self.timings, name):
            yield
        self.done.append(name)


def cached(reranker, path) -> pt.Transformer:
    """``reranker`` behind an on-disk score cache keyed by (query, docno): systems and runs that share pairs
    score them once, and an interrupted demo keeps what it scored."""
    from pyterrier_caching import Sqlite3ScorerCache

    return Sqlite3ScorerCache(str(path), reranker)


class Demo:
    """The demo's components, loaded once; :meth:`systems` builds the pipelines of one collection.

    Args:
        out: the report folder (indexes and score caches go inside).
        rerankers: system name -> cross-encoder transformer.
        encoder: the dense bi-encoder (retrieval over each whole collection).
        rerank_depth: documents the plain rerankers of BM25 reorder.
        nmt: a translation model for the NMT pipeline (None: skipped); ``nmt_codes`` maps our language codes to
            the model's (e.g. ``{"sw": "swh_Latn"}`` for NLLB).
    """

    def __init__(self, out: Path, rerankers: dict, encoder: E5Encoder, rerank_depth: int = 10, nmt=None,
                 nmt_codes=None, verbose: bool = True):
        self.out, self.rerankers, self.encoder, self.verbose = out, rerankers, encoder, verbose
        self.depth = check_depth(rerank_depth)
        self.nmt, self.nmt_codes = nmt, dict(nmt_codes or {})
        self.settings = {}  # test source -> tuned system -> {depth, method, weight, dev_value}
        self.digests = {}  # reranker name -> weights_digest, computed once

    def bm25_index(self, collection: str) -> MultilingualBM25:
        index = MultilingualBM25(self.out / "indexes" / collection.replace("/", "_"), lang="en", verbose=False)
        if not index.built():
            index.index(pt.get_dataset(f"irds:{collection}").get_corpus_iter(verbose=False))
        return index

    def dense_index(self, collection: str) -> DenseIndex:
        index = DenseIndex(self.out / "dense" / collection.replace("/", "_"), self.encoder)
        if not index.built():
            index.index(pt.get_dataset(f"irds:{collection}").get_corpus_iter(verbose=False))
        return index

    def first_stages(self, collection: str, lang: str) -> dict:
        return {"bm25": first_stage(lang, self.bm25_index(collection)),
                "dense": self.dense_index(collection).retriever(FIRST_STAGE_DEPTH)}

    def scorer(self, name: str, collection: str) -> pt.Transformer:
        """The reranker ``name`` behind its score cache for ``collection``: one cache per backend, precision and
        weights (a demo resumed at another precision or backend, or with another checkpoint under the same name,
        never mixes scores)."""
        reranker = self.rerankers[name]
        if name not in self.digests:
            self.digests[name] = weights_digest(reranker.model_)
        numerics = getattr(reranker, "precision_", "fp32")
        if getattr(reranker, "backend_", "torch") != "torch":
            numerics = f"{reranker.backend_}-{numerics}"
        folder = f"{name.replace(' ', '-')}-{numerics}-{self.digests[name]}"
        return cached(reranker, self.out / "cache" / folder / collection.replace("/", "_"))

    def systems(self, collection: str, lang: str, source: str) -> dict:
        stages = self.first_stages(collection, lang)
        top = stages["bm25"] % self.depth
        systems = {BM25_NAME: stages["bm25"]}
        systems.update({name: top >> self.scorer(name, collection) for name in self.rerankers})
        systems[DENSE] = stages["dense"]
        for name, (stage, reranker, fuse) in TUNED.items():
            setting = self.settings.get(source, {}).get(name)
            if setting is None or reranker not in self.rerankers:
                continue
            cut = stages[stage] % setting["depth"]
            scorer = self.scorer(reranker, collection)
            systems[name] = fused(cut, scorer, setting["weight"], setting["method"]) if fuse else cut >> scorer
        if self.nmt is not None and TEACHER in self.rerankers:
            translate = NMTTranslate(self.nmt, self.nmt_codes.get(lang, lang), self.nmt_codes.get("en", "en"),
                                     verbose=self.verbose)
            systems[NMT] = first_stage(lang, self.bm25_index(collection), translate) % self.depth >> self.scorer(
                TEACHER, collection)
        order = [BM25_NAME, TEACHER, STUDENT, FUSION, DENSE, DENSE_STUDENT, DENSE_CONTROL, DENSE_FUSION]
        return {name: systems[name] for name in [*order, *systems] if name in systems}

    def tune(self, source: str, test_topics: dict, dev_queries: int, depths=DEPTHS) -> dict:
        """Depth, fusion method and weight of each tuned system for the test ``source``, chosen on the dev splits of
        the other source in the languages both share (pooled; dev queries that occur among the test topics are left
        out). The grid means go to ``fusion_dev-<source>.csv``."""
        dev_source = DEV_OF[source]
        test = pd.concat(list(test_topics.values()), ignore_index=True)
        langs = [lang for lang in SOURCE_LANGUAGES[dev_source] if lang in test_topics] or SOURCE_LANGUAGES[dev_source]
        grids, dropped = [], 0
        for lang in langs:
            collection = SOURCES[dev_source].format(lang, "dev")
            dataset = pt.get_dataset(f"irds:{collection}")
            topics = dataset.get_topics()
            unseen = without_overlap(topics, test)
            dropped += len(topics) - len(unseen)
            topics = unseen.head(dev_queries)
            stages = self.first_stages(collection, lang)
            lang_grids = {}  # (first stage, reranker) -> its grid: systems sharing a pipeline run it once
            for name, (stage, reranker, _) in TUNED.items():
                if reranker not in self.rerankers:
                    continue
                if (stage, reranker) not in lang_grids:
                    run = (stages[stage] % max(depths) >> KeepScore() >> self.scorer(reranker, collection))(topics)
                    lang_grids[stage, reranker] = fusion_grid(run, dataset.get_qrels(), RR @ 10, depths)
                grids.append(lang_grids[stage, reranker].assign(system=name, lang=lang))
        if not grids:
            return {}
        grid = pd.concat(grids, ignore_index=True)
        means = grid.groupby(["system", "depth", "method", "weight"], sort=False)["value"].mean().reset_index()
        means.to_csv(self.out / f"fusion_dev-{source}.csv", index=False)
        chosen = {}
        for name, system_grid in grid.groupby("system", sort=False):
            if not TUNED[name][2]:
                system_grid = system_grid[(system_grid["weight"] == 1.0) & (system_grid["method"] == "minmax")]
            chosen[name] = {**best_setting(system_grid), "dev_languages": langs, "dev_queries_in_test": dropped}
            logger.info("%s tuned on %s dev: %s", name, dev_source, chosen[name])
        self.settings[source] = chosen
        (self.out / f"settings-{source}.json").write_text(json.dumps(chosen, indent=1))
        return chosen


OPTICAL_PIPELINES = (STUDENT, FUSION, DENSE_STUDENT, DENSE_FUSION)


def headline(result: Comparison, measure: str = MAIN_MEASURE) -> pd.DataFrame:
    """The low-resource rows of a comparison against mE5 retrieval: the teacher, the OPTICAL student, mE5 retrieval
    and the best OPTICAL pipeline (by its mean over these languages); ``*`` marks a significant difference from mE5
    retrieval after correction."""
    table = results_table(result, measure)
    means = result.means()
    low = means[(means["measure"] == measure) & (means["resource"] == "low")]
    candidates = low[low["system"].isin(OPTICAL_PIPELINES)].groupby("system")["value"].mean()
    best = candidates.idxmax() if len(candidates) else None
    columns = ["lang"] + [c for c in dict.fromkeys([TEACHER, STUDENT, DENSE, best]) if c in table.columns]
    rows = table[table["resource"] == "low"][columns]
    return rows.rename(columns={best: f"best OPTICAL pipeline: {best}"} if best != STUDENT else {})


def headline_lines(label: str, result: Comparison) -> list:
    """The headline table of one collection as markdown lines, with its caption."""
    return [f"{label}, {MAIN_MEASURE}; `*`: significantly different from {DENSE} (Bonferroni).", "",
            markdown_table(headline(result)), ""]


def setting_notes(settings: dict) -> list:
    """One sentence per test source naming what was chosen on the other source's dev splits."""
    notes = []
    for source, chosen in settings.items():
        parts = [f"{name}: depth {s['depth']}" + (f", {s['method']} weight {s['weight']:.1f}" if TUNED[name][2] else "")
                 for name, s in chosen.items()]
        first = next(iter(chosen.values()))
        notes.append(f"Chosen on the {DEV_OF[source].capitalize()} dev splits ({', '.join(first['dev_languages'])}; "
                     f"{first['dev_queries_in_test']} dev queries that are also test queries left out) for the "
                     f"{source.capitalize()} tests (`fusion_dev-{source}.csv` has every depth, method and weight; "
                     "the setting nearest min-max 0.5 at the smallest depth among those within one standard error of "
                     "the best dev mean): " + "; ".join(parts) + ".")
    return notes


def run_demo(out="runs/demo", languages=None, quick: bool = False, models: dict | None = None,
             max_queries: int | None = None, rerank_depth: int = 10, ratios=None, sweep_queries: int | None = None,
             ood: bool = True, overwrite: bool = False, nmt=None, nmt_codes=None, dense: str = E5_SMALL,
             verbose: bool = True, precision: str = "auto", full: bool = False, dev_queries: int | None = None,
             tune_depths=None, backend: str | None = None) -> Path:
    """Run the demo and write its report folder (``report.md``, CSVs, PNGs); returns the report's path.

    The default answers the first question (does OPTICAL close the gap, and against what): the embedded teacher
    and student, BM25, mE5 retrieval and the fused pipelines with the control, in and out of domain. ``full`` adds
    the code-switch teacher and OPTICAL on it and the
    code-switch sweep (``ratios``, ``sweep_queries`` per ratio, default 20); ``quick`` is a smoke run (sw and de, 30
    queries, no sweep).

    ``models`` overrides the checkpoint behind a system (``{"OPTICAL student": "path/to/student"}``; None drops
    it); by default the embedded rerankers, built from the shipped data on first use. ``nmt`` adds the NMT
    translate-test pipeline (a translation model id or folder; ``nmt_codes`` for its language codes).
    ``max_queries`` per language (default 100), ``dev_queries`` per dev language for choosing depth and fusion
    (default 30; 50 with ``full``), ``tune_depths`` the rerank depths tried there (default 10; 10 and 20 with
    ``full``; each is capped at the first stages' 100 documents). An existing report is refused unless
    ``overwrite``; an interrupted run is resumed (indexes, saved runs and scores are reused). ``precision`` and
    ``backend`` are the rerankers' and the dense encoder's (see :class:`OpticalReranker`).
    """
    if quick and full:
        raise ValueError("choose quick or full, not both")
    out = prepare_output(out, overwrite)
    languages = list(languages or (QUICK_LANGUAGES if quick else CHROMIUM_LANGUAGES))
    max_queries = max_queries or (30 if quick else 100)
    dev_queries = dev_queries or (20 if quick else 50 if full else 30)
    tune_depths = tuple(sorted({check_depth(d) for d in tune_depths or (FULL_DEPTHS if full else DEPTHS)}))
    models = {**MODELS, **({} if full else {name: None for name in FULL_ONLY}), **(models or {})}
    ood_langs = [lang for lang in KOLIBRI_LANGUAGES if lang in languages or not quick] if ood else []
    sweep = full and not quick
    embedded = [str(m) for m in models.values() if m is not None and str(m) in EMBEDDED]
    per_query = 0.0085 if full else 0.0035  # minutes per test query and language on 2 cores in bf16 (measured)
    plan = {"models": 0.3 + build_minutes(embedded), "chromium": per_query * len(languages) * max_queries,
            "kolibri": per_query * len(ood_langs) * min(max_queries, 110), "sweep": 3.0 if sweep else 0}
    phases = Phases({k: v for k, v in plan.items() if v}, verbose)
    with phases.phase("models", "loading the rerankers (the embedded ones are built on first use, with their own "
                                "bars) and the dense encoder"):
        rerankers = {name: OpticalReranker(str(m), verbose=verbose, precision=precision,
                                           backend=backend) for name, m in models.items() if m is not None}
        encoder = E5Encoder(dense, precision=precision, cache=True, backend=backend)
    demo = Demo(out, rerankers, encoder, rerank_depth, nmt, nmt_codes, verbose)

    def datasets_of(source: str, langs) -> dict:
        data = {}
        for lang in langs:
            dataset = pt.get_dataset(f"irds:{SOURCES[source].format(lang, 'test')}")
            data[lang] = (dataset.get_topics().head(max_queries), dataset.get_qrels())
        return data

    def comparison(source: str, langs, first_result=None):
        """The comparison of one test source; ``first_result`` (if given) is called with the comparison of its
        low-resource languages, which are run first: the headline needs only them, and its figures are the same
        (corrections are per language); the whole comparison then reuses their saved runs."""
        datasets = datasets_of(source, langs)
        demo.tune(source, {lang: topics for lang, (topics, _) in datasets.items()}, dev_queries, tune_depths)
        systems = {}
        for lang in langs:
            for name, pipeline in demo.systems(SOURCES[source].format(lang, "test"), lang, source).items():
                systems.setdefault(name, {})[lang] = pipeline

        def compared(chosen):  # the runs are saved per language and reused, so a language is never run twice
            return compare({name: {lang: per_lang[lang] for lang in chosen} for name, per_lang in systems.items()},
                           {lang: datasets[lang] for lang in chosen}, MEASURES, DENSE, correction="bonferroni",
                           save_dir=out / "runs" / source, verbose=verbose)

        low = [lang for lang in langs if language(lang).resource == "low"]
        if first_result is not None and low:
            first_result(compared(low))
        return systems, datasets, compared(langs)

    def print_first_result(low: Comparison):
        print("\n".join(["", "## First result: low-resource languages", "", *headline_lines(CHROMIUM_LABEL, low)]),
              flush=True)

    sections = []

    def add_sections(label: str, result: Comparison, systems: dict):
        levels = set(result.table["resource"])
        sections.append(Section(f"{label}, against mE5 retrieval", result,
                                result.gap(MAIN_MEASURE) if levels == {"high", "low"} else None,
                                ceiling=reranking_ceiling(result, MAIN_MEASURE, str(R @ FIRST_STAGE_DEPTH))))
        if DENSE_CONTROL in systems and DENSE_FUSION in systems:
            against = significance_table(result.per_query, DENSE_CONTROL, correction="bonferroni")
            sections.append(Section(f"{label}, against the control (the teacher fused with mE5)",
                                    Comparison(against, result.per_query, DENSE_CONTROL),
                                    share=distillation_share(result, DENSE, DENSE_CONTROL, DENSE_FUSION,
                                                             MAIN_MEASURE)))
        if TEACHER in systems:
            against = significance_table(result.per_query, TEACHER, correction="bonferroni")
            sections.append(Section(f"{label}, against the teacher zero-shot",
                                    Comparison(against, result.per_query, TEACHER)))

    with phases.phase("chromium", f"in domain: Chromium test splits, {len(languages)} languages × {max_queries} "
                                  "queries (tuning on Kolibri dev first)"):
        systems, datasets, main = comparison("chromium", languages, print_first_result if verbose and ood_langs
                                             else None)
        add_sections(CHROMIUM_LABEL, main, systems)
    if ood_langs:
        with phases.phase("kolibri", f"out of domain: Kolibri test splits, {len(ood_langs)} languages (tuning on "
                                     "Chromium dev first)"):
            o_systems, _, other = comparison("kolibri", ood_langs)
            add_sections(KOLIBRI_LABEL, other, o_systems)
    sweep_result = None
    if sweep:
        ratios = ratios or RATIOS
        sweep_queries = sweep_queries or 20
        sweep_data = {lang: (t.head(sweep_queries), q) for lang, (t, q) in datasets.items()}
        sweep_systems = {name: systems[name] for name in SWEEP_SYSTEMS if name in systems}
        with phases.phase("sweep", f"code-switch sweep: {len(ratios)} ratios × {sweep_queries} queries"):
            sweep_result = code_switch_sweep(sweep_systems, sweep_data,
                                             {lang: shipped_lexicon(lang) for lang in languages}, [RR @ 10], ratios,
                                             DENSE, correction="bonferroni", save_dir=out / "runs" / "sweep",
                                             verbose=verbose)
    left_out = [] if full else ["Left out of this run (`optical demo --full` runs them): the code-switch teacher, "
                                "OPTICAL on it, and the code-switch sweep."]
    if quick:
        left_out.append("Quick run: sw and de only, in and out of domain, 30 queries each; a smoke test, too few "
                        "queries for the significance marks to mean much.")
    skipped = [] if nmt else ["The NMT translate-test pipeline was skipped: no translation model was given "
                              "(`--nmt MODEL`; none is reachable offline)."]
    notes = [*left_out, *skipped, f"OPTICAL student: `{models.get(STUDENT)}`; teacher: `{models.get(TEACHER)}`.",
             f"Queries per language: {max_queries} (dev: up to {dev_queries} per language; rerank depths tried: "
             f"{', '.join(map(str, tune_depths))})"
             + (f", sweep: {sweep_queries} per ratio" if sweep else "") + f"; BM25 rerankers reorder the top "
             f"{demo.depth}; first stages retrieve {FIRST_STAGE_DEPTH}.", *setting_notes(demo.settings),
             "Wall clock of this run (indexes, saved runs and cached scores are reused on a resumed run): "
             + ", ".join(f"{phase} {seconds / 60:.1f} min" for phase, seconds in phases.timings.items()) + ".",
             "Sentence-level retrieval over software interface strings: a small, real, offline CLIR task, "
             "not a substitute for CLIRMatrix, WikiCLIR or mMARCO (see the README for those)."]
    power = detectable_difference(main, MAIN_MEASURE)
    notes.append(f"With {power['queries']} queries per language a paired difference of {power['raw']:.3f} "
                 f"{MAIN_MEASURE} is detected with 80% power at p < .05 ({power['corrected']:.3f} after Bonferroni "
                 f"over {power['tests']} systems; median per-query SD of the differences to {DENSE}: "
                 f"{power['sd']:.2f}).")
    summary = ["## Headline: low-resource languages", "", *headline_lines(CHROMIUM_LABEL, main),
               *(headline_lines(KOLIBRI_LABEL, other) if ood_langs else [])]
    (out / HEADLINE_FILE).write_text("\n".join(summary))
    return write_report(out, sections, MAIN_MEASURE, sweep_result, "OPTICAL embedded demo", [*notes, "", *summary])
