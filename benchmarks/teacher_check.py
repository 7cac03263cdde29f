"""Is the teacher worth distilling? The teacher cross-encoder against the untouched multilingual-e5-small (dense)
on the English side of its own task, held out: the dev split's English sentences, each shortened into a query and
ranked among itself and 7 BM25 neighbours. Also the same check with the other-language query (zero-shot CLIR).

    python benchmarks/teacher_check.py [--teacher PATH] [--queries 300]
"""
import argparse

import pandas as pd

from pyterrier_optical import OpticalReranker
from pyterrier_optical.data.bitext import load_bitext
from pyterrier_optical.models.recipes import STUDENT
from pyterrier_optical.retrieve.dense import E5Encoder
from pyterrier_optical.train.selection import pool_mrr
from pyterrier_optical.experiment.report import markdown_table
from pyterrier_optical.train.teacher import english_task

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", help="default: the embedded teacher")
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    pairs = list({en: (en, other) for lang in STUDENT.languages for en, other in load_bitext(lang, "dev")}.values())
    examples = english_task([en for en, _ in pairs], num_negatives=7, verbose=False)[:args.queries]
    other = {en: o for en, o in pairs}
    pools = [[ex.positive, *ex.negatives] for ex in examples]
    scorers = {"teacher cross-encoder": OpticalReranker(args.teacher or "optical-teacher", verbose=False),
               "multilingual-e5-small (dense)": E5Encoder()}
    rows = [{"ranker": name, "English query (its own task)": pool_mrr(s.score, [ex.query for ex in examples], pools),
             "other-language query": pool_mrr(s.score, [other[ex.positive] for ex in examples], pools)}
            for name, s in scorers.items()]
    print(markdown_table(pd.DataFrame(rows)))
