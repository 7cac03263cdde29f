"""The demo's options: :class:`DemoOptions` is the one source of the demo's defaults, of the flags of ``optical demo``
(``cli.py`` builds them from its fields, help text included) and of the notes a run writes about what it covered.
Every option is checked by :meth:`DemoOptions.resolved` before any model is loaded or any folder is made."""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

from ..data.bitext import CHROMIUM_LANGUAGES, KOLIBRI_LANGUAGES
from ..data.languages import language
from ..models.backbones import E5_SMALL, E5_SMALL_HUB_ID, check_model_folder, looks_like_path
from ..models.cross_encoder import EMBEDDED_PREFIX
from ..retrieve.codeswitch import check_ratio
from ..util.checks import check_positive_int
from ..util.device import BACKENDS, INFERENCE_PRECISIONS, infer_device, resolve_backend, resolve_precision
from .compare import CODE_SWITCH_RATIOS

FIRST_STAGE_DEPTH = 100  # documents each first stage retrieves
# the defaults that depend on the size of a run (--quick, neither, --full); 50 as a tuning depth gained at most .005
# dev RR@10 for a third of its time
SIZES = {"quick": {"languages": ("sw", "de"), "max_queries": 30, "dev_queries": 20, "tune_depths": (10,)},
         "default": {"languages": CHROMIUM_LANGUAGES, "max_queries": 100, "dev_queries": 30, "tune_depths": (10,)},
         "full": {"languages": CHROMIUM_LANGUAGES, "max_queries": 100, "dev_queries": 50, "tune_depths": (10, 20)}}

TEACHER = "teacher zero-shot"
STUDENT = "OPTICAL student"
CS_TEACHER = "code-switch teacher"
CS_STUDENT = "OPTICAL on code-switch teacher"
# system -> the embedded reranker behind it (models.registry.EMBEDDED); overridden by the options
MODELS = {TEACHER: "optical-teacher", STUDENT: "optical-student", CS_TEACHER: "optical-codeswitch-teacher",
          CS_STUDENT: "optical-codeswitch-student"}
FULL_ONLY = (CS_TEACHER, CS_STUDENT)


def _words(value) -> str:
    """A default as the command line spells it: ``sw am mr``, ``0 0.25 1``, ``10``."""
    return " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) if isinstance(value, tuple) \
        else str(value)


def option(default, help: str = "", *, flag: str | None = None, cli: bool = True, exclusive: str | None = None,
           **argparse_kwargs):
    """A field of :class:`DemoOptions` with what its command-line flag needs: ``help`` (:func:`default_help` adds
    its default), the ``flag`` when it is not ``--<field-name>`` (``--no-ood`` for ``ood``), the ``exclusive`` group
    of flags it belongs to, and the keywords of ``add_argument`` (``type``, ``nargs``, ``choices``, ``metavar``);
    ``cli=False``: Python only."""
    return field(default=default, metadata={"help": help, "flag": flag, "cli": cli, "exclusive": exclusive,
                                            "argparse": argparse_kwargs})


def check_depth(depth: int, available: int = FIRST_STAGE_DEPTH) -> int:
    """``depth`` (a positive integer) capped, with a warning, at what the first stage returns."""
    check_positive_int("rerank depth", depth)
    if depth > available:
        warnings.warn(f"rerank depth {depth} is larger than the {available} documents the first stage returns: "
                      f"reranking {available}")
        return available
    return depth


def nmt_codes(codes) -> dict:
    """Our language code -> the translation model's, from a dict or from ``LANG=CODE`` strings (a ValueError
    naming those that are not)."""
    if codes is None or isinstance(codes, dict):
        return dict(codes or {})
    bad = [code for code in codes if not isinstance(code, str) or "=" not in code.strip("=")]
    if bad:
        raise ValueError(f"--nmt-code takes LANG=CODE pairs (e.g. sw=swh_Latn), got {' '.join(map(str, bad))}")
    return dict(code.split("=", 1) for code in codes)


