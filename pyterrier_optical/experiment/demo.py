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

A run (:func:`run_with`) goes through named steps: its options are checked (:meth:`DemoOptions.resolved`), the
report folder is prepared, the models are loaded (:func:`load_demo`), each test source is tuned on the other's dev
splits and compared (:func:`run_source`), the sweep is run (:func:`run_sweep`), and the report is written with its
notes and headline (:func:`write_demo_report`).
"""
from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyterrier as pt
from ir_measures import AP, RR, R, nDCG

from ..data.bitext import CHROMIUM_LANGUAGES, KOLIBRI_LANGUAGES
from ..data.datasets import COLLECTIONS, NAME
from ..data.languages import language
from ..data.lexicon import shipped_lexicon
from ..models.checkpoint import weights_digest
from ..models.registry import EMBEDDED, build_minutes
from ..rerank.fusion import KeepScore, best_setting, fused, fusion_grid, without_overlap
from ..rerank.reranker import OpticalReranker
from ..retrieve.bm25 import MultilingualBM25
from ..retrieve.codeswitch import LexiconTranslate
from ..retrieve.dense import DenseIndex, E5Encoder
from ..retrieve.translate import NMTTranslate
from .compare import Comparison, code_switch_sweep, compare, significance_table
from .demo_options import CS_STUDENT, CS_TEACHER, MODELS  # noqa: F401 (the demo's systems, named here too)
from .demo_options import FIRST_STAGE_DEPTH, SIZES, STUDENT, TEACHER, DemoOptions, check_depth
from .report import (CACHE_DIR, DENSE_DIR, FUSION_DEV_CSV, HEADLINE_FILE, INDEXES_DIR, SETTINGS_JSON, Section,
                     detectable_difference, distillation_share, markdown_table, prepare_output, reranking_ceiling,
                     results_table, write_report)

logger = logging.getLogger(__name__)
MAIN_MEASURE = "RR@10"
MEASURES = [RR @ 10, nDCG @ 10, AP, R @ FIRST_STAGE_DEPTH]  # the recall bounds the reranking ceiling
# the test collections of each shipped source, by language and split (the data layer's names)
SOURCES = {source: f"{NAME}/{collection}/{{}}-en/{{}}" for collection, source in COLLECTIONS.items()}
SOURCE_LANGUAGES = {"chromium": CHROMIUM_LANGUAGES, "kolibri": KOLIBRI_LANGUAGES}
DEV_OF = {"chromium": "kolibri", "kolibri": "chromium"}  # the dev source each test source is tuned on

BM25_NAME = "BM25 (lexicon translation)"
FUSION = "OPTICAL + BM25 fusion"
DENSE = "mE5 retrieval"
DENSE_STUDENT = "mE5 then OPTICAL student"
DENSE_CONTROL = "mE5 + teacher fusion"
DENSE_FUSION = "mE5 + OPTICAL fusion"
NMT = "NMT >> BM25 >> teacher"
CHROMIUM_LABEL, KOLIBRI_LABEL = "Chromium test splits (in domain)", "Kolibri test splits (out of domain)"
# tuned system -> (first stage, reranker, fused); DENSE_STUDENT is the reranker alone (weight 1) at the chosen depth
TUNED = {FUSION: ("bm25", STUDENT, True), DENSE_STUDENT: ("dense", STUDENT, False),
         DENSE_CONTROL: ("dense", TEACHER, True), DENSE_FUSION: ("dense", STUDENT, True)}
SWEEP_SYSTEMS = (BM25_NAME, TEACHER, STUDENT, DENSE, DENSE_CONTROL, DENSE_FUSION)
OPTICAL_PIPELINES = (STUDENT, FUSION, DENSE_STUDENT, DENSE_FUSION)


def first_stage(lang: str, index: MultilingualBM25, translate=None, num_results: int = FIRST_STAGE_DEPTH
                ) -> pt.Transformer:
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

    def __init__(self, out: Path, rerankers: dict, encoder: E5Encoder, rerank_depth: int = DemoOptions.rerank_depth,
                 nmt=None, nmt_codes=None, verbose: bool = True):
        self.out, self.rerankers, self.encoder, self.verbose = out, rerankers, encoder, verbose
        self.depth = check_depth(rerank_depth)
        self.nmt, self.nmt_codes = nmt, dict(nmt_codes or {})
        self.settings = {}  # test source -> tuned system -> {depth, method, weight, dev_value}
        self.digests = {}  # reranker name -> weights_digest, computed once

    def bm25_index(self, collection: str) -> MultilingualBM25:
        index = MultilingualBM25(self.out / INDEXES_DIR / collection.replace("/", "_"), lang="en", verbose=False)
        if not index.built():
            index.index(pt.get_dataset(f"irds:{collection}").get_corpus_iter(verbose=False))
        return index

    def dense_index(self, collection: str) -> DenseIndex:
        index = DenseIndex(self.out / DENSE_DIR / collection.replace("/", "_"), self.encoder)
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
        return cached(reranker, self.out / CACHE_DIR / folder / collection.replace("/", "_"))

    def systems(self, collection: str, lang: str, source: str) -> dict:
        """The demo's systems on ``collection`` (the tuned ones with the settings chosen for ``source``)."""
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

    def dev_grids(self, collection: str, lang: str, topics: pd.DataFrame, depths) -> list:
        """The fusion grid (:func:`fusion_grid`) of each tuned system on the dev ``topics`` of ``collection``;
        systems that share a first stage and a reranker share one run."""
        stages, qrels = self.first_stages(collection, lang), pt.get_dataset(f"irds:{collection}").get_qrels()
        shared, grids = {}, []  # (first stage, reranker) -> its grid
        for name, (stage, reranker, _) in TUNED.items():
            if reranker not in self.rerankers:
                continue
            if (stage, reranker) not in shared:
                run = (stages[stage] % max(depths) >> KeepScore() >> self.scorer(reranker, collection))(topics)
                shared[stage, reranker] = fusion_grid(run, qrels, RR @ 10, depths, topics=topics)
            grids.append(shared[stage, reranker].assign(system=name, lang=lang))
        return grids

    def tune(self, source: str, test_topics: dict, dev_queries: int, depths=SIZES["default"]["tune_depths"]) -> dict:
        """Depth, fusion method and weight of each tuned system for the test ``source``, chosen on the dev splits of
        the other source in the languages both share (pooled; dev queries that occur among the test topics are left
        out). The grid means go to ``fusion_dev-<source>.csv``, the choice to ``settings-<source>.json``."""
        dev_source = DEV_OF[source]
        test = pd.concat(list(test_topics.values()), ignore_index=True)
        langs = [lang for lang in SOURCE_LANGUAGES[dev_source] if lang in test_topics] or SOURCE_LANGUAGES[dev_source]
        grids, dropped = [], 0
        for lang in langs:
            collection = SOURCES[dev_source].format(lang, "dev")
            topics = pt.get_dataset(f"irds:{collection}").get_topics()
            unseen = without_overlap(topics, test)
            dropped += len(topics) - len(unseen)
            grids += self.dev_grids(collection, lang, unseen.head(dev_queries), depths)
        if not grids:
            return {}
        grid = pd.concat(grids, ignore_index=True)
        means = grid.groupby(["system", "depth", "method", "weight"], sort=False)["value"].mean().reset_index()
        means.to_csv(self.out / FUSION_DEV_CSV.format(source), index=False)
        chosen = {name: {**choose_setting(name, system_grid), "dev_languages": langs, "dev_queries_in_test": dropped}
                  for name, system_grid in grid.groupby("system", sort=False)}
        for name, setting in chosen.items():
            logger.info("%s tuned on %s dev: %s", name, dev_source, setting)
        self.settings[source] = chosen
        (self.out / SETTINGS_JSON.format(source)).write_text(json.dumps(chosen, indent=1))
        return chosen


