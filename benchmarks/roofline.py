"""Where the reranker stands against this CPU's arithmetic peak, per engine and precision.

**Peak.** One large matrix product (``--size`` cubed, 2048 by default), in each engine and precision reranking uses:
torch fp32 and bf16 (``torch.mm`` on fp32 / bf16 tensors), OpenVINO fp32 and bf16 (a model of one MatMul with a
constant weight, compiled with ``INFERENCE_PRECISION_HINT`` as ``backend="openvino"`` compiles the reranker), and
OpenVINO int8 (the same model quantised by NNCF, int8 operations per second). Median and spread of ``--repeats``.
Beside it, the *shape peak*: the six matrix products of one encoder layer (query, key, value, output: d x d; the
feed-forward: d x 4d and 4d x d) chained at the rows of a typical batch of the workload (batch size x its median
padded length), the best the reranker's own matrix shapes allow in that engine.

**Achieved.** ``OpticalReranker(backend=..., precision=...)`` (the shipped student unless ``--model``) transforming a
result frame, end to end as a pipeline runs it (tokenising, sorting, padding, forward passes, ranking), on:

- ``ui``: the benchmark's UI strings, the demo's work: Chromium test queries of the seven Chromium languages
  (``--ui-queries`` per language), each with its candidate list, the BM25 top ``depth`` of the English test strings
  for lexicon-translated queries (as ``optical demo`` forms its first stage);
- ``passages``: ``--passage-queries`` Chromium test queries, each with ``depth`` passages of real English text (the
  shipped bitext's training sentences concatenated until the pair is close to ``max_length``, 256).

at depth 10 and 100 (candidates per query). FLOPs are counted from the model's config: per token 2 x the weights of
the encoder's matrix products (12 x (4 d^2 + 2 d x 4d)), plus attention's 4 x L x d per token per layer (scores and
weighted sum over the L positions attended), plus the pooler and classifier once per pair; *useful* FLOPs count each
pair's real tokens (L its own length), *padding* FLOPs what the batches add, formed as the reranker forms them
(``models.scoring``: pairs sorted by token length, longest first, cut into ``batch_size`` batches, each padded to
its longest). Printed per configuration: pairs/s, useful GFLOP/s (median, min-max), the fraction of the same
engine and precision's peak and of its shape peak, and padding's share of the FLOPs executed. Embeddings, layer
norms, activations and softmaxes are not counted (memory-bound, a few percent of the arithmetic).

``--profile`` then splits one transform of each measured configuration into its steps (tokenising, the batches'
rows, sorting, padding, forward passes, the frame around them), and for torch the forward passes into operators
(``torch.profiler``).

    python benchmarks/roofline.py [--configs default fp32 openvino-bf16 openvino-fp32 int8] [--workloads ui passages]
        [--depths 10 100] [--repeats 5] [--size 2048] [--profile] [--out results.jsonl]
    python benchmarks/roofline.py --report results.jsonl   # one table from the rows of several runs

Each run prints the machine (torch's capabilities, /proc/cpuinfo, versions, threads, load average). Runs meant to be
compared on a shared machine go one configuration per run (``--configs X``), with the same ``--out``.
"""
import argparse
import json
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pyterrier as pt
import torch
from common import alternating, configurations, load_average, machine, spread

from pyterrier_optical import LexiconTranslate, MultilingualBM25, OpticalReranker, shipped_lexicon
from pyterrier_optical.data.bitext import CHROMIUM_LANGUAGES, english_training_sentences, load_bitext
from pyterrier_optical.models.scoring import clean_texts, encode_pairs, sorted_batches

# name -> OpticalReranker arguments, and the peak it is held to (engine, precision)
CONFIGS = {"default": ({}, None),  # torch, precision auto: bf16 where the CPU has bf16 units
           "fp32": ({"precision": "fp32"}, ("torch", "fp32")),
           "bf16": ({"precision": "bf16"}, ("torch", "bf16")),
           "openvino-bf16": ({"backend": "openvino", "precision": "bf16"}, ("openvino", "bf16")),
           "openvino-fp32": ({"backend": "openvino", "precision": "fp32"}, ("openvino", "fp32")),
           "int8": ({"precision": "int8"}, ("openvino", "int8"))}


def runnable() -> list:
    """The configurations this machine runs, each once: bf16 ones where the CPU has bf16 units, OpenVINO ones with
    the extra; torch's own fp32 or bf16 is left to ``default`` (precision auto), which is one of them."""
    engines = configurations() + [("openvino", "int8")] * (("openvino", "fp32") in configurations())
    default = ("torch", "bf16" if ("torch", "bf16") in engines else "fp32")
    return [name for name, (_, held_to) in CONFIGS.items() if held_to is None or
            (held_to in engines and held_to != default)]


