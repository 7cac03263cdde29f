"""The demo end to end on tiny models (the real pipeline: PISA BM25, lexicon translation, cross-encoders, score
caches, pt.Experiment, report with figures), its refusal to overwrite and its resumption."""
import pandas as pd
import pytest

from pyterrier_optical.cli import main
from pyterrier_optical.experiment.demo import CS_STUDENT, CS_TEACHER, DENSE_FUSION, FUSION, STUDENT, TEACHER, run_demo


@pytest.fixture(scope="module")
def tiny_models(tiny_model_dir):
    return {TEACHER: str(tiny_model_dir), STUDENT: str(tiny_model_dir), CS_TEACHER: None, CS_STUDENT: None}


def run(out, models, tiny_model_dir, **kwargs):
    return run_demo(out, ["sw", "de"], quick=True, models=models, max_queries=6, sweep_queries=3, ratios=(0.0, 1.0),
                    dense=str(tiny_model_dir), verbose=False, **kwargs)


def test_demo_writes_a_report_and_resumes(tiny_models, tiny_model_dir, tmp_path):
    report = run(tmp_path / "demo", tiny_models, tiny_model_dir)
    text = report.read_text()
    for part in ("Chromium test splits", "against the OPTICAL student", "against mE5 dense", "Kolibri test splits",
                 "High/low-resource gap", "Code-switched queries", "Wall clock of this run",
                 "NMT translate-test pipeline was skipped", "![code-switch sweep](sweep.png)"):
        assert part in text
    folder = report.parent
    for name in ("results-1.csv", "per_query-1.csv", "gap-1.csv", "results-2.csv", "results-3.csv", "results-4.csv",
                 "sweep.csv", "sweep.png", "languages-1.png", "fusion_dev.csv"):
        assert (folder / name).stat().st_size > 0, name
    results = pd.read_csv(folder / "results-1.csv")
    assert set(results["lang"]) == {"sw", "de"} and {FUSION, DENSE_FUSION} <= set(results["system"])
    fusion_dev = pd.read_csv(folder / "fusion_dev.csv")
    assert set(fusion_dev["system"]) == {FUSION, DENSE_FUSION} and set(fusion_dev["lang"]) == {"sw", "de"}
    assert "OPTICAL + mE5 fusion: student weight" in text
    assert results[results["system"] == TEACHER]["p"].isna().all()
    sweep = pd.read_csv(folder / "sweep.csv")
    assert sorted(sweep["ratio"].unique()) == [0.0, 1.0]
    assert (sweep[sweep["ratio"] == 1.0]["switched"] == 1.0).all()  # p = 1 switches every switchable word
    # a finished report is not overwritten by accident
    with pytest.raises(ValueError, match="already holds a report"):
        run(tmp_path / "demo", tiny_models, tiny_model_dir)
    # an interrupted run (no report yet) reuses the systems' saved runs
    saved = {f: f.stat().st_mtime_ns for f in (folder / "runs" / "chromium").rglob("*.res.gz")}
    assert len(saved) >= 5
    report.unlink()
    run(tmp_path / "demo", tiny_models, tiny_model_dir)
    assert {f: f.stat().st_mtime_ns for f in (folder / "runs" / "chromium").rglob("*.res.gz")} == saved
    run(tmp_path / "demo", tiny_models, tiny_model_dir, overwrite=True)
    assert not set(saved) & {f for f in (folder / "runs" / "chromium").rglob("*.res.gz")
                             if f.stat().st_mtime_ns == saved.get(f)}


def test_experiment_cli_errors(tmp_path, capsys):
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "report.md").write_text("# finished")
    assert main(["experiment", "--out", str(tmp_path / "done"), "--quick"]) == 2
    assert "already holds a report" in capsys.readouterr().err
