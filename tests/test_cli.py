import dataclasses
import json
import logging
import os
from pathlib import Path

import pytest

from pyterrier_optical.cli import build_parser, count, main, recipe_fields, recipe_from_args
from pyterrier_optical.data.bitext import load_bitext
from pyterrier_optical.models.checkpoint import read_metadata
from pyterrier_optical.models.recipes import STUDENT, TEACHER


def test_distill_cli_reports_bad_lines_and_can_skip_them(tiny_model_dir, tmp_path, capsys):
    pairs = tmp_path / "pairs.tsv"
    good = "".join(f"{en}\t{x}\n" for en, x in load_bitext("sw", "train")[:16])
    pairs.write_bytes(good.encode() + b"only one column\n" + b"bad\t\xff\n")
    args = ["distill", "--teacher", str(tiny_model_dir), "--bitext", str(pairs), "--out", str(tmp_path / "s"),
            "--steps", "2", "--batch-size", "4", "--align-layer", "1", "--quiet", "--device", "cpu"]
    assert main(args) == 2
    assert "pairs.tsv:17: expected 2 tab-separated fields" in capsys.readouterr().err
    assert main(args + ["--skip-bad-lines"]) == 0
    meta = read_metadata(tmp_path / "s")
    assert meta["bitext_pairs"] == 16 and meta["role"] == "student"
    assert meta["training"]["steps"] == 2 and meta["distillation"]["align_layer"] == 1
    assert meta["distillation"]["epsilon"] == STUDENT.distillation.epsilon  # not given: the recipe's


def test_unknown_model_path_is_an_error_not_a_trace(tmp_path, capsys):
    args = ["distill", "--teacher", str(tmp_path / "none"), "--languages", "sw", "--out", str(tmp_path / "o")]
    assert main(args) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("command,recipe", [("train-teacher", TEACHER), ("distill", STUDENT)])
def test_every_recipe_field_is_a_flag_and_the_defaults_are_the_recipe(command, recipe):
    extra = ["--teacher", "t"] if command == "distill" else []
    args = build_parser().parse_args([command, "--out", "o", *extra])
    assert recipe_from_args(args, recipe) == recipe
    helps = build_parser()._subparsers._group_actions[0].choices[command].format_help()
    for path, field, default in recipe_fields(recipe):
        flag = "--" + field.name.replace("_", "-")
        assert flag in helps, flag


def test_flags_override_the_config_file_and_say_so(tmp_path, caplog):
    config = tmp_path / "recipe.json"
    config.write_text(json.dumps({"training": {"steps": 7, "lr": 1e-4}, "distillation": {"epsilon": 0.2},
                                  "eval_every": 5}), encoding="utf-8-sig")  # a BOM is fine
    args = build_parser().parse_args(["distill", "--teacher", "t", "--out", "o", "--config", str(config),
                                      "--steps", "9", "--no-freeze-upper", "--languages", "sw", "de"])
    with caplog.at_level(logging.WARNING):
        recipe = recipe_from_args(args, STUDENT)
    assert recipe.training.steps == 9 and "steps is given in" in caplog.text
    assert recipe.training.lr == 1e-4 and recipe.distillation.epsilon == 0.2 and recipe.eval_every == 5
    assert recipe.distillation.freeze_upper is False and recipe.languages == ("sw", "de")
    assert dataclasses.replace(recipe, training=STUDENT.training, distillation=STUDENT.distillation,
                               eval_every=STUDENT.eval_every, languages=STUDENT.languages) == STUDENT


def test_bad_config_files_are_refused(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"steps": 3,\n "nonsense": 1}')
    assert main(["train-teacher", "--out", str(tmp_path / "o"), "--config", str(bad)]) == 2
    assert "unknown recipe field 'nonsense'" in capsys.readouterr().err
    bad.write_text('{"steps": 3,\n oops}')
    assert main(["train-teacher", "--out", str(tmp_path / "o"), "--config", str(bad)]) == 2
    assert "bad.json:2: not valid JSON" in capsys.readouterr().err


def test_build_refuses_unknown_names(capsys):
    with pytest.raises(SystemExit):
        main(["build", "optical-nonsense"])
    assert "invalid choice: 'optical-nonsense'" in capsys.readouterr().err


def test_demo_takes_int8_and_the_openvino_backend_and_refuses_a_backend_that_cannot_run_first(tmp_path, capsys):
    args = build_parser().parse_args(["demo", "--precision", "int8", "--backend", "openvino"])
    assert (args.precision, args.backend) == ("int8", "openvino")
    assert main(["demo", "--out", str(tmp_path / "demo"), "--precision", "int8", "--backend", "torch", "--quiet"]) == 2
    assert "precision 'int8' runs on backend='openvino'" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()  # refused before any work


def commands() -> dict:
    """Every command of ``optical``, aliases included: name -> its parser."""
    return dict(build_parser()._subparsers._group_actions[0].choices)


# the arguments each command needs to start; a command missing here fails the test below
ARGUMENTS = {"experiment": ["--quick"], "demo": ["--quick"], "build": ["optical-teacher"], "export": [],
             "convert-backbone": [], "train-teacher": [], "distill": ["--teacher", "optical-teacher"], "languages": []}


def test_every_command_declares_whether_it_writes_under_the_home():
    assert set(commands()) == set(ARGUMENTS), "a new command: add it to ARGUMENTS"
    for name, parser in commands().items():
        assert isinstance(parser.get_default("writes_home"), bool), name
        assert parser.get_default("func") is not None, name