GOAL = 0.70  # issue 46: the default path at >= 70% of the measured peak on passages


# -- the FLOP count -----------------------------------------------------------------------------------------------

class FlopModel:
    """FLOPs of a BERT-style cross-encoder per pair, from its config."""

    def __init__(self, config):
        d, ff, self.layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
        self.per_token = 2 * self.layers * (4 * d * d + 2 * d * ff)  # the encoder's matrix products
        self.attention = 4 * d * self.layers  # per token, per position attended over
        self.per_pair = 2 * (d * d + d * config.num_labels)  # pooler and classifier on the first token
        self.d, self.ff = d, ff

    def of(self, tokens: int, attended: int) -> float:
        return tokens * (self.per_token + self.attention * attended) + self.per_pair

    def batches(self, lengths, batch_size: int) -> dict:
        """Useful and padding FLOPs of the batches the reranker forms from pairs of ``lengths`` tokens."""
        lengths = np.asarray(lengths)
        useful = sum(self.of(n, n) for n in lengths)
        executed, widths, padded_tokens = 0.0, [], 0
        for batch in sorted_batches(lengths, batch_size):
            width = int(lengths[batch].max())
            executed += len(batch) * self.of(width, width)
            padded_tokens += len(batch) * width
            widths.append(width)
        return {"useful": useful, "padding": executed - useful, "tokens": int(lengths.sum()),
                "padded_tokens": padded_tokens,
                "median_width": int(statistics.median(widths))}


# -- peaks --------------------------------------------------------------------------------------------------------

def chain_shapes(rows: int, d: int, ff: int) -> list:
    """(rows, in, out) of the six matrix products of one encoder layer, in order."""
    return [(rows, d, d)] * 4 + [(rows, d, ff), (rows, ff, d)]


def torch_product(precision: str, shapes: list):
    """``x @ W1 @ W2 ...`` (``shapes``: (rows, in, out) each) in torch at ``precision``, and its FLOPs."""
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shapes[0][0], shapes[0][1], generator=generator).to(dtype)
    weights = [(torch.randn(k, n, generator=generator) / k ** 0.5).to(dtype) for _, k, n in shapes]

    def run():
        with torch.inference_mode():
            y = x
            for w in weights:
                y = torch.mm(y, w)
        return y

    return run, sum(2 * m * k * n for m, k, n in shapes)


def openvino_product(precision: str, shapes: list):
    """The same chain as an OpenVINO model (weights constant, stored (out, in) as a converted torch Linear's),
    compiled as the backend compiles the reranker (int8: quantised by NNCF first), and its FLOPs (int8: ops)."""
    import openvino as ov
    import openvino.opset13 as ops

    from pyterrier_optical.models.openvino_backend import INFERENCE_PRECISION

    rng = np.random.default_rng(0)
    x = ops.parameter([shapes[0][0], shapes[0][1]], np.float32, name="x")
    y = x
    for _, k, n in shapes:
        y = ops.matmul(y, ops.constant((rng.standard_normal((n, k)) / k ** 0.5).astype(np.float32)), False, True)
    model = ov.Model([y], [x])
    data = rng.standard_normal((shapes[0][0], shapes[0][1])).astype(np.float32)
    if precision == "int8":
        import nncf

        calibration = nncf.Dataset([rng.standard_normal(data.shape).astype(np.float32) for _ in range(4)])
        compiled = ov.Core().compile_model(nncf.quantize(model, calibration, subset_size=4), "CPU")
    else:
        compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": INFERENCE_PRECISION[precision]})
    request = compiled.create_infer_request()
    return (lambda: request.infer({0: data}, share_inputs=True, share_outputs=True),
            sum(2 * m * k * n for m, k, n in shapes))


def product(engine: str, precision: str, shapes: list):
    return (torch_product if engine == "torch" else openvino_product)(precision, shapes)


# -- the work -----------------------------------------------------------------------------------------------------

