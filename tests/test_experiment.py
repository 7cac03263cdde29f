"""The comparison on real BM25 runs over the shipped collections: p-values against scipy, corrections, gap,
reuse of saved runs, bad inputs; fusion and the report's statistics."""
import numpy as np
import pandas as pd
import pyterrier as pt
import pytest
from ir_measures import RR
from scipy import stats

from pyterrier_optical.retrieve.bm25 import MultilingualBM25
from pyterrier_optical.retrieve.codeswitch import LexiconTranslate
from pyterrier_optical.experiment.compare import Comparison, compare
from pyterrier_optical.experiment.stats import bonferroni, correct, paired_p
from pyterrier_optical.rerank.fusion import (KeepScore, LinearFusion, best_setting, fused, fusion_curve,
                                             tune_fusion_weight)
from pyterrier_optical.data.lexicon import shipped_lexicon

LANGS = ("sw", "de")


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """Per language: dev topics/qrels (60 queries) and three BM25 pipelines that differ."""
    out = {}
    for lang in LANGS:
        ds = pt.get_dataset(f"irds:optical/ui/{lang}-en/dev")
        index = MultilingualBM25(tmp_path_factory.mktemp(lang) / "idx", lang="en", verbose=False)
        index.index(ds.get_corpus_iter(verbose=False))
        translate = LexiconTranslate(shipped_lexicon(lang))
        systems = {"bm25": translate >> index.bm25(num_results=20),
                   "bm25 b=1": translate >> index.bm25(b=1.0, num_results=20),
                   "untranslated": index.bm25(num_results=20)}
        out[lang] = (ds.get_topics().head(60), ds.get_qrels(), systems)
    return out


@pytest.fixture(scope="module")
def result(setting, tmp_path_factory):
    systems = {name: {lang: s[2][name] for lang, s in setting.items()} for name in setting["sw"][2]}
    datasets = {lang: (s[0], s[1]) for lang, s in setting.items()}
    return compare(systems, datasets, [RR @ 10, "nDCG@10"],
                   baseline="untranslated", correction="holm", save_dir=tmp_path_factory.mktemp("runs"))


def test_table_columns_and_p_values_match_scipy(result):
    table, per_query = result.table, result.per_query
    assert {"lang", "resource", "system", "measure", "value", "delta", "rel_delta", "test", "p", "p_corrected",
            "significant"} <= set(table.columns)
    for lang in LANGS:
        pq = per_query[(per_query["lang"] == lang) & (per_query["measure"] == "RR@10")]
        wide = pq.pivot(index="qid", columns="system", values="value")
        assert len(wide) == 60
        ps = []
        for system in ("bm25", "bm25 b=1"):
            row = table[(table["lang"] == lang) & (table["system"] == system) & (table["measure"] == "RR@10")]
            t_row, w_row = row[row["test"] == "t"].iloc[0], row[row["test"] == "wilcoxon"].iloc[0]
            assert t_row["p"] == pytest.approx(stats.ttest_rel(wide[system], wide["untranslated"]).pvalue, rel=1e-9)
            assert w_row["p"] == pytest.approx(stats.wilcoxon(wide[system], wide["untranslated"]).pvalue, rel=1e-9)
            assert t_row["value"] == pytest.approx(wide[system].mean())
            assert t_row["delta"] == pytest.approx(wide[system].mean() - wide["untranslated"].mean())
            ps.append(t_row["p"])
        # Holm over the two systems, by hand
        order = np.argsort(ps)
        holm = np.empty(2)
        holm[order[0]] = min(1, 2 * ps[order[0]])
        holm[order[1]] = max(holm[order[0]], min(1, ps[order[1]]))
        got = [table[(table["lang"] == lang) & (table["system"] == s) & (table["measure"] == "RR@10")
                     & (table["test"] == "t")]["p_corrected"].iloc[0] for s in ("bm25", "bm25 b=1")]
        np.testing.assert_allclose(got, holm, rtol=1e-9)
    # dictionary translation helps a lot in both languages
    means = result.means()
    best = means[(means["system"] == "bm25") & (means["measure"] == "RR@10")]
    assert (best["delta"] > 0.2).all() and best["significant"].all()


