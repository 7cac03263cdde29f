"""Result frames."""
from __future__ import annotations

import pandas as pd
import pyterrier as pt


def ranked(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``rank`` from its ``score`` per query (0 = best), sorted by qid and rank."""
    out = pt.model.add_ranks(frame)
    return out.sort_values(["qid", "rank"], kind="stable").reset_index(drop=True)
