"""The docs site's generated parts: the CLI reference is the parser's, whole.

``mkdocs build --strict`` (the test command's docs step) builds the site; these
tests hold what its hooks put in it.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pluginenv import REPO
from shimtask_core.cli import build_parser

HOOKS = REPO / "docs" / "hooks"


def load_hook(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", HOOKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def every_command(parser: argparse.ArgumentParser, words: tuple[str, ...] = ("shimtask",)
                  ) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """The command tree, found independently of the hook: an action whose ``choices``
    are parsers is a group of subcommands."""
    found = {words: parser}
    for action in parser._actions:
        choices = action.choices if isinstance(action.choices, dict) else None
        if choices and all(isinstance(p, argparse.ArgumentParser) for p in choices.values()):
            for name, sub in choices.items():
                found.update(every_command(sub, (*words, name)))
    return found


def test_the_cli_reference_page_has_every_command_and_its_help() -> None:
    hook = load_hook("cli_reference")
    page = (REPO / "docs" / "cli-reference.md").read_text()
    assert hook.MARKER in page
    rendered = hook.on_page_markdown(page)
    assert hook.MARKER not in rendered
    commands = every_command(build_parser())
    assert {" ".join(w) for w in commands} >= {
        "shimtask", "shimtask execute", "shimtask run", "shimtask plugins",
        "shimtask plugins list", "shimtask plugins doctor", "shimtask plugins index",
        "shimtask plugins new", "shimtask serve"}
    headings = re.findall(r"^#+ `(shimtask[^`]*)`$", rendered, re.MULTILINE)
    assert headings == [" ".join(w) for w in commands]  # each once, in the parser's order
    for parser in commands.values():
        assert hook.help_text(parser) in rendered


def test_the_reference_is_wrapped_to_fit_the_page() -> None:
    hook = load_hook("cli_reference")
    rendered = hook.render(build_parser())
    blocks = re.findall(r"```text\n(.*?)```", rendered, re.DOTALL)
    longest = max(len(line) for block in blocks for line in block.splitlines())
    assert longest <= hook.WIDTH


def test_sphinx_roles_in_docstrings_read_as_code() -> None:
    hook = load_hook("sphinx_roles")
    html = ("<p>see :class:<code>ExecutorRegistry</code> and "
            ":meth:<code>~shimtask_core.ExecutorRegistry.resolve</code>; "
            "a: <code>kept</code></p>")
    assert hook.on_page_content(html) == (
        "<p>see <code>ExecutorRegistry</code> and <code>resolve</code>; "
        "a: <code>kept</code></p>")


def test_every_page_is_in_the_nav() -> None:
    nav = (REPO / "mkdocs.yml").read_text()
    pages = sorted(str(p.relative_to(REPO / "docs")) for p in (REPO / "docs").rglob("*.md"))
    missing = [p for p in pages if not re.search(rf":\s+{re.escape(p)}\s*$", nav, re.MULTILINE)]
    assert missing == [], f"pages not in mkdocs.yml's nav: {missing}"


def test_the_api_page_is_generated_from_docstrings() -> None:
    page = (REPO / "docs" / "api.md").read_text()
    assert "|" not in page, "the API reference is generated (mkdocstrings), not a table"
    for name in ("run_template", "ExecutorRegistry", "ShimTaskExecutor", "make_template",
                 "ExecutorContractSuite", "run_container"):
        assert re.search(rf"^::: shimtask_core\.[\w.]*\b{name}$", page, re.MULTILINE), name


def test_sphinx_comments_are_the_docstrings_of_attributes() -> None:
    """``#:`` above an assignment, or at the end of its line, documents it on the API
    page (griffe reads docstrings only)."""
    pytest.importorskip("griffe")
    hook = load_hook("comment_docstrings")
    lines = ["x = 1", "#: first", "#: second", "Y = 2", "z: int  #: trailing", "w = 3  # no"]
    assert hook.comment_above(lines, 4) == "first second"
    assert hook.comment_above(lines, 5) == "trailing"
    assert hook.comment_above(lines, 6) is None
    assert hook.comment_above(lines, 1) is None


def test_the_built_api_page_documents_every_public_name_and_no_private_one(
    tmp_path: Path,
) -> None:
    """The site as ``mkdocs build --strict`` makes it: an anchor on the API page for each
    name ``shimtask_core`` and ``shimtask_core.testing`` export and each fixture of the
    kit, and none for a private helper (``members: true`` once showed them)."""
    pytest.importorskip("mkdocs")
    import shimtask_core
    import shimtask_core.testing as kit

    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                           "--site-dir", str(site)], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    anchors = set(re.findall(r'id="(shimtask_core\.[\w.]+)"',
                             (site / "api" / "index.html").read_text()))
    documented = {anchor.rsplit(".", 1)[1] for anchor in anchors}
    fixtures = {"shimtask_env", "shimtask_registry", "shimtask_template", "shimtask_literals",
                "shimtask_run"}
    public = set(shimtask_core.__all__) | set(kit.__all__) | fixtures
    assert sorted(public - documented) == []
    assert sorted(a for a in anchors if re.search(r"\._[^_]", a)) == []
