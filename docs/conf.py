"""Sphinx configuration of the bionmf documentation.

Build (from the repository root; warnings are errors, tutorials are executed):

    python3 -m sphinx -W --keep-going -b html docs docs/_build/html

Nothing is downloaded at build time: no intersphinx inventories, no remote images, and the
tutorials read the bundled Golub data and the pbmc3k file of ``../shared/data`` (or
``$BIONMF_DATA``).
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
# Document this checkout, not whichever bionmf is installed.
sys.path.insert(0, str(REPO))
# ... and so do the kernels that execute the tutorials (they inherit the environment).
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))

import bionmf  # noqa: E402

project = "bionmf"
author = "the bionmf authors"
copyright = "the bionmf authors"  # noqa: A001  (Sphinx's name)
release = bionmf.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "myst_nb",
]

# --- pages --------------------------------------------------------------------------------------
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "jupyter_execute"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# --- API reference ------------------------------------------------------------------------------
# One page per public subpackage, listing every name of its __all__; a function added to a
# subpackage appears here without editing the docs.
API_MODULES = {
    "io": "Reading and writing",
    "datasets": "Data sets",
    "pp": "Preprocessing",
    "tl": "Tools",
    "pl": "Plotting",
}
autosummary_generate = True
# classes with their documented members on one page (docs/_templates/autosummary/class.rst)
templates_path = ["_templates"]
autodoc_typehints = "none"  # the numpydoc sections say the types in words
autodoc_member_order = "bysource"
# show defaults as written (sentinels would print as <object object at 0x...>)
autodoc_preserve_defaults = True
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_param = True


# A broken cross-reference to bionmf is an error (with -W); names of other libraries are left
# as text because no inventory of theirs is fetched.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(scanpy|sc|sklearn)\..*"),
    # names in private modules (bionmf.tl._components...) are not documented
    (r"py:.*", r"bionmf\.(.*\.)?_[a-z].*"),
    (r"py:.*", r"(numpy|np|pandas|pd|anndata|ad|scipy|matplotlib|seaborn|typing|collections)\b.*"),
    (r"py:.*", r"(AnnData|DataFrame|Series|Figure|Axes|ndarray|Path|Iterable|Sequence|Mapping)"),
]


def _write_api_pages() -> None:
    """docs/api/<name>.rst for every subpackage of API_MODULES, from its __all__."""
    api = DOCS / "api"
    api.mkdir(exist_ok=True)
    # autosummary's stubs of names that left __all__ would linger, and fail to import
    shutil.rmtree(api / "generated", ignore_errors=True)
    for name, title in API_MODULES.items():
        module = importlib.import_module(f"bionmf.{name}")
        public = sorted(module.__all__, key=str.lower)
        heading = f"``bionmf.{name}``: {title}"
        lines = [
            ".. This page is written by docs/conf.py from the module's __all__; do not edit.",
            "",
            heading,
            "=" * len(heading),
            "",
            f".. automodule:: bionmf.{name}",
            "   :no-members:",
            "",
            f".. currentmodule:: bionmf.{name}",
            "",
            ".. autosummary::",
            "   :toctree: generated",
            "   :nosignatures:",
            "",
            *(f"   {member}" for member in public),
            "",
        ]
        text = "\n".join(lines)
        page = api / f"{name}.rst"
        # rewriting an unchanged page would make Sphinx re-read it on every build
        if not page.exists() or page.read_text() != text:
            page.write_text(text)


_write_api_pages()

# --- tutorials ----------------------------------------------------------------------------------
# Executed on every build, so the outputs always come from the code in this checkout; a cell
# that raises fails the build.
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 900
nb_merge_streams = True
nb_execution_excludepatterns = ["tutorials/workflow.md"]

# --- HTML ---------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"bionmf {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
