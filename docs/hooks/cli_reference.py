"""mkdocs hook: the command-line reference, rendered from ``shimtask``'s own parser.

A page holding the marker line ``<!-- shimtask-cli-reference -->`` gets one
section per command and subcommand with its ``--help`` text, exactly as the
installed ``shimtask`` prints it, so the reference cannot drift from the CLI.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from typing import Any

MARKER = "<!-- shimtask-cli-reference -->"
WIDTH = 80  # columns the help text is wrapped to (it fits the page), whatever the terminal


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("shimtask",)
             ) -> Iterator[tuple[tuple[str, ...], str | None, argparse.ArgumentParser]]:
    """Every command under ``parser``, depth first: (its words, its one-line help, parser)."""
    yield path, None, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                for words, summary, found in commands(sub, (*path, name)):
                    yield words, (helps.get(name) if words == (*path, name) else summary), found


def help_text(parser: argparse.ArgumentParser) -> str:
    """``--help`` at a fixed width (argparse reads the width from COLUMNS)."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)
    try:
        return parser.format_help().rstrip()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def render(parser: argparse.ArgumentParser) -> str:
    """The reference as Markdown: a heading and a ``--help`` block per command."""
    sections = []
    for words, summary, sub in commands(parser):
        depth = min(len(words) + 1, 4)
        lines = [f"{'#' * depth} `{' '.join(words)}`", ""]
        if summary:
            lines += [summary[0].upper() + summary[1:] + ".", ""]
        lines += ["```text", help_text(sub), "```", ""]
        sections.append("\n".join(lines))
    return "\n".join(sections)


def on_page_markdown(markdown: str, **_: Any) -> str:
    if MARKER not in markdown:
        return markdown
    from shimtask_core.cli import build_parser

    return markdown.replace(MARKER, render(build_parser()))
