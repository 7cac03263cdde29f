"""Build English<->X phrase pairs from the Unicode CLDR JSON npm packages into ``pyterrier_optical/data/bitext/cldr``.

The CLDR's names (emoji and symbol names, language / territory / script names, unit names, month and day names,
time-zone names, character labels, typographic names) are translated by native speakers for each locale. The
packages are read at version 48.2.0 exactly (Unicode licence, ``Unicode-3.0``)::

    python scripts/build_cldr_bitext.py                       # npm pack into a temporary folder
    python scripts/build_cldr_bitext.py --src DIR             # reuse the tarballs in DIR (fetch the missing ones)
    python scripts/build_cldr_bitext.py --src DIR --offline   # refuse instead of fetching
    python scripts/build_cldr_bitext.py --languages ha yo so  # only these (our codes)

Cleaning reuses ``scripts/build_bitext.py`` (``clean``, ``keep_pair``, ``one_to_one``, ``split_of`` and its
``SCRIPT_CHECK``, extended here for the new languages), so the split is the same function of the case-folded English
string as for the Chromium/Kolibri bitext and no English string is on two sides of a split in any language or
source. On top of it, CLDR-specific rules: only values of the locale's own file (values equal to the root locale's,
i.e. inherited, are dropped), English of one word is fine (names) but strings of fewer than two letters are dropped,
the other side must be in the language's script, derived emoji names are capped per template, and the pairs of a
language are kept 1:1 over all packages together. One TSV per language (``source split en <code>``, source ``cldr``,
sorted by split then English); the Unicode licence notice is written into the ``LICENSES.md`` next to the output.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import regex

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_bitext as bitext  # noqa: E402  (the shared cleaning rules and split)

VERSION = "48.2.0"
OUT = Path(__file__).resolve().parent.parent / "pyterrier_optical" / "data" / "bitext" / "cldr"
# our code -> CLDR base locale: the languages of the shipped bitext, then the other African languages the CLDR
# covers; those (``CANDIDATES``) are kept only when at least MIN_PAIRS pairs survive the cleaning.
CORE = {"ha": "ha", "yo": "yo", "so": "so", "sw": "sw", "am": "am", "mr": "mr", "tl": "fil", "de": "de", "fr": "fr",
        "fi": "fi"}
CANDIDATES = {code: code for code in (
    "af ak bm ee ff ig kab lg ln mg nd nr nso ny om pcm rn rw sn st ss ti tn ts ve wo xh zu "
    "agq asa bas bem bez byn cgg dav dje dua ebu ewo gaa guz jmc kam kde kea khq ki kln kpe ksb ksf lag lu luo "
    "luy mas mer mfe mgh mua naq nmg nus nyn rof rwk saq sbp seh ses sg shi sid ssy teo tig twq tzm vai vun wal "
    "xog yav zgh").split()}
MIN_PAIRS = 1500
# Expected script of the other side for the languages that build_bitext.SCRIPT_CHECK does not cover (it has am and
# mr); every other language here is written in Latin script in its CLDR base locale.
NON_LATIN = {"ti": r"\p{Ethiopic}", "byn": r"\p{Ethiopic}", "tig": r"\p{Ethiopic}", "wal": r"\p{Ethiopic}",
             "zgh": r"\p{Tifinagh}", "shi": r"\p{Tifinagh}", "vai": r"\p{Vai}"}
TEMPLATE_CAP = 20  # derived emoji names kept per English prefix before ':' and per suffix pattern after it
PAD = " cldrpad" * 10  # see keep_short_pair

PACKAGES = ("cldr-annotations-full", "cldr-annotations-derived-full", "cldr-localenames-full", "cldr-units-full",
            "cldr-dates-full", "cldr-misc-full")
# package -> (file in the tarball with {loc} for the locale, leaf filter on the path below the locale's root).
# Only named things without placeholders are taken; abbreviated, short and narrow forms are left out (symbols and
# abbreviations, and the same English with several translations, which the 1:1 rule would drop anyway).
FILES = {
    "cldr-annotations-full": [("package/annotations/{loc}/annotations.json", lambda p: p[-1] == "tts")],
    "cldr-annotations-derived-full": [("package/annotationsDerived/{loc}/annotations.json", lambda p: p[-1] == "tts")],
    "cldr-localenames-full": [(f"package/main/{{loc}}/{name}.json", lambda p: True)
                              for name in ("languages", "territories", "scripts", "localeDisplayNames", "variants")],
    "cldr-units-full": [("package/main/{loc}/units.json",
                         lambda p: len(p) == 4 and p[:2] == ("units", "long") and p[3] == "displayName")],
    "cldr-dates-full": [
        ("package/main/{loc}/ca-gregorian.json", lambda p: p[:3] == ("dates", "calendars", "gregorian") and (
            p[3:6] in {("months", "stand-alone", "wide"), ("days", "stand-alone", "wide"),
                       ("quarters", "stand-alone", "wide"), ("dayPeriods", "format", "wide")}
            or p[3:5] == ("eras", "eraNames"))),
        ("package/main/{loc}/dateFields.json", lambda p: len(p) == 4 and not p[2].endswith(("-short", "-narrow"))
         and (p[3] == "displayName" or p[3].startswith("relative-type-"))),
        ("package/main/{loc}/timeZoneNames.json", lambda p: p[1] == "timeZoneNames" and p[2] in ("zone", "metazone")
         and (p[-1] == "exemplarCity" or p[-2] == "long"))],
    "cldr-misc-full": [("package/main/{loc}/characterLabels.json", lambda p: p[0] == "characterLabels"),
                       ("package/main/{loc}/typographic.json", lambda p: p[0] == "typographicNames")],
}
LETTER = regex.compile(r"\p{L}")
SKIN_TONE = regex.compile(r"\b(?:light|medium-light|medium|medium-dark|dark) skin tone\b")


def fetch(src: Path, offline: bool) -> dict:
    """Package -> tarball path, fetching the missing ones with ``npm pack``; refuses (one line) on a missing or
    wrong-version tarball."""
    src.mkdir(parents=True, exist_ok=True)
    tarballs = {}
    for name in PACKAGES:
        path = src / f"{name}-{VERSION}.tgz"
        if not path.exists() and not offline:
            subprocess.run(["npm", "pack", "--silent", f"{name}@{VERSION}"], cwd=src, check=False,
                           stdout=subprocess.DEVNULL)
        if not path.exists():
            sys.exit(f"refusing: {name}: tarball {path.name} missing in {src}")
        tarballs[name] = path
    return tarballs


def read_package(path: Path, name: str, locales) -> tuple:
    """(package.json, LICENSE text, {file in the tarball: parsed JSON}) for the locales' files (plus en and und)."""
    wanted = {pattern.format(loc=loc) for pattern, _ in FILES[name] for loc in {*locales, "en", "und"}}
    meta, licence, files = None, None, {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if member.name in wanted or member.name in ("package/package.json", "package/LICENSE"):
                data = tar.extractfile(member).read().decode("utf-8")
                if member.name == "package/package.json":
                    meta = json.loads(data)
                elif member.name == "package/LICENSE":
                    licence = data
                else:
                    files[member.name] = json.loads(data)
    if meta is None or meta.get("name") != name or meta.get("version") != VERSION:
        got = meta and f"{meta.get('name')}@{meta.get('version')}"
        sys.exit(f"refusing: {name}: {path.name} holds {got}, not {name}@{VERSION}")
    return meta, licence, files


def leaves(tree, keep, path=()) -> dict:
    """Path -> string for the leaves of a CLDR JSON tree that ``keep`` accepts (one-element lists unwrapped)."""
    out = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.update(leaves(value, keep, path + (key,)))
    elif isinstance(tree, list):
        if len(tree) == 1 and isinstance(tree[0], str) and keep(path):
            out[path] = tree[0]
    elif isinstance(tree, str) and keep(path):
        out[path] = tree
    return out


def strings(files: dict, name: str, loc: str) -> dict:
    """(file, path) -> string of a locale's own file(s) in a package, below the ``main/<loc>`` (or annotations) root."""
    out = {}
    for pattern, keep in FILES[name]:
        tree = files.get(pattern.format(loc=loc))
        if tree is None:
            continue
        (top,) = tree.values()
        root = top[loc] if "main" in tree else top
        out.update({(pattern, path): text for path, text in leaves(root, keep).items()
                    if path[0] != "identity"})
    return out


def script_checks() -> dict:
    """``build_bitext.SCRIPT_CHECK`` extended to every language here: its own (am, mr), ``NON_LATIN``, else Latin."""
    return {**NON_LATIN, **{lang: r"\p{Latin}" for lang in (*CORE, *CANDIDATES) if lang not in NON_LATIN},
            **bitext.SCRIPT_CHECK}


def keep_short_pair(en: str, other: str, lang: str) -> str | None:
    """None when ``build_bitext.keep_pair`` keeps the pair, else the rule that drops it ("copy of English" or
    "wrong script"). ``keep_pair`` also wants >= 3 English words, which names (1-2 words) cannot meet: the English
    gets inert padding words, which cannot occur in ``other``, so its copy and script rules apply unchanged."""
    if not bitext.keep_pair(en + PAD, other, ""):  # "" is in no SCRIPT_CHECK: the copy rule alone
        return "copy of English"
    if not bitext.keep_pair(en + PAD, other, lang):
        return "wrong script"
    return None


def templates(en: str) -> tuple:
    """The two templates of a derived emoji name: its English before ':' ("flag", "man golfing", "kiss") and its
    English after it with any skin tone as the variable part ("Kenya", "TONE", "TONE, TONE", "woman, man, TONE")."""
    head, _, tail = en.partition(": ")
    return ("prefix", head), ("suffix", SKIN_TONE.sub("TONE", tail or head))


def pairs_of(lang: str, loc: str, packages: dict, dropped: collections.Counter) -> list:
    """(package, en, other) pairs of a language after the per-pair rules and the template cap, before 1:1."""
    rows = []
    for name, (_, _, files) in packages.items():
        english, own, root = strings(files, name, "en"), strings(files, name, loc), strings(files, name, "und")
        candidates = []
        for key, en_raw in english.items():
            if key not in own:
                continue
            x_raw = own[key]
            en, x = bitext.clean(en_raw), bitext.clean(x_raw)
            if bitext.PLACEHOLDER.search(en_raw) or bitext.PLACEHOLDER.search(x_raw):
                reason = "placeholder"
            elif en is None or x is None:
                reason = "empty"
            elif root.get(key) == x_raw:
                reason = "inherited from root"
            elif en.casefold() == x.casefold():
                reason = "same as English"
            elif len(LETTER.findall(en)) < 2 or len(LETTER.findall(x)) < 2:
                reason = "under 2 letters"
            else:
                reason = keep_short_pair(en, x, lang)
            if reason:
                dropped[name, reason] += 1
            else:
                candidates.append((en, x))
        candidates = sorted(set(candidates))
        if name == "cldr-annotations-derived-full":
            used = collections.Counter()
            capped = []
            for en, x in sorted(candidates, key=lambda p: (hashlib.sha1(p[0].encode("utf-8")).hexdigest(), p)):
                if all(used[t] < TEMPLATE_CAP for t in templates(en)):
                    used.update(templates(en))
                    capped.append((en, x))
                else:
                    dropped[name, "template cap"] += 1
            candidates = capped
        rows += [(name, en, x) for en, x in candidates]
    return rows


def build(lang: str, loc: str, packages: dict) -> tuple:
    """(1:1 pairs, {package: pairs contributed}, Counter of (package, rule) drops) of a language. The 1:1 rule is
    ``build_bitext.one_to_one`` on the case-folded pairs ("Calendar" and "calendar" are one English string); of the
    spellings of a kept pair, the first package's (in PACKAGES order) is written."""
    dropped = collections.Counter()
    rows = pairs_of(lang, loc, packages, dropped)
    spellings = collections.defaultdict(list)  # case-folded pair -> its (package, en, other), in PACKAGES order
    for name, en, x in rows:
        spellings[en.casefold(), x.casefold()].append((name, en, x))
    kept_folded = set(bitext.one_to_one(spellings))
    kept, contributed, seen = [], collections.Counter(), set()
    for folded, found in spellings.items():
        for i, (name, en, x) in enumerate(found):
            if (en, x) in seen:  # the same pair from a second package
                continue
            seen.add((en, x))
            if folded not in kept_folded:
                dropped[name, "not 1:1"] += 1
            elif i:
                dropped[name, "case variant of a kept pair"] += 1
            else:
                kept.append((en, x))
                contributed[name] += 1
    return sorted(kept, key=lambda p: (bitext.split_of(p[0]), p[0], p[1])), contributed, dropped


def write_tsv(path: Path, lang: str, pairs):
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write(f"source\tsplit\ten\t{lang}\n")
        for en, x in pairs:
            out.write(f"cldr\t{bitext.split_of(en)}\t{en}\t{x}\n")


def write_licences(path: Path, packages: dict):
    """The CLDR section of ``LICENSES.md``, with the Unicode licence text (the other builders' sections stay)."""
    texts = {licence.strip() for _, licence, _ in packages.values()}
    names = ", ".join(f"`{meta['name']}@{meta['version']}` ({meta['license']})" for meta, _, _ in packages.values())
    bitext.write_licence_section(
        path, "cldr-bitext",
        f"`source=cldr` rows (`cldr/*.tsv`): names from the Unicode CLDR JSON npm packages {names}, "
        "Copyright © Unicode, Inc., Unicode License v3:\n\n"
        + "\n\n".join(f"```\n{text}\n```" for text in sorted(texts)) + "\n\nBuilt by `scripts/build_cldr_bitext.py`.")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, help="folder of the npm tarballs (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default: {OUT})")
    parser.add_argument("--languages", nargs="+", help="our language codes (default: all; candidates are kept "
                        f"only with >= {MIN_PAIRS} pairs)")
    parser.add_argument("--offline", action="store_true", help="refuse instead of running npm pack")
    parser.add_argument("--stats", type=Path, help="also write the counts (per split, package, rule) as JSON here")
    args = parser.parse_args()
    bitext.SCRIPT_CHECK = script_checks()
    languages = {**CORE, **CANDIDATES}
    if args.languages:
        unknown = set(args.languages) - set(languages)
        if unknown:
            parser.error(f"unknown languages: {' '.join(sorted(unknown))}")
        languages = {lang: languages[lang] for lang in args.languages}
    src = args.src or Path(tempfile.mkdtemp(prefix="optical-cldr-"))
    tarballs = fetch(src, args.offline)
    packages = {name: read_package(tarballs[name], name, languages.values()) for name in PACKAGES}
    for meta, _, _ in packages.values():
        print(f"read {meta['name']}@{meta['version']} licence {meta['license']}")
    args.out.mkdir(parents=True, exist_ok=True)
    stats = {"packages": {m["name"]: {"version": m["version"], "license": m["license"]} for m, _, _ in
                          packages.values()}, "languages": {}, "skipped": {}}
    for lang, loc in languages.items():
        pairs, contributed, dropped = build(lang, loc, packages)
        if lang in CANDIDATES and len(pairs) < MIN_PAIRS:
            print(f"skip {lang}: {len(pairs)} pairs < {MIN_PAIRS}")
            stats["skipped"][lang] = {"locale": loc, "pairs": len(pairs), "packages": dict(sorted(contributed.items()))}
            continue
        write_tsv(args.out / f"{lang}.tsv", lang, pairs)
        splits = collections.Counter(bitext.split_of(en) for en, _ in pairs)
        print(lang, len(pairs), dict(sorted(splits.items())), dict(contributed))
        stats["languages"][lang] = {
            "locale": loc, "splits": dict(sorted(splits.items())), "packages": dict(sorted(contributed.items())),
            "dropped": {f"{name}|{rule}": n for (name, rule), n in sorted(dropped.items())}}
    write_licences(args.out.parent / "LICENSES.md", packages)
    if args.stats:
        args.stats.write_text(json.dumps(stats, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if not args.src:
        import shutil

        shutil.rmtree(src, ignore_errors=True)


if __name__ == "__main__":
    main()
