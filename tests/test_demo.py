"""The demo end to end on tiny models (the real pipeline: PISA BM25, lexicon translation, cross-encoders, score
caches, pt.Experiment, report with figures), run once for the module and asserted on by each test; its options, its
refusal to overwrite and its resumption."""
import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest

from pyterrier_optical.cli import main
from pyterrier_optical.experiment.demo import (CS_STUDENT, CS_TEACHER, DENSE, DENSE_CONTROL, DENSE_FUSION,
                                               DENSE_STUDENT, FUSION, STUDENT, TEACHER, run_demo)
from pyterrier_optical.experiment.demo_options import DemoOptions
from pyterrier_optical.experiment.report import prepare_output
from pyterrier_optical.util.io import CLAIM_FILE


@pytest.fixture(scope="module")
def tiny_models(tiny_model_dir):
    return {TEACHER: str(tiny_model_dir), STUDENT: str(tiny_model_dir), CS_TEACHER: None, CS_STUDENT: None}


def run(out, models, tiny_model_dir, **kwargs):
    # fp32: a resumed and a fresh run must give equal tables, and bf16 scores depend on the batch a pair is in
    settings = {**dict(max_queries=6, sweep_queries=3, ratios=(0.0, 1.0), dev_queries=5, full=True,
                       precision="fp32"), **kwargs}
    return run_demo(out, ["sw", "de"], models=models, dense=str(tiny_model_dir), **settings)


