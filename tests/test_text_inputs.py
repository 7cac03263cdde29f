"""Inputs that look right and are not, by kind: TSV headers told by a rule (or refused as ambiguous, saying which),
lexicon values of every shape, and the invisible format characters and NFC of every script the package covers,
normalised alike for documents, queries and lexicons. ``pytest -k reliability`` runs them."""
import unicodedata

import pandas as pd
import pytest

from pyterrier_optical.data.datasets import register_local
from pyterrier_optical.data.documents import document_records
from pyterrier_optical.data.files import BadRecordError, read_records
from pyterrier_optical.data.lexicon import Lexicon
from pyterrier_optical.data.text import Analyzer, normalise, words

# --- TSV headers -------------------------------------------------------------------------------------------------

DOC_HEADERS = ["docno\ttext", "doc_id\ttext", "DOCNO\tTEXT", "DocNo\tText", "docid\tbody", "Doc-ID\tContents",
               "id\tcontent", "_id\ttext", "did\tpassage", "pid\tpassage", "document_id\tdocument", "ID\tBODY",
               " docno \t text "]
QUERY_HEADERS = ["qid\tquery", "query_id\ttext", "QID\tQUERY", "QueryID\tQuery", "id\ttitle", "topic_id\tquestion",
                 "Query-Id\tQuery_Text", "qid\ttext", "num\ttitle", "TOPIC\tTITLE"]
REORDERED = {"text\tdocno": ["docno", "text"], "TEXT\tDOC_ID": ["docno", "text"], "query\tqid": ["qid", "query"]}
AMBIGUOUS = {("docno", "text"): ["docno\tsomething", "ID\tnotes", "doc_id\tdoc_id", "text\ttext"],
             ("qid", "query"): ["query\ttext", "qid\tcomment", "something\tquery"]}