def ui_frames(depths: list, queries_per_language: int, seed: int = 0) -> dict:
    """depth -> the demo's reranking input: Chromium test queries with their BM25 top ``depth`` English strings."""
    frames = []
    with tempfile.TemporaryDirectory(prefix="roofline-bm25-") as folder:
        for lang in CHROMIUM_LANGUAGES:
            pairs = load_bitext(lang, "test")
            docs = pd.DataFrame({"docno": [f"{lang}-d{i}" for i in range(len(pairs))], "text": [en for en, _ in pairs]})
            index = MultilingualBM25(Path(folder) / lang, lang="en", verbose=False).index(docs.to_dict("records"))
            topics = pd.DataFrame({"qid": [f"{lang}-q{i}" for i in range(len(pairs))],
                                   "query": [other for _, other in pairs]})
            topics = topics.sample(n=min(queries_per_language, len(topics)), random_state=seed)
            first_stage = LexiconTranslate(shipped_lexicon(lang)) >> index.bm25(num_results=max(depths)) \
                >> pt.rewrite.reset()
            frames.append(first_stage(topics))
    candidates = pd.concat(frames, ignore_index=True)
    return {depth: candidates[candidates["rank"] < depth].reset_index(drop=True) for depth in depths}


def passage_frames(depths: list, queries: int, tokenizer, max_length: int, seed: int = 0) -> dict:
    """depth -> Chromium test queries, each with ``depth`` passages of real English sentences concatenated until the
    pair nearly fills ``max_length`` tokens (a target drawn from its last 24)."""
    rng = np.random.default_rng(seed)
    pool = [other for lang in CHROMIUM_LANGUAGES for _, other in load_bitext(lang, "test")]
    chosen = [pool[i] for i in rng.choice(len(pool), queries, replace=False)]
    sentences = english_training_sentences()
    sizes = [len(ids) for ids in tokenizer(sentences, add_special_tokens=False)["input_ids"]]
    query_sizes = [len(ids) for ids in tokenizer(chosen, add_special_tokens=False)["input_ids"]]
    rows = []
    for q, (query, query_size) in enumerate(zip(chosen, query_sizes)):
        for slot in range(max(depths)):
            target, used, parts = int(rng.integers(max_length - 24, max_length + 1)) - query_size - 4, 0, []
            while True:
                i = int(rng.integers(len(sentences)))
                if used + sizes[i] > target and parts:
                    break
                parts.append(sentences[i])
                used += sizes[i]
            rows.append({"qid": f"q{q}", "query": query, "docno": f"q{q}-d{slot}", "text": " ".join(parts),
                         "slot": slot})
    frame = pd.DataFrame(rows)
    return {depth: frame[frame["slot"] < depth].drop(columns="slot").reset_index(drop=True) for depth in depths}


def pair_lengths(reranker, frame) -> list:
    """Tokens of each pair as the reranker encodes it."""
    encoded = encode_pairs(reranker.tokenizer_, clean_texts(frame["query"].tolist()),
                           clean_texts(frame["text"].tolist()), reranker.max_length_)
    return [len(ids) for ids in encoded["input_ids"]]


# -- where the time goes ------------------------------------------------------------------------------------------

def steps(reranker, frame) -> dict:
    """Seconds of each step of one ``transform``, done as ``models.scoring.score_pairs`` does them."""
    from pyterrier_optical.util.device import autocast
    from pyterrier_optical.util.frames import ranked

    seconds, start = {}, time.perf_counter()

    def lap(name):
        nonlocal start
        now = time.perf_counter()
        seconds[name] = seconds.get(name, 0.0) + now - start
        start = now

    pt.validate.result_frame(frame, extra_columns=["query", "text"])
    queries, texts = clean_texts(frame["query"].tolist()), clean_texts(frame["text"].tolist())
    lap("frame in (validate, columns to lists, clean_texts)")
    encoded = encode_pairs(reranker.tokenizer_, queries, texts, reranker.max_length_)
    lap("tokenising (encode_pairs)")
    rows = [{key: encoded[key][i] for key in encoded} for i in range(len(texts))]
    lap("per-pair row dicts")
    batches = sorted_batches([len(r["input_ids"]) for r in rows], reranker.batch_size)
    lap("sorting into batches")
    scores = np.zeros(len(texts), dtype=np.float32)
    model = reranker.scoring_model_
    with torch.inference_mode(), autocast(reranker.precision_, "cpu"):
        lap("entering inference mode and autocast")
        for batch in batches:
            padded = reranker.tokenizer_.pad([rows[i] for i in batch], return_tensors="pt")
            lap("padding (tokenizer.pad)")
            out = model(**padded).logits[:, -1]
            lap("forward passes")
            scores[batch] = out.float().cpu().numpy()
            lap("scores out")
    ranked(frame.drop(columns=["score", "rank"], errors="ignore").assign(score=scores))
    lap("frame out (assign, rank)")
    return seconds


