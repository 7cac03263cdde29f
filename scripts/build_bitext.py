"""Rebuild the shipped bitext in ``pyterrier_optical/data/bitext`` from real, human-translated sources.

Sources (both professionally translated software interface text):
- Debian ``chromium-l10n`` + ``chromium-common`` (locale ``.pak`` files; BSD-3-Clause): sw, am, mr, tl, de, fr, fi.
- PyPI ``kolibri==0.19.5`` (frontend JSON message catalogs; MIT): yo, ha, sw, mr, de, fr.

Run it as root on a Debian machine that reaches the package registries::

    python scripts/build_bitext.py            # downloads into a temporary folder
    python scripts/build_bitext.py --src DIR  # reuse DIR (debs, wheel) if present

Pairs are cleaned (placeholders, markup, accelerators, copies of the English dropped), kept 1:1 per language and
source, and split by English string (80/10/10 train/dev/test by a hash of the case-folded English text), so no
English string sits on two sides of a split in any language or source.
"""
from __future__ import annotations

import argparse
import collections
import glob
import html
import json
import struct
import subprocess
import tempfile
import zipfile
from pathlib import Path

import regex

OUT = Path(__file__).resolve().parent.parent / "pyterrier_optical" / "data" / "bitext"
CHROMIUM_LOCALES = {"sw": "sw", "am": "am", "mr": "mr", "tl": "fil", "de": "de", "fr": "fr", "fi": "fi"}
KOLIBRI_LOCALES = {"yo": "yo", "ha": "ha", "sw": "sw_TZ", "mr": "mr", "de": "de", "fr": "fr_FR"}
KOLIBRI = "kolibri==0.19.5"
SCRIPT_CHECK = {"am": r"\p{Ethiopic}", "mr": r"\p{Devanagari}"}
PLACEHOLDER = regex.compile(r"%\d*\$?[a-zA-Z]|%\(\w+\)\w|\{[^}]*\}|\$\d|\$\(\w+\)|\$\w+\$|<ph\b|\bhttps?://")
MARKUP = regex.compile(r"<[^>]{0,200}>")
ACCELERATOR = regex.compile(r"(?<![\p{L}\p{N}])[&_~](?=[\p{L}\p{N}])")
WORD = regex.compile(r"[\p{L}\p{N}\p{M}]+")


def read_pak(path) -> dict:
    """Resource id -> string of a Chromium ``.pak`` file (format versions 4 and 5)."""
    data = Path(path).read_bytes()
    (version,) = struct.unpack_from("<I", data, 0)
    if version == 5:
        encoding, count, aliases = struct.unpack_from("<B3xHH", data, 4)
        offset = 12
    elif version == 4:
        count, encoding = struct.unpack_from("<IB", data, 4)
        aliases, offset = 0, 9
    else:
        raise ValueError(f"{path}: unsupported .pak version {version}")
    entries = [struct.unpack_from("<HI", data, offset + 6 * i) for i in range(count + 1)]
    codec = {1: "utf-8", 2: "utf-16-le"}.get(encoding)
    strings = {}
    for (rid, start), (_, end) in zip(entries, entries[1:]):
        if codec:
            strings[rid] = data[start:end].decode(codec, errors="replace")
    alias_start = offset + 6 * (count + 1)
    for i in range(aliases):
        rid, index = struct.unpack_from("<HH", data, alias_start + 4 * i)
        if entries[index][0] in strings:
            strings[rid] = strings[entries[index][0]]
    return strings


def read_kolibri(root: Path, locale: str) -> dict:
    """Message key -> string over all frontend catalogs of a Kolibri locale."""
    messages = {}
    for file in sorted(glob.glob(str(root / "kolibri" / "locale" / locale / "LC_MESSAGES" / "*.json"))):
        for key, value in json.loads(Path(file).read_text(encoding="utf-8")).items():
            messages[f"{Path(file).name}:{key}"] = value
    return messages


def clean(text: str):
    """The cleaned string, or None when it must be dropped (placeholders, empty)."""
    if not isinstance(text, str) or PLACEHOLDER.search(text):
        return None
    text = html.unescape(MARKUP.sub(" ", text))
    text = ACCELERATOR.sub("", text)
    text = " ".join(text.split())
    return text or None


def keep_pair(en: str, other: str, lang: str) -> bool:
    """Cleaning rules on a pair: English of >= 3 words, a real translation in the right script."""
    en_words = WORD.findall(en.casefold())
    other_words = WORD.findall(other.casefold())
    if len(en_words) < 3 or not other_words or en.casefold() == other.casefold():
        return False
    if sum(w in set(en_words) for w in other_words) > 0.5 * len(other_words):
        return False
    if lang in SCRIPT_CHECK:
        letters = regex.findall(r"\p{L}", other)
        if sum(bool(regex.match(SCRIPT_CHECK[lang], c)) for c in letters) < 0.5 * len(letters):
            return False
    return True


def one_to_one(pairs) -> list:
    """Distinct (en, other) pairs whose English and whose translation each occur in one pair only."""
    pairs = sorted(set(pairs))
    en_count = collections.Counter(en for en, _ in pairs)
    other_count = collections.Counter(other for _, other in pairs)
    return [(en, o) for en, o in pairs if en_count[en] == 1 and other_count[o] == 1]


