"""Which int8 recipe for a cross-encoder: the shipped one (NNCF static quantisation, SmoothQuant, calibrated on the
shipped dev bitext) against weight-only int8 (``nncf.compress_weights``) with and without OpenVINO's dynamic
activation quantisation (per groups of ``group`` values of each token's activations, computed at run time: the
analogue of onnxruntime's ``quantize_dynamic``), and the same with the feed-forward output layers left in floating
point; bf16 and fp32 (torch) beside them; then the model converted to OpenVINO unquantised (what
``backend="openvino"`` runs) and NNCF's static quantisation confined to the last four blocks (8-11, the least
sensitive; the rest in OpenVINO fp32 or bf16), calibrated like the shipped int8. On the release's dev lists
(``dev_lists``: Kolibri dev pairs of six languages, mE5's ten nearest English candidates each): dev RR@10 and its
difference to fp32 (goal +-0.005), Kendall tau of all the scores and the mean per-list tau against fp32 (goal >=
0.98), and pairs per second (one timed pass after a warm-up; use it for ratios on one machine,
``benchmarks/rerank.py`` for speed figures).

    python benchmarks/int8_variants.py [--model optical-student] [--pairs 256]
"""
import argparse
import time

import numpy as np
import torch
from scipy.stats import kendalltau

from pyterrier_optical import OpticalReranker
from pyterrier_optical.rerank.openvino_backend import (OpenVINOModel, calibration_batches, calibration_pairs,
                                                        converted_model, require_engine, static_int8)
from pyterrier_optical.rerank.scoring import encode_pairs, score_pairs
from pyterrier_optical.train.release import dev_lists
from pyterrier_optical.train.selection import pool_mrr
from pyterrier_optical.util.device import bf16_supported, cpu_flags

FEED_FORWARD_OUTPUTS = r".*layer\.\d+\.output\.dense.*"
FIRST_EIGHT_BLOCKS = r".*layer\.[0-7]\..*"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="optical-student")
    parser.add_argument("--pairs", type=int, default=256, help="dev lists (one per Kolibri dev pair)")
    args = parser.parse_args()
    openvino, nncf = require_engine()
    print("CPU:", cpu_flags(), "| torch threads:", torch.get_num_threads())
    fp32 = OpticalReranker(args.model, precision="fp32", verbose=False)
    model, tokenizer = fp32.model_.float().eval(), fp32.tokenizer_
    queries, pools = dev_lists(args.pairs)
    flat_queries = [q for q, pool in zip(queries, pools) for _ in pool]
    texts = [doc for pool in pools for doc in pool]

    def scored(scoring_model, precision="fp32"):
        score_pairs(scoring_model, tokenizer, flat_queries[:64], texts[:64], 256, 64, precision=precision)
        start = time.perf_counter()
        scores = score_pairs(scoring_model, tokenizer, flat_queries, texts, 256, 64, precision=precision)
        return scores, len(texts) / (time.perf_counter() - start)

    reference, fp32_speed = scored(model)
    base = pool_mrr(lambda q, t: reference, queries, pools)
    bounds = np.cumsum([0] + [len(pool) for pool in pools])

    def row(label, scores, speed):
        value = pool_mrr(lambda q, t: scores, queries, pools)
        per_list = np.nanmean([kendalltau(scores[a:b], reference[a:b]).statistic
                               for a, b in zip(bounds[:-1], bounds[1:])])
        print(f"| {label} | {value:.4f} | {value - base:+.4f} | {kendalltau(scores, reference).statistic:.3f} | "
              f"{per_list:.3f} | {speed:.1f} | {speed / fp32_speed:.2f}x |", flush=True)

    print(f"{args.model}, {len(queries)} dev lists, {len(texts)} pairs\n")
    print("| configuration | dev RR@10 | vs fp32 | tau (all scores) | tau (per list) | pairs/s | vs fp32 |")
    print("|---|---|---|---|---|---|---|")
    row("fp32 (torch)", reference, fp32_speed)
    if bf16_supported("cpu"):
        row("bf16 (torch autocast)", *scored(model, "bf16"))
    row("int8 static (shipped: NNCF quantize, SmoothQuant)",
        *scored(OpticalReranker(args.model, precision="int8", verbose=False).scoring_model_))
    example = calibration_batches(tokenizer, encode_pairs(tokenizer, flat_queries[:16], texts[:16], 256))[0]
    converted = converted_model(openvino, model, example)
    variants = [("int8 weights (asym), activations fp32", {}, "0"),
                ("int8 weights (asym), dynamic int8 activations, groups of 32", {}, "32"),
                ("as above, feed-forward outputs in fp32", {"ignored_scope": nncf.IgnoredScope(
                    patterns=[FEED_FORWARD_OUTPUTS], validate=False)}, "32")]
    for label, kwargs, group in variants:
        compressed = nncf.compress_weights(converted.clone(), mode=nncf.CompressWeightsMode.INT8_ASYM, **kwargs)
        compiled = openvino.Core().compile_model(compressed, "CPU", {"DYNAMIC_QUANTIZATION_GROUP_SIZE": group,
                                                                     "INFERENCE_PRECISION_HINT": "f32"})
        row(label, *scored(OpenVINOModel(compiled, model.config)))
    calibration = calibration_batches(tokenizer, encode_pairs(tokenizer, *calibration_pairs(), 256))
    last_blocks = static_int8(nncf, converted.clone(), calibration,
                              ignored_scope=nncf.IgnoredScope(patterns=[FIRST_EIGHT_BLOCKS], validate=False))
    for hint in ["f32"] + (["bf16"] if bf16_supported("cpu") else []):
        name = "fp32" if hint == "f32" else hint
        row(f"OpenVINO {name} (`backend=\"openvino\"`)", *scored(OpenVINOModel(
            openvino.Core().compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": hint}), model.config)))
        row(f"int8 static in blocks 8-11 only, the rest OpenVINO {name}", *scored(OpenVINOModel(
            openvino.Core().compile_model(last_blocks, "CPU", {"INFERENCE_PRECISION_HINT": hint}), model.config)))


if __name__ == "__main__":
    main()
