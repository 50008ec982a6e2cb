"""docs/bus.md is generated from the code; this fails when they disagree (regenerate with the command in the doc)."""

from __future__ import annotations

from pathlib import Path

from spillway.bus.catalogue_doc import render
from spillway.model import messages as m

DOC = Path(__file__).resolve().parents[2] / "docs" / "bus.md"


def test_docs_bus_md_matches_the_code() -> None:
    assert DOC.read_text() == render(), "docs/bus.md is stale: python -m spillway.bus.catalogue_doc > docs/bus.md"


def test_every_subject_and_field_is_documented() -> None:
    text = render()
    for spec in m.CATALOGUE:
        assert f"`{spec.subject}`" in text
    for type_ in m.MESSAGE_TYPES:
        section = text.split(f"### {type_.__name__}\n", 1)[1].split("\n### ", 1)[0]
        for field in type_.__struct_fields__:
            row = next(line for line in section.splitlines() if line.startswith(f"| `{field}` |"))
            assert not row.endswith("|  |"), f"{type_.__name__}.{field} has no description"
