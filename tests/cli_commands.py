"""Helpers for tests that go over every command: the commands of the parser, the command a
test row's arguments name, and what a folder holds."""

from __future__ import annotations

import argparse
from pathlib import Path

from layout2im.cli import build_parser


def commands(parser: argparse.ArgumentParser | None = None, prefix: tuple[str, ...] = ()):
    """(command words, parser) of every command below ``parser`` (default: ``layout2im``'s),
    such as ``("evaluate run", <parser>)``."""
    parser = build_parser() if parser is None else parser
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs and prefix:
        yield " ".join(prefix), parser
    for action in subs:
        for name, sub in action.choices.items():
            yield from commands(sub, (*prefix, name))


def declared_rules(kind: type):
    """{(command, option): rule} of every rule of type ``kind`` the commands declare."""
    return {
        (command, rule.option): rule
        for command, parser in commands()
        for rule in parser.get_default("option_rules") or ()
        if isinstance(rule, kind)
    }


def row_command(argv: list[str]) -> str:
    """The command words at the start of ``argv`` (up to the first option or placeholder)."""
    words = []
    for word in argv:
        if word.startswith("-") or "{" in word:
            break
        words.append(word)
    return " ".join(words)


def snapshot(root: Path) -> list[str]:
    """Every path below ``root``, relative and sorted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))
