"""How good the induced lexicons are, per language of the shipped CLDR bitext: the share of test-query words the
lexicon translates, and BM25 (English documents) RR@10 on the CLDR test collection with the queries translated by
the lexicon against the untranslated queries.

    python scripts/evaluate_lexicons.py [--languages so yo ha] [--out runs/lexicons]
"""
from __future__ import annotations

import argparse
import tempfile

import ir_measures
import pandas as pd
import pyterrier as pt
from ir_measures import RR

from pyterrier_optical import LexiconTranslate, MultilingualBM25, shipped_lexicon
from pyterrier_optical.data.bitext import shipped_languages
from pyterrier_optical.data.text import words


def evaluate(lang: str, folder: str) -> dict:
    dataset = pt.get_dataset(f"irds:optical/cldr/{lang}-en/test")
    topics, qrels = dataset.get_topics(), dataset.get_qrels()
    index = MultilingualBM25(f"{folder}/{lang}", lang="en").index(dataset.get_corpus_iter())
    bm25 = index.bm25(num_results=100)
    lexicon = shipped_lexicon(lang)
    tokens = [w for q in topics["query"] for w in words(q)]
    covered = sum(w in lexicon for w in tokens) / max(len(tokens), 1)
    scores = {}
    for name, system in (("untranslated", bm25), ("lexicon", LexiconTranslate(lexicon) >> bm25 >> pt.rewrite.reset())):
        run = system(topics)
        scores[name] = ir_measures.calc_aggregate([RR @ 10], qrels.rename(
            columns={"qid": "query_id", "docno": "doc_id", "label": "relevance"}),
            run.rename(columns={"qid": "query_id", "docno": "doc_id"}))[RR @ 10]
    return {"lang": lang, "entries": len(lexicon), "queries": len(topics), "word coverage": round(covered, 3),
            "RR@10 untranslated": round(scores["untranslated"], 3), "RR@10 lexicon": round(scores["lexicon"], 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", nargs="*", default=shipped_languages("cldr"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows = [evaluate(lang, folder) for lang in args.languages]
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
