"""The demo end to end on tiny models (the real pipeline: PISA BM25, lexicon translation, cross-encoders, score
caches, pt.Experiment, report with figures), its refusal to overwrite and its resumption."""
import json

import numpy as np
import pandas as pd
import pytest

from pyterrier_optical.cli import main
from pyterrier_optical.experiment.demo import (CS_STUDENT, CS_TEACHER, DENSE, DENSE_CONTROL, DENSE_FUSION,
                                               DENSE_STUDENT, FUSION, STUDENT, TEACHER, run_demo)


@pytest.fixture(scope="module")
def tiny_models(tiny_model_dir):
    return {TEACHER: str(tiny_model_dir), STUDENT: str(tiny_model_dir), CS_TEACHER: None, CS_STUDENT: None}


def run(out, models, tiny_model_dir, **kwargs):
    # fp32: the resumed and the fresh run must give equal tables, and bf16 scores depend on the batch a pair is in
    settings = {**dict(max_queries=6, sweep_queries=3, ratios=(0.0, 1.0), dev_queries=5, full=True,
                       precision="fp32"), **kwargs}
    return run_demo(out, ["sw", "de"], models=models, dense=str(tiny_model_dir), verbose=False, **settings)


def test_demo_writes_a_report_and_resumes(tiny_models, tiny_model_dir, tmp_path):
    report = run(tmp_path / "demo", tiny_models, tiny_model_dir)
    text = report.read_text()
    for part in ("Chromium test splits (in domain), against mE5 retrieval", "against the control",
                 "against the teacher zero-shot", "Kolibri test splits", "High/low-resource gap",
                 "What distillation brings", "Reranking ceiling", "Code-switched queries", "Wall clock of this run",
                 "NMT translate-test pipeline was skipped", "![code-switch sweep](sweep.png)",
                 "Chosen on the Kolibri dev splits (sw, de;", "Chosen on the Chromium dev splits"):
        assert part in text, part
    folder = report.parent
    for name in ("results-1.csv", "per_query-1.csv", "gap-1.csv", "ceiling-1.csv", "share-2.csv", "results-3.csv",
                 "results-4.csv", "sweep.csv", "sweep.png", "languages-1.png", "fusion_dev-chromium.csv",
                 "fusion_dev-kolibri.csv", "settings-chromium.json"):
        assert (folder / name).stat().st_size > 0, name
    results = pd.read_csv(folder / "results-1.csv")
    assert set(results["lang"]) == {"sw", "de"}
    assert {FUSION, DENSE, DENSE_STUDENT, DENSE_CONTROL, DENSE_FUSION} <= set(results["system"])
    assert results[results["system"] == DENSE]["p"].isna().all()  # the baseline
    grid = pd.read_csv(folder / "fusion_dev-chromium.csv")
    assert set(grid["system"]) == {FUSION, DENSE_STUDENT, DENSE_CONTROL, DENSE_FUSION}
    assert set(grid["method"]) == {"minmax", "zscore", "rrf"} and set(grid["depth"]) == {10, 20}
    settings = json.loads((folder / "settings-chromium.json").read_text())
    best = grid[grid["system"] == DENSE_FUSION]["value"].max()
    assert settings[DENSE_FUSION]["dev_best"] == pytest.approx(best)  # chosen by the one-SE rule from the grid
    assert settings[DENSE_FUSION]["dev_value"] <= settings[DENSE_FUSION]["dev_best"]
    assert settings[DENSE_STUDENT]["weight"] == 1.0
    share = pd.read_csv(folder / "share-2.csv")
    assert (share["gain"] == share[DENSE_FUSION] - share[DENSE]).all()
    ceiling = pd.read_csv(folder / "ceiling-1.csv").set_index("lang")
    on_dense = results[results["system"].isin([DENSE, DENSE_STUDENT, DENSE_CONTROL, DENSE_FUSION])
                       & (results["measure"] == "RR@10") & (results["test"] == "t")]
    assert (ceiling.loc[on_dense["lang"], "ceiling"].to_numpy() >= on_dense["value"].to_numpy() - 1e-9).all()
    sweep = pd.read_csv(folder / "sweep.csv")
    assert sorted(sweep["ratio"].unique()) == [0.0, 1.0] and DENSE_FUSION in set(sweep["system"])
    assert (sweep[sweep["ratio"] == 1.0]["switched"] == 1.0).all()  # p = 1 switches every switchable word
    # a finished report is not overwritten by accident
    with pytest.raises(ValueError, match="already holds a report"):
        run(tmp_path / "demo", tiny_models, tiny_model_dir)
    # an interrupted run (no report yet) reuses the systems' saved runs
    saved = {f: f.stat().st_mtime_ns for f in (folder / "runs" / "chromium").rglob("*.res.gz")}
    assert len(saved) >= 8
    report.unlink()
    run(tmp_path / "demo", tiny_models, tiny_model_dir)
    assert {f: f.stat().st_mtime_ns for f in (folder / "runs" / "chromium").rglob("*.res.gz")} == saved
    # resumed with more queries: the saved runs are rerun, and the table is the one of a fresh run (overwrite empties
    # the folder: nothing saved is reused)
    report.unlink()
    more = pd.read_csv(run(tmp_path / "demo", tiny_models, tiny_model_dir, max_queries=8).parent / "results-1.csv")
    fresh = run(tmp_path / "demo", tiny_models, tiny_model_dir, max_queries=8, overwrite=True)
    pd.testing.assert_frame_equal(more, pd.read_csv(fresh.parent / "results-1.csv"))
    assert not set(saved) & {f for f in (folder / "runs" / "chromium").rglob("*.res.gz")
                             if f.stat().st_mtime_ns == saved.get(f)}


