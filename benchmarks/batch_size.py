"""Throughput at each batch size, the measurement behind the CPU default (``util.device.CPU_BATCH_SIZE``):
``OpticalReranker`` (the shipped teacher) on the reranking pairs of ``benchmarks/rerank.py``, and ``E5Encoder`` on
their passages (1-12 sentences) and on the short English strings of ``benchmarks/int8.py``, in every backend and
precision of this CPU (torch fp32 and bf16, OpenVINO fp32 and bf16 when the ``openvino`` extra is installed; bf16
where the CPU has bf16 units). For each workload, configuration and batch size: the median and spread (min-max) of
``--repeats`` runs, batch sizes alternating, and the ratio to the default's median.

    python benchmarks/batch_size.py [--queries 50] [--depth 10] [--texts 1000] [--repeats 3] [--batch-sizes 4 8 16]
                                    [--no-reranking]
"""
import argparse
import statistics

from common import alternating, configurations, english_strings, machine, make_pairs

from pyterrier_optical import E5Encoder, OpticalReranker
from pyterrier_optical.models.registry import embedded_path
from pyterrier_optical.util.device import CPU_BATCH_SIZE


def sweep(label: str, run, items: int, batch_sizes: list, repeats: int) -> None:
    """Print ``label``'s items/s at each batch size; ``run(batch_size)`` does the work once."""
    seconds = alternating({b: (lambda b=b: run(b)) for b in batch_sizes}, repeats)
    rate = {b: [items / s for s in seconds[b]] for b in batch_sizes}
    default = statistics.median(rate[CPU_BATCH_SIZE]) if CPU_BATCH_SIZE in rate else None
    for batch_size, r in rate.items():
        ratio = f"{statistics.median(r) / default:5.2f}x the default" if default else ""
        print(f"{label:34s} batch {batch_size:3d} {statistics.median(r):8.1f}/s ({min(r):.1f}-{max(r):.1f}) {ratio}",
              flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--no-reranking", action="store_true", help="the encoder only")
    args = parser.parse_args()
    print(f"{machine()}\ndefault batch {CPU_BATCH_SIZE}")
    pairs = make_pairs(args.queries, args.depth)
    queries, texts = [q for q, _ in pairs], [d for _, d in pairs]
    teacher = str(embedded_path("optical-teacher"))
    for backend, precision in [] if args.no_reranking else configurations():
        reranker = OpticalReranker(teacher, precision=precision, backend=backend, verbose=False, device="cpu")
        sweep(f"reranking pairs, {backend} {precision}", lambda b: reranker.score(queries, texts, batch_size=b),
              len(pairs), args.batch_sizes, args.repeats)
    workloads = {"passages": list(dict.fromkeys(texts)), "short strings": english_strings(args.texts)}
    for backend, precision in configurations():
        encoder = E5Encoder(precision=precision, backend=backend, device="cpu")
        for workload, passages in workloads.items():
            sweep(f"encoding {workload}, {backend} {precision}", lambda b: encoder.encode_docs(passages, batch_size=b),
                  len(passages), args.batch_sizes, args.repeats)


if __name__ == "__main__":
    main()
