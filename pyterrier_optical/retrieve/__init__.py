"""Layer 2: first stages and query rewriting — PISA and Lucene BM25, lexicon and NMT translation, code-switching."""