def choose_setting(name: str, grid: pd.DataFrame) -> dict:
    """The setting of the tuned system ``name`` from its dev grid; a reranker that is not fused keeps weight 1."""
    if not TUNED[name][2]:
        grid = grid[(grid["weight"] == 1.0) & (grid["method"] == "minmax")]
    return best_setting(grid)


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
                     f"{source.capitalize()} tests (`{FUSION_DEV_CSV.format(source)}` has every depth, method and "
                     "weight; "
                     "the setting nearest min-max 0.5 at the smallest depth among those within one standard error of "
                     "the best dev mean): " + "; ".join(parts) + ".")
    return notes


@dataclass
class SourceRun:
    """The comparison of one test source: its systems (name -> {lang: pipeline}), datasets and result."""

    systems: dict
    datasets: dict
    result: Comparison


def run_demo(out=DemoOptions.out, languages=DemoOptions.languages, **options) -> Path:
    """Run the demo and write its report folder (``report.md``, CSVs, PNGs); returns the report's path.

    ``out``, ``languages`` and the keywords are the fields of :class:`DemoOptions` (also the flags of ``optical
    demo``). The default answers the first question (does OPTICAL close the gap, and against what): the embedded
    teacher and student, BM25, mE5 retrieval and the fused pipelines with the control, in and out of domain.
    ``full`` adds the code-switch teacher and OPTICAL on it and the code-switch sweep; ``quick`` is a smoke run.
    ``models`` overrides the checkpoint behind a system (``{"OPTICAL student": "path/to/student"}``; None drops
    it); by default the embedded rerankers, assembled from the shipped data on first use. An existing report is
    refused unless ``overwrite``; an interrupted run is resumed (indexes, saved runs and scores are reused).
    """
    return run_with(DemoOptions(out, languages, **options))


