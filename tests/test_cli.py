import json

from pyterrier_optical.bitext import load_bitext
from pyterrier_optical.cli import main


def test_distill_cli_reports_bad_lines_and_can_skip_them(tiny_model_dir, tmp_path, capsys):
    pairs = tmp_path / "pairs.tsv"
    good = "".join(f"{en}\t{x}\n" for en, x in load_bitext("sw", "train")[:16])
    pairs.write_bytes(good.encode() + b"only one column\n" + b"bad\t\xff\n")
    args = ["distill", "--teacher", str(tiny_model_dir), "--bitext", str(pairs), "--out", str(tmp_path / "s"),
            "--steps", "2", "--batch-size", "4", "--align-layer", "1", "--quiet", "--device", "cpu"]
    assert main(args) == 2
    assert "pairs.tsv:17: expected 2 tab-separated fields" in capsys.readouterr().err
    assert main(args + ["--skip-bad-lines"]) == 0
    meta = json.loads((tmp_path / "s" / "optical.json").read_text())
    assert meta["bitext_pairs"] == 16 and meta["role"] == "student"


def test_unknown_model_path_is_an_error_not_a_trace(tmp_path, capsys):
    assert main(["distill", "--teacher", str(tmp_path / "none"), "--lang", "sw", "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
