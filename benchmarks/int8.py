"""Each backend and precision (torch fp32 and bf16, OpenVINO fp32, bf16 and int8; bf16 where the CPU has bf16 units)
against torch fp32, per model, on the dev candidate lists the release is checked on (Kolibri dev pairs of every
language that has them, mE5's 10 nearest English candidates each; the release's ``dev_lists``): dev RR@10 (goal:
within +-0.005 of fp32), Kendall tau of the scores against fp32 over all pairs (goal >= 0.98), and the scoring time.
Models: the shipped student and teacher (cross-encoders) and multilingual-e5-small (the dense encoder; cosine of
query and passage embeddings).

Then dense encoding speed: ``E5Encoder`` in each configuration against pyterrier-dr's ``E5`` on the same model at its
default (fp32, the only precision its constructor offers) and with the bf16 autocast that is its fastest
configuration here (pyterrier-dr has no OpenVINO or int8 path; sentence-transformers' OpenVINO backend does not
install beside transformers 5), ``--repeats`` alternating runs over the English strings of the shipped bitext, median
and spread. Ours runs at its default batch size (16 on a CPU), pyterrier-dr at its default (32) and at ours (the
faster one for it too).

    python benchmarks/int8.py [--pairs 256] [--texts 2000] [--repeats 3]
"""
import argparse
import inspect
import statistics
import time

import numpy as np
import pyterrier_dr
import torch
from common import alternating, configurations, english_strings, label, machine
from scipy.stats import kendalltau

from pyterrier_optical import E5Encoder, OpticalReranker
from pyterrier_optical.models.backbones import embedded_backbone_path
from pyterrier_optical.train.release import dev_lists
from pyterrier_optical.train.selection import pool_mrr
from pyterrier_optical.util.device import CPU_BATCH_SIZE, autocast, bf16_supported

PEER_BATCH_SIZE = inspect.signature(pyterrier_dr.E5).parameters["batch_size"].default  # 32 in pyterrier-dr 0.8


def fidelity(models: dict, queries, pools, configurations) -> None:
    flat_queries = [q for q, pool in zip(queries, pools) for _ in pool]
    texts = [doc for pool in pools for doc in pool]
    print(f"{'model':18s} {'configuration':15s} {'dev RR@10':>9s} {'delta':>7s} {'tau':>6s} {'seconds':>8s}")
    for name, make in models.items():
        scores, seconds = {}, {}
        for configuration in configurations:
            scorer = make(*configuration)
            scorer.score(flat_queries[:8], texts[:8])  # warm-up
            start = time.perf_counter()
            scores[configuration] = np.asarray(scorer.score(flat_queries, texts))
            seconds[configuration] = time.perf_counter() - start
        reference = scores[("torch", "fp32")]
        base = pool_mrr(lambda q, t: reference, queries, pools)
        for configuration in configurations:
            rr = pool_mrr(lambda q, t, s=scores[configuration]: s, queries, pools)
            tau = kendalltau(scores[configuration], reference).statistic
            print(f"{name:18s} {label(*configuration):15s} {rr:9.4f} {rr - base:+7.4f} {tau:6.4f} "
                  f"{seconds[configuration]:8.1f}", flush=True)


def dense_speed(texts: list, repeats: int, configurations) -> None:
    path = str(embedded_backbone_path())
    ours = {f"ours, {label(b, p)}": E5Encoder(precision=p, backend=b) for b, p in configurations}
    peer = pyterrier_dr.E5(path)
    peer.model.max_seq_length = 256

    def peer_run(precision: str, batch_size: int):
        with torch.inference_mode(), autocast(precision, "cpu"):
            return peer.encode_docs(texts, batch_size=batch_size)

    runs = {name: (lambda e=e: e.encode_docs(texts)) for name, e in ours.items()}
    for batch_size in (PEER_BATCH_SIZE, CPU_BATCH_SIZE):
        runs[f"pyterrier-dr E5, fp32, batch {batch_size}"] = lambda b=batch_size: peer_run("fp32", b)
        if bf16_supported("cpu"):
            runs[f"pyterrier-dr E5, bf16 autocast, batch {batch_size}"] = lambda b=batch_size: peer_run("bf16", b)
    rate = {name: [len(texts) / s for s in seconds] for name, seconds in alternating(runs, repeats).items()}
    median = {name: statistics.median(r) for name, r in rate.items()}
    peers = [n for n in runs if n.startswith("pyterrier-dr")]
    fastest = max(peers, key=median.get)
    print(f"\ndense encoding of {len(texts)} passages, our batch {next(iter(ours.values())).batch_size}, "
          f"max_length 256, median of {repeats}:")
    for name, r in rate.items():
        print(f"  {name:42s} {median[name]:8.1f} texts/s ({min(r):.1f}-{max(r):.1f})")
    for name in ours:
        print(f"  {name} / pyterrier-dr default: {median[name] / median[peers[0]]:.2f}x (goal >= 3.0x); / its "
              f"fastest ({fastest}): {median[name] / median[fastest]:.2f}x (goal >= 1.2x)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    configurations_here = configurations() + [("openvino", "int8")]
    print(machine())
    queries, pools = dev_lists(args.pairs)
    models = {name: (lambda b, p, n=name: OpticalReranker(n, precision=p, backend=b, verbose=False))
              for name in ("optical-student", "optical-teacher")}
    models["mE5 (dense)"] = lambda b, p: E5Encoder(precision=p, backend=b)
    fidelity(models, queries, pools, configurations_here)
    dense_speed(english_strings(args.texts), args.repeats, configurations_here)


if __name__ == "__main__":
    main()
