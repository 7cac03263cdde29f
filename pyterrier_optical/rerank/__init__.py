"""Layer 3: rerankers — the checkpoint format, one scoring core, ``OpticalReranker``, ``DenseReranker``, backbones."""
