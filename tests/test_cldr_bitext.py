"""The CLDR bitext: the builder's rules (scripts/build_cldr_bitext.py) and the shipped files that obey them."""
import collections
import importlib
import io
import json
import sys
import tarfile
from pathlib import Path

import pytest

from pyterrier_optical.data.bitext import SOURCES, load_bitext, shipped_bitext_dir, shipped_languages

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.fixture(scope="module")
def builder():
    """The builder module with its script checks in force, as its ``main`` sets them; undone afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "path", [str(SCRIPTS), *sys.path])
        module = importlib.import_module("build_cldr_bitext")
        patch.setattr(module.bitext, "SCRIPT_CHECK", module.script_checks())
        yield module
    for name in ("build_cldr_bitext", "build_bitext"):
        sys.modules.pop(name, None)


def all_pairs():
    """(source, split, lang, en, other) of every shipped pair."""
    for source in SOURCES:
        langs = shipped_languages("cldr" if source == "cldr" else None)
        for lang in langs:
            for split in ("train", "dev", "test"):
                try:
                    pairs = load_bitext(lang, split, source)
                except ValueError:  # a language without bitext of this source
                    continue
                yield from ((source, split, lang, en, other) for en, other in pairs)


def test_no_english_string_is_in_two_splits_in_any_language_or_source():
    splits = collections.defaultdict(set)
    for source, split, _, en, _ in all_pairs():
        splits[en.casefold()].add(split)
    crossing = {en: s for en, s in splits.items() if len(s) > 1}
    assert len(splits) > 10_000 and not crossing, list(crossing.items())[:5]


def test_the_shipped_cldr_pairs_obey_the_builders_rules(builder):
    bitext = builder.bitext
    for source, _, lang, en, other in all_pairs():
        if source != "cldr":
            continue
        assert not bitext.PLACEHOLDER.search(en) and not bitext.PLACEHOLDER.search(other), (lang, en, other)
        assert en.casefold() != other.casefold(), (lang, en)
        assert builder.keep_short_pair(en, other, lang) is None, (lang, en, other)


def test_the_rules_drop_copies_wrong_scripts_and_placeholders(builder):
    assert builder.keep_short_pair("calendar", "kalenda", "sw") is None
    assert builder.keep_short_pair("Kenya", "Kenya", "sw") == "copy of English"
    assert builder.keep_short_pair("calendar", "calendar", "am") == "copy of English"
    assert builder.keep_short_pair("calendar", "kalenda", "am") == "wrong script"
    assert builder.keep_short_pair("calendar", "ቀን መቁጠሪያ", "so") == "wrong script"  # Latin expected
    assert builder.keep_short_pair("calendar", "kalenda", "ti") == "wrong script"  # Ethiopic expected
    assert builder.bitext.PLACEHOLDER.search("{0} hours")
    assert builder.templates("woman golfing: medium skin tone") == (("prefix", "woman golfing"), ("suffix", "TONE"))


def test_a_missing_package_is_refused_in_one_line_naming_it(builder, tmp_path):
    with pytest.raises(SystemExit, match=r"^refusing: cldr-annotations-full: tarball "
                       r"cldr-annotations-full-48\.2\.0\.tgz missing in "):
        builder.fetch(tmp_path, offline=True)


def test_a_package_of_another_version_is_refused_naming_what_it_holds(builder, tmp_path):
    tarball = tmp_path / f"cldr-units-full-{builder.VERSION}.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        data = json.dumps({"name": "cldr-units-full", "version": "47.0.0"}).encode()
        info = tarfile.TarInfo("package/package.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(SystemExit, match=r"refusing: cldr-units-full: .* holds cldr-units-full@47\.0\.0, not "
                       r"cldr-units-full@48\.2\.0"):
        builder.read_package(tarball, "cldr-units-full", ["so"])


def test_each_builder_rewrites_only_its_own_section_of_the_licences(builder, tmp_path):
    """Rerunning ``build_bitext.py`` after ``build_cldr_bitext.py`` (or the other way round) keeps the other's notice:
    each writes its own marked section, in place; the shipped file has both sections once."""
    path = tmp_path / "LICENSES.md"
    builder.bitext.write_licence_section(path, "chromium-kolibri-bitext", "BSD-3-Clause text, first build")
    packages = {"cldr-units-full": ({"name": "cldr-units-full", "version": "48.2.0", "license": "Unicode-3.0"},
                                    "UNICODE LICENSE V3 text", {})}
    builder.write_licences(path, packages)
    builder.bitext.write_licence_section(path, "chromium-kolibri-bitext", "BSD-3-Clause text, second build")
    builder.write_licences(path, packages)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Licences of the shipped bitext\n") and "first build" not in text
    assert text.index("second build") < text.index("UNICODE LICENSE V3 text") and text.count("UNICODE LICENSE") == 1
    assert "`cldr-units-full@48.2.0` (Unicode-3.0)" in text
    shipped = (shipped_bitext_dir() / "LICENSES.md").read_text(encoding="utf-8")
    for name in ("chromium-kolibri-bitext", "cldr-bitext"):
        assert shipped.count(f"<!-- {name}: begin -->") == shipped.count(f"<!-- {name}: end -->") == 1, name
