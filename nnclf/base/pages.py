"""Self-contained HTML pages: a template shipped with nnclf, its data embedded as JSON.

A template holds one ``/*DATA*/`` inside a ``<script>``; :func:`write_page` puts the data
there as JSON that cannot end the script early, and writes the page atomically.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from nnclf.base.outputs import atomic_write

__all__ = ["template", "embed", "write_page"]


def template(package: str, name: str) -> str:
    """The page template ``templates/NAME`` shipped in ``package`` (e.g. ``nnclf.graph``)."""
    return resources.files(package).joinpath("templates", name).read_text(encoding="utf-8")


def embed(page: str, data: dict) -> str:
    """``page`` with its ``/*DATA*/`` replaced by ``data`` as JSON safe inside a script tag."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return page.replace("/*DATA*/", text.replace("</", "<\\/"), 1)


def write_page(path, page: str) -> Path:
    """Write the HTML text ``page`` to ``path`` atomically; returns the path written."""
    return atomic_write(path, lambda f: f.write(page.encode("utf-8")))
