"""int8 against fp32 (and bf16 where the CPU has bf16 units), per model, on the dev candidate lists the release is
checked on (Kolibri dev pairs of every language that has them, mE5's 10 nearest English candidates each; the
release's ``dev_lists``): dev RR@10 per precision (goal for int8: within +-0.005 of fp32), Kendall tau of the scores
against fp32 over all pairs (goal >= 0.98), and the scoring time. Models: the shipped student and teacher
(cross-encoders) and multilingual-e5-small (the dense encoder; cosine of query and passage embeddings).

Then dense encoding speed: ``E5Encoder`` in each precision against pyterrier-dr's ``E5`` on the same model at its
default (fp32, the only precision its constructor offers) and with the bf16 autocast that is its fastest
configuration here (pyterrier-dr has no int8 path; sentence-transformers' OpenVINO backend does not install beside
transformers 5), ``--repeats`` alternating runs over the English strings of the shipped bitext, median and spread.

    python benchmarks/int8.py [--pairs 256] [--texts 2000] [--repeats 3]
"""
import argparse
import statistics
import time

import numpy as np
import pyterrier_dr
import torch
from scipy.stats import kendalltau

from pyterrier_optical import E5Encoder, OpticalReranker
from pyterrier_optical.data.bitext import load_bitext, shipped_languages
from pyterrier_optical.rerank.backbones import embedded_backbone_path
from pyterrier_optical.train.release import dev_lists
from pyterrier_optical.train.selection import pool_mrr
from pyterrier_optical.util.device import autocast, bf16_supported, cpu_flags


def fidelity(models: dict, queries, pools, precisions) -> None:
    flat_queries = [q for q, pool in zip(queries, pools) for _ in pool]
    texts = [doc for pool in pools for doc in pool]
    print(f"{'model':18s} {'precision':9s} {'dev RR@10':>9s} {'delta':>7s} {'tau':>6s} {'seconds':>8s}")
    for name, make in models.items():
        scores, seconds = {}, {}
        for precision in precisions:
            scorer = make(precision)
            scorer.score(flat_queries[:8], texts[:8])  # warm-up
            start = time.perf_counter()
            scores[precision] = np.asarray(scorer.score(flat_queries, texts))
            seconds[precision] = time.perf_counter() - start
        for precision in precisions:
            rr = pool_mrr(lambda q, t, s=scores[precision]: s, queries, pools)
            base = pool_mrr(lambda q, t, s=scores["fp32"]: s, queries, pools)
            tau = kendalltau(scores[precision], scores["fp32"]).statistic
            print(f"{name:18s} {precision:9s} {rr:9.4f} {rr - base:+7.4f} {tau:6.4f} {seconds[precision]:8.1f}",
                  flush=True)


def dense_speed(texts: list, repeats: int, precisions) -> None:
    path = str(embedded_backbone_path())
    ours = {f"ours, {p}": E5Encoder(precision=p, batch_size=64) for p in precisions}
    peer = pyterrier_dr.E5(path, batch_size=64)
    peer.model.max_seq_length = 256

    def peer_run(bf16: bool):
        with torch.inference_mode(), autocast("bf16" if bf16 else "fp32", "cpu"):
            return peer.encode_docs(texts)

    runs = {name: (lambda e=e: e.encode_docs(texts)) for name, e in ours.items()}
    runs["pyterrier-dr E5, default (fp32)"] = lambda: peer_run(False)
    if "bf16" in precisions:
        runs["pyterrier-dr E5, bf16 autocast"] = lambda: peer_run(True)
    for run in runs.values():
        run()  # warm-up
    rate = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            rate[name].append(len(texts) / (time.perf_counter() - start))
    median = {name: statistics.median(r) for name, r in rate.items()}
    peers = [n for n in runs if n.startswith("pyterrier-dr")]
    fastest = max(peers, key=median.get)
    print(f"\ndense encoding of {len(texts)} passages, batch 64, max_length 256, median of {repeats}:")
    for name, r in rate.items():
        print(f"  {name:34s} {median[name]:8.1f} texts/s ({min(r):.1f}-{max(r):.1f})")
    for name in ours:
        print(f"  {name} / pyterrier-dr default: {median[name] / median[peers[0]]:.2f}x (goal >= 3.0x); / its "
              f"fastest ({fastest}): {median[name] / median[fastest]:.2f}x (goal >= 1.2x)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    precisions = ["fp32", "int8"] + (["bf16"] if bf16_supported("cpu") else [])
    print(f"{cpu_flags()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    queries, pools = dev_lists(args.pairs)
    models = {name: (lambda p, n=name: OpticalReranker(n, precision=p, batch_size=64, verbose=False))
              for name in ("optical-student", "optical-teacher")}
    models["mE5 (dense)"] = lambda p: E5Encoder(precision=p, batch_size=64)
    fidelity(models, queries, pools, precisions)
    english = list(dict.fromkeys(en for lang in shipped_languages() for en, _ in load_bitext(lang, "train")))
    dense_speed(english[:args.texts], args.repeats, precisions)


if __name__ == "__main__":
    main()
