"""Moved to :mod:`shimtask_core.registry.discovery`; this path keeps working."""

from .registry.discovery import (
    API_KEYWORD,
    EXECUTOR_GROUP,
    PLUGIN_GROUP,
    VERSIONS_KEYWORD,
    EntryPointRecord,
    files_key,
    normalize_dist_name,
    parse_declarations,
    parse_entry_points,
    parse_version_set,
    path_key,
    scan_path,
)

__all__ = [
    "API_KEYWORD",
    "EXECUTOR_GROUP",
    "PLUGIN_GROUP",
    "VERSIONS_KEYWORD",
    "EntryPointRecord",
    "files_key",
    "normalize_dist_name",
    "parse_declarations",
    "parse_entry_points",
    "parse_version_set",
    "path_key",
    "scan_path",
]