def _tsv(path, first, rows):
    path.write_text("\n".join([first, *("\t".join(r) for r in rows)]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("header", DOC_HEADERS)
def test_reliability_document_headers_are_recognised_in_any_common_spelling(header, tmp_path):
    from pyterrier_optical import MultilingualBM25

    docs = _tsv(tmp_path / "docs.tsv", header, [("d1", "open a new tab"), ("d2", "close the window")])
    expected = [{"docno": "d1", "text": "open a new tab"}, {"docno": "d2", "text": "close the window"}]
    assert list(document_records(docs)) == expected
    index = MultilingualBM25(tmp_path / "i", lang="en", verbose=False).index(str(docs))
    assert index.texts() == {"d1": "open a new tab", "d2": "close the window"}  # no document named "docno"
    name = register_local(f"test-headers/{abs(hash(header))}/docs", docs=docs)
    import ir_datasets

    assert [d.doc_id for d in ir_datasets.load(name).docs_iter()] == ["d1", "d2"]


@pytest.mark.parametrize("header", QUERY_HEADERS)
def test_reliability_query_headers_are_recognised_in_any_common_spelling(header, tmp_path):
    import ir_datasets

    queries = _tsv(tmp_path / "queries.tsv", header, [("q1", "open tab"), ("q2", "close window")])
    docs = _tsv(tmp_path / "docs.tsv", "d1\ttext one", [])
    name = register_local(f"test-headers/{abs(hash(header))}/queries", docs=docs, queries=queries)
    assert [(q.query_id, q.text) for q in ir_datasets.load(name).queries_iter()] == \
        [("q1", "open tab"), ("q2", "close window")]


@pytest.mark.parametrize("header", list(REORDERED))
def test_reliability_a_header_in_another_order_reorders_the_columns(header, tmp_path):
    columns = REORDERED[header]
    first, second = ("open a new tab", "d1") if header.lower().startswith(("text", "query")) else ("d1", "x")
    path = _tsv(tmp_path / "f.tsv", header, [(first, second)])
    record = next(read_records(path, columns))
    assert record[columns[0]] == second and record[columns[1]] == first


@pytest.mark.parametrize("columns,header", [(c, h) for c, hs in AMBIGUOUS.items() for h in hs])
def test_reliability_an_ambiguous_first_line_is_refused_saying_which(columns, header, tmp_path):
    path = _tsv(tmp_path / "f.tsv", header, [("a", "b")])
    with pytest.raises(BadRecordError, match=r"f\.tsv:1: the first line may be a header or a record \(.* names") as e:
        list(read_records(path, list(columns), on_error="skip"))  # not skipped: every line would be in doubt
    for field in header.split("\t"):
        assert repr(field) in str(e.value)


def test_reliability_a_first_line_that_names_no_column_is_a_record(tmp_path):
    path = _tsv(tmp_path / "f.tsv", "d1\tthe text of a document", [("d2", "another")])
    assert [r["docno"] for r in read_records(path, ["docno", "text"])] == ["d1", "d2"]


# --- lexicon values ----------------------------------------------------------------------------------------------

def test_reliability_a_string_is_one_translation():
    from pyterrier_optical import LexiconTranslate

    lexicon = Lexicon({"faili": "file", "fungua": ["open", "unlock"], "dirisha": ("window",)}, "sw", "en")
    assert lexicon.entries == {"faili": ["file"], "fungua": ["open", "unlock"], "dirisha": ["window"]}
    assert lexicon.translate("faili") == "file"
    out = LexiconTranslate(lexicon)(pd.DataFrame({"qid": ["1"], "query": ["fungua faili"]}))
    assert out["query"].tolist() == ["open file"]
    assert Lexicon({"faili": []}, "sw", "en").translate("faili") is None  # no translations: none


@pytest.mark.parametrize("entries,message", [
    ({"faili": None}, "the translation of 'faili' is None \\(NoneType\\): give a string, or a list of strings"),
    ({"faili": 5}, "the translation of 'faili' is 5 \\(int\\)"),
    ({"faili": 2.5}, "the translation of 'faili' is 2.5 \\(float\\)"),
    ({"faili": {"file": 1}}, "the translation of 'faili' is {'file': 1} \\(dict\\)"),
    ({"faili": [("file", 0.9)]}, "the translation of 'faili' is a list holding \\('file', 0.9\\) \\(tuple\\)"),
    ({"faili": ["file", None]}, "the translation of 'faili' is a list holding None \\(NoneType\\)"),
    ({"faili": ""}, "the translation of 'faili' is empty"),
    ({"faili": ["file", " "]}, "the translation of 'faili' is empty"),
    ({5: "five"}, "lexicon word 5 is not a string"),
    ({"\u200b": "x"}, r"lexicon word '\\u200b' is empty"),  # the invisible word shown visibly
    ([("faili", "file")], "entries are a dict word -> translation\\(s\\), got a list \\(of pairs\\? pass dict"),
    ("faili", "entries are a dict word -> translation\\(s\\), got a str"),
])
def test_reliability_lexicon_values_of_another_shape_are_refused_naming_the_word(entries, message):
    with pytest.raises(ValueError, match=message):
        Lexicon(entries, "sw", "en")


# --- invisible characters and NFC, per script ------------------------------------------------------------------

INVISIBLE = {"zero-width space": "\u200b", "soft hyphen": "\u00ad", "word joiner": "\u2060", "BOM": "\ufeff",
             "ZWJ": "\u200d", "ZWNJ": "\u200c", "left-to-right mark": "\u200e", "variation selector": "\ufe0f"}
# per script the package covers: (language, a word, where an invisible character may fall inside it)
SCRIPTS = {"Latin": ("en", "privacy", 3), "Latin (de)": ("de", "Datenschutz", 5), "Cyrillic": ("ru", "приватность", 4),
           "Han": ("zh", "隐私设置", 2), "Arabic (Persian)": ("fa", "حریم", 2), "Ethiopic": ("am", "ግላዊነት", 2),
           "Devanagari": ("mr", "गोपनीयता", 3), "Devanagari (conjunct)": ("mr", "कार्यालय", 4)}


def _inside(word, at, char):
    return word[:at] + char + word[at:]


@pytest.mark.parametrize("kind", list(INVISIBLE))
@pytest.mark.parametrize("script", list(SCRIPTS))
def test_reliability_an_invisible_character_inside_a_word_is_the_same_word(script, kind):
    lang, word, at = SCRIPTS[script]
    variant = _inside(word, at, INVISIBLE[kind])
    if script == "Arabic (Persian)" and kind == "ZWNJ":
        assert words(variant) == words(word[:at] + " " + word[at:])  # a ZWNJ separates Persian parts like a space
        return
    analyse = Analyzer(lang)
    assert analyse(variant) == analyse(word) and len(analyse(variant)) == 1, (script, kind)
    assert normalise(variant) == normalise(word)
    lexicon = Lexicon({variant: "x"}, lang, "en")
    assert lexicon.translate(word) == "x" and lexicon.translate(variant) == "x"  # lexicon keys and lookups alike


NFC = {"Latin": ("fr", "e\u0301te\u0301", "\u00e9t\u00e9"),
       "Latin (decomposed)": ("de", "Mu\u0308ller", "M\u00fcller"),
       "Cyrillic": ("ru", "\u0438\u0306\u043e\u0434", "\u0439\u043e\u0434"),
       "Devanagari (nukta)": ("mr", "\u0915\u093c\u093e\u0932", "\u0958\u093e\u0932"),
       "Arabic (hamza)": ("fa", "\u0627\u0654\u0646", "\u0623\u0646")}


@pytest.mark.parametrize("script", list(NFC))
def test_reliability_composed_and_decomposed_spellings_are_the_same_word(script):
    lang, decomposed, composed = NFC[script]
    assert unicodedata.normalize("NFC", decomposed) == unicodedata.normalize("NFC", composed)
    assert Analyzer(lang)(decomposed) == Analyzer(lang)(composed)
    assert Lexicon({decomposed: "x"}, lang, "en").translate(composed) == "x"


def test_reliability_marathi_zwj_spelling_and_zero_width_spaces_are_found_by_bm25(tmp_path):
    """End to end, documents against queries: each spelling finds the document written the other way."""
    from pyterrier_optical import MultilingualBM25

    cases = {"en": ("pri\u200bvacy settings", "privacy"), "de": ("Daten\u00adschutz", "Datenschutz"),
             "mr": ("\u0915\u093e\u0930\u094d\u200d\u092f\u093e\u0932\u092f", "\u0915\u093e\u0930\u094d\u092f\u093e"
                    "\u0932\u092f"), "am": ("\u130d\u120b\u200b\u12ca\u1290\u1275", "\u130d\u120b\u12ca\u1290\u1275"),
             "ru": ("\u043f\u0440\u0438\u200b\u0432\u0430\u0442", "\u043f\u0440\u0438\u0432\u0430\u0442")}
    for lang, (doc, query) in cases.items():
        for stored, asked in ((doc, query), (query, doc)):
            index = MultilingualBM25(tmp_path / f"{lang}-{len(stored)}", lang=lang, verbose=False).index(
                [{"docno": "d", "text": stored}, {"docno": "other", "text": "unrelated words"}])
            res = index.bm25()(pd.DataFrame({"qid": ["q"], "query": [asked]}))
            assert res["docno"].tolist() == ["d"], (lang, stored, asked)


def test_reliability_code_switching_and_word_translation_read_words_with_invisible_characters():
    import random

    from pyterrier_optical.retrieve.codeswitch import code_switch, translate_words

    lexicon = Lexicon({"faragha": "privacy", "\u0915\u093e\u0930\u094d\u092f\u093e\u0932\u092f": "office"}, "sw", "en")
    assert translate_words("mipangilio ya fara\u200bgha", lexicon) == "mipangilio ya privacy"
    assert translate_words("\u0915\u093e\u0930\u094d\u200d\u092f\u093e\u0932\u092f", lexicon) == "office"
    switched, stats = code_switch("ya fara\u00adgha", lexicon, 1.0, random.Random(0))
    assert switched == "ya privacy" and stats.switched == 1


def test_reliability_lucene_reads_invisible_characters_as_our_analysis_does(tmp_path):
    """Anserini's own analyzers (en) and ours (am, pre-tokenised) get cleaned documents and queries alike."""
    pytest.importorskip("pyserini")
    from pyterrier_optical.retrieve.lucene import LuceneBM25Index

    for lang, doc, query in (("en", "pri\u200bvacy set\u00adtings", "privacy settings"),
                             ("am", "\u130d\u120b\u200b\u12ca\u1290\u1275", "\u130d\u120b\u12ca\u1290\u1275")):
        index = LuceneBM25Index(tmp_path / lang, lang=lang, verbose=False)
        with pytest.warns(UserWarning) if lang == "am" else __import__("contextlib").nullcontext():
            index.index([{"docno": "d", "text": doc}, {"docno": "other", "text": "unrelated words"}])
        for asked in (query, doc):
            res = index.bm25()(pd.DataFrame({"qid": ["q"], "query": [asked]}))
            assert res["docno"].tolist()[:1] == ["d"], (lang, asked)
            assert res["text"].tolist()[0] == doc  # the document as given
