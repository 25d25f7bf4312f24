"""Flyte secrets, read the way flytekit reads the ones Flyte mounts into a task's pod.

flytekit's ``SQLAlchemyTask`` serializes ``secret_connect_args`` as
``{connect_arg: {"group", "key", "group_version", "mount_requirement"}}``; at run
time each named secret becomes that connect argument. Flyte injects a secret
as the environment variable ``_FSEC_<GROUP>_<KEY>`` (upper case) or as the file
``/etc/secrets/<group>/<key>`` (lower case); the environment wins, and the value
is stripped of surrounding whitespace, as flytekit's ``SecretsManager`` does. Its
settings ``FLYTE_SECRETS_ENV_PREFIX``, ``FLYTE_SECRETS_DEFAULT_DIR`` and
``FLYTE_SECRETS_FILE_PREFIX`` are honoured too. Values never appear in messages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shimtask_core import TemplateError

__all__ = ["SecretNotFound", "SecretRef", "parse_secret_connect_args", "read_secret"]

_ENV_PREFIX = "_FSEC_"
_DEFAULT_DIR = os.path.join(os.sep, "etc", "secrets")


class SecretNotFound(Exception):
    """A secret the template names is mounted neither as an environment variable nor a file."""

    def __init__(self, ref: SecretRef, connect_arg: str, env_var: str, path: str) -> None:
        self.ref = ref
        self.connect_arg = connect_arg
        self.env_var = env_var
        self.path = path
        super().__init__(
            f"secret {ref.describe()} for connect argument {connect_arg!r} is not mounted: "
            f"neither the environment variable {env_var} nor the file {path} exists (request "
            f"it on the task with secret_requests=[Secret(group=..., key=...)])")


@dataclass(frozen=True)
class SecretRef:
    """Where Flyte mounts one secret: its group and key (flytekit's ``Secret``)."""

    group: str | None
    key: str | None

    def describe(self) -> str:
        return " ".join(f"{name}={value!r}" for name, value in
                        (("group", self.group), ("key", self.key)) if value)

    def env_var(self, prefix: str = _ENV_PREFIX) -> str:
        return prefix + "_".join(part.upper() for part in (self.group, self.key) if part)

    def file_path(self, base_dir: str = _DEFAULT_DIR, file_prefix: str = "") -> str:
        parts = [part.lower() for part in (self.group, self.key) if part]
        parts[-1] = file_prefix + parts[-1]
        return os.path.join(base_dir, *parts)


def parse_secret_connect_args(raw: Any, *, source: str | None = None) -> dict[str, SecretRef]:
    """``custom["secret_connect_args"]`` as ``{connect_arg: SecretRef}`` (None: no secrets)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise TemplateError(
            f"custom['secret_connect_args'] must be a mapping of connect argument to "
            f"{{group, key}}, got {type(raw).__name__}", source=source)
    refs = {}
    for arg, spec in raw.items():
        if not isinstance(spec, Mapping):
            raise TemplateError(
                f"custom['secret_connect_args'][{arg!r}] must be a mapping with 'group' and "
                f"'key', got {type(spec).__name__}", source=source)
        group, key = spec.get("group"), spec.get("key")
        if not (isinstance(key, str) and key) or not (group is None or isinstance(group, str)):
            raise TemplateError(
                f"custom['secret_connect_args'][{arg!r}] needs a non-empty string 'key' and a "
                f"string 'group' (flytekit's Secret(group=..., key=...))", source=source)
        refs[str(arg)] = SecretRef(group or None, key)
    return refs


def read_secret(ref: SecretRef, connect_arg: str,
                environ: Mapping[str, str] | None = None) -> str:
    """The secret's value: the environment variable first, then the mounted file."""
    env = os.environ if environ is None else environ
    env_var = ref.env_var(env.get("FLYTE_SECRETS_ENV_PREFIX", _ENV_PREFIX).strip())
    value = env.get(env_var)
    if value is not None:
        return value.strip()
    path = ref.file_path(env.get("FLYTE_SECRETS_DEFAULT_DIR", _DEFAULT_DIR).strip(),
                         env.get("FLYTE_SECRETS_FILE_PREFIX", "").strip())
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except FileNotFoundError:
        raise SecretNotFound(ref, connect_arg, env_var, path) from None
