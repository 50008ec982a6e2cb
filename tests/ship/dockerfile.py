"""A small reader for the Dockerfile: instructions of the final stage, JSON-form arguments."""

from __future__ import annotations

import json
import pathlib
import re

from tests.ship.render import REPO

DOCKERFILE = REPO / "Dockerfile"


def instructions(path: pathlib.Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in text.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage(path: pathlib.Path = DOCKERFILE) -> list[tuple[str, str]]:
    steps = instructions(path)
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def entrypoint() -> list[str]:
    (args,) = [a for word, a in final_stage() if word == "ENTRYPOINT"]
    return exec_form(args)
