"""The language registry as data: every language's sources and models, and the docs page that shows them."""
from pathlib import Path

import pandas as pd
import pytest

from pyterrier_optical.data.bitext import load_bitext
from pyterrier_optical.data.languages import language
from pyterrier_optical.models.registry import language_coverage

DOC = Path(__file__).resolve().parent.parent / "docs" / "languages.md"


def test_the_languages_page_shows_the_registry_as_it_is():
    table = pd.DataFrame(language_coverage()).to_markdown(index=False)
    assert table in DOC.read_text(), "docs/languages.md is stale: regenerate its table from language_coverage()"


def test_optical_languages_prints_that_table_and_names_the_known_codes_for_an_unknown_one(capsys):
    from pyterrier_optical.cli import main

    assert main(["languages"]) == 0
    assert pd.DataFrame(language_coverage()).to_markdown(index=False) in capsys.readouterr().out
    assert main(["languages", "so", "ha"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [line.split("|")[1].strip() for line in lines] == ["code", "so", "ha"]
    assert main(["languages", "xx"]) == 2
    assert "unknown language code 'xx'; known codes: af, ak" in capsys.readouterr().err


def test_somali_yoruba_and_hausa_have_cldr_bitext_in_every_split():
    rows = {row["code"]: row for row in language_coverage()}
    for code in ("so", "yo", "ha"):
        train, dev, test = (int(n) for n in rows[code]["cldr"].split("/"))
        assert train > 1500 and dev > 100 and test > 100
    assert rows["sw"]["distilled into"].startswith("optical-student")
    assert rows["so"]["distilled into"] == ""  # no shipped model read Somali bitext


def test_a_language_without_bitext_of_a_source_is_said_so_naming_the_covered_ones():
    with pytest.raises(ValueError, match=r"no shipped chromium bitext for 'so'; shipped: am, de, fi"):
        load_bitext("so", "test", "chromium")
    with pytest.raises(ValueError, match="unknown language code 'xx'; known codes: af, ak, am"):
        language("xx")


def test_the_cldr_test_split_is_a_collection_somali_queries_english_documents():
    import pyterrier as pt

    dataset = pt.get_dataset("irds:optical/cldr/so-en/test")
    topics, qrels = dataset.get_topics(), dataset.get_qrels()
    pairs = load_bitext("so", "test", "cldr")
    assert len(topics) == len(pairs) == len(qrels) and set(qrels["label"]) == {1}
    docs = {d["docno"]: d["text"] for d in dataset.get_corpus_iter(verbose=False)}
    assert len(docs) == len({en for en, _ in pairs})
    first = qrels.merge(topics, on="qid").iloc[0]
    assert (docs[first["docno"]], first["query"]) in pairs


def test_a_reader_that_stops_early_is_not_an_error():
    import subprocess
    import sys

    done = subprocess.run(f"{sys.executable} -m pyterrier_optical.cli languages | head -1", shell=True,
                          capture_output=True, text=True, executable="/bin/bash")
    assert done.stdout.startswith("| code") and "Broken pipe" not in done.stderr and "Error" not in done.stderr
