"""The lazy facades (``shimtask_core``, ``shimtask_core.literals``, ``shimtask_core.testing``)
behave like ordinary modules: every public name resolves, ``dir()`` lists them before
they are loaded, and a wrong name fails as it would on any module."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

FACADES = ["shimtask_core", "shimtask_core.literals", "shimtask_core.testing"]


def _facade(name: str) -> types.ModuleType:
    return __import__(name, fromlist=["_"])


@pytest.mark.parametrize("name", FACADES)
def test_every_public_name_resolves_and_is_kept(name: str) -> None:
    module = _facade(name)
    for public in module.__all__:
        value = getattr(module, public)
        assert vars(module)[public] is value  # kept: the next lookup is a plain one


def test_a_name_equal_to_its_module_is_the_module() -> None:
    import shimtask_core

    assert isinstance(shimtask_core.errors, types.ModuleType)
    assert shimtask_core.errors.__name__ == "shimtask_core.errors"
    assert shimtask_core.hookspecs.__name__ == "shimtask_core.hookspecs"


@pytest.mark.parametrize("name", FACADES)
def test_an_unknown_name_fails_as_on_any_module(name: str) -> None:
    module = _facade(name)
    with pytest.raises(AttributeError) as caught:
        module.NoSuchName  # noqa: B018
    with pytest.raises(AttributeError) as plain:
        json.NoSuchName  # type: ignore[attr-defined]  # noqa: B018
    assert str(caught.value) == str(plain.value).replace("'json'", repr(name))
    assert (caught.value.name, caught.value.obj) == ("NoSuchName", module)
    assert not hasattr(module, "NoSuchName")


def test_dir_lists_the_names_before_they_are_loaded() -> None:
    """In a fresh interpreter nothing is loaded yet, and ``dir()`` already lists them
    (not the kit's: pytest walks a plugin's ``dir()``, tests/test_testing_kit.py)."""
    code = (
        "import json, sys\n"
        f"names = {FACADES[:2]!r}\n"
        "out = {}\n"
        "for n in names:\n"
        "    m = __import__(n, fromlist=['_'])\n"
        "    public = set(m.__all__)\n"
        "    out[n] = [sorted(public - set(dir(m))), sorted(public - set(vars(m)))]\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    for name, (undirred, unloaded) in json.loads(proc.stdout).items():
        assert undirred == [], f"{name}: dir() misses {undirred}"
        assert unloaded, f"{name}: every public name was loaded on import"