@dataclass
class DemoOptions:
    """What a demo run does (:func:`~pyterrier_optical.experiment.demo.run_demo`, ``optical demo``). A field left
    None takes the default of the run's size: see :data:`SIZES` (and ``optical demo --help``)."""

    out: str | Path = option("runs/demo", "report folder (an unfinished one is resumed)")
    languages: tuple | None = option(None, "Chromium languages", nargs="+")
    _: KW_ONLY
    overwrite: bool = option(False, "replace a finished report in --out")
    quick: bool = option(False, f"smoke run: {' and '.join(SIZES['quick']['languages'])}, "
                                f"{SIZES['quick']['max_queries']} queries each, no sweep", exclusive="size")
    full: bool = option(False, "the whole study: adds the code-switch teacher, OPTICAL on it and the code-switch "
                               "sweep (docs/performance.md has its time)", exclusive="size")
    max_queries: int | None = option(None, "queries per language", type=int)
    dev_queries: int | None = option(None, "dev queries per language for choosing rerank depth and fusion", type=int)
    rerank_depth: int = option(10, "documents the rerankers of BM25 reorder", type=int)
    tune_depths: tuple | None = option(None, "rerank depths of the dense and fused pipelines tried on the dev splits, "
                                             f"each capped at the {FIRST_STAGE_DEPTH} documents of the first stages",
                                       type=int, nargs="+")
    ratios: tuple = option(CODE_SWITCH_RATIOS, "code-switch ratios with --full", type=float, nargs="+")
    sweep_queries: int = option(20, "queries per language and ratio with --full", type=int)
    ood: bool = option(True, "skip the out-of-domain Kolibri test splits", flag="--no-ood")
    teacher: str | None = option(None, "teacher checkpoint (default: the embedded one, built on first use)")
    student: str | None = option(None, "OPTICAL student checkpoint (default: the embedded one, built on first use)")
    codeswitch: bool = option(True, "leave out the code-switch-trained rerankers", flag="--no-codeswitch")
    models: dict | None = option(None, "system name -> checkpoint (an embedded name or a folder; None drops the "
                                       "system), over all of the above", cli=False)
    nmt: str | None = option(None, "translation model (hub id or folder) for the NMT translate-test pipeline")
    nmt_codes: dict | None = option(None, "the model's codes, e.g. sw=swh_Latn en=eng_Latn", flag="--nmt-code",
                                    nargs="+", metavar="LANG=CODE")
    dense: str = option(E5_SMALL, "the dense bi-encoder: a model folder or a hub id", cli=False)
    precision: str = option("auto", "of the rerankers' and the dense encoder's scoring (auto: bf16 where the "
                                    "hardware has bf16 units, else fp32; int8: OpenVINO)", choices=INFERENCE_PRECISIONS)
    backend: str | None = option(None, "what runs the rerankers and the dense encoder (default: torch; openvino "
                                       "for --precision int8); openvino needs the openvino extra", choices=BACKENDS)
    verbose: bool = option(True, "no progress output", flag="--quiet")

    @property
    def size(self) -> str:
        """``quick``, ``full`` or ``default``: which column of :data:`SIZES` the unset fields take."""
        return "quick" if self.quick else "full" if self.full else "default"

    @property
    def sweep(self) -> bool:
        """Whether the run ends with the code-switch sweep."""
        return self.full and not self.quick

    @property
    def ood_languages(self) -> list:
        """The Kolibri (out-of-domain) test languages of a resolved run (with ``quick``: those among its
        languages)."""
        return [lang for lang in KOLIBRI_LANGUAGES if lang in self.languages or not self.quick] if self.ood else []

    def system_models(self) -> dict:
        """System name -> the checkpoint behind it (an embedded name or a folder), systems left out dropped."""
        models = {**MODELS, **({} if self.full else dict.fromkeys(FULL_ONLY))}
        models.update({name: path for name, path in ((TEACHER, self.teacher), (STUDENT, self.student)) if path})
        if not self.codeswitch:
            models.update(dict.fromkeys(FULL_ONLY))
        return {name: m for name, m in {**models, **(self.models or {})}.items() if m is not None}

    def resolved(self, cli: bool = False) -> "DemoOptions":
        """These options with the run's size's defaults filled in, every value checked (a ValueError naming the
        option, as a keyword or with ``cli`` as a flag), before any model is loaded or folder made."""
        if self.quick and self.full:
            raise ValueError("choose quick or full, not both")
        defaults = {**{f.name: f.default for f in DEMO_FIELDS.values()}, **SIZES[self.size]}
        unset = {name: default for name, default in defaults.items() if getattr(self, name) is None}
        options = dataclasses.replace(self, **unset)
        options._check(cli)
        return dataclasses.replace(options, languages=tuple(map(_code, options.languages)),
                                   ratios=tuple(options.ratios),
                                   tune_depths=tuple(sorted({check_depth(d) for d in options.tune_depths})),
                                   rerank_depth=check_depth(options.rerank_depth),
                                   nmt_codes=nmt_codes(options.nmt_codes))

    def _check(self, cli: bool) -> None:
        """A ValueError for the first option that is out of range, names no language of the test splits or no
        model, or asks for a precision or backend this machine cannot run."""
        def name(field_name):
            return flag_of(field_name) if cli else field_name

        for lang in self.languages:
            if _code(lang) not in CHROMIUM_LANGUAGES:
                raise ValueError(f"{name('languages')}: {lang!r} is not a language of the Chromium test splits; "
                                 f"choose from {' '.join(CHROMIUM_LANGUAGES)}")
        for field_name in ("max_queries", "dev_queries", "sweep_queries", "rerank_depth"):
            check_positive_int(name(field_name), getattr(self, field_name))
        for depth in self.tune_depths:
            check_positive_int(name("tune_depths"), depth)
        for ratio in self.ratios:
            check_ratio(ratio)
        nmt_codes(self.nmt_codes)
        resolve_backend(self.backend, resolve_precision(self.precision, infer_device(None)), None)
        for system, model in self.system_models().items():
            _check_model(name(_MODEL_FIELDS.get(system, "models")), model, embedded=True)
        _check_model(name("dense"), self.dense, embedded=False)
        if self.nmt:
            _check_model(name("nmt"), self.nmt, embedded=False, complete=False)

    def notes(self) -> list:
        """The report's notes on what this (resolved) run covered and left out."""
        left_out = [] if self.full else ["Left out of this run (`optical demo --full` runs them): the code-switch "
                                         "teacher, OPTICAL on it, and the code-switch sweep."]
        if self.quick:
            left_out.append(f"Quick run: {' and '.join(self.languages)} only, in and out of domain, "
                            f"{self.max_queries} queries each; a smoke test, too few queries for the significance "
                            "marks to mean much.")
        skipped = [] if self.nmt else ["The NMT translate-test pipeline was skipped: no translation model was given "
                                       "(`--nmt MODEL`; none is reachable offline)."]
        models = self.system_models()
        return [*left_out, *skipped, f"OPTICAL student: `{models.get(STUDENT)}`; teacher: `{models.get(TEACHER)}`.",
                f"Queries per language: {self.max_queries} (dev: up to {self.dev_queries} per language; rerank depths "
                f"tried: {', '.join(map(str, self.tune_depths))})"
                + (f", sweep: {self.sweep_queries} per ratio" if self.sweep else "") + f"; BM25 rerankers reorder the "
                f"top {self.rerank_depth}; first stages retrieve {FIRST_STAGE_DEPTH}."]


