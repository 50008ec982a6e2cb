"""Equal parts are stored once, parts of different kinds never stand in for each other, and the
table stays within its capacity, the least recently shared going first."""

from __future__ import annotations

from spillway.model.sharing import EqualParts


def test_an_equal_part_of_the_same_kind_is_handed_back_and_another_kind_is_kept_apart() -> None:
    parts = EqualParts(capacity=10)
    first = parts.share({"app": "web"}, b"l")
    assert parts.share({"app": "web"}, b"l") is first
    assert parts.share({"app": "web"}, b"v") is not first
    assert parts.share({"app": "db"}, b"l") == {"app": "db"}


def test_the_least_recently_shared_part_is_forgotten_first() -> None:
    parts = EqualParts(capacity=2)
    a, b = parts.share(["a"]), parts.share(["b"])
    assert parts.share(["a"]) is a  # a is now the most recent
    parts.share(["c"])  # b goes
    assert len(parts) == 2
    assert parts.share(["a"]) is a and parts.share(["b"]) is not b
