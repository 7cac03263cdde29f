"""Pairs per second of OpticalReranker against sentence-transformers' CrossEncoder.predict, same model, same pairs.

The model is the embedded multilingual-e5-small with a classification head (the default teacher when it is in the
cache, else a fresh head: speed does not depend on the weights). 2,000 (query, passage) pairs: queries are real
sentences of the shipped bitext in nine languages, passages join 1-12 English sentences, so lengths vary as in a
reranking run. Same batch size, same max_length, CPU, one process, in one run.

    python benchmarks/rerank.py [--pairs 2000] [--batch-size 32] [--max-length 256]
"""
import argparse
import random
import time

import numpy as np
import torch

from pyterrier_optical import OpticalReranker
from pyterrier_optical.rerank.backbones import embedded_backbone_path
from pyterrier_optical.data.bitext import load_bitext, shipped_languages
from pyterrier_optical.train.embedded import embedded_folder
from pyterrier_optical.rerank.checkpoint import is_checkpoint


def make_pairs(n: int, seed: int = 0):
    rng = random.Random(seed)
    queries = [x for lang in shipped_languages() for _, x in load_bitext(lang, "test")]
    english = [en for en, _ in load_bitext("de", "train")]
    return [(rng.choice(queries), " ".join(rng.sample(english, rng.randint(1, 12)))) for _ in range(n)]


def padding_share(order, lengths, batch_size) -> float:
    """Share of padding tokens when batches of ``batch_size`` follow ``order``."""
    padded = sum(lengths[order[i:i + batch_size]].max() * len(order[i:i + batch_size])
                 for i in range(0, len(order), batch_size))
    return 1 - lengths.sum() / padded


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    args = parser.parse_args()
    from sentence_transformers import CrossEncoder

    teacher = embedded_folder("optical-teacher")
    model = str(teacher if is_checkpoint(teacher) else embedded_backbone_path())
    pairs = make_pairs(args.pairs)
    ours = OpticalReranker(model, batch_size=args.batch_size, max_length=args.max_length, verbose=False, device="cpu")
    theirs = CrossEncoder(model, num_labels=1, max_length=args.max_length, device="cpu")
    queries, texts = [q for q, _ in pairs], [d for _, d in pairs]
    ours.score(queries[:64], texts[:64])  # warm-up
    theirs.predict(pairs[:64], batch_size=args.batch_size, activation_fn=torch.nn.Identity())

    start = time.perf_counter()
    a = ours.score(queries, texts)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    b = theirs.predict(pairs, batch_size=args.batch_size, activation_fn=torch.nn.Identity(), show_progress_bar=False)
    theirs_s = time.perf_counter() - start

    full = np.array([len(ids) for ids in ours.tokenizer_(queries, texts)["input_ids"]])
    lengths = np.minimum(full, args.max_length)
    query_lengths = np.array([len(ids) for ids in ours.tokenizer_(queries, add_special_tokens=False)["input_ids"]])
    # truncation differs (ours: the passage, and queries past half of max_length; theirs: longest first)
    fits = (full <= args.max_length) & (query_lengths <= args.max_length // 2)
    orders = {"ours": np.argsort(-lengths, kind="stable"),  # by tokens; sentence-transformers sorts by characters
              "theirs": np.argsort([-len(q) - len(d) for q, d in pairs])}
    pad = {name: padding_share(order, lengths, args.batch_size) for name, order in orders.items()}
    print(f"model {model}; {len(pairs)} pairs, tokens per pair {np.min(lengths)}-{np.max(lengths)} "
          f"(median {int(np.median(lengths))}), batch {args.batch_size}, {torch.get_num_threads()} threads")
    print(f"  OpticalReranker.score        {len(pairs) / ours_s:8.1f} pairs/s")
    print(f"  CrossEncoder.predict         {len(pairs) / theirs_s:8.1f} pairs/s")
    print(f"  padding share of the batches: ours {pad['ours']:.1%}, theirs {pad['theirs']:.1%}")
    print(f"  same scores on the {fits.sum()} untruncated pairs: max |diff| {np.abs(a - b)[fits].max():.1e}")
    print(f"speed-up: {theirs_s / ours_s:.2f}x (target >= 1.2x)")


if __name__ == "__main__":
    main()
