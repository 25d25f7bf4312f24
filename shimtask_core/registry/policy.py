"""Which executors a registry may use: allow/deny globs and conflict preferences.

The policy is applied to entry-point *records*, before anything is imported: a
denied plugin's code never runs. It comes from the registry's constructor
arguments, else from the environment (``SHIMTASK_ALLOW``, ``SHIMTASK_DENY``:
comma-separated globs; ``SHIMTASK_PREFER``: ``name=dist,...``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import final

from .. import settings
from .discovery import normalize_dist_name

ALLOW_ENV = settings.ALLOW
DENY_ENV = settings.DENY
PREFER_ENV = settings.PREFER


def matches(pattern: str, name: str, dist: str | None) -> bool:
    """A glob against the executor name (case sensitive) or the distribution name
    (both sides PEP 503-normalised, so ``Shimtask_SQL*`` matches ``shimtask-sqlite3``)."""
    import fnmatch  # only where a pattern is set: the common policy has none

    if fnmatch.fnmatchcase(name, pattern):
        return True
    return dist is not None and fnmatch.fnmatchcase(normalize_dist_name(dist),
                                                    normalize_dist_name(pattern))


@final
class Policy:
    """Allow/deny globs (``allow=None``: everything not denied) and, per executor name,
    the distribution that wins a conflict. A class with slots: a ``typing.NamedTuple``
    costs ~0.2 ms to build at import, on every cold start."""

    __slots__ = ("allow", "deny", "prefer")

    def __init__(self, allow: tuple[str, ...] | None = None, deny: tuple[str, ...] = (),
                 prefer: Mapping[str, str] = MappingProxyType({})) -> None:
        self.allow = allow
        self.deny = deny
        self.prefer = prefer

    def __repr__(self) -> str:
        return f"Policy(allow={self.allow!r}, deny={self.deny!r}, prefer={self.prefer!r})"

    @classmethod
    def from_env(
        cls,
        allow: Sequence[str] | None = None,
        deny: Sequence[str] | None = None,
        prefer: Mapping[str, str] | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> Policy:
        """The arguments given; each one not given is read from its environment variable
        (by :mod:`shimtask_core.settings`: a malformed value is a warning, not ignored)."""
        if allow is None:
            allow = settings.globs(ALLOW_ENV, environ)
        if deny is None:
            deny = settings.globs(DENY_ENV, environ) or []
        return cls(
            tuple(allow) if allow is not None else None,
            tuple(deny),
            dict(prefer) if prefer is not None else settings.pairs(PREFER_ENV, environ),
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