def count_flags():
    """(command, flag) of every option that takes a count (``cli.count``), in every command; the recipes' and the
    demo's numbers are checked by their own fields."""
    for name, parser in commands().items():
        for action in parser._actions:
            if action.option_strings and action.type is count:
                yield name, action.option_strings[-1]


@pytest.mark.parametrize("command, flag", list(count_flags()))
def test_every_count_flag_refuses_zero_and_negatives_naming_it_before_any_work(command, flag, capsys):
    for value in ("0", "-1", "two"):
        with pytest.raises(SystemExit) as stopped:
            main([command, *ARGUMENTS[command], flag, value])
        assert stopped.value.code == 2
        err = capsys.readouterr().err
        assert f"argument {flag}: " in err and value in err, err


@pytest.fixture(params=["file", "read-only folder"])
def unwritable_home(request, tmp_path):
    """(the folder named in the error, an OPTICAL_HOME below it no one can write): below a file, or below a
    read-only folder (chmod for a user; root writes where chmod forbids, so root gets /proc/self)."""
    if request.param == "file":
        home = tmp_path / "home"
        home.write_text("a file, not a folder")
        return home, home / "cache"
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        request.addfinalizer(lambda: folder.chmod(0o755))
        return folder, folder / "cache"
    return Path("/proc/self"), Path("/proc/self/cache")


@pytest.mark.parametrize("command", ARGUMENTS)
def test_every_command_that_writes_under_the_home_refuses_an_unwritable_one_before_any_work(
        command, unwritable_home, tmp_path, monkeypatch, capsys):
    import pyterrier_optical.cli as cli

    folder, home = unwritable_home
    if not commands()[command].get_default("writes_home"):
        pytest.skip(f"{command} writes nothing under the home")
    monkeypatch.setenv("OPTICAL_HOME", str(home))
    for name in dir(cli):
        if name.startswith("cmd_"):
            monkeypatch.setattr(cli, name, lambda args: pytest.fail("the command started its work"))
    out = ["--out", str(tmp_path / "out")] if "--out" in commands()[command].format_help() else []
    assert main([command, *ARGUMENTS[command], *out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"optical {command}: error: {folder} is ")
    assert f"(needed for {home})" in err
    assert not (tmp_path / "out").exists()


def test_a_full_disk_names_the_path_and_the_space(monkeypatch, capsys):
    import errno

    import pyterrier_optical.cli as cli

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/tmp/x/model.safetensors")

    monkeypatch.setattr(cli, "cmd_build", full)
    assert main(["build", "optical-teacher"]) == 1
    err = capsys.readouterr().err
    assert "no space left on the device while writing /tmp/x/model.safetensors" in err and "MiB free" in err


@pytest.mark.parametrize("flags, message", [
    (["--languages", "xx"], "--languages: 'xx' is not a language of the Chromium test splits"),
    (["--languages", "sw", "yo"], "--languages: 'yo' is not a language of the Chromium test splits"),
    (["--teacher", "/nonexistent"], "--teacher: '/nonexistent' does not exist"),
    (["--student", "optical-nonsense"], "--student: no embedded reranker 'optical-nonsense'"),
    (["--max-queries", "0"], "--max-queries must be an integer >= 1, got 0"),
    (["--ratios", "0", "2"], "code-switch ratio p must be in [0, 1], got 2.0"),
    (["--nmt-code", "sw"], "--nmt-code takes LANG=CODE pairs (e.g. sw=swh_Latn), got sw"),
])
def test_demo_arguments_are_refused_before_any_model_loads_and_leave_no_out_folder(flags, message, tmp_path,
                                                                                    monkeypatch, capsys):
    import pyterrier_optical.experiment.demo as demo

    monkeypatch.setattr(demo, "load_demo", lambda *a: pytest.fail("models loaded before the arguments were checked"))
    assert main(["demo", *flags, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_every_demo_option_is_a_flag_whose_default_is_the_options_default():
    from pyterrier_optical.experiment.demo_options import DEMO_FIELDS, DemoOptions, flag_of

    args = build_parser().parse_args(["demo"])
    cli_fields = [name for name, f in DEMO_FIELDS.items() if f.metadata["cli"]]
    assert DemoOptions(**{name: getattr(args, name) for name in cli_fields}) == DemoOptions()
    helps = commands()["demo"].format_help()
    for name in cli_fields:
        assert flag_of(name) in helps, name
    assert "(default: 100; 30 with --quick)" in " ".join(helps.split())  # the size's defaults, from the options
    assert "(default: 0 0.25 0.5 0.75 1)" in " ".join(helps.split())
    assert build_parser().parse_args(["demo", "--quiet", "--no-ood"]).verbose is False
    assert build_parser().parse_args(["-v", "demo"]).log_details  # optical's -v is not the demo's verbose


def test_train_teacher_names_an_unknown_ir_datasets_id_and_the_closest_known_ones(tmp_path, capsys):
    assert main(["train-teacher", "--out", str(tmp_path / "t"), "--irds", "msmarco-pasage/train/triples-small",
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert ("unknown dataset id 'msmarco-pasage/train/triples-small'; closest: "
            "msmarco-passage/train/triples-small") in err
    assert "downloaded" not in err and not (tmp_path / "t").exists()