def test_quick_and_full_together_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as error:
        main(["demo", "--quick", "--full", "--out", str(tmp_path / "x")])
    assert error.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(ValueError, match="choose quick or full"):
        run_demo(tmp_path / "y", quick=True, full=True)
    assert main(["demo", "--quick", "--tune-depths", "10", "0", "--out", str(tmp_path / "z")]) == 2
    assert "--tune-depths must be an integer >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "z").exists()


def test_an_unwritable_home_is_named_before_any_work(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.write_text("a file, not a folder (a read-only folder would not stop root, who runs CI here)")
    monkeypatch.setenv("OPTICAL_HOME", str(home / "cache"))
    assert main(["demo", "--quick", "--out", str(tmp_path / "out")]) == 2
    assert f"{home} is a file, not a folder (needed for {home}/cache)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_full_disk_names_the_path_and_the_space(monkeypatch, capsys):
    import errno

    import pyterrier_optical.cli as cli

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/tmp/x/model.safetensors")

    monkeypatch.setattr(cli, "cmd_build", full)
    assert main(["build", "optical-teacher"]) == 1
    err = capsys.readouterr().err
    assert "no space left on the device while writing /tmp/x/model.safetensors" in err and "MiB free" in err


def test_experiment_cli_errors(tmp_path, capsys):
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "report.md").write_text("# finished")
    assert main(["experiment", "--out", str(tmp_path / "done"), "--quick"]) == 2
    assert "already holds a report" in capsys.readouterr().err


def test_each_phase_is_announced_with_the_time_left(capsys):
    from pyterrier_optical.experiment.demo import Phases

    phases = Phases({"models": 4.0, "chromium": 3.0, "kolibri": 3.0})
    for name in ("models", "chromium", "kolibri"):
        with phases.phase(name, f"doing {name}"):
            pass
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[1/3] doing models (about 10 min left in all)"
    assert lines[1] == "[2/3] doing chromium (about 6 min left in all)"
    assert lines[2] == "[3/3] doing kolibri (about 1 min left in all)"  # chromium took no time: rescaled, at least 1
    assert set(phases.timings) == {"models", "chromium", "kolibri"}


def by_pair(frame: pd.DataFrame) -> np.ndarray:
    return frame.sort_values(["qid", "docno"])["score"].to_numpy()


def test_reliability_the_score_cache_never_serves_another_checkpoint_under_the_same_name(tiny_model_dir, tmp_path):
    """Reliability: a demo resumed in the same folder with another checkpoint under the same system name (a rebuilt
    embedded model, ``--student other``) rescored its pairs; it used to return the old model's cached scores."""
    from transformers import AutoTokenizer

    from conftest import build_tiny_cross_encoder
    from pyterrier_optical import OpticalReranker
    from pyterrier_optical.experiment.demo import Demo

    other = tmp_path / "other"
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    build_tiny_cross_encoder(tok, seed=5).save_pretrained(other)
    tok.save_pretrained(other)
    pairs = pd.DataFrame({"qid": ["1", "1", "2"], "query": ["hello world", "hello world", "open settings"],
                          "docno": ["a", "b", "a"], "text": ["hello there", "settings", "hello there"]})
    scores = {}
    for path in (tiny_model_dir, other, tiny_model_dir):
        reranker = OpticalReranker(str(path), verbose=False, precision="fp32")
        cached = Demo(tmp_path / "demo", {"student": reranker}, None).scorer("student", "optical/ui/sw-en/test")
        scores.setdefault(str(path), []).append(by_pair(cached(pairs)))
        np.testing.assert_allclose(scores[str(path)][-1], by_pair(reranker(pairs)), rtol=1e-5)
    assert not np.allclose(scores[str(tiny_model_dir)][0], scores[str(other)][0])


def test_the_in_domain_headline_is_printed_before_the_out_of_domain_phase(tiny_models, tiny_model_dir, tmp_path,
                                                                            capsys):
    run_demo(tmp_path / "demo", ["sw", "de"], models=tiny_models, dense=str(tiny_model_dir), max_queries=4,
             dev_queries=3, precision="fp32")
    out = capsys.readouterr().out
    first, ood = out.index("## First result: low-resource languages"), out.index("[3/3] out of domain")
    assert first < ood
    in_domain = out[first:ood]
    assert "Chromium test splits (in domain), RR@10" in in_domain and "| sw |" in in_domain
    # printed from the low-resource languages alone, before de was run: the same table as the final headline's
    first_table = in_domain.split("\n\n")[2]
    assert first_table.startswith("| lang |") and first_table in (tmp_path / "demo" / "headline.md").read_text()
    grid = pd.read_csv(tmp_path / "demo" / "fusion_dev-chromium.csv")
    assert set(grid["depth"]) == {10}  # the first run reranks at depth 10 only; --full tries 10 and 20
