"""Sphinx configuration: MyST Markdown pages, numpydoc API reference, offline build."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import fercls  # noqa: E402

project = "fercls"
author = "the fercls developers"
copyright = "2026, the fercls developers"
release = version = fercls.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autosummary_generate = True
# scikit-learn's generated metadata-routing setters cross-reference its own
# glossary, which an offline build cannot resolve; they are documented there.
autodoc_default_options = {
    "members": True,
    "inherited-members": False,
    "exclude-members": ", ".join(
        f"set_{method}_request"
        for method in ("fit", "partial_fit", "score", "predict", "predict_proba", "transform")
    ),
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# The docs build must work offline: no intersphinx inventories are fetched.

html_theme = "alabaster"
html_title = f"fercls {release}"
html_theme_options = {"description": "Facial emotion recognition as a scikit-learn estimator"}
html_static_path = ["_static"]
html_css_files = ["custom.css"]  # wrap code and sidebar titles (alabaster scrolls them)
