import dataclasses
import json
import logging

import pytest

from pyterrier_optical.cli import build_parser, main, recipe_fields, recipe_from_args
from pyterrier_optical.data.bitext import load_bitext
from pyterrier_optical.rerank.checkpoint import read_metadata
from pyterrier_optical.train.config import STUDENT, TEACHER


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
