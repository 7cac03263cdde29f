"""The embedded offline demo from Python (the same as ``optical demo``).

    python examples/demo.py [--quick]
"""
import argparse

from pyterrier_optical.demo import format_table, run_demo

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="runs/demo")
    args = parser.parse_args()
    print(format_table(run_demo(args.out, quick=args.quick)))
