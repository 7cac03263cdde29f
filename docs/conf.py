"""Sphinx configuration of the pyterrier-optical documentation (MyST Markdown pages, API from the docstrings).

    python -m sphinx -W -b html docs docs/_build     # warnings are errors, as in tests/test_docs.py
"""
import pyterrier_optical

project = "pyterrier-optical"
author = "the pyterrier-optical developers"
release = version = pyterrier_optical.__version__
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinxarg.ext"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"pyterrier-optical {release}"
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
suppress_warnings = ["myst.domains"]  # sphinx-argparse has no resolve_any_xref; broken references still fail



def _init_signature(app, what, name, obj, options, signature, return_annotation):
    """Classes show their constructor's parameters: PyTerrier's ``Transformer.__new__(*args, **kwargs)`` would
    hide them."""
    import inspect

    if what == "class" and "__init__" in vars(obj):
        parameters = list(inspect.signature(obj.__init__).parameters.values())[1:]
        return str(inspect.Signature(parameters)), return_annotation
    return signature, return_annotation


def setup(app):
    app.connect("autodoc-process-signature", _init_signature)
