"""Messages: pure encode/decode on raw bytes, the catalogue's consistency, and KV key rules."""

from __future__ import annotations

import msgspec
import pytest

from spillway.model import messages as m
from tests.bus.samples import concrete_subjects, sample


@pytest.mark.parametrize("subject", concrete_subjects())
def test_encode_decode_round_trip(subject: str) -> None:
    msg = sample(subject)
    data = m.encode(msg)
    assert m.decode(subject, data) == msg
    assert m.decode(type(msg), data) == msg
    assert msgspec.json.decode(data)["v"] == m.SCHEMA_VERSION  # readable JSON with a version


@pytest.mark.parametrize("subject", concrete_subjects())
def test_subject_for_gives_back_the_catalogue_subject(subject: str) -> None:
    assert m.subject_for(sample(subject)) == subject


@pytest.mark.parametrize(
    ("data", "error"),
    [
        pytest.param(b"not json", msgspec.DecodeError, id="not-json"),
        pytest.param(b'{"v":1,"change":"exploded","pod":{},"observed_at":1}', msgspec.ValidationError, id="bad-enum"),
        pytest.param(b'{"v":1,"pod":{}}', msgspec.ValidationError, id="missing-field"),
    ],
)
def test_decode_rejects_bad_payloads(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        m.decode(m.POD_BOUND, data)


def test_unknown_subject_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        m.type_for_subject("spillway.nothing.here")


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("spillway.dlq.*", "spillway.dlq.watcher", True),
        ("spillway.dlq.*", "spillway.dlq.a.b", False),
        ("spillway.>", "spillway.pod.bound", True),
        ("spillway.>", "spillway", False),
        ("spillway.pod.bound", "spillway.pod.bound", True),
        ("spillway.pod.*", "spillway.pod.pending.gated", False),
    ],
)
def test_subject_matches(pattern: str, subject: str, matches: bool) -> None:
    assert m.subject_matches(pattern, subject) is matches


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (("shop", "web-1"), "shop/web-1"),
        (("eklet-subnet-1",), "eklet-subnet-1"),
        (("ap-guangzhou-3",), "ap-guangzhou-3"),
    ],
)
def test_kv_key(args: tuple[str, ...], key: str) -> None:
    assert m.kv_key(*args) == key


@pytest.mark.parametrize("bad", ["a b", "x:y", ".lead", "trail.", "a..b", "ns/ä"])
def test_kv_key_rejects_what_nats_rejects(bad: str) -> None:
    assert not m.is_valid_kv_key(bad)


def test_every_message_has_a_version_and_is_frozen() -> None:
    for type_ in m.MESSAGE_TYPES:
        assert "v" in type_.__struct_fields__
        assert type_.__struct_config__.frozen
