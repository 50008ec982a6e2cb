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


def forged(subject: str, **changes: object) -> bytes:
    """A valid sample for `subject` with some fields replaced, as a forger would send it."""
    raw = msgspec.json.decode(m.encode(sample(subject)))
    for path, value in changes.items():
        target = raw
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return msgspec.json.encode(raw)


@pytest.mark.parametrize(
    ("subject", "changes"),
    [
        pytest.param(m.POD_DELETED, {"pod__metadata__namespace": "../kube-system"}, id="pod-namespace-path"),
        pytest.param(m.POD_DELETED, {"pod__metadata__uid": ""}, id="pod-without-uid"),
        pytest.param(m.POD_BOUND, {"pod__metadata__name": "x" * 254}, id="pod-name-too-long"),
        pytest.param(m.POD_BOUND, {"observed_at": -1.0}, id="observed-before-1970"),
        pytest.param(m.ZONE_COOLDOWN, {"until": 1e300}, id="zone-cooled-down-forever"),
        pytest.param(m.INSTANCE_CREATED, {"uid": "a b"}, id="uid-with-space"),
        pytest.param(m.INSTANCE_CREATED, {"eks_ci_id": "x" * 129}, id="instance-id-too-long"),
        pytest.param(m.INSTANCE_FAILED, {"node": "Eklet_Node"}, id="node-name-not-dns"),
        pytest.param(m.PLACEMENT_DECIDED, {"namespace": "A"}, id="decision-namespace-upper-case"),
    ],
)
def test_a_field_the_api_or_a_clock_would_never_give_is_refused_at_decode(subject: str,
                                                                           changes: dict[str, object]) -> None:
    assert m.decode(subject, m.encode(sample(subject)))  # the unchanged sample decodes
    with pytest.raises(msgspec.ValidationError):
        m.decode(subject, forged(subject, **changes))


def test_identity_problem_names_the_field_and_cuts_the_value() -> None:
    assert m.identity_problem("default", "web-0", "0b8c") is None
    problem = m.identity_problem("default", "Web" * 500, "0b8c")
    assert problem is not None and problem.startswith("name ") and len(problem) < 200
