"""What the benchmarks share: the machine they ran on, the work they time, and how they time it.

Each benchmark is a script run from the repository's root (``python benchmarks/NAME.py``), so this folder is the
first entry of ``sys.path`` and every script imports this module the same way, ``from common import ...``; no
benchmark imports another one. It imports the package only inside its functions, so that a script may set
``OPTICAL_HOME`` before the package first loads (``reproduce.py``).
"""
import importlib.util
import os
import random
import statistics
import time
from pathlib import Path

import numpy as np

CPUINFO_FLAGS = ("amx_bf16", "amx_int8", "amx_fp16", "amx_tile", "avx512_bf16", "avx512_fp16", "avx512_vnni",
                 "avx512f", "avx_vnni", "avx2", "fma")


def cpuinfo_flags() -> str:
    """The matrix and vector units of the first CPU in /proc/cpuinfo (what the kernel reports, beside torch's view)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "(no /proc/cpuinfo)"
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    flags = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    name = fields.get("model name\t", fields.get("model name", "?")).strip()
    return f"{name}: " + " ".join(f for f in CPUINFO_FLAGS if f in flags)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (``uptime``'s), to print beside every figure."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> str:
    """One paragraph naming where a figure was measured: torch's capabilities, /proc/cpuinfo, versions, threads,
    load."""
    import torch

    from pyterrier_optical.util.device import cpu_flags

    versions = [f"torch {torch.__version__}"]
    if importlib.util.find_spec("openvino"):
        import openvino

        versions.append(f"OpenVINO {openvino.__version__.split('-')[0]}")
    return (f"torch.cpu.get_capabilities(): {cpu_flags()}\n/proc/cpuinfo: {cpuinfo_flags()}\n"
            f"{', '.join(versions)}; {torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs; load average "
            f"{load_average()}")


def configurations() -> list:
    """The (backend, precision) pairs this machine runs: torch and, with the ``openvino`` extra, OpenVINO; fp32 and,
    where the CPU has bf16 units, bf16."""
    from pyterrier_optical.util.device import bf16_supported

    precisions = ["fp32"] + (["bf16"] if bf16_supported("cpu") else [])
    backends = ["torch"] + (["openvino"] if importlib.util.find_spec("openvino") else [])
    return [(backend, precision) for backend in backends for precision in precisions]


def label(backend: str, precision: str) -> str:
    """``bf16`` for torch, ``openvino bf16`` for OpenVINO."""
    return precision if backend == "torch" else f"{backend} {precision}"


def make_pairs(queries: int, depth: int, seed: int = 0) -> list:
    """The reranking work of ``rerank.py`` and ``batch_size.py``: ``queries`` real queries of the shipped Chromium
    test bitext in every language, each with ``depth`` English passages of 1-12 sentences of the training bitext."""
    from pyterrier_optical.data.bitext import load_bitext, shipped_languages

    rng = random.Random(seed)
    pool = [x for lang in shipped_languages() for _, x in load_bitext(lang, "test")]
    english = [en for en, _ in load_bitext("de", "train")]
    return [(q, " ".join(rng.sample(english, rng.randint(1, 12)))) for q in rng.sample(pool, queries)
            for _ in range(depth)]


def english_strings(n: int) -> list:
    """The first ``n`` distinct English strings of the shipped training bitext (the short texts of the encoding
    runs)."""
    from pyterrier_optical.data.bitext import load_bitext, shipped_languages

    return list(dict.fromkeys(en for lang in shipped_languages() for en, _ in load_bitext(lang, "train")))[:n]


def mean_kendall(a, b, depth: int) -> float:
    """Mean Kendall tau between the per-query orders of two score arrays (queries are consecutive blocks)."""
    from scipy.stats import kendalltau

    return float(np.mean([kendalltau(a[i:i + depth], b[i:i + depth]).statistic for i in range(0, len(a), depth)]))


def alternating(runs: dict, repeats: int, warm_up: bool = True) -> dict:
    """Seconds of each of ``runs`` (name -> callable), ``repeats`` times, the runs alternating so that a change of
    the machine's load falls on all of them; one untimed call of each first."""
    if warm_up:
        for run in runs.values():
            run()
    seconds = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def spread(values, digits: int = 1) -> str:
    """``median (min-max)``."""
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"