def run_with(options: DemoOptions, cli: bool = False) -> Path:
    """Run the demo with ``options`` (checked first, before any folder is made or model loaded; ``cli``: errors
    name the options as flags) and write its report; returns the report's path."""
    options = options.resolved(cli)
    out = prepare_output(options.out, options.overwrite)
    phases = Phases(time_plan(options), options.verbose)
    with phases.phase("models", "loading the rerankers (the embedded ones are built on first use, with their own "
                                "bars) and the dense encoder"):
        demo = load_demo(options, out)
    first_result = print_first_result if options.verbose and options.ood_languages else None
    with phases.phase("chromium", f"in domain: Chromium test splits, {len(options.languages)} languages × "
                                  f"{options.max_queries} queries (tuning on Kolibri dev first)"):
        main = run_source(demo, options, "chromium", options.languages, first_result)
        sections = source_sections(CHROMIUM_LABEL, main)
    other = None
    if options.ood_languages:
        with phases.phase("kolibri", f"out of domain: Kolibri test splits, {len(options.ood_languages)} languages "
                                     "(tuning on Chromium dev first)"):
            other = run_source(demo, options, "kolibri", options.ood_languages)
            sections += source_sections(KOLIBRI_LABEL, other)
    sweep = None
    if options.sweep:
        with phases.phase("sweep", f"code-switch sweep: {len(options.ratios)} ratios × {options.sweep_queries} "
                                   "queries"):
            sweep = run_sweep(options, out, main)
    return write_demo_report(out, options, demo, phases.timings, sections, sweep, main.result,
                             None if other is None else other.result)


def time_plan(options: DemoOptions) -> dict:
    """Planned minutes of each phase of a run (on 2 cores in bf16, measured): building the embedded models that
    are not built yet, and scoring each query of each language (more systems with ``full``)."""
    embedded = [str(m) for m in options.system_models().values() if str(m) in EMBEDDED]
    per_query = 0.0085 if options.full else 0.0035  # minutes per test query and language
    plan = {"models": 0.3 + build_minutes(embedded),
            "chromium": per_query * len(options.languages) * options.max_queries,
            "kolibri": per_query * len(options.ood_languages) * min(options.max_queries, 110),
            "sweep": 3.0 if options.sweep else 0}
    return {phase: minutes for phase, minutes in plan.items() if minutes}


def load_demo(options: DemoOptions, out: Path) -> Demo:
    """The rerankers of the run's systems and the dense encoder, loaded (the embedded ones assembled on first use)."""
    rerankers = {name: OpticalReranker(str(model), verbose=options.verbose, precision=options.precision,
                                       backend=options.backend) for name, model in options.system_models().items()}
    encoder = E5Encoder(options.dense, precision=options.precision, cache=True, backend=options.backend)
    return Demo(out, rerankers, encoder, options.rerank_depth, options.nmt, options.nmt_codes, options.verbose)


def source_datasets(source: str, langs, max_queries: int) -> dict:
    """Language -> (the first ``max_queries`` topics, qrels) of the test splits of ``source``."""
    data = {}
    for lang in langs:
        dataset = pt.get_dataset(f"irds:{SOURCES[source].format(lang, 'test')}")
        data[lang] = (dataset.get_topics().head(max_queries), dataset.get_qrels())
    return data



def run_source(demo: Demo, options: DemoOptions, source: str, langs, first_result=None) -> SourceRun:
    """The comparison of one test source after tuning on the other's dev splits. ``first_result`` (if given) is
    called with the comparison of its low-resource languages, which are run first: the headline needs only them,
    and its figures are the same (corrections are per language); the whole comparison then reuses their saved
    runs."""
    datasets = source_datasets(source, langs, options.max_queries)
    demo.tune(source, {lang: topics for lang, (topics, _) in datasets.items()}, options.dev_queries,
              options.tune_depths)
    systems = {}
    for lang in langs:
        for name, pipeline in demo.systems(SOURCES[source].format(lang, "test"), lang, source).items():
            systems.setdefault(name, {})[lang] = pipeline

    def compared(chosen):  # the runs are saved per language and reused, so a language is never run twice
        return compare({name: {lang: per_lang[lang] for lang in chosen} for name, per_lang in systems.items()},
                       {lang: datasets[lang] for lang in chosen}, MEASURES, DENSE, correction="bonferroni",
                       save_dir=demo.out / "runs" / source, verbose=options.verbose)

    low = [lang for lang in langs if language(lang).resource == "low"]
    if first_result is not None and low:
        first_result(compared(low))
    return SourceRun(systems, datasets, compared(langs))


