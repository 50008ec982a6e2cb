"""User-facing help never cites an issue number (`spillway bench --help` once said "issue #9")."""

from __future__ import annotations

import re

import pytest

from spillway.cli import SUBCOMMANDS, main

ISSUE = re.compile(r"issue|#\d", re.I)


@pytest.mark.parametrize("command", [cmd.name for cmd in SUBCOMMANDS])
def test_no_help_text_names_an_issue(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: spillway") and not ISSUE.search(text), text


def test_the_top_level_help_names_no_issue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert not ISSUE.search(capsys.readouterr().out)
