"""Fixtures for every test in the repository: the core's (tests/) and each plugin's
(plugins/<dist>/tests/), so no test reads or writes the user's cache or policy."""

from __future__ import annotations

import pytest

#: Variables that change what a registry sees; a developer's shell must not leak them in.
POLICY_VARIABLES = ("SHIMTASK_ALLOW", "SHIMTASK_DENY", "SHIMTASK_PREFER", "SHIMTASK_NO_INDEX")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the persisted index of every registry, in-process or in a `shimtask`
    subprocess that inherits the environment, out of the user's cache."""
    monkeypatch.setenv("SHIMTASK_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    for name in POLICY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
