"""Which executors a registry may use: allow/deny globs and conflict preferences.

The policy is applied to entry-point *records*, before anything is imported: a
denied plugin's code never runs. It comes from the registry's constructor
arguments, else from the environment (``SHIMTASK_ALLOW``, ``SHIMTASK_DENY``:
comma-separated globs; ``SHIMTASK_PREFER``: ``name=dist,...``).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple, final

from .discovery import normalize_dist_name

ALLOW_ENV = "SHIMTASK_ALLOW"
DENY_ENV = "SHIMTASK_DENY"
PREFER_ENV = "SHIMTASK_PREFER"


def split_env(value: str | None) -> list[str] | None:
    """``"a, b;c"`` -> ``["a", "b", "c"]``; None for an unset or blank variable."""
    if value is None or not value.strip():
        return None
    return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]


def parse_prefer(value: str | None) -> dict[str, str]:
    """``"sqlite=shimtask-sqlite3,..."`` -> ``{"sqlite": "shimtask-sqlite3"}``; items
    without ``=`` are ignored."""
    prefer = {}
    for item in split_env(value) or []:
        name, sep, dist = item.partition("=")
        if sep:
            prefer[name.strip()] = dist.strip()
    return prefer


def matches(pattern: str, name: str, dist: str | None) -> bool:
    """A glob against the executor name (case sensitive) or the distribution name
    (both sides PEP 503-normalised, so ``Shimtask_SQL*`` matches ``shimtask-sqlite3``)."""
    if fnmatch.fnmatchcase(name, pattern):
        return True
    return dist is not None and fnmatch.fnmatchcase(normalize_dist_name(dist),
                                                    normalize_dist_name(pattern))


@final
class Policy(NamedTuple):
    """Allow/deny globs (``allow=None``: everything not denied) and, per executor name,
    the distribution that wins a conflict."""

    allow: tuple[str, ...] | None = None
    deny: tuple[str, ...] = ()
    prefer: Mapping[str, str] = MappingProxyType({})

    @classmethod
    def from_env(
        cls,
        allow: Sequence[str] | None = None,
        deny: Sequence[str] | None = None,
        prefer: Mapping[str, str] | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> Policy:
        """The arguments given; each one not given is read from its environment variable."""
        if allow is None:
            allow = split_env(environ.get(ALLOW_ENV))
        if deny is None:
            deny = split_env(environ.get(DENY_ENV)) or []
        return cls(
            tuple(allow) if allow is not None else None,
            tuple(deny),
            dict(prefer) if prefer is not None else parse_prefer(environ.get(PREFER_ENV)),
        )

    @property
    def restricts(self) -> bool:
        """Whether any executor can be denied at all (the common case is no)."""
        return bool(self.deny) or self.allow is not None

    def denial(self, name: str, dist: str | None = None) -> str | None:
        """Why the policy excludes this executor (or distribution), or None if it does not."""
        for pattern in self.deny:
            if matches(pattern, name, dist):
                return f"it matches deny pattern {pattern!r}"
        if self.allow is not None and not any(matches(p, name, dist) for p in self.allow):
            return f"it matches no allow pattern ({', '.join(self.allow)})"
        return None