def split_of(en: str) -> str:
    """train / dev / test by a stable hash of the case-folded English string."""
    import hashlib

    bucket = int(hashlib.sha1(en.casefold().encode("utf-8")).hexdigest(), 16) % 10
    return "test" if bucket == 0 else "dev" if bucket == 1 else "train"


def paired(english: dict, other: dict, lang: str) -> list:
    pairs = []
    for key, en in english.items():
        en, x = clean(en), clean(other.get(key))
        if en and x and keep_pair(en, x, lang):
            pairs.append((en, x))
    return one_to_one(pairs)


def fetch(src: Path) -> tuple:
    """The Chromium locales folder and the Kolibri root, downloading what is missing into ``src``."""
    src.mkdir(parents=True, exist_ok=True)
    if not glob.glob(str(src / "chromium-l10n_*.deb")) or not glob.glob(str(src / "chromium-common_*.deb")):
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "download", "chromium-l10n", "chromium-common"], cwd=src, check=True)
    for deb in glob.glob(str(src / "chromium-*.deb")):
        subprocess.run(["dpkg", "-x", deb, str(src / "deb")], check=True)
    wheels = glob.glob(str(src / "kolibri-*.whl"))
    if not wheels:
        subprocess.run(["pip", "download", "--no-deps", "-d", str(src), KOLIBRI], check=True)
        wheels = glob.glob(str(src / "kolibri-*.whl"))
    with zipfile.ZipFile(wheels[0]) as whl:
        whl.extractall(src / "kolibri", [n for n in whl.namelist()
                                         if n.startswith("kolibri/locale/") or n.endswith("dist-info/LICENSE")])
    return src / "deb" / "usr" / "lib" / "chromium" / "locales", src / "kolibri"


LICENCES_TITLE = "# Licences of the shipped bitext\n"


def write_licence_section(path: Path, name: str, body: str):
    """Put (or replace) the section ``name`` of ``LICENSES.md`` at ``path``, between its ``<!-- name: begin -->`` and
    ``<!-- name: end -->`` markers, keeping every other builder's section as it is."""
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    section = f"{begin}\n{body.strip()}\n{end}\n"
    old = path.read_text(encoding="utf-8") if path.exists() else LICENCES_TITLE
    if begin in old and end in old:
        new = old[:old.index(begin)] + section + old[old.index(end) + len(end):].removeprefix("\n")
    else:
        new = old.rstrip("\n") + "\n\n" + section
    path.write_text(new, encoding="utf-8")


def write_licences(src: Path, kolibri_root: Path):
    """The Chromium and Kolibri section of ``LICENSES.md`` (the CLDR builder writes its own)."""
    chromium = (src / "deb" / "usr" / "share" / "doc" / "chromium-common" / "copyright").read_text()
    bsd = chromium[chromium.index("License: BSD-3-clause\n Redistribution"):]
    bsd = "Copyright The Chromium Authors. All rights reserved.\n\n" + "\n".join(
        "" if line == " ." else line[1:] for line in bsd[:bsd.index("\n\n")].splitlines()[1:])
    mit = Path(glob.glob(str(kolibri_root / "kolibri-*.dist-info" / "LICENSE"))[0]).read_text()
    write_licence_section(
        OUT / "LICENSES.md", "chromium-kolibri-bitext",
        "`source=chromium` rows: strings of Chromium's locale files (Debian `chromium-l10n`, `chromium-common` "
        "156.0.8078.108-1~deb12u1), Copyright The Chromium Authors, BSD-3-Clause:\n\n```\n"
        + bsd
        + "\n```\n\n`source=kolibri` rows: strings of Kolibri's frontend message catalogs (PyPI `kolibri==0.19.5`), "
        "MIT licence:\n\n```\n" + mit.strip() + "\n```\n\nBuilt by `scripts/build_bitext.py`.")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, help="folder for the downloaded debs and wheel (default: a temporary one)")
    args = parser.parse_args()
    src = args.src or Path(tempfile.mkdtemp(prefix="optical-bitext-"))
    locales, kolibri_root = fetch(src)
    OUT.mkdir(parents=True, exist_ok=True)
    en_chromium = read_pak(locales / "en-US.pak")
    en_kolibri = read_kolibri(kolibri_root, "en")
    rows = collections.defaultdict(list)
    for lang, locale in CHROMIUM_LOCALES.items():
        rows[lang] += [("chromium", en, x) for en, x in paired(en_chromium, read_pak(locales / f"{locale}.pak"), lang)]
    for lang, locale in KOLIBRI_LOCALES.items():
        rows[lang] += [("kolibri", en, x) for en, x in paired(en_kolibri, read_kolibri(kolibri_root, locale), lang)]
    for lang, items in sorted(rows.items()):
        with open(OUT / f"{lang}.tsv", "w", encoding="utf-8", newline="\n") as out:
            out.write(f"source\tsplit\ten\t{lang}\n")
            for source, en, x in sorted(items, key=lambda r: (r[0], split_of(r[1]), r[1])):
                out.write(f"{source}\t{split_of(en)}\t{en}\t{x}\n")
        counts = collections.Counter((s, split_of(en)) for s, en, _ in items)
        print(lang, dict(sorted(counts.items())))
    write_licences(src, kolibri_root)
    if not args.src:
        import shutil

        shutil.rmtree(src, ignore_errors=True)


if __name__ == "__main__":
    main()
