"""PISA BM25 (ours) against Pyserini/Lucene BM25 on the same collection and queries, in one run.

Collection: every distinct English string of the shipped bitext (all languages, sources and splits); queries:
the Swahili and German test strings, translated word by word with the shipped lexicons; the relevant document is
each query's English source. Prints MAP and nDCG@10, documents indexed per second and queries per second.

    pip install -e '.[pyserini]' && python benchmarks/first_stage.py
"""
import tempfile
import time

import pandas as pd
import pyterrier as pt
from common import machine
from ir_measures import AP, nDCG

from pyterrier_optical.data.bitext import load_bitext, shipped_languages
from pyterrier_optical.retrieve.bm25 import MultilingualBM25
from pyterrier_optical.retrieve.codeswitch import translate_words
from pyterrier_optical.data.lexicon import shipped_lexicon
from pyterrier_optical.retrieve.lucene import LuceneBM25Index


def collection():
    english = list(dict.fromkeys(en for lang in shipped_languages() for split in ("train", "dev", "test")
                                 for en, _ in load_bitext(lang, split, None)))
    docno = {en: f"d{i}" for i, en in enumerate(english)}
    docs = [{"docno": docno[en], "text": en} for en in english]
    topics, qrels = [], []
    for lang in ("sw", "de"):
        for i, (en, other) in enumerate(load_bitext(lang, "test")):
            qid = f"{lang}-{i}"
            topics.append({"qid": qid, "query": translate_words(other, shipped_lexicon(lang))})
            qrels.append({"qid": qid, "docno": docno[en], "label": 1})
    return docs, pd.DataFrame(topics), pd.DataFrame(qrels)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main():
    docs, topics, qrels = collection()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        engines = {"PISA (pyterrier-optical)": lambda: MultilingualBM25(f"{tmp}/pisa", lang="en", verbose=False),
                   "Lucene (Pyserini)": lambda: LuceneBM25Index(f"{tmp}/lucene", "en", verbose=False)}
        for name, make in engines.items():
            index, index_time = timed(lambda: make().index(docs))
            retriever = index.bm25(num_results=100)
            retriever(topics.head(5))  # warm-up (JVM, caches)
            run, search_time = timed(lambda: retriever(topics[["qid", "query"]]))
            scores = pt.Evaluate(run, qrels, [AP, nDCG @ 10])
            rows.append({"engine": name, "MAP": scores["AP"], "nDCG@10": scores["nDCG@10"],
                         "docs indexed/s": len(docs) / index_time, "queries/s": len(topics) / search_time})
    table = pd.DataFrame(rows)
    print(machine())
    print(f"{len(docs)} documents, {len(topics)} queries")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}" if v < 10 else f"{v:,.0f}"))
    pisa, lucene = table.iloc[0], table.iloc[1]
    print(f"indexing: PISA {pisa['docs indexed/s'] / lucene['docs indexed/s']:.2f}x Lucene's speed; "
          f"search: PISA {pisa['queries/s'] / lucene['queries/s']:.2f}x")


if __name__ == "__main__":
    main()