def test_the_gap_is_the_high_minus_the_low_resource_mean_and_the_baseline_closes_none_of_its_own(result):
    gap = result.gap("RR@10", n_boot=200)
    pq = result.per_query[result.per_query["measure"] == "RR@10"]
    for _, row in gap.iterrows():
        sw = pq[(pq["lang"] == "sw") & (pq["system"] == row["system"])]["value"].mean()
        de = pq[(pq["lang"] == "de") & (pq["system"] == row["system"])]["value"].mean()
        assert row["low"] == pytest.approx(sw) and row["high"] == pytest.approx(de)
        assert row["gap"] == pytest.approx(de - sw)
        assert row["ci_low"] <= row["reduction"] <= row["ci_high"]
    base = gap[gap["system"] == "untranslated"].iloc[0]
    assert base["closed"] == pytest.approx(0) and not base["significant"]


class Counted(pt.Transformer):
    """``inner``, counting the calls with queries (PyTerrier may also call it with an empty frame to inspect it); its
    description is stable across instances."""

    def __init__(self, inner, label="counted"):
        self.inner, self.label, self.calls = inner, label, 0

    def __repr__(self):
        return f"Counted({self.label})"

    def transform(self, inp):
        self.calls += bool(len(inp))
        return self.inner(inp)


def test_saved_runs_are_reused(setting, tmp_path):
    topics, qrels, systems = setting["sw"]
    counted = Counted(systems["bm25"])
    first = compare({"bm25": counted}, {"sw": (topics, qrels)}, [RR @ 10], save_dir=tmp_path, correction=None)
    again = compare({"bm25": counted}, {"sw": (topics, qrels)}, [RR @ 10], save_dir=tmp_path, correction=None)
    assert counted.calls == 1  # the second comparison read the saved run
    pd.testing.assert_frame_equal(first.per_query, again.per_query)


def test_reliability_saved_runs_are_reused_only_for_the_same_topics_and_pipeline(setting, tmp_path):
    topics, qrels, systems = setting["sw"]
    counted = Counted(systems["bm25"])
    small = compare({"bm25": counted}, {"sw": (topics.head(2), qrels)}, [RR @ 10], save_dir=tmp_path, correction=None)
    compare({"bm25": counted}, {"sw": (topics.head(2), qrels)}, [RR @ 10], save_dir=tmp_path, correction=None)
    assert counted.calls == 1  # the same topics and pipeline: reused
    larger = compare({"bm25": counted}, {"sw": (topics.head(4), qrels)}, [RR @ 10], save_dir=tmp_path,
                     correction=None)
    assert counted.calls == 2  # other topics: rerun, and the new queries are scored, not 0
    fresh = compare({"bm25": systems["bm25"]}, {"sw": (topics.head(4), qrels)}, [RR @ 10], correction=None)
    pd.testing.assert_frame_equal(larger.per_query, fresh.per_query)
    assert len(small.per_query) == 2
    other = Counted(systems["untranslated"], "another pipeline")
    renamed = compare({"bm25": other}, {"sw": (topics.head(4), qrels)}, [RR @ 10], save_dir=tmp_path,
                      correction=None)
    assert other.calls == 1  # another pipeline under the same name: rerun
    assert renamed.per_query["value"].mean() < larger.per_query["value"].mean()


