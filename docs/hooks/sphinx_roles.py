"""mkdocs hook: Sphinx cross-reference roles in docstrings read as plain code.

The core's docstrings say ``:class:`ExecutorRegistry``` and
``:meth:`~ExecutorRegistry.resolve``` (readable in ``help()`` and an editor);
mkdocstrings renders them as the role's text followed by code. This drops the
role, and the ``~`` of a shortened reference keeps only the last name, as Sphinx
shows it.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|mod|attr|data|exc|obj|const):<code>(~?)([^<]*)"
                   r"</code>")


def _plain(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"<code>{target.rsplit('.', 1)[-1] if short else target}</code>"


def on_page_content(html: str, **_: Any) -> str:
    return _ROLE.sub(_plain, html)
