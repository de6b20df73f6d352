"""Sphinx configuration: ``pip install -e '.[docs]'`` then
``sphinx-build -W -b html docs docs/_build/html``."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

from bitrix_fast.__version__ import __version__  # noqa: E402

project = "bitrix_fast"
author = "bitrix_fast developers"
copyright = "2026, bitrix_fast developers"
release = version = __version__

extensions = ["sphinx.ext.autodoc", "bitrix_docs"]
exclude_patterns = ["_build", "benchmarks/data", "Thumbs.db", ".DS_Store"]
language = "en"
root_doc = "index"

html_theme = "furo"
html_title = f"bitrix_fast {release}"
html_static_path = ["_static"]
html_css_files = ["wide-tables.css"]
html_theme_options = {"navigation_with_keys": True}
pygments_style = "friendly"
pygments_dark_style = "monokai"

# The API reference imports the package. Redis and psycopg are optional extras: the pages
# build without them.
autodoc_mock_imports = ["redis", "psycopg"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": True}
autoclass_content = "class"
smartquotes = False  # option names (--output) and JSON quotes must stay as typed
