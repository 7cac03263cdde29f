"""Reranking speed and fidelity: OpticalReranker at its default (torch, precision "auto"), in fp32, and on its
OpenVINO backend (auto, fp32, int8) against sentence-transformers' CrossEncoder.predict at its default (fp32), with
bf16 weights (``model_kwargs``; where the CPU has bf16 units) and with its OpenVINO backend (the exported model, and
its int8 form), same model, same pairs, one process. Each runs at its default batch size (ours 16 on a CPU,
``CrossEncoder.predict``'s 32), and the peer's configurations also at ours, which is the faster one for them too;
``--batch-size N`` runs everything at N instead. Our int8 is compared with the peer's int8, the rest with the peer's
configurations that are not int8.

sentence-transformers' own ``backend="openvino"`` needs optimum-intel, which requires transformers<5.6 (this project
runs transformers 5.x), so it cannot be installed beside it: its configurations are rebuilt here as they run — the
model exported to OpenVINO and compiled with OpenVINO's defaults (bf16 inference on a CPU with bf16 units, fp32
elsewhere: the model ``backend="openvino"`` makes at precision auto), and the same OpenVINO int8 model (NNCF static
quantisation, the one ``precision="int8"`` makes), each fed in ``CrossEncoder.predict``'s order (pairs sorted by
character length, then batched and padded by its tokenizer).

The model is the shipped teacher. The work is a reranking run: ``--queries`` real queries of the shipped bitext in
nine languages, each with ``--depth`` English passages of 1-12 sentences. The configurations run alternately,
``--repeats`` times each; the median and the spread (min-max) of pairs/s are printed with the ratios, and each
configuration's fidelity against our fp32 scores: the largest absolute score difference and the mean per-query
Kendall tau of the reranked lists.

    python benchmarks/rerank.py [--queries 100] [--depth 10] [--repeats 3] [--batch-size N] [--max-length 256]
"""
import argparse
import inspect
import statistics

import numpy as np
import torch
from common import alternating, machine, make_pairs, mean_kendall

from pyterrier_optical import OpticalReranker
from pyterrier_optical.models.registry import embedded_path
from pyterrier_optical.util.device import CPU_BATCH_SIZE, bf16_supported


def predict_like_sentence_transformers(model, tokenizer, pairs, batch_size: int, max_length: int) -> np.ndarray:
    """``CrossEncoder.predict``'s way through the pairs (sorted by character length, longest first; each batch
    tokenised with padding and truncation of both sides) with ``model`` doing the forward passes."""
    order = np.argsort([-len(q) - len(d) for q, d in pairs], kind="stable")
    scores = np.zeros(len(pairs), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        encoded = tokenizer([pairs[i][0] for i in batch], [pairs[i][1] for i in batch], padding=True,
                            truncation=True, max_length=max_length, return_tensors="pt")
        scores[batch] = model(**encoded).logits[:, -1].numpy()
    return scores


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--max-length", type=int, default=256)
    args = parser.parse_args()
    from sentence_transformers import CrossEncoder

    model = str(embedded_path("optical-teacher"))  # the shipped teacher, assembled in seconds
    pairs = make_pairs(args.queries, args.depth)
    queries, texts = [q for q, _ in pairs], [d for _, d in pairs]
    options = dict(batch_size=args.batch_size, max_length=args.max_length, verbose=False, device="cpu")
    ours = {"ours, default (auto)": OpticalReranker(model, **options),
            "ours, fp32": OpticalReranker(model, precision="fp32", **options),
            "ours, openvino (auto)": OpticalReranker(model, backend="openvino", **options),
            "ours, openvino fp32": OpticalReranker(model, precision="fp32", backend="openvino", **options),
            "ours, int8": OpticalReranker(model, precision="int8", **options)}
    models = {"default (fp32)": CrossEncoder(model, num_labels=1, max_length=args.max_length, device="cpu")}
    if bf16_supported("cpu"):
        models["bf16 weights"] = CrossEncoder(model, num_labels=1, max_length=args.max_length, device="cpu",
                                              model_kwargs={"torch_dtype": torch.bfloat16})
    openvino = {"OpenVINO": ours["ours, openvino (auto)"].scoring_model_,
                "OpenVINO int8": ours["ours, int8"].scoring_model_}
    tokenizer = ours["ours, fp32"].tokenizer_

    def peer(configuration, batch_size):
        if configuration in openvino:
            return lambda: predict_like_sentence_transformers(openvino[configuration], tokenizer, pairs, batch_size,
                                                              args.max_length)
        return lambda: models[configuration].predict(pairs, batch_size=batch_size, activation_fn=torch.nn.Identity(),
                                                     show_progress_bar=False)

    peer_batch_size = inspect.signature(CrossEncoder.predict).parameters["batch_size"].default  # 32 in ST 6
    batch_sizes = [args.batch_size] if args.batch_size else [peer_batch_size, CPU_BATCH_SIZE]
    theirs = {f"sentence-transformers, {c}, batch {b}": peer(c, b) for b in batch_sizes for c in [*models, *openvino]}
    runs = {**{name: (lambda r=r: r.score(queries, texts)) for name, r in ours.items()}, **theirs}
    names, scores = list(runs), {}

    def scored(name):
        scores[name] = np.asarray(runs[name](), dtype=np.float32)

    seconds = alternating({n: (lambda n=n: scored(n)) for n in names}, args.repeats)
    rate = {n: [len(pairs) / s for s in seconds[n]] for n in names}
    median = {n: statistics.median(rate[n]) for n in names}
    reference = scores["ours, fp32"]
    print(machine())
    print(f"model {model}; {args.queries} queries x {args.depth} passages = {len(pairs)} pairs, our batch "
          f"{ours['ours, fp32'].batch_size}, max_length {args.max_length}; precision auto = "
          f"{ours['ours, default (auto)'].precision_}")
    print(f"{'configuration':50s} {'pairs/s median':>14s} {'min-max':>15s} {'max |diff|':>10s} {'mean tau':>8s}")
    for n in names:
        diff = np.abs(scores[n] - reference).max()
        print(f"{n:50s} {median[n]:14.1f} {min(rate[n]):7.1f}-{max(rate[n]):<7.1f} {diff:10.4f} "
              f"{mean_kendall(scores[n], reference, args.depth):8.3f}")
    peer_default = median[f"sentence-transformers, default (fp32), batch {batch_sizes[0]}"]
    for n in ours:  # int8 against the peer's int8, the rest against the peer's configurations within fidelity
        fastest = max((t for t in theirs if ("int8" in t) == ("int8" in n)), key=median.get)
        print(f"{n} / sentence-transformers default: {median[n] / peer_default:.2f}x (goal >= 3.0x); / its fastest "
              f"({fastest}): {median[n] / median[fastest]:.2f}x (goal >= 1.2x)")


if __name__ == "__main__":
    main()