def print_first_result(low: Comparison) -> None:
    """The in-domain headline, printed as soon as the low-resource languages are compared."""
    print("\n".join(["", "## First result: low-resource languages", "", *headline_lines(CHROMIUM_LABEL, low)]),
          flush=True)


def source_sections(label: str, run: SourceRun) -> list:
    """The report's sections of one test source: against mE5 retrieval (with the gap and the reranking ceiling),
    against the control (with the share of the gain distillation brings) and against the teacher."""
    result = run.result
    levels = set(result.table["resource"])
    sections = [Section(f"{label}, against mE5 retrieval", result,
                        result.gap(MAIN_MEASURE) if levels == {"high", "low"} else None,
                        ceiling=reranking_ceiling(result, MAIN_MEASURE, str(R @ FIRST_STAGE_DEPTH)))]
    if DENSE_CONTROL in run.systems and DENSE_FUSION in run.systems:
        against = significance_table(result.per_query, DENSE_CONTROL, correction="bonferroni")
        sections.append(Section(f"{label}, against the control (the teacher fused with mE5)",
                                Comparison(against, result.per_query, DENSE_CONTROL),
                                share=distillation_share(result, DENSE, DENSE_CONTROL, DENSE_FUSION, MAIN_MEASURE)))
    if TEACHER in run.systems:
        against = significance_table(result.per_query, TEACHER, correction="bonferroni")
        sections.append(Section(f"{label}, against the teacher zero-shot",
                                Comparison(against, result.per_query, TEACHER)))
    return sections


def run_sweep(options: DemoOptions, out: Path, main: SourceRun) -> Comparison:
    """The code-switch sweep over the in-domain languages: the sweep's systems on the first ``sweep_queries``
    queries, code-switched at each ratio."""
    data = {lang: (topics.head(options.sweep_queries), qrels) for lang, (topics, qrels) in main.datasets.items()}
    systems = {name: main.systems[name] for name in SWEEP_SYSTEMS if name in main.systems}
    return code_switch_sweep(systems, data, {lang: shipped_lexicon(lang) for lang in options.languages}, [RR @ 10],
                             options.ratios, DENSE, correction="bonferroni", save_dir=out / "runs" / "sweep",
                             verbose=options.verbose)


def demo_notes(options: DemoOptions, demo: Demo, timings: dict, main: Comparison) -> list:
    """The report's notes: what the run covered (:meth:`DemoOptions.notes`), the settings chosen on dev, the wall
    clock, what the task is, and the smallest difference the tests detect."""
    power = detectable_difference(main, MAIN_MEASURE)
    return [*options.notes(), *setting_notes(demo.settings),
            "Wall clock of this run (indexes, saved runs and cached scores are reused on a resumed run): "
            + ", ".join(f"{phase} {seconds / 60:.1f} min" for phase, seconds in timings.items()) + ".",
            "Sentence-level retrieval over software interface strings: a small, real, offline CLIR task, "
            "not a substitute for CLIRMatrix, WikiCLIR or mMARCO (docs/collections.md has those).",
            f"With {power['queries']} queries per language a paired difference of {power['raw']:.3f} "
            f"{MAIN_MEASURE} is detected with 80% power at p < .05 ({power['corrected']:.3f} after Bonferroni "
            f"over {power['tests']} systems; median per-query SD of the differences to {DENSE}: {power['sd']:.2f})."]


def write_demo_report(out: Path, options: DemoOptions, demo: Demo, timings: dict, sections: list,
                      sweep: Comparison | None, main: Comparison, other: Comparison | None) -> Path:
    """Write ``headline.md`` (the low-resource rows in and out of domain) and the report; returns its path."""
    summary = ["## Headline: low-resource languages", "", *headline_lines(CHROMIUM_LABEL, main),
               *(headline_lines(KOLIBRI_LABEL, other) if other is not None else [])]
    (out / HEADLINE_FILE).write_text("\n".join(summary))
    notes = demo_notes(options, demo, timings, main)
    return write_report(out, sections, MAIN_MEASURE, sweep, "OPTICAL embedded demo", [*notes, "", *summary])
