"""Is the release reproducible? Retrain shipped models from their recipes here (into a fresh ``OPTICAL_HOME``, or
``--home``) and compare their dev figures with the manifest's: RR@10 on the release's dev lists (the same 256
Kolibri dev pairs with mE5's candidates, fp32) and the dev selection's MRR, against what the release measured.
Training on a CPU is seeded but not bit-identical across machines and precisions, so expect differences within the
seed spread the docs report (about ±.01), not zero.

    python benchmarks/reproduce.py [optical-teacher ...] [--home DIR]
"""
import argparse
import json
import os
import tempfile
import time

from common import machine


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=["optical-teacher"])
    parser.add_argument("--home", help="OPTICAL_HOME to train into (default: a new temporary folder)")
    args = parser.parse_args()
    os.environ["OPTICAL_HOME"] = args.home or tempfile.mkdtemp(prefix="optical-reproduce-")
    from pyterrier_optical.models.checkpoint import read_metadata
    from pyterrier_optical.models.cross_encoder import load_cross_encoder
    from pyterrier_optical.models.shipped import MANIFEST, shipped_dir
    from pyterrier_optical.models.registry import build_order, embedded_path
    from pyterrier_optical.train.release import dev_lists
    from pyterrier_optical.train.selection import translation_retrieval_mrr

    manifest = json.loads((shipped_dir() / MANIFEST).read_text(encoding="utf-8"))["models"]
    queries, pools = dev_lists()
    print(f"{machine()}\nOPTICAL_HOME={os.environ['OPTICAL_HOME']}")
    for name in build_order(args.names):
        start = time.perf_counter()
        folder = embedded_path(name, verbose=False, retrain=True)
        minutes = (time.perf_counter() - start) / 60
        model, tokenizer, _ = load_cross_encoder(folder, "cpu")
        rr = translation_retrieval_mrr(model, tokenizer, queries, pools)  # fp32, as the release measured it
        shipped = manifest[name]
        meta = read_metadata(folder)
        print(f"{name}: retrained in {minutes:.1f} min ({meta.get('precision')}); dev RR@10 {rr:.4f}"
              f" against the release's {shipped['dev']['rr@10_trained']:.4f} "
              f"({rr - shipped['dev']['rr@10_trained']:+.4f}); selected step "
              f"{meta.get('selected_step')} (release {shipped['trained'].get('selected_step')}), selection MRR "
              f"{meta.get('selected_dev_mrr')} (release {shipped['trained'].get('selected_dev_mrr')})", flush=True)


if __name__ == "__main__":
    main()
