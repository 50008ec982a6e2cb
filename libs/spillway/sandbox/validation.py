"""What kube-apiserver refuses or rewrites before it stores an object, for the kinds served here.

Two steps, in the real server's order:
- `decode`: every resource.Quantity field the kinds carry is parsed and rewritten as its
  canonical string (quantity.py); a value that is no quantity fails the decode with 400
  BadRequest, `Pod in version "v1" cannot be handled as a Pod: <parse error>`
  (apiserver handlers `transformDecodeError`). It runs on the request body and again after
  admission hooks (the real server decodes a webhook's patched object too).
- `validate_meta`: apimachinery `ValidateObjectMeta` — the name rule of the kind (DNS-1123
  subdomain for most kinds, DNS-1123 label for namespaces and StatefulSets, DNS-1035 label for
  services, path segment for RBAC), generateName, label keys and values, annotation keys and
  their 256 KiB total; and the same label/annotation rules on the pod template (and
  selector.matchLabels) of every workload. Errors become 422 Invalid with one cause per
  finding and the real messages (k8s.io/apimachinery/pkg/util/validation/validation.go).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from spillway.sandbox import errors, quantity
from spillway.sandbox.errors import ApiError
from spillway.sandbox.resources import WORKLOADS, ResourceType

Obj = dict[str, Any]
Cause = tuple[str, str, str]  # field, reason, message

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
DNS1123_LABEL_MAX, DNS1123_SUBDOMAIN_MAX, QUALIFIED_NAME_MAX, LABEL_VALUE_MAX = 63, 253, 63, 63

_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_FMT = _LABEL_FMT + "(\\." + _LABEL_FMT + ")*"
_DNS1035_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"
_LABEL_RE = re.compile(f"^{_LABEL_FMT}$")
_SUBDOMAIN_RE = re.compile(f"^{_SUBDOMAIN_FMT}$")
_DNS1035_RE = re.compile(f"^{_DNS1035_FMT}$")
_QUALIFIED_NAME_RE = re.compile(f"^{_QUALIFIED_NAME_FMT}$")
_LABEL_VALUE_RE = re.compile(f"^{_LABEL_VALUE_FMT}$")

_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                  "and must start and end with an alphanumeric character")
_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
              "start and end with an alphanumeric character")
_DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                "alphabetic character, and end with an alphanumeric character")
_QUALIFIED_NAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                       "alphanumeric character")
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                    "and must start and end with an alphanumeric character")


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)  # Go writes "'a',  or 'b', " (two spaces)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def is_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(_max_len(DNS1123_SUBDOMAIN_MAX))
    if not _SUBDOMAIN_RE.fullmatch(value):
        errs.append(_regex_error(_SUBDOMAIN_MSG, _SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1123_label(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_LABEL_MAX:
        errs.append(_max_len(DNS1123_LABEL_MAX))
    if not _LABEL_RE.fullmatch(value):
        if _SUBDOMAIN_RE.fullmatch(value):
            errs.append("must not contain dots")
        else:
            errs.append(_regex_error(_LABEL_MSG, _LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_LABEL_MAX:
        errs.append(_max_len(DNS1123_LABEL_MAX))
    if not _DNS1035_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1035_MSG, _DNS1035_FMT, "my-name", "abc-123"))
    return errs


def is_path_segment_name(value: str) -> list[str]:
    """path.IsValidPathSegmentName (RBAC names may hold ':' as in system:controller:…)."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def is_qualified_name(value: str) -> list[str]:
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return ["a qualified name " + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name",
                                                   "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX:
        errs.append("name part " + _max_len(QUALIFIED_NAME_MAX))
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        errs.append("name part " + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name",
                                                "123-abc"))
    return errs


def is_valid_label_value(value: str) -> list[str]:
    errs = []
    if len(value) > LABEL_VALUE_MAX:
        errs.append(_max_len(LABEL_VALUE_MAX))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


