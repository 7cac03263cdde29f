"""The embedded demo: offline CLIR on the shipped real bitext, BM25 with dictionary query translation against
BM25 >> OpticalReranker, for the seven Chromium languages (four low-, three high-resource)."""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyterrier as pt
from ir_measures import AP, RR, R, nDCG

from .bm25 import MultilingualBM25
from .codeswitch import LexiconTranslate
from .languages import LANGUAGES
from .lexicon import shipped_lexicon
from .model import DEFAULT_MODEL
from .reranker import OpticalReranker

logger = logging.getLogger(__name__)
DEMO_LANGUAGES = ("sw", "am", "mr", "tl", "de", "fr", "fi")
QUICK_LANGUAGES = ("sw", "de")
MEASURES = [RR @ 10, nDCG @ 10, AP, R @ 100]


def first_stage(lang: str, index_dir: Path, dataset, num_results: int = 100) -> pt.Transformer:
    """BM25 over the English documents, queries translated word by word with the lexicon induced from the shipped
    train bitext; the original query is restored afterwards for the reranker."""
    index = MultilingualBM25(index_dir, lang="en", overwrite=True, verbose=False)
    index.index(dataset.get_corpus_iter(verbose=False))
    return LexiconTranslate(shipped_lexicon(lang)) >> index.bm25(num_results=num_results) >> pt.rewrite.reset()


def run_demo(out="runs/demo", languages=None, quick: bool = False, model=DEFAULT_MODEL, num_results: int = 100,
             rerank_depth: int = 20, max_queries: int | None = None, verbose: bool = True) -> pd.DataFrame:
    """Run the demo and return one row per (language, system) with the measures; also written to ``out``.

    BM25 retrieves ``num_results`` documents; the reranker reorders the top ``rerank_depth``. ``max_queries`` per
    language (default 200, 100 in quick mode) keeps the run short on a CPU.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    languages = list(languages or (QUICK_LANGUAGES if quick else DEMO_LANGUAGES))
    max_queries = max_queries or (100 if quick else 200)
    reranker = OpticalReranker(model, batch_size=64, verbose=verbose)
    tables = []
    for lang in languages:
        dataset = pt.get_dataset(f"irds:optical/ui/{lang}-en/test")
        topics, qrels = dataset.get_topics(), dataset.get_qrels()
        if max_queries:
            topics = topics.head(max_queries)
        bm25 = first_stage(lang, out / "indexes" / f"{lang}-en", dataset, num_results)
        table = pt.Experiment([bm25, (bm25 % rerank_depth) >> reranker], topics, qrels, MEASURES,
                              names=["BM25 (lexicon translation)", "BM25 >> OpticalReranker"], baseline=0,
                              correction="bonferroni", verbose=verbose, plan="tree")  # BM25 runs once
        table.insert(0, "resource", LANGUAGES[lang].resource)
        table.insert(0, "lang", lang)
        tables.append(table)
        logger.info("%s done", lang)
    result = pd.concat(tables, ignore_index=True)
    result.to_csv(out / "results.csv", index=False)
    return result


def format_table(result: pd.DataFrame) -> str:
    """The demo's table as Markdown."""
    cols = ["lang", "resource", "name"] + [c for c in result.columns if c.split(" ")[0] in map(str, MEASURES)
                                           and not c.endswith(("+", "-", "p-value", "reject", "p-value corrected"))]
    return markdown_table(result[cols])


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a Markdown table, numbers rounded."""
    def cell(v):
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)