def test_reliability_qids_of_other_types_and_a_system_returning_nothing(setting):
    topics, qrels, systems = setting["sw"]
    topics = topics.head(8)
    as_int = {i: q for i, q in enumerate(topics["qid"])}
    int_topics = topics.assign(qid=range(8))
    int_qrels = qrels[qrels["qid"].isin(as_int.values())].assign(
        qid=lambda f: f["qid"].map({q: i for i, q in as_int.items()}))
    renumber = pt.apply.generic(lambda f: f.assign(qid=f["qid"].astype(str)))
    ints = compare({"bm25": renumber >> systems["bm25"]}, {"sw": (int_topics, int_qrels)}, [RR @ 10],
                   correction=None)
    strs = compare({"bm25": systems["bm25"]}, {"sw": (topics, qrels)}, [RR @ 10], correction=None)
    assert ints.table["value"].iloc[0] == pytest.approx(strs.table["value"].iloc[0])
    with pytest.raises(ValueError, match="1 row\\(s\\) without a qid"):
        compare({"bm25": systems["bm25"]}, {"sw": (topics.assign(qid=[None] + list(topics["qid"][1:])), qrels)},
                [RR @ 10], correction=None)
    nothing = pt.apply.generic(lambda f: pd.DataFrame(columns=["qid", "query", "docno", "score", "rank"]))
    run = compare({"bm25": systems["bm25"], "nothing": nothing}, {"sw": (topics, qrels)}, [RR @ 10],
                  baseline="bm25", correction=None)
    means = run.means().set_index("system")["value"]
    assert means["nothing"] == 0 and means["bm25"] > 0.3
    assert (run.per_query[run.per_query["system"] == "nothing"]["value"] == 0).all()


def test_compare_refuses_an_unknown_baseline_measure_or_language_and_a_correction_without_baseline(setting):
    topics, qrels, systems = setting["sw"]
    data = {"sw": (topics, qrels)}
    with pytest.raises(ValueError, match="baseline 'teacher' is not among"):
        compare(systems, data, [RR @ 10], baseline="teacher")
    with pytest.raises(ValueError, match="needs a baseline"):
        compare(systems, data, [RR @ 10], correction="bonferroni")
    with pytest.raises(ValueError, match="unknown measure 'MRR@ten'"):
        compare(systems, data, ["MRR@ten"], baseline="bm25")
    with pytest.raises(ValueError, match="no query has both"):
        compare(systems, {"sw": (topics, qrels.assign(qid="x" + qrels["qid"]))}, [RR @ 10], correction=None)
    with pytest.raises(ValueError, match="unknown language"):
        compare(systems, {"xx": (topics, qrels)}, [RR @ 10], correction=None)


def test_paired_p_matches_scipy_and_the_corrections_are_bonferroni_and_holm():
    a, b = np.array([1.0, 0.5, 0.0, 1.0, 0.2]), np.array([0.5, 0.5, 0.0, 0.0, 0.1])
    assert paired_p(a, a, "t") == 1.0 and paired_p(a, a, "wilcoxon") == 1.0
    assert paired_p(a, b, "t") == pytest.approx(stats.ttest_rel(a, b).pvalue)
    np.testing.assert_allclose(correct([0.01, 0.04, 0.03], "bonferroni"), [0.03, 0.12, 0.09])
    np.testing.assert_allclose(correct([0.01, 0.04, 0.03], "holm"), [0.03, 0.06, 0.06])
    assert bonferroni(0.02, 3) == pytest.approx(0.06) and bonferroni(0.4, 3) == 1.0 and bonferroni(0.02, 0) == 0.02
    with pytest.raises(ValueError, match="unknown correction"):
        correct([0.1], "sidak-ish")


