"""Result frames: their ranks, and the check of one a reranker is given."""
from __future__ import annotations

import pandas as pd
import pyterrier as pt


def ranked(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``rank`` from its ``score`` per query (0 = best), sorted by qid and rank."""
    out = pt.model.add_ranks(frame)
    return out.sort_values(["qid", "rank"], kind="stable").reset_index(drop=True)


def check_result_frame(frame: pd.DataFrame, query_field: str = "query") -> pd.DataFrame:
    """``frame`` unchanged, once each of its queries is one query: a qid written both as a number and as text (1 and
    "1"), a qid given to two query texts and a (qid, docno) pair given twice are refused, naming one of them —
    ranks are per qid, so such a frame would be ranked as it was not meant."""
    if frame.empty:
        return frame
    if pd.api.types.infer_dtype(frame["qid"], skipna=True) not in ("string", "integer", "floating"):  # mixed
        qids = frame["qid"].astype(str)
        kinds = frame["qid"].map(lambda q: isinstance(q, str)).groupby(qids, sort=False).nunique()
        if (kinds > 1).any():
            raise ValueError(f"qid {kinds[kinds > 1].index[0]!r} is given both as a number and as text: write every "
                             "qid the same way")
    if query_field in frame.columns:
        queries = frame.groupby("qid", sort=False, observed=True)[query_field].nunique(dropna=False)
        if (queries > 1).any():
            qid = queries[queries > 1].index[0]
            texts = frame.loc[frame["qid"] == qid, query_field].drop_duplicates().tolist()[:2]
            raise ValueError(f"qid {qid!r} is given to different queries ({texts[0]!r} and {texts[1]!r}; "
                             f"{int((queries > 1).sum())} such qids): qids must be unique")
    if "docno" in frame.columns:
        pairs = frame.groupby(["qid", "docno"], sort=False, observed=True).size()
        if (pairs > 1).any():
            (qid, docno), times = next(iter(pairs[pairs > 1].items()))
            raise ValueError(f"query {qid!r} has document {docno!r} {times} times ({int((pairs > 1).sum())} such "
                             "pairs): give each document once per query")
    return frame
