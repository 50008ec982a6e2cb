"""Decoding the Kubernetes protobuf envelope for the few kinds kubectl's typed clients send.

kubectl ≥ 1.32 sends `application/vnd.kubernetes.protobuf` bodies from its `create <kind>`
generators (configmap, secret, namespace, serviceaccount, role, …) and accepts JSON back.
We decode those kinds by field number (k8s.io/api generated.proto); any other kind gets a
415 that says how to send JSON instead. Responses are always JSON.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from spillway.sandbox.errors import ApiError

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# A schema maps field number → (json name, type); a type is "string", "bytes", "int", "bool",
# "time", a nested schema dict, ("map", value type) or ("list", item type).
Schema = dict[int, tuple[str, Any]]

OWNER_REFERENCE: Schema = {1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"),
                           5: ("apiVersion", "string"), 6: ("controller", "bool"),
                           7: ("blockOwnerDeletion", "bool")}
OBJECT_META: Schema = {
    1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"), 5: ("uid", "string"),
    6: ("resourceVersion", "string"), 7: ("generation", "int"), 8: ("creationTimestamp", "time"),
    10: ("deletionGracePeriodSeconds", "int"), 11: ("labels", ("map", "string")),
    12: ("annotations", ("map", "string")), 13: ("ownerReferences", ("list", OWNER_REFERENCE)),
    14: ("finalizers", ("list", "string")),
}
POLICY_RULE: Schema = {1: ("verbs", ("list", "string")), 2: ("apiGroups", ("list", "string")),
                       3: ("resources", ("list", "string")), 4: ("resourceNames", ("list", "string")),
                       5: ("nonResourceURLs", ("list", "string"))}
SUBJECT: Schema = {1: ("kind", "string"), 2: ("apiGroup", "string"), 3: ("name", "string"),
                   4: ("namespace", "string")}
ROLE_REF: Schema = {1: ("apiGroup", "string"), 2: ("kind", "string"), 3: ("name", "string")}
BINDING: Schema = {1: ("metadata", OBJECT_META), 2: ("subjects", ("list", SUBJECT)), 3: ("roleRef", ROLE_REF)}

KINDS: dict[str, Schema] = {
    "ConfigMap": {1: ("metadata", OBJECT_META), 2: ("data", ("map", "string")),
                  3: ("binaryData", ("map", "bytes")), 4: ("immutable", "bool")},
    "Secret": {1: ("metadata", OBJECT_META), 2: ("data", ("map", "bytes")), 3: ("type", "string"),
               4: ("stringData", ("map", "string")), 5: ("immutable", "bool")},
    "Namespace": {1: ("metadata", OBJECT_META), 2: ("spec", {1: ("finalizers", ("list", "string"))}),
                  3: ("status", {1: ("phase", "string")})},
    "ServiceAccount": {1: ("metadata", OBJECT_META), 3: ("imagePullSecrets", ("list", {1: ("name", "string")})),
                       4: ("automountServiceAccountToken", "bool")},
    "Role": {1: ("metadata", OBJECT_META), 2: ("rules", ("list", POLICY_RULE))},
    "ClusterRole": {1: ("metadata", OBJECT_META), 2: ("rules", ("list", POLICY_RULE))},
    "RoleBinding": BINDING,
    "ClusterRoleBinding": BINDING,
}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(buf, pos)
            out.append((number, buf[pos:pos + length]))
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def _scalar(kind: Any, raw: int | bytes) -> Any:
    if kind == "string":
        return raw.decode() if isinstance(raw, bytes) else str(raw)
    if kind == "bytes":
        return base64.b64encode(raw).decode() if isinstance(raw, bytes) else ""
    if kind == "int":
        return raw - (1 << 64) if isinstance(raw, int) and raw >= 1 << 63 else raw
    if kind == "bool":
        return bool(raw)
    if kind == "time":
        seconds = next((v for n, v in _fields(raw) if n == 1), 0) if isinstance(raw, bytes) else 0
        return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(kind, dict) and isinstance(raw, bytes):
        return decode_message(raw, kind)
    raise ValueError(f"cannot decode {kind!r}")


def decode_message(buf: bytes, schema: Schema) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, raw in _fields(buf):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(kind, tuple) and kind[0] == "map":
            entry = dict(_fields(raw)) if isinstance(raw, bytes) else {}
            key = _scalar("string", entry.get(1, b""))
            out.setdefault(name, {})[key] = _scalar(kind[1], entry.get(2, b"" if kind[1] != "int" else 0))
        elif isinstance(kind, tuple) and kind[0] == "list":
            out.setdefault(name, []).append(_scalar(kind[1], raw))
        else:
            value = _scalar(kind, raw)
            if value != "":  # Go drops empty strings (omitempty) when it renders JSON
                out[name] = value
    return out


def decode(body: bytes) -> dict[str, Any]:
    """Decode a protobuf-encoded object (runtime.Unknown envelope) into API JSON."""
    if not body.startswith(MAGIC):
        raise ApiError(400, "BadRequest", "protobuf body without the k8s envelope")
    try:
        envelope = dict(_fields(body[len(MAGIC):]))
        meta_raw = envelope.get(1, b"")
        type_meta = dict(_fields(meta_raw)) if isinstance(meta_raw, bytes) else {}
        api_version = _scalar("string", type_meta.get(1, b""))
        kind = _scalar("string", type_meta.get(2, b""))
        schema = KINDS.get(kind)
        if schema is None:
            raise ApiError(415, "UnsupportedMediaType",
                           f"the sandbox decodes protobuf bodies only for {', '.join(sorted(KINDS))}; send {kind} as "
                           "JSON (e.g. `kubectl create ... --dry-run=client -o yaml | kubectl apply -f -`)")
        raw = envelope.get(2, b"")
        obj = decode_message(raw if isinstance(raw, bytes) else b"", schema)
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"cannot decode protobuf body: {exc}") from None
    return {"apiVersion": api_version, "kind": kind, **obj}