def test_fusion_weight_0_keeps_the_first_stage_1_the_reranker_and_tuning_ignores_a_reversing_one(setting):
    topics, qrels, systems = setting["sw"]
    first = systems["bm25"]
    run = (first >> KeepScore())(topics)
    # weight 0 keeps the first stage's order, 1 the second's
    reranked = run.assign(score=-run["score"])
    kept = LinearFusion(0.0)(reranked)
    flipped = LinearFusion(1.0)(reranked)
    def top(frame):
        return frame[frame["rank"] == 0].set_index("qid")["docno"].sort_index()

    several = run.groupby("qid")["docno"].transform("size").gt(1)
    assert top(kept).equals(top(run))
    assert (top(flipped[several]) != top(run[several])).all()
    assert flipped.groupby("qid")["score"].max().le(1.0).all()
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        LinearFusion(1.5)
    with pytest.raises(KeyError, match="first_score"):
        LinearFusion(0.5)(run.drop(columns="first_score"))

    class Negate(pt.Transformer):  # a "reranker" that reverses the first stage: fusion must learn to ignore it
        def transform(self, inp):
            return pt.model.add_ranks(inp.assign(score=-inp["score"]))

    weight, table = tune_fusion_weight(first, Negate(), topics, qrels, RR @ 10)
    assert weight < 0.5 and len(table) == 11
    # the curve is over every judged query of the topics, one the first stage has nothing for scoring 0: as compare
    assert first(topics)["qid"].nunique() < topics["qid"].nunique()  # some query gets nothing from BM25
    means = compare({"fused": fused(first, Negate(), weight)}, {"sw": (topics, qrels)}, [RR @ 10],
                    correction=None).means()
    assert means["value"].iloc[0] == pytest.approx(table["RR@10"].max())


def test_detectable_difference_follows_the_normal_approximation():
    from scipy.stats import norm

    from pyterrier_optical.experiment.report import detectable_difference

    rng = np.random.default_rng(0)
    rows = [{"lang": lang, "system": system, "measure": "RR@10", "qid": str(q), "value": float(rng.random())}
            for lang in ("sw", "de") for system in ("base", "a", "b") for q in range(50)]
    per_query = pd.DataFrame(rows)
    power = detectable_difference(Comparison(pd.DataFrame(), per_query, "base"), "RR@10")
    sds = [(g.pivot(index="qid", columns="system", values="value")[s]
            - g.pivot(index="qid", columns="system", values="value")["base"]).std()
           for _, g in per_query.groupby("lang") for s in ("a", "b")]
    assert power["queries"] == 50 and power["tests"] == 2 and power["sd"] == pytest.approx(np.median(sds))
    assert power["raw"] == pytest.approx((1.96 + norm.ppf(0.8)) * np.median(sds) / np.sqrt(50), rel=1e-3)
    assert power["corrected"] > power["raw"]


def test_reranking_ceiling_puts_the_retrieved_relevant_document_first():
    from pyterrier_optical.experiment.report import queries_needed, reranking_ceiling

    # sw: the baseline ranks the relevant document 2nd on 10 of 40 queries, misses it (beyond 100) on 2, else 1st;
    # de: 1st on 39 of 40 queries, 2nd on one
    rows = []
    for lang, ranks in (("sw", [2] * 10 + [None] * 2 + [1] * 28), ("de", [2] + [1] * 39)):
        for q, rank in enumerate(ranks):
            for system, rr in (("base", 0.0 if rank is None else 1 / rank), ("other", 0.5)):
                rows += [{"lang": lang, "system": system, "measure": "RR@10", "qid": str(q), "value": rr},
                         {"lang": lang, "system": system, "measure": "R@100", "qid": str(q),
                          "value": float(rank is not None)}]
    per_query = pd.DataFrame(rows)
    table = reranking_ceiling(Comparison(pd.DataFrame(), per_query, "base")).set_index("lang")
    sw, de = table.loc["sw"], table.loc["de"]
    assert sw["base"] == pytest.approx(33 / 40) and sw["ceiling"] == pytest.approx(38 / 40)
    assert sw["headroom"] == pytest.approx(5 / 40) and sw["queries"] == 40
    diff = np.array([0.5] * 10 + [0.0] * 30)
    assert sw["p_corrected"] == pytest.approx(stats.ttest_rel(diff, np.zeros(40)).pvalue)  # one other system
    assert bool(sw["reachable"]) and not bool(de["reachable"])  # one query's gain cannot be significant
    needed = int(de["queries needed"])  # the fewest queries at which de's differences would be significant
    d = np.array([0.5] + [0.0] * 39)
    t_at = [d.mean() / d.std(ddof=1) * np.sqrt(n) for n in (needed - 1, needed)]
    assert t_at[0] < stats.t.ppf(0.975, needed - 2) and t_at[1] >= stats.t.ppf(0.975, needed - 1)
    assert queries_needed(0.0, 0.1, 0.05) == np.inf
    with pytest.raises(ValueError, match="reciprocal rank"):
        reranking_ceiling(Comparison(pd.DataFrame(), per_query, "base"), measure="nDCG@10")
    with pytest.raises(ValueError, match="R@50"):
        reranking_ceiling(Comparison(pd.DataFrame(), per_query, "base"), recall="R@50")


