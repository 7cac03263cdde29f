"""The documentation is checked: the Sphinx docs build with warnings as errors, every Python snippet of the README and
the docs runs (page by page, in order, one namespace per page), and the first-steps notebook executes."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN = re.compile(r"<!-- not run: (?P<why>[^>]+) -->\s*$")
SNIPPET = re.compile(r"^```python\n(?P<code>.*?)^```", re.S | re.M)


def snippets(page: Path) -> list:
    """``(line, code, why_not_run)`` of each Python block of ``page``; a block is not run only when the line before it
    says why (``<!-- not run: needs the network -->``)."""
    text = page.read_text(encoding="utf-8")
    out = []
    for match in SNIPPET.finditer(text):
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = NOT_RUN.search(before)
        out.append((text[:match.start()].count("\n") + 1, match["code"], marker["why"] if marker else None))
    return out


def test_the_docs_build_with_warnings_as_errors(tmp_path):
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(ROOT / "docs"),
                           str(tmp_path / "html")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "html" / "api.html").read_text(encoding="utf-8").count("OpticalReranker") > 3
    assert "--retrain" in (tmp_path / "html" / "cli.html").read_text(encoding="utf-8")  # generated from argparse


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_python_snippet_of_the_page_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"snippets of {page.name}"}
    for line, code, why_not in snippets(page):
        if why_not:
            assert len(why_not.strip()) > 10, f"{page.name}:{line}: say why the snippet is not run"
            continue
        try:
            exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"the snippet at {page.name}:{line} no longer runs: {e!r}") from e


def test_the_first_steps_notebook_runs(tmp_path, monkeypatch):
    import nbclient
    import nbformat

    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the kernel's tempfile.mkdtemp() (the notebook's indexes) lands here

    notebook = nbformat.read(ROOT / "examples" / "first_steps.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3").execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the plot
    table = next(o for o in outputs if "text/html" in o.get("data", {}) and "p_corrected" in o["data"]["text/html"])
    assert "mE5 + OPTICAL" in table["data"]["text/html"]


def test_the_readme_headline_is_what_check_headline_compares_runs_with(tmp_path):
    """The README's demo tables parse as the demo writes them (so ``benchmarks/check_headline.py`` can hold every
    machine's run to them), and a run that differs beyond the tolerance fails the check, naming the cell."""
    script = ROOT / "benchmarks" / "check_headline.py"
    section = (ROOT / "README.md").read_text().split("## What the demo finds", 1)[1].split("\n## ", 1)[0]
    tables = [line for line in section.splitlines() if line.startswith("|")]
    run = tmp_path / "demo"
    run.mkdir()
    rows = ["| lang |" + line.split("|", 2)[2] if "domain" in line else line for line in tables]
    (run / "headline.md").write_text("\n".join(rows[:6] + [""] + rows[6:]))
    same = subprocess.run([sys.executable, str(script), str(run)], capture_output=True, text=True)
    assert same.returncode == 0 and "largest difference 0.000" in same.stdout, same.stdout + same.stderr
    sw = next(i for i, row in enumerate(rows) if row.startswith("| sw |"))
    cells = rows[sw].split("|")
    cells[3] = " 0.850 " if "0.850" not in cells[3] else " 0.900 "
    rows[sw] = "|".join(cells)
    (run / "headline.md").write_text("\n".join(rows[:6] + [""] + rows[6:]))
    moved = subprocess.run([sys.executable, str(script), str(run)], capture_output=True, text=True)
    assert moved.returncode == 1 and "sw, column 2: run" in moved.stdout, moved.stdout
    others = subprocess.run([sys.executable, str(script), str(run), "--columns", "1", "3", "4"], capture_output=True,
                            text=True)
    assert others.returncode == 0 and "columns 1 3 4, largest difference 0.000" in others.stdout, others.stdout