NameRule = Callable[[str], list[str]]
_NAME_RULES: dict[tuple[str, str], NameRule] = {
    ("", "namespaces"): is_dns1123_label,
    ("", "services"): is_dns1035_label,
    ("apps", "statefulsets"): is_dns1123_label,
    **{("rbac.authorization.k8s.io", p): is_path_segment_name
       for p in ("roles", "rolebindings", "clusterroles", "clusterrolebindings")},
}


def name_rule(rt: ResourceType) -> NameRule:
    """The kind's ValidateNameFunc; NameIsDNSSubdomain for every kind not listed."""
    return _NAME_RULES.get((rt.group, rt.plural), is_dns1123_subdomain)


def _mask_trailing_dash(name: str) -> str:
    """A generateName may end in '-' (a suffix follows)."""
    return name[:-1] + "a" if len(name) > 1 and name.endswith("-") else name


def invalid_value(value: Any, detail: str) -> str:
    return f"Invalid value: {errors.go_quote(value) if isinstance(value, str) else value}: {detail}"


def _labels(labels: Any, path: str) -> Iterator[Cause]:
    if not isinstance(labels, dict):
        return
    for key in sorted(labels, key=str):
        value = labels[key]
        for msg in is_qualified_name(str(key)):
            yield path, "FieldValueInvalid", invalid_value(str(key), msg)
        if not isinstance(value, str):
            continue
        for msg in is_valid_label_value(value):
            yield path, "FieldValueInvalid", invalid_value(value, msg)


def _annotations(annotations: Any, path: str) -> Iterator[Cause]:
    if not isinstance(annotations, dict):
        return
    size = 0
    for key in sorted(annotations, key=str):
        for msg in is_qualified_name(str(key).lower()):
            yield path, "FieldValueInvalid", invalid_value(str(key), msg)
        value = annotations[key]
        size += len(str(key).encode()) + (len(value.encode()) if isinstance(value, str) else 0)
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        yield path, "FieldValueTooLong", f"Too long: may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes"


def meta_causes(rt: ResourceType, obj: Obj, *, creating: bool) -> list[Cause]:
    """ValidateObjectMeta (create) / ValidateObjectMetaUpdate (update: the name cannot change)."""
    meta = obj.get("metadata") or {}
    causes: list[Cause] = []
    rule = name_rule(rt)
    generate = meta.get("generateName")
    if creating and isinstance(generate, str) and generate:
        causes += [("metadata.generateName", "FieldValueInvalid", invalid_value(generate, m))
                   for m in rule(_mask_trailing_dash(generate))]
    name = meta.get("name")
    if creating and isinstance(name, str) and name:
        causes += [("metadata.name", "FieldValueInvalid", invalid_value(name, m)) for m in rule(name)]
    causes += _labels(meta.get("labels"), "metadata.labels")
    causes += _annotations(meta.get("annotations"), "metadata.annotations")
    if rt.plural in WORKLOADS and rt.group in ("apps", "batch"):
        spec = _dict(obj.get("spec"))
        selector = spec.get("selector")
        if isinstance(selector, dict):
            causes += _labels(selector.get("matchLabels"), "spec.selector.matchLabels")
        template = spec.get("template")
        if isinstance(template, dict) and isinstance(template.get("metadata"), dict):
            causes += _labels(template["metadata"].get("labels"), "spec.template.labels")
            causes += _annotations(template["metadata"].get("annotations"), "spec.template.annotations")
    return causes


def validate_meta(rt: ResourceType, obj: Obj, *, creating: bool) -> None:
    causes = meta_causes(rt, obj, creating=creating)
    if causes:
        name = (obj.get("metadata") or {}).get("name", "")
        raise errors.invalid(rt.kind, rt.group, str(name), causes)


# ---- quantities ---------------------------------------------------------------------------------

