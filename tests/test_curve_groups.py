"""benchmarks/curve_groups.py, the seed-group comparison of learning curves, on the curves the docs quote."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CURVES = ROOT / "docs" / "curves"


def run(*args) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "curve_groups.py"), *map(str, args)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_two_seed_groups_are_compared_at_the_steps_every_run_logged_with_welch_p():
    shipped = [CURVES / f"lever-dense-teacher-0.5-s{seed}" for seed in (42, 43, 44)]
    previous = [CURVES / f"student-800-seed{seed}" for seed in (42, 43, 44)]
    out = run("--a", *shipped, "--b", *previous, "--names", "shipped", "before")
    rows = {tuple(cells[:2]): cells[2:] for cells in (line.strip("| ").split(" | ") for line in out.splitlines()[2:])}
    assert {step for step, _ in rows} == {"0", "200", "400", "600", "800"}
    assert rows[("800", "yo alone")] == ["0.562 (0.551-0.579)", "0.518 (0.512-0.525)", "-0.043", "0.024"]
    assert rows[("0", "low alone")][-1] == "nan"  # one starting model per group: no test


def test_a_run_without_a_curve_is_named():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "curve_groups.py"), "--a", str(CURVES),
                           "--b", str(CURVES)], capture_output=True, text=True)
    assert done.returncode == 1 and f"{CURVES} has no learning curve" in done.stderr
