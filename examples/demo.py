"""The embedded offline demo from Python (the same as ``optical demo``): writes a report folder.

    python examples/demo.py [--quick] [--out runs/demo] [--overwrite]
"""
import argparse

from pyterrier_optical.experiment.demo import run_demo

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="runs/demo")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    print(run_demo(args.out, quick=args.quick, overwrite=args.overwrite).read_text())
