"""Moved to :mod:`shimtask_core.registry.index`; this path keeps working."""

from .registry.index import (
    CACHE_DIR_ENV,
    INDEX_FORMAT,
    MAX_INDEX_FILES,
    NO_INDEX_ENV,
    IndexState,
    cache_dir,
    clear,
    index_enabled,
    index_file,
    load,
)

__all__ = [
    "CACHE_DIR_ENV",
    "INDEX_FORMAT",
    "MAX_INDEX_FILES",
    "NO_INDEX_ENV",
    "IndexState",
    "cache_dir",
    "clear",
    "index_enabled",
    "index_file",
    "load",
]