def setting_grid(settings: dict, n: int = 40) -> pd.DataFrame:
    """A fusion grid over ``n`` queries of two languages: each (depth, method, weight) reaches the relevant
    document at rank 1 (1) or misses it (0) on alternate queries, except where ``settings`` says (qid -> value)."""
    rows = [(depth, method, weight, ["sw", "de"][q % 2], str(q // 2), changes.get(q, float(q % 4 < 2)))
            for (depth, method, weight), changes in settings.items() for q in range(n)]
    return pd.DataFrame(rows, columns=["depth", "method", "weight", "lang", "qid", "value"])


def test_best_setting_keeps_the_standard_one_unless_dev_tells_clearly():
    same = {(10, "minmax", w): {} for w in (0.0, 0.3, 0.5, 0.8)}
    # better on two queries and worse on one: +.025, within one standard error (.043) of the rest
    grid = setting_grid({**same, (20, "zscore", 0.8): {2: 1.0, 3: 1.0, 0: 0.0}})
    chosen = best_setting(grid)
    assert (chosen["depth"], chosen["method"], chosen["weight"]) == (10, "minmax", 0.5)
    assert chosen["dev_value"] == 0.5 and chosen["dev_best"] == 0.525
    argmax = best_setting(grid, standard=None)
    assert (argmax["depth"], argmax["method"], argmax["weight"], argmax["dev_value"]) == (20, "zscore", 0.8, 0.525)
    # better on ten queries: +.25, far beyond one standard error (.068)
    clear = setting_grid({**same, (20, "zscore", 0.8): {q: 1.0 for q in range(2, 40, 4)}})
    assert best_setting(clear) == {"depth": 20, "method": "zscore", "weight": 0.8, "dev_value": 0.75,
                                   "dev_best": 0.75}
    only_depth = setting_grid({(10, "minmax", 1.0): {}, (20, "minmax", 1.0): {2: 1.0, 3: 1.0, 0: 0.0}})
    assert best_setting(only_depth)["depth"] == 10  # the reranker alone: the smaller depth when dev cannot tell


def test_reliability_saved_runs_are_keyed_by_the_index_content_and_the_functions(setting, tmp_path):
    topics, qrels, _ = setting["sw"]
    topics = topics.head(6)
    ds = pt.get_dataset("irds:optical/ui/sw-en/dev")
    real = MultilingualBM25(tmp_path / "real", lang="en", verbose=False).index(ds.get_corpus_iter(verbose=False))
    other = MultilingualBM25(tmp_path / "other", lang="en", verbose=False).index(
        [{"docno": "unrelated", "text": "nothing relevant here at all"}])
    translate = LexiconTranslate(shipped_lexicon("sw"))
    runs = tmp_path / "runs"

    def mean(system):
        return compare({"s": system}, {"sw": (topics, qrels)}, [RR @ 10], save_dir=runs,
                       correction=None).per_query["value"].mean()

    assert mean(translate >> real.bm25(num_results=20)) > 0.3
    assert mean(translate >> other.bm25(num_results=20)) == 0.0  # same parameters, another index: rerun
    assert mean(pt.apply.generic(lambda df: df.assign(docno=qrels["docno"].iloc[0], score=1.0, rank=0))) < 0.5
    rel = qrels.drop_duplicates("qid").set_index("qid")["docno"]
    assert mean(pt.apply.generic(lambda df: df.assign(docno=df["qid"].map(rel), score=1.0, rank=0))) == 1.0


def test_reliability_a_folder_of_the_user_s_runs_is_refused_and_kept(setting, tmp_path):
    """``save_dir/<lang>`` holding runs this package did not save (a plain ``pt.Experiment(save_dir=...)``'s) is
    refused naming it, before anything in it is served or deleted; the saved-run folders are claimed."""
    topics, qrels, systems = setting["sw"]
    mine = tmp_path / "runs" / "sw"
    mine.mkdir(parents=True)
    (mine / "bm25.res.gz").write_bytes(b"a run of mine")
    with pytest.raises(FileExistsError, match=str(mine)):
        compare({"bm25": systems["bm25"]}, {"sw": (topics.head(2), qrels)}, [RR @ 10], save_dir=tmp_path / "runs",
                correction=None)
    assert [f.name for f in mine.iterdir()] == ["bm25.res.gz"]
    assert (mine / "bm25.res.gz").read_bytes() == b"a run of mine"


WEIGHT = 0.0
SETTINGS = {"weight": 0.0}


class Reweight:
    def __init__(self, weight):
        self.weight = weight

    def apply(self, df):
        return df.assign(score=df["score"] - self.weight * df["rank"])


def reweighted_by_global(df):
    return df.assign(score=df["score"] - WEIGHT * df["rank"] - SETTINGS["weight"] * df["rank"])


def test_reliability_a_saved_run_is_not_served_after_what_its_function_reads_changed(setting, tmp_path, monkeypatch):
    """The key of a ``pt.apply`` stage covers what its function computes with: module globals it reads (a number, a
    dict), its default arguments and the object a method is bound to; changing any of them reruns the system."""
    topics, qrels, systems = setting["sw"]
    topics = topics.head(4)
    counted = Counted(systems["bm25"])

    def mean(stage):
        return compare({"s": counted >> pt.apply.generic(stage)}, {"sw": (topics, qrels)}, [RR @ 10],
                       save_dir=tmp_path, correction=None).per_query["value"].mean()

    def with_default(df, weight=0.0):
        return df.assign(score=df["score"] - weight * df["rank"])

    variants = [(reweighted_by_global, lambda: monkeypatch.setattr(__import__(__name__), "WEIGHT", 1.0)),
                (reweighted_by_global, lambda: monkeypatch.setitem(SETTINGS, "weight", 1.0)),
                (with_default, lambda: monkeypatch.setattr(with_default, "__defaults__", (1.0,))),
                (Reweight(0.0).apply, None)]
    for stage, change in variants:
        mean(stage)
        runs = counted.calls
        mean(stage)
        assert counted.calls == runs, f"{stage}: the same stage is served from its saved run"
        if change:
            change()
        else:
            stage = Reweight(1.0).apply
        mean(stage)
        assert counted.calls == runs + 1, f"{stage}: a changed stage must be rerun"
        monkeypatch.undo()


def test_reliability_damaged_saved_runs_and_fingerprints_are_rerun_with_a_warning(setting, tmp_path, caplog):
    topics, qrels, systems = setting["sw"]
    topics = topics.head(5)
    first = compare({"bm25": systems["bm25"]}, {"sw": (topics, qrels)}, [RR @ 10], save_dir=tmp_path,
                    correction=None)
    run = tmp_path / "sw" / "bm25.res.gz"
    run.write_bytes(run.read_bytes()[:30])  # truncated
    again = compare({"bm25": systems["bm25"]}, {"sw": (topics, qrels)}, [RR @ 10], save_dir=tmp_path,
                    correction=None)
    assert f"{run} is damaged: rerunning 'bm25'" in caplog.text
    (tmp_path / "sw" / "fingerprints.json").write_text("{not json")
    third = compare({"bm25": systems["bm25"]}, {"sw": (topics, qrels)}, [RR @ 10], save_dir=tmp_path,
                    correction=None)
    assert "fingerprints.json is damaged" in caplog.text
    for other in (again, third):
        pd.testing.assert_frame_equal(first.per_query, other.per_query)


def test_reliability_a_system_without_a_description_is_rerun_saying_why(setting, tmp_path, caplog):
    import functools

    topics, qrels, systems = setting["sw"]

    def search(df, inner):
        return inner(df)

    class Mine(pt.Transformer):  # a user's class: described by its code and attributes
        def transform(self, inp):
            return systems["bm25"](inp)

    mine = Counted(Mine(), "mine")
    opaque = Counted(pt.apply.generic(functools.partial(search, inner=systems["bm25"])), "opaque")
    for _ in range(2):
        compare({"mine": mine, "opaque": opaque}, {"sw": (topics.head(3), qrels)}, [RR @ 10], save_dir=tmp_path,
                correction=None)
    assert mine.calls == 1 and opaque.calls == 2
    assert "'opaque' cannot be fingerprinted reliably (the function of pt.apply.generic() has no readable code): " \
           "rerunning it" in caplog.text


def test_reliability_duplicate_qids_and_conflicting_qrels_are_refused(setting):
    topics, qrels, systems = setting["sw"]
    two = pd.concat([topics.head(2), topics.head(1).assign(query="another query")])
    with pytest.raises(ValueError, match=f"qid '{topics['qid'].iloc[0]}' is given to different queries"):
        compare({"bm25": systems["bm25"]}, {"sw": (two, qrels)}, [RR @ 10], correction=None)
    same = pd.concat([topics.head(2), topics.head(1)])  # the very same row twice is one query
    assert len(compare({"bm25": systems["bm25"]}, {"sw": (same, qrels)}, [RR @ 10], correction=None).per_query) == 2
    bad = pd.concat([qrels, qrels.head(1).assign(label=0)])
    with pytest.raises(ValueError, match="have the labels \\[0, 1\\]"):
        compare({"bm25": systems["bm25"]}, {"sw": (topics.head(2), bad)}, [RR @ 10], correction=None)
    as_text = qrels.assign(label=qrels["label"].astype(str))  # read from a CSV: "1" is the label 1
    assert len(compare({"bm25": systems["bm25"]}, {"sw": (topics.head(2), as_text)}, [RR @ 10],
                       correction=None).per_query) == 2
    nullable = qrels.astype({"label": "Int64"})
    nullable.iloc[1, nullable.columns.get_loc("label")] = pd.NA
    with pytest.raises(ValueError, match="have the label <NA> \\(1 such rows\\)"):
        compare({"bm25": systems["bm25"]}, {"sw": (topics.head(2), nullable)}, [RR @ 10], correction=None)
    for label in (np.nan, "relevant", 1.5):
        unusable = qrels.astype({"label": object}).copy()
        unusable.iloc[1, unusable.columns.get_loc("label")] = label
        with pytest.raises(ValueError, match=f"have the label {label!r} \\(1 such rows\\): labels must be whole"):
            compare({"bm25": systems["bm25"]}, {"sw": (topics.head(2), unusable)}, [RR @ 10], correction=None)


@pytest.mark.parametrize("method", ["minmax", "zscore", "rrf"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_reliability_fusion_refuses_a_score_that_is_not_a_number_in_every_method(method, bad):
    frame = pd.DataFrame({"qid": ["q"] * 3, "query": ["x"] * 3, "docno": ["a", "b", "c"], "score": [1.0, bad, 0.5],
                          "first_score": [3.0, 2.0, 1.0]})
    with pytest.raises(ValueError, match=f"score of query 'q', document 'b' is {bad} \\(1 such rows\\)"):
        LinearFusion(0.5, method)(frame)
    qrels = pd.DataFrame({"qid": ["q"], "docno": ["b"], "label": [1]})
    with pytest.raises(ValueError, match=f"score of query 'q', document 'b' is {bad} \\(1 such rows\\)"):
        fusion_curve(frame, qrels, method=method)  # tuning reads its runs as fusion does
    with pytest.raises(ValueError, match="query 'q' has document 'a' 2 times"):
        fusion_curve(pd.concat([frame.fillna(0.0).replace(np.inf, 0.0), frame.head(1)]), qrels, method=method)


VECTORS = pd.DataFrame({"qid": ["1", "2"], "query_vec": [np.zeros(3), np.ones(3)]})  # cells pandas cannot hash
MIXED = np.array([{"a": 1}, "x"], dtype=object)
STOPWORDS = {"the", "a", "of", "and"}


def reads_everything(df):
    from pyterrier_optical import OpticalReranker  # noqa: F401  (a class read by name)

    return df if VECTORS is not None and MIXED is not None and STOPWORDS and LinearFusion else df


def self_calling():
    def walk(df, n=2):
        return df if n == 0 else walk(df, n - 1)
    return walk


@pytest.mark.parametrize("stage", [reads_everything, self_calling(), LinearFusion(0.5).transform],
                         ids=["globals of every kind", "a closure calling itself", "a bound method"])
def test_reliability_what_a_function_reads_is_described_the_same_way_twice(stage):
    """A class, a frame with vector cells, an object array, a set, a closure that calls itself: each stage has a
    description (no crash, no endless recursion), and the same one twice."""
    from pyterrier_optical.experiment.saved_runs import describe_system

    first, why_not = describe_system(pt.apply.generic(stage))
    assert why_not is None and first == describe_system(pt.apply.generic(stage))[0]


def test_reliability_a_set_s_description_does_not_depend_on_the_hash_seed(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "describe.py"
    script.write_text("import pyterrier as pt\nfrom pyterrier_optical.experiment.saved_runs import describe_system\n"
                      "WORDS = {'sw', 'am', 'mr', 'tl', 'the'}\n"
                      "def f(df, skip=frozenset({'x', 'y', 'z'})):\n    return df if df.query in {'a', 'b', 'c'} "
                      "else df[~df.query.isin(WORDS)]\nprint(describe_system(pt.apply.generic(f))[0])\n")
    outputs = {subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True,
                              env={**__import__("os").environ, "PYTHONHASHSEED": seed}).stdout for seed in "12"}
    assert len(outputs) == 1


def test_reliability_write_report_refuses_a_finished_report_and_a_measure_not_compared(setting, tmp_path):
    from pyterrier_optical.experiment.report import Section, write_report

    topics, qrels, systems = setting["sw"]
    result = compare({"bm25": systems["bm25"], "untranslated": systems["untranslated"]},
                     {"sw": (topics.head(4), qrels)}, [RR @ 10], baseline="bm25", correction=None)
    with pytest.raises(ValueError, match=r"measure 'nDCG@10' is not one that section 'x' compared \(RR@10\)"):
        write_report(tmp_path / "r", [Section("x", result)], "nDCG@10")
    assert not (tmp_path / "r").exists()  # checked before anything is written
    report = write_report(tmp_path / "new" / "r", [Section("x", result)], RR @ 10)  # made, with its parents
    report.write_text(report.read_text() + "\nmy notes")
    with pytest.raises(ValueError, match="already holds a report"):
        write_report(tmp_path / "new" / "r", [Section("y", result)], "RR@10")
    assert report.read_text().endswith("my notes")



def test_measures_are_parsed_once_each_and_anything_else_is_named(setting):
    from pyterrier_optical.util.measures import parse_measures

    assert parse_measures(["RR@10", RR @ 10, "nDCG@10"]) == [RR @ 10, parse_measures("nDCG@10")[0]]
    for bad in (None, 10, ["RR@10", 10], "RR @ ten", []):
        with pytest.raises(ValueError, match="measure"):
            parse_measures(bad)
    topics, qrels, systems = setting["sw"]
    result = compare({"bm25": systems["bm25"]}, {"sw": (topics.head(2), qrels)}, ["RR@10", RR @ 10], correction=None)
    assert list(result.means()["measure"]) == ["RR@10"]
