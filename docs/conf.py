"""Sphinx configuration for the flask-fhir-cors documentation.

Build with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
The build needs no network, because intersphinx is not enabled. References to
the Python standard library and to Flask are therefore plain text.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Import the package from this checkout even when it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flask_fhir_cors  # noqa: E402

project = "flask-fhir-cors"
author = "flask-fhir-cors contributors"
copyright = "flask-fhir-cors contributors"
release = flask_fhir_cors.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build"]

html_theme = "furo"
html_title = f"flask-fhir-cors {release}"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