@pytest.fixture(scope="module")
def demo(tiny_models, tiny_model_dir, tmp_path_factory):
    """The one demo run of this module (full: tuning at depths 10 and 20, the sweep): its report's path and what
    it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        report = run(tmp_path_factory.mktemp("demo") / "demo", tiny_models, tiny_model_dir)
    return report, printed.getvalue()


def test_the_report_has_every_section_and_file(demo):
    report, _ = demo
    text = report.read_text()
    for part in ("Chromium test splits (in domain), against mE5 retrieval", "against the control",
                 "against the teacher zero-shot", "Kolibri test splits", "High/low-resource gap",
                 "What distillation brings", "Reranking ceiling", "Code-switched queries", "Wall clock of this run",
                 "NMT translate-test pipeline was skipped", "![code-switch sweep](sweep.png)",
                 "Chosen on the Kolibri dev splits (sw, de;", "Chosen on the Chromium dev splits",
                 "Queries per language: 6 (dev: up to 5 per language; rerank depths tried: 10, 20), sweep: 3 per "
                 "ratio; BM25 rerankers reorder the top 10"):
        assert part in text, part
    for name in ("results-1.csv", "per_query-1.csv", "gap-1.csv", "ceiling-1.csv", "share-2.csv", "results-3.csv",
                 "results-4.csv", "sweep.csv", "sweep.png", "languages-1.png", "fusion_dev-chromium.csv",
                 "fusion_dev-kolibri.csv", "settings-chromium.json", "headline.md"):
        assert (report.parent / name).stat().st_size > 0, name


def test_the_results_compare_every_system_with_the_dense_baseline(demo):
    results = pd.read_csv(demo[0].parent / "results-1.csv")
    assert set(results["lang"]) == {"sw", "de"}
    assert {FUSION, DENSE, DENSE_STUDENT, DENSE_CONTROL, DENSE_FUSION} <= set(results["system"])
    assert results[results["system"] == DENSE]["p"].isna().all()  # the baseline
    ceiling = pd.read_csv(demo[0].parent / "ceiling-1.csv").set_index("lang")
    on_dense = results[results["system"].isin([DENSE, DENSE_STUDENT, DENSE_CONTROL, DENSE_FUSION])
                       & (results["measure"] == "RR@10") & (results["test"] == "t")]
    assert (ceiling.loc[on_dense["lang"], "ceiling"].to_numpy() >= on_dense["value"].to_numpy() - 1e-9).all()
    share = pd.read_csv(demo[0].parent / "share-2.csv")
    assert (share["gain"] == share[DENSE_FUSION] - share[DENSE]).all()


def test_the_fusion_settings_are_chosen_on_the_other_sources_dev_grid(demo):
    folder = demo[0].parent
    grid = pd.read_csv(folder / "fusion_dev-chromium.csv")
    assert set(grid["system"]) == {FUSION, DENSE_STUDENT, DENSE_CONTROL, DENSE_FUSION}
    assert set(grid["method"]) == {"minmax", "zscore", "rrf"} and set(grid["depth"]) == {10, 20}  # full: 10 and 20
    settings = json.loads((folder / "settings-chromium.json").read_text())
    best = grid[grid["system"] == DENSE_FUSION]["value"].max()
    assert settings[DENSE_FUSION]["dev_best"] == pytest.approx(best)  # chosen by the one-SE rule from the grid
    assert settings[DENSE_FUSION]["dev_value"] <= settings[DENSE_FUSION]["dev_best"]
    assert settings[DENSE_STUDENT]["weight"] == 1.0


def test_the_sweep_switches_every_switchable_word_at_ratio_one(demo):
    sweep = pd.read_csv(demo[0].parent / "sweep.csv")
    assert sorted(sweep["ratio"].unique()) == [0.0, 1.0] and DENSE_FUSION in set(sweep["system"])
    assert (sweep[sweep["ratio"] == 1.0]["switched"] == 1.0).all()


def test_the_in_domain_headline_is_printed_before_the_out_of_domain_phase(demo):
    report, out = demo
    first, ood = out.index("## First result: low-resource languages"), out.index("] out of domain")
    assert first < ood
    in_domain = out[first:ood]
    assert "Chromium test splits (in domain), RR@10" in in_domain and "| sw |" in in_domain
    # printed from the low-resource languages alone, before de was run: the same table as the final headline's
    first_table = in_domain.split("\n\n")[2]
    assert first_table.startswith("| lang |") and first_table in (report.parent / "headline.md").read_text()


def test_a_finished_report_is_refused_and_an_interrupted_run_reuses_its_saved_runs(demo, tiny_models,
                                                                                    tiny_model_dir):
    report = demo[0]
    with pytest.raises(ValueError, match="already holds a report"):
        run(report.parent, tiny_models, tiny_model_dir)
    # the module's run, as if interrupted before its report, resumed in its own folder (a saved run's key names the
    # score cache it reads by its path: in a copy elsewhere every reranked system would be rerun)
    results = pd.read_csv(report.parent / "results-1.csv")
    saved = {f: f.stat().st_mtime_ns for f in (report.parent / "runs" / "chromium").rglob("*.res.gz")}
    assert len(saved) >= 8
    report.unlink()
    with contextlib.redirect_stdout(io.StringIO()):
        assert run(report.parent, tiny_models, tiny_model_dir) == report
    assert {f: f.stat().st_mtime_ns for f in (report.parent / "runs" / "chromium").rglob("*.res.gz")} == saved
    pd.testing.assert_frame_equal(pd.read_csv(report.parent / "results-1.csv"), results)


def test_overwrite_empties_the_folder_of_a_finished_report(tmp_path):
    (tmp_path / "done" / "runs").mkdir(parents=True)
    (tmp_path / "done" / "report.md").write_text("# finished")
    with pytest.raises(ValueError, match="already holds a report"):
        prepare_output(tmp_path / "done")
    assert prepare_output(tmp_path / "done", overwrite=True) == tmp_path / "done"
    assert [f.name for f in (tmp_path / "done").iterdir()] == [CLAIM_FILE]  # nothing of the old run is reused
    (tmp_path / "done" / "runs").mkdir()
    prepare_output(tmp_path / "done")  # a claimed folder without a report: an interrupted run, kept to be resumed
    assert (tmp_path / "done" / "runs").is_dir()


@pytest.mark.parametrize("command", ["demo", "experiment"])
def test_reliability_a_folder_of_the_user_s_is_refused_and_left_as_it_was(tmp_path, capsys, command):
    """A folder that is not empty and not this package's report folder is never written into: the demo refuses it
    before any work (the user's notes, or runs saved by their own ``pt.Experiment``, are not resumed or emptied)."""
    mine = tmp_path / "mine"
    (mine / "runs" / "chromium").mkdir(parents=True)
    (mine / "notes.md").write_text("my notes")
    (mine / "runs" / "chromium" / "bm25.res.gz").write_bytes(b"my run")
    before = sorted(p.relative_to(mine) for p in mine.rglob("*"))
    assert main([command, "--out", str(mine), "--quiet"]) == 2
    assert str(mine) in capsys.readouterr().err
    assert sorted(p.relative_to(mine) for p in mine.rglob("*")) == before
    assert (mine / "runs" / "chromium" / "bm25.res.gz").read_bytes() == b"my run"


def test_the_first_run_tunes_depth_10_only_and_full_tunes_10_and_20():
    assert DemoOptions().resolved().tune_depths == (10,)
    assert DemoOptions(full=True).resolved().tune_depths == (10, 20)
    quick = DemoOptions(quick=True).resolved()
    assert (quick.languages, quick.max_queries, quick.dev_queries, quick.ood_languages) == (("sw", "de"), 30, 20,
                                                                                           ["sw", "de"])
    assert not quick.sweep and DemoOptions(full=True).resolved().sweep


def test_quick_and_full_together_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as error:
        main(["demo", "--quick", "--full", "--out", str(tmp_path / "x")])
    assert error.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(ValueError, match="choose quick or full"):
        run_demo(tmp_path / "y", quick=True, full=True)
    assert main(["demo", "--quick", "--tune-depths", "10", "0", "--out", str(tmp_path / "z")]) == 2
    assert "--tune-depths must be an integer >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "z").exists()


def test_the_experiment_alias_refuses_a_folder_holding_a_finished_report(tmp_path, capsys):
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
