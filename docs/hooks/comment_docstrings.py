"""griffe extension: an attribute's ``#:`` comment is its docstring, as in Sphinx autodoc.

The core documents constants and fields with ``#:`` comments (``API_VERSION``,
``EXECUTOR_GROUP``, ``ERROR_KINDS``, a dataclass field's trailing ``#:``), which
``help()`` never shows and griffe does not read. Without a docstring such an
attribute is left out of the API page (or, under ``members: true``, shown bare
with the module's private helpers). This gives each one the text of the ``#:``
lines right above its assignment, or of a ``#:`` at the end of its line.
"""

from __future__ import annotations

from typing import Any

import griffe

_MARK = "#:"


def comment_above(lines: list[str], lineno: int) -> str | None:
    """The ``#:`` lines directly above line ``lineno`` (1-based), joined; else the
    trailing ``#:`` of that line; else None."""
    found: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].lstrip().startswith(_MARK):
        found.insert(0, lines[index].lstrip()[len(_MARK):].strip())
        index -= 1
    if found:
        return " ".join(found)
    line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    code, mark, text = line.partition(_MARK)
    if mark and code.strip() and text.strip():
        return text.strip()
    return None


class CommentDocstrings(griffe.Extension):
    def on_attribute_instance(self, *, node: Any, attr: griffe.Attribute,
                              agent: Any, **kwargs: Any) -> None:
        if attr.docstring is not None or attr.lineno is None:
            return
        try:
            lines = attr.lines_collection[attr.filepath]  # the module's source, as griffe read it
        except (KeyError, TypeError):
            return
        text = comment_above(lines, attr.lineno)
        if text:
            attr.docstring = griffe.Docstring(text, lineno=attr.lineno, parent=attr)