def operators(reranker, frame, top: int = 14) -> str:
    """torch.profiler's operators of the forward passes of one ``score`` call, by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    queries, texts = frame["query"].tolist(), frame["text"].tolist()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        reranker.score(queries, texts)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    lines = [f"    {'operator':42s} {'self ms':>9s} {'share':>6s} {'calls':>6s}"]
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:top]:
        lines.append(f"    {e.key[:42]:42s} {e.self_cpu_time_total / 1e3:9.1f} {e.self_cpu_time_total / total:6.1%} "
                     f"{e.count:6d}")
    return "\n".join(lines)


def what_if(reranker, frame, counts: dict, repeats: int) -> str:
    """The torch path's forward passes as shipped (autocast over fp32 weights, PyTorch's SDPA attention) against
    changes the package could make: weights cast to bf16 once (no autocast), eager attention, both; the same pairs
    and batches, alternating. Fidelity: the largest score difference and the mean per-query Kendall tau against
    fp32 scores."""
    import copy

    from scipy.stats import kendalltau

    from pyterrier_optical.models.scoring import score_pairs

    queries, texts = frame["query"].tolist(), frame["text"].tolist()
    lists = [rows for rows in frame.groupby("qid").indices.values() if len(rows) > 1]
    fp32 = reranker.model_

    def variant(weights_bf16: bool, attention: str):
        model = copy.deepcopy(fp32)
        if attention != "sdpa":
            model.set_attn_implementation(attention)
        if weights_bf16:
            model = model.to(torch.bfloat16)
        precision = "fp32" if weights_bf16 else reranker.precision_  # bf16 weights run without autocast
        return lambda: score_pairs(model, reranker.tokenizer_, queries, texts, reranker.max_length_,
                                   reranker.batch_size, precision=precision)

    runs = {"as shipped: autocast, fp32 weights, SDPA": lambda: reranker.score(queries, texts),
            "bf16 weights, no autocast, SDPA": variant(True, "sdpa"),
            "autocast, fp32 weights, eager attention": variant(False, "eager"),
            "bf16 weights, no autocast, eager attention": variant(True, "eager")}
    reference = score_pairs(fp32, reranker.tokenizer_, queries, texts, reranker.max_length_, reranker.batch_size)
    scores = {name: run() for name, run in runs.items()}
    seconds = alternating(runs, repeats, warm_up=False)
    lines = [f"    {'variant':46s} {'useful GFLOP/s':>20s} {'vs shipped':>10s} {'max |diff|':>10s} {'tau':>6s}"]
    shipped = statistics.median(seconds[next(iter(runs))])
    for name, s in seconds.items():
        gflops = [counts["useful"] / t / 1e9 for t in s]
        diff = float(np.abs(scores[name] - reference).max())
        tau = np.nanmean([kendalltau(scores[name][rows], reference[rows]).statistic for rows in lists])
        lines.append(f"    {name:46s} {spread(gflops, 0):>20s} {shipped / statistics.median(s):9.2f}x {diff:10.3f} "
                     f"{tau:6.3f}")
    return "\n".join(lines)


# -- the table ----------------------------------------------------------------------------------------------------

def table(rows: list) -> str:
    head = ("| configuration | work | depth | pairs | tokens/pair | pairs/s | useful GFLOP/s | peak GFLOP/s | "
            "of peak | shape peak | of shape peak | padding share | load |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(f"| {r['configuration']} | {r['work']} | {r['depth']} | {r['pairs']} | "
                     f"{r['tokens_per_pair']:.1f} | {statistics.median(r['pairs_per_s']):.1f} | "
                     f"{spread(r['gflops'], 0)} | "
                     f"{spread(r['peak'], 0)} | **{statistics.median(r['of_peak']):.0%}** "
                     f"({min(r['of_peak']):.0%}-{max(r['of_peak']):.0%}) | {spread(r['shape_peak'], 0)} | "
                     f"{statistics.median(r['of_shape_peak']):.0%} | {r['padding_share']:.1%} | {r['load']} |")
    return "\n".join(lines)


def peak_table(rows: list) -> str:
    """The peaks measured beside each configuration, pooled per engine and precision."""
    pooled = defaultdict(list)
    for r in rows:
        pooled[r["engine"], r["precision"]].extend(r["peak"])
    lines = ["| engine | precision | GFLOP/s (int8: GOP/s), median (min-max) | samples |", "|---|---|---|---|"]
    lines += [f"| {e} | {p} | {spread(v, 0)} | {len(v)} |" for (e, p), v in pooled.items()]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="optical-student")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS),
                        help="default: every one this machine runs (bf16 ones where the CPU has bf16 units)")
    parser.add_argument("--workloads", nargs="+", default=["ui", "passages"], choices=["ui", "passages"])
    parser.add_argument("--depths", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--ui-queries", type=int, default=3, help="per Chromium language (7)")
    parser.add_argument("--passage-queries", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=2048, help="of the peak's square matrix product")
    parser.add_argument("--profile", action="store_true", help="where one transform's time goes")
    parser.add_argument("--what-if", action="store_true", help="torch: the forward passes with changes the package "
                        "could make (bf16 weights, eager attention)")
    parser.add_argument("--out", help="append the rows (JSON lines) to this file")
    parser.add_argument("--report", nargs="+", metavar="FILE", help="print the tables of earlier --out files")
    args = parser.parse_args()
    if args.report:
        rows = [json.loads(line) for f in args.report for line in Path(f).read_text().splitlines() if line]
        print(f"{peak_table(rows)}\n\n{table(rows)}")
        return
    print(machine(), flush=True)
    out = open(args.out, "a") if args.out else None
    rows = []
    for name in args.configs or runnable():
        options, held_to = CONFIGS[name]
        reranker = OpticalReranker(args.model, verbose=False, device="cpu", max_length=args.max_length, **options)
        engine, precision = held_to or (reranker.backend_, reranker.precision_)
        label = f"{name} ({engine} {precision})" if name == "default" else name
        flop_model = FlopModel(reranker.model_.config)
        peak, peak_flops = product(engine, precision, [(args.size, args.size, args.size)])
        for work in args.workloads:
            frames = (ui_frames(args.depths, args.ui_queries) if work == "ui" else
                      passage_frames(args.depths, args.passage_queries, reranker.tokenizer_, reranker.max_length_))
            for depth, frame in frames.items():
                counts = flop_model.batches(pair_lengths(reranker, frame), reranker.batch_size)
                shape = chain_shapes(reranker.batch_size * counts["median_width"], flop_model.d, flop_model.ff)
                shape_run, shape_flops = product(engine, precision, shape)
                seconds = alternating({"peak": peak, "shape": shape_run, "work": lambda: reranker.transform(frame)},
                                      args.repeats)
                gflops = [counts["useful"] / s / 1e9 for s in seconds["work"]]
                peaks = [peak_flops / s / 1e9 for s in seconds["peak"]]
                shape_peaks = [shape_flops / s / 1e9 for s in seconds["shape"]]
                row = {"configuration": label, "engine": engine, "precision": precision, "work": work, "depth": depth,
                       "pairs": len(frame), "tokens_per_pair": counts["tokens"] / len(frame),
                       "pairs_per_s": [len(frame) / s for s in seconds["work"]], "gflops": gflops, "peak": peaks,
                       "of_peak": [a / b for a, b in zip(gflops, peaks)], "shape_peak": shape_peaks,
                       "of_shape_peak": [a / b for a, b in zip(gflops, shape_peaks)], "shape_rows": shape[0][0],
                       "padding_share": counts["padding"] / (counts["useful"] + counts["padding"]),
                       "padded_token_share": 1 - counts["tokens"] / counts["padded_tokens"],
                       "useful_gflop": counts["useful"] / 1e9, "seconds": seconds["work"], "load": load_average(),
                       "batch_size": reranker.batch_size, "size": args.size}
                rows.append(row)
                if out:
                    out.write(json.dumps(row) + "\n")
                    out.flush()
                print(table([row]).splitlines()[-1], flush=True)
                if args.profile:
                    laps = defaultdict(list)
                    for _ in range(3):
                        for step, s in steps(reranker, frame).items():
                            laps[step].append(s)
                    total = sum(statistics.median(v) for v in laps.values())
                    print(f"  one transform, {label}, {work} depth {depth}, median of 3: {total:.2f} s")
                    for step, v in laps.items():
                        print(f"    {step:52s} {statistics.median(v):8.3f} s {statistics.median(v) / total:6.1%}")
                    if engine == "torch":
                        print(operators(reranker, frame), flush=True)
                if args.what_if and engine == "torch":
                    print(f"  what if, {work} depth {depth}, median (min-max) of {args.repeats}:")
                    print(what_if(reranker, frame, counts, args.repeats), flush=True)
    print(f"\n{peak_table(rows)}\n\n{table(rows)}")
    if out:
        out.close()


if __name__ == "__main__":
    main()