def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _maps_in_pod_spec(spec: Any) -> Iterator[tuple[Obj, str]]:
    """(map of quantities, field path) for each Quantity map of a PodSpec."""
    if not isinstance(spec, dict):
        return
    for field in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                yield from _requirements(container.get("resources"))
    yield from _requirements(spec.get("resources"))
    if isinstance(spec.get("overhead"), dict):
        yield spec["overhead"], "spec.overhead"
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict):
            continue
        empty_dir = volume.get("emptyDir")
        if isinstance(empty_dir, dict) and "sizeLimit" in empty_dir:
            yield empty_dir, "sizeLimit"
        ephemeral = volume.get("ephemeral")
        if isinstance(ephemeral, dict) and isinstance(ephemeral.get("volumeClaimTemplate"), dict):
            yield from _requirements(_dict(ephemeral["volumeClaimTemplate"].get("spec")).get("resources"))


def _requirements(resources: Any) -> Iterator[tuple[Obj, str]]:
    if isinstance(resources, dict):
        for key in ("requests", "limits"):
            if isinstance(resources.get(key), dict):
                yield resources[key], key


def _quantity_maps(rt: ResourceType, obj: Obj) -> Iterator[tuple[Obj, str]]:
    spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
    if rt.group == "" and rt.plural == "pods":
        yield from _maps_in_pod_spec(spec)
    elif rt.plural in WORKLOADS and rt.group in ("apps", "batch"):
        template = spec.get("template")
        if isinstance(template, dict):
            yield from _maps_in_pod_spec(template.get("spec"))
        for claim in spec.get("volumeClaimTemplates") or []:
            if isinstance(claim, dict):
                yield from _requirements(_dict(claim.get("spec")).get("resources"))
    elif rt.plural == "nodes":
        for key in ("capacity", "allocatable"):
            if isinstance(status.get(key), dict):
                yield status[key], key
    elif rt.plural == "persistentvolumeclaims":
        yield from _requirements(spec.get("resources"))
        for key in ("capacity", "allocatedResources"):
            if isinstance(status.get(key), dict):
                yield status[key], key
    elif rt.plural == "persistentvolumes" and isinstance(spec.get("capacity"), dict):
        yield spec["capacity"], "capacity"


_JSON_TYPES = ((bool, "bool"), (int, "number"), (float, "number"), (dict, "object"), (list, "array"))


def _string_maps(rt: ResourceType, obj: Obj) -> Iterator[tuple[Any, str]]:
    meta = _dict(obj.get("metadata"))
    yield meta.get("labels"), "metadata.labels"
    yield meta.get("annotations"), "metadata.annotations"
    if rt.plural in WORKLOADS and rt.group in ("apps", "batch"):
        template_meta = _dict(_dict(_dict(obj.get("spec")).get("template")).get("metadata"))
        yield template_meta.get("labels"), "spec.template.metadata.labels"
        yield template_meta.get("annotations"), "spec.template.metadata.annotations"


def decode(rt: ResourceType, obj: Obj) -> None:
    """Rewrite every Quantity in place as its canonical string, or raise the decode error; a
    label or annotation value that is not a string fails the decode as in Go (null becomes "")."""
    for values, where in _string_maps(rt, obj):
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if value is None:
                values[key] = ""
            elif not isinstance(value, str):
                json_type = next((name for t, name in _JSON_TYPES if isinstance(value, t)), "value")
                raise _decode_error(rt, obj, f"json: cannot unmarshal {json_type} into Go struct field "
                                             f"ObjectMeta.{where} of type string")
    for values, where in _quantity_maps(rt, obj):
        keys = ["sizeLimit"] if where == "sizeLimit" else list(values)
        for key in keys:
            value = values[key]
            if isinstance(value, str) and len(value) <= 3 and value.isdigit() and value[0] != "0":
                continue  # "1", "250": already canonical, the common case
            try:
                values[key] = quantity.canonicalize(value)
            except quantity.QuantityError as exc:
                raise _decode_error(rt, obj, str(exc)) from None


def _decode_error(rt: ResourceType, obj: Obj, why: str) -> ApiError:
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if isinstance(kind, str) and kind:
        version = str(api_version or "").rsplit("/", 1)[-1]
        return errors.bad_request(f'{kind} in version "{version}" cannot be handled as a {rt.kind}: {why}')
    return errors.bad_request(f"the object provided is unrecognized (must be of type {rt.kind}): {why}")
