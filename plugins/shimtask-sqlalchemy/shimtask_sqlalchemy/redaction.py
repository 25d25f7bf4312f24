"""Keeping secrets out of messages: a masked URI for people, and a scrubber for text.

Every message this plugin builds from a database or driver error goes through
:class:`Redactor` first, so a password cannot reach ``error.pb`` or a log even if
a driver quotes it (or the URI that holds it) back.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASK", "Redactor", "is_sensitive", "mask_uri"]

MASK = "***"

# connect arguments and URL query parameters whose values are credentials
_SENSITIVE = re.compile(r"pass|pwd|secret|token|credential|api_?key|private|auth",
                        re.IGNORECASE)
# scheme://user:password@ where the URI cannot be parsed as SQLAlchemy URL
_USERINFO = re.compile(r"(?P<head>[A-Za-z][\w+.-]*://[^:/@\s]*:)(?P<password>[^@\s]*)(?=@)")


def is_sensitive(name: str) -> bool:
    """Whether a connect argument or query parameter of this name holds a credential."""
    return bool(_SENSITIVE.search(name))


def mask_uri(uri: str) -> str:
    """The URI with its password (and credential-like query values) replaced by ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(uri)
    except (ArgumentError, ValueError, TypeError):
        return _USERINFO.sub(lambda m: m.group("head") + MASK, uri)
    sensitive = [v for k, value in url.query.items() if is_sensitive(k)
                 for v in ([value] if isinstance(value, str) else value)]
    return Redactor(sensitive)(url.render_as_string(hide_password=True))


def uri_secrets(uri: str) -> list[str]:
    """The credential values a URI holds: its password and credential-like query values."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    found: list[str] = []
    try:
        url = make_url(uri)
    except (ArgumentError, ValueError, TypeError):
        found += [m.group("password") for m in _USERINFO.finditer(uri)]
        return found
    if url.password:
        found.append(str(url.password))
    for key, value in url.query.items():
        if is_sensitive(key):
            found += [value] if isinstance(value, str) else list(value)
    return found


class Redactor:
    """Replaces every known secret in a text by ``***`` (also URL-quoted forms of it)."""

    __slots__ = ("_pattern",)

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms.update({secret, urllib.parse.quote(secret, safe=""),
                              urllib.parse.quote_plus(secret)})
        ordered = sorted(forms, key=len, reverse=True)  # longest first: no partial leftovers
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @classmethod
    def for_connection(cls, uri: str, connect_args: Mapping[str, Any],
                       secrets: Iterable[str]) -> Redactor:
        """A redactor for everything secret about one connection."""
        plain = [str(v) for k, v in connect_args.items() if is_sensitive(k) and v is not None]
        return cls([*secrets, *plain, *uri_secrets(uri)])

    def __call__(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)
