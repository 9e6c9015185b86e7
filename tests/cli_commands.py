"""Helpers for tests that go over every command: the commands of the parser, the command a
test row's arguments name, the options no rule checks, a command line run in a sandbox and what
a folder holds."""

from __future__ import annotations

import argparse
from pathlib import Path

from layout2im.cli import build_parser, main


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


def table_by_command(rows) -> dict:
    """``{(command, option): value}`` of a test table's ``(argv, option, value)`` rows, to
    compare with :func:`declared_rules`."""
    return {(row_command(argv), option): value for argv, option, value in rows}


def options_without_a_rule(takes):
    """(command, longest option string) of every option for which ``takes(action)`` is true
    and that no declared rule of its command checks."""
    for command, parser in commands():
        rules = {r.dest for r in parser.get_default("option_rules") or ()}
        for action in parser._actions:
            if takes(action) and action.dest not in rules and action.dest != "help":
                yield command, max(action.option_strings, key=len)


def command_line(tmp_path: Path, monkeypatch, argv: list[str], **values) -> list[str]:
    """``argv`` with ``{file}`` (an empty file), ``{dir}`` (an empty folder), ``{out}`` (a path
    that does not exist) and ``values`` filled in, all under ``tmp_path``; the test then runs in
    ``tmp_path/work``, where relative defaults (``runs``, ``outputs/...``) land."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (tmp_path / "given").mkdir()
    (tmp_path / "given.json").write_text("")
    fill = {"file": tmp_path / "given.json", "dir": tmp_path / "given", "out": tmp_path / "out"}
    return [a.format(**fill, **values) for a in argv]


def refused(args: list[str], capsys, root: Path) -> str:
    """What ``layout2im args`` printed on stderr, after checking it exited with status 2 and
    left nothing new below ``root``."""
    before = snapshot(root)
    assert main(args) == 2
    assert snapshot(root) == before
    return capsys.readouterr().err


def snapshot(root: Path) -> list[str]:
    """Every path below ``root``, relative and sorted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))
