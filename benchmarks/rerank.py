"""Reranking speed and fidelity: OpticalReranker at its default (precision "auto") and in fp32 against
sentence-transformers' CrossEncoder.predict at its default (fp32) and at its fastest CPU setting here (bf16 weights
through ``model_kwargs``), same model, same pairs, one process.

The model is the embedded teacher when it is in the cache (else the backbone with a fresh head: speed does not depend
on the weights). The work is a reranking run: ``--queries`` real queries of the shipped bitext in nine languages,
each with ``--depth`` English passages of 1-12 sentences. The configurations run alternately, ``--repeats`` times
each; the median and the spread (min-max) of pairs/s are printed with the ratios, and each configuration's fidelity
against our fp32 scores: the largest absolute score difference and the mean per-query Kendall tau of the reranked
lists.

    python benchmarks/rerank.py [--queries 100] [--depth 10] [--repeats 3] [--batch-size 32] [--max-length 256]
"""
import argparse
import random
import statistics
import time

import numpy as np
import torch
from scipy.stats import kendalltau

from pyterrier_optical import OpticalReranker
from pyterrier_optical.data.bitext import load_bitext, shipped_languages
from pyterrier_optical.train.embedded import embedded_path
from pyterrier_optical.util.device import cpu_flags


def make_pairs(queries: int, depth: int, seed: int = 0):
    rng = random.Random(seed)
    pool = [x for lang in shipped_languages() for _, x in load_bitext(lang, "test")]
    english = [en for en, _ in load_bitext("de", "train")]
    return [(q, " ".join(rng.sample(english, rng.randint(1, 12)))) for q in rng.sample(pool, queries)
            for _ in range(depth)]


def mean_kendall(a, b, depth: int) -> float:
    """Mean Kendall tau between the per-query orders of two score arrays (queries are consecutive blocks)."""
    return float(np.mean([kendalltau(a[i:i + depth], b[i:i + depth]).statistic for i in range(0, len(a), depth)]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    args = parser.parse_args()
    from sentence_transformers import CrossEncoder

    model = str(embedded_path("optical-teacher"))  # the shipped teacher, assembled in seconds
    pairs = make_pairs(args.queries, args.depth)
    queries, texts = [q for q, _ in pairs], [d for _, d in pairs]
    common = dict(batch_size=args.batch_size, max_length=args.max_length, verbose=False, device="cpu")
    ours = {"ours, default (auto)": OpticalReranker(model, **common),
            "ours, fp32": OpticalReranker(model, precision="fp32", **common)}
    theirs = {"sentence-transformers, default (fp32)": CrossEncoder(model, num_labels=1, max_length=args.max_length,
                                                                      device="cpu"),
              "sentence-transformers, bf16 weights": CrossEncoder(
                  model, num_labels=1, max_length=args.max_length, device="cpu",
                  model_kwargs={"torch_dtype": torch.bfloat16})}

    def runner(name):
        if name in ours:
            return lambda: ours[name].score(queries, texts)
        return lambda: theirs[name].predict(pairs, batch_size=args.batch_size, activation_fn=torch.nn.Identity(),
                                            show_progress_bar=False)

    names = [*ours, *theirs]
    for name in names:  # warm-up
        runner(name)()
    seconds, scores = {n: [] for n in names}, {}
    for _ in range(args.repeats):
        for name in names:
            start = time.perf_counter()
            scores[name] = np.asarray(runner(name)(), dtype=np.float32)
            seconds[name].append(time.perf_counter() - start)
    rate = {n: [len(pairs) / s for s in seconds[n]] for n in names}
    median = {n: statistics.median(rate[n]) for n in names}
    reference = scores["ours, fp32"]
    print(f"model {model}; {args.queries} queries x {args.depth} passages = {len(pairs)} pairs, batch "
          f"{args.batch_size}, max_length {args.max_length}, {torch.get_num_threads()} threads; "
          f"precision auto = {ours['ours, default (auto)'].precision_}; {cpu_flags()}")
    print(f"{'configuration':40s} {'pairs/s median':>14s} {'min-max':>15s} {'max |diff|':>10s} {'mean tau':>8s}")
    for n in names:
        diff = np.abs(scores[n] - reference).max()
        print(f"{n:40s} {median[n]:14.1f} {min(rate[n]):7.1f}-{max(rate[n]):<7.1f} {diff:10.4f} "
              f"{mean_kendall(scores[n], reference, args.depth):8.3f}")
    default, fastest = median["ours, default (auto)"], max(median[n] for n in theirs)
    print(f"ours (default) / sentence-transformers default: {default / median[names[2]]:.2f}x (goal >= 3.0x)")
    print(f"ours (default) / sentence-transformers fastest here: {default / fastest:.2f}x (goal >= 1.1x)")
    print(f"ours fp32 / sentence-transformers default: {median['ours, fp32'] / median[names[2]]:.2f}x")


if __name__ == "__main__":
    main()
