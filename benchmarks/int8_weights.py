"""How far int8 weights alone move a cross-encoder, and whether quantisation-aware fine-tuning brings them back.

Every Linear weight rounded to int8 per output channel (symmetric, the scale of each row its largest magnitude / 127),
the activations left in fp32 (torch): dev RR@10 against fp32 and the Kendall tau of all the scores, on the release's
dev lists (``dev_lists``: Kolibri dev pairs of six languages, mE5's ten nearest English candidates each), for all
layers, each kind of layer alone and each block alone. Then ``--qat-steps`` of quantisation-aware fine-tuning
(straight-through rounding of the weights, AdamW at ``--lr``, no dropout), the model learning its own fp32 scores
(mean squared error) on 800 pairs of the shipped *training* bitext with mE5's eight nearest English candidates each;
every 100 steps the rounded model against the original fp32 scores on the dev lists. Between the two, the activations'
share: the model with every Linear weight already on its int8 grid, quantised by NNCF's static int8 (as
``precision="int8"``, with and without SmoothQuant) and compared with its own fp32 scores, so that only the
activations' rounding (and SmoothQuant's rescaling of the weights off their grid) is left.

    python benchmarks/int8_weights.py [--model optical-student] [--pairs 128] [--qat-steps 300] [--lr 1e-5]
"""
import argparse
import copy
import random
import time

import numpy as np
import torch
from scipy.stats import kendalltau

from pyterrier_optical import OpticalReranker
from pyterrier_optical.data.bitext import mixed_bitext, shipped_languages
from pyterrier_optical.rerank.openvino_backend import (OpenVINOModel, calibration_batches, calibration_pairs,
                                                        converted_model, require_engine, static_int8)
from pyterrier_optical.rerank.scoring import encode_pairs, relevance_logits, score_pairs
from pyterrier_optical.train.release import dev_lists
from pyterrier_optical.train.selection import pool_mrr, translation_candidates
from pyterrier_optical.util.device import cpu_flags

KINDS = {"attention query/key/value": "attention.self", "attention output": "attention.output.dense",
         "feed-forward in": "intermediate.dense", "feed-forward out": "layer.{}.output.dense"}


def rounded(weight):
    scale = weight.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127
    return torch.round(weight / scale) * scale


def int8_model(model, tokenizer, smooth_quant: bool):
    """``model`` quantised like ``precision="int8"`` (NNCF static, calibrated on the shipped dev pairs), SmoothQuant
    on or off, the rest of it in OpenVINO fp32."""
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, AdvancedSmoothQuantParameters

    openvino, nncf = require_engine()
    batches = calibration_batches(tokenizer, encode_pairs(tokenizer, *calibration_pairs(), 256))
    options = {} if smooth_quant else {"advanced_parameters": AdvancedQuantizationParameters(
        smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=-1))}
    quantised = static_int8(nncf, converted_model(openvino, model, batches[0]), batches, **options)
    compiled = openvino.Core().compile_model(quantised, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return OpenVINOModel(compiled, model.config)


def flat(queries, pools):
    return [q for q, pool in zip(queries, pools) for _ in pool], [d for pool in pools for d in pool]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="optical-student")
    parser.add_argument("--pairs", type=int, default=128)
    parser.add_argument("--qat-steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-5)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"{cpu_flags()}; {torch.get_num_threads()} threads")
    reranker = OpticalReranker(args.model, precision="fp32", verbose=False)
    model, tokenizer = reranker.model_.float().eval(), reranker.tokenizer_
    queries, pools = dev_lists(args.pairs)
    dev_queries, dev_texts = flat(queries, pools)
    reference = score_pairs(model, tokenizer, dev_queries, dev_texts, 256, 64)
    base = pool_mrr(lambda q, t: reference, queries, pools)

    def report(label, scoring_model):
        scores = score_pairs(scoring_model, tokenizer, dev_queries, dev_texts, 256, 64)
        value = pool_mrr(lambda q, t: scores, queries, pools)
        print(f"| {label} | {value - base:+.4f} | {kendalltau(scores, reference).statistic:.3f} |", flush=True)

    def with_rounded(chosen):
        copied = copy.deepcopy(model)
        with torch.no_grad():
            for name, module in copied.named_modules():
                if isinstance(module, torch.nn.Linear) and chosen(name):
                    module.weight.copy_(rounded(module.weight))
        return copied

    print(f"{args.model}: {len(dev_texts)} dev pairs, fp32 RR@10 {base:.4f}\n")
    print("| int8 weights of | RR@10 vs fp32 | tau |\n|---|---|---|")
    report("every Linear layer", with_rounded(lambda name: True))
    for kind, pattern in KINDS.items():
        report(kind, with_rounded(lambda name, p=pattern: any(p.format(i) in name for i in range(12))))
    for block in range(model.config.num_hidden_layers):
        report(f"block {block}", with_rounded(lambda name, b=block: f"layer.{b}." in name))

    on_grid = with_rounded(lambda name: True)
    grid_reference = score_pairs(on_grid, tokenizer, dev_queries, dev_texts, 256, 64)
    grid_base = pool_mrr(lambda q, t: grid_reference, queries, pools)
    print("\n| weights on their int8 grid, then NNCF static int8 | RR@10 vs its fp32 | tau |\n|---|---|---|")
    for label, smooth_quant in (("with SmoothQuant (as shipped)", True), ("without SmoothQuant", False)):
        scores = score_pairs(int8_model(on_grid, tokenizer, smooth_quant), tokenizer, dev_queries, dev_texts, 256, 64)
        value = pool_mrr(lambda q, t: scores, queries, pools)
        print(f"| {label} | {value - grid_base:+.4f} | {kendalltau(scores, grid_reference).statistic:.3f} |",
              flush=True)

    if not args.qat_steps:
        return
    train = random.Random(1).sample(mixed_bitext(shipped_languages(), "train", None), 800)
    train_queries, train_texts = flat([other for _, other in train],
                                      translation_candidates([en for en, _ in train], 8, source="mE5"))
    targets = torch.tensor(score_pairs(model, tokenizer, train_queries, train_texts, 256, 64))
    student = copy.deepcopy(model)
    for module in student.modules():
        if isinstance(module, torch.nn.Linear):
            module.forward = lambda x, m=module: torch.nn.functional.linear(
                x, m.weight + (rounded(m.weight) - m.weight).detach(), m.bias)  # straight-through rounding
    optimizer = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=0)
    rng, start = np.random.default_rng(0), time.perf_counter()
    print(f"\nquantisation-aware fine-tuning, lr {args.lr}, batch 16, {len(train_texts)} training pairs\n\n"
          "| steps | RR@10 vs fp32 | tau |\n|---|---|---|")
    report("0", student)
    for step in range(1, args.qat_steps + 1):
        batch = rng.integers(0, len(train_texts), 16)
        encoded = encode_pairs(tokenizer, [train_queries[i] for i in batch], [train_texts[i] for i in batch], 256,
                               padding=True, return_tensors="pt")
        loss = torch.nn.functional.mse_loss(relevance_logits(student, encoded), targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            report(f"{step} (loss {loss.item():.4f}, {(time.perf_counter() - start) / step:.2f} s a step)", student)


if __name__ == "__main__":
    main()
