"""Pyserini (Lucene) BM25 as the first stage of OPTICAL reranking, compared with the Experiment helper. Offline.

    pip install -e '.[pyserini]'
    python examples/pyserini_first_stage.py [--languages sw de] [--reranker PATH] [--queries 100]
"""
import argparse
import tempfile

import pyterrier as pt
from ir_measures import AP, RR, nDCG

from pyterrier_optical import LexiconTranslate, LuceneBM25Index, OpticalReranker, compare, shipped_lexicon


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--languages", nargs="+", default=["sw", "de"])
    parser.add_argument("--reranker", help="reranker checkpoint (default: the embedded OPTICAL student)")
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    reranker = OpticalReranker(args.reranker or "optical-student")
    systems, datasets = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for lang in args.languages:
            dataset = pt.get_dataset(f"irds:optical/ui/{lang}-en/test")
            index = LuceneBM25Index(f"{tmp}/{lang}", "en", verbose=False).index(dataset.get_corpus_iter(verbose=False))
            bm25 = LexiconTranslate(shipped_lexicon(lang)) >> index.bm25(num_results=100) >> pt.rewrite.reset()
            systems.setdefault("Lucene BM25", {})[lang] = bm25
            systems.setdefault("Lucene BM25 >> OPTICAL", {})[lang] = bm25 % 10 >> reranker
            datasets[lang] = (dataset.get_topics().head(args.queries), dataset.get_qrels())
        result = compare(systems, datasets, [RR @ 10, nDCG @ 10, AP], baseline="Lucene BM25", correction="holm")
    table = result.means()[["lang", "system", "measure", "value", "delta", "p_corrected", "significant"]]
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