_MODEL_FIELDS = {TEACHER: "teacher", STUDENT: "student"}


def default_help(field_name: str) -> str:
    """The default of a field as its flag's help says it: ``default: 100; 30 with --quick`` for a default that
    depends on the run's size, ``default: 0 0.25 0.5 0.75 1``, or "" (a switch, or no default)."""
    f = DEMO_FIELDS[field_name]
    if field_name in SIZES["default"]:
        default = SIZES["default"][field_name]
        others = [f"{_words(SIZES[size][field_name])} with --{size}" for size in ("quick", "full")
                  if SIZES[size][field_name] != default]
        return f"default: {_words(default)}" + (f"; {', '.join(others)}" if others else "")
    return "" if f.default is None or isinstance(f.default, bool) else f"default: {_words(f.default)}"


def flag_of(field_name: str) -> str:
    """The command-line flag of a field of :class:`DemoOptions`."""
    return DEMO_FIELDS[field_name].metadata["flag"] or "--" + field_name.replace("_", "-")


def _code(lang) -> str | None:
    """The code of a language as the shipped collections name it (None for an unknown one)."""
    try:
        return language(lang).code
    except ValueError:
        return None


def _check_model(option_name: str, model, embedded: bool, complete: bool = True) -> None:
    """A ValueError when ``model`` is a path that does not exist, a folder without a complete model (with
    ``complete``) or, with ``embedded``, an unknown embedded reranker: said at once, not after minutes of loading
    the other models."""
    name = str(model)
    path = Path(name).expanduser()
    if path.exists():
        if complete:
            check_model_folder(path)
    elif embedded and name.startswith(EMBEDDED_PREFIX):
        from ..models.registry import EMBEDDED

        if name not in EMBEDDED:
            raise ValueError(f"{option_name}: no embedded reranker {name!r}; embedded: {', '.join(EMBEDDED)}")
    elif looks_like_path(name) and name not in (E5_SMALL, E5_SMALL_HUB_ID):
        kinds = "a model folder, a Hugging Face hub id or an embedded reranker" if embedded else \
            "a model folder or a Hugging Face hub id"
        raise ValueError(f"{option_name}: {name!r} does not exist (give {kinds})")


DEMO_FIELDS = {f.name: f for f in dataclasses.fields(DemoOptions)}


def _field_doc(name: str) -> str:
    """The docstring line of a field: its flag's help (a switch that defaults to True says what False does)."""
    f, said = DEMO_FIELDS[name], default_help(name)
    what = f"False (``{flag_of(name)}``): {f.metadata['help']}" if f.default is True else f.metadata["help"]
    return f"        {name}: {what}" + (f" ({said})" if said else "") + ".\n"


DemoOptions.__doc__ += "\n\n    Args:\n" + "".join(map(_field_doc, DEMO_FIELDS))
