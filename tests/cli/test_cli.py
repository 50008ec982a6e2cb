"""The CLI lists every docs/design.md §8 subcommand and answers unknown ones with status 2."""

import subprocess
import sys

import pytest

from spillway.cli import SUBCOMMANDS, main

DESIGN_SUBCOMMANDS = ["demo", "up", "sandbox", "cloud-emulator", "run", "explain", "events", "status", "bench", "bus"]


def test_help_lists_every_subcommand() -> None:
    out = subprocess.run([sys.executable, "-m", "spillway.cli", "--help"], capture_output=True, text=True, check=True)
    for name in DESIGN_SUBCOMMANDS:
        assert f"    {name}" in out.stdout
    assert [c.name for c in SUBCOMMANDS] == DESIGN_SUBCOMMANDS


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'frobnicate'" in err
