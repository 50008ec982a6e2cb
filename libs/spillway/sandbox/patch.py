"""The four PATCH flavours, chosen by Content-Type: JSON patch, merge patch, strategic merge, apply.

Functions never mutate their inputs (objects in the store are shared with watchers). Strategic
merge follows sig-api-machinery's strategic-merge-patch.md for the built-in kinds we serve:
lists merge by key where the Go types say so, other lists are replaced, and the directives
(`$patch`, `$retainKeys`, `$setElementOrder/…`, `$deleteFromPrimitiveList/…`) are applied and
never stored.
"""

from __future__ import annotations

import copy
from typing import Any

from spillway.sandbox.errors import ApiError, bad_request, unsupported_media_type

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)

# Field name → merge key (patchMergeKey with patchStrategy merge in the Go API types).
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",  # the Go type says mountPath (the reference says name)
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "schedulingGates": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "addresses": "type",
    "ownerReferences": "uid",
    "resourceClaims": "name",
    "topologySpreadConstraints": "topologyKey",
}
# Lists of scalars that merge as sets (patchStrategy merge without a key).
PRIMITIVE_MERGE = frozenset({"finalizers"})


def normalise_content_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def apply_patch(obj: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """Apply a PATCH body of the given media type to obj, returning a new object."""
    kind = normalise_content_type(content_type)
    if kind == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("json patch must be a list of operations")
        return json_patch(obj, patch)
    if not isinstance(patch, dict):
        raise bad_request("patch body must be a JSON object")
    if kind == MERGE_PATCH:
        result = merge_patch(obj, patch)
        assert isinstance(result, dict)
        return result
    if kind in (STRATEGIC_MERGE_PATCH, APPLY_PATCH):
        return strategic_merge(obj, patch)
    raise unsupported_media_type(content_type)


# ---- RFC 6902 ----------------------------------------------------------------------------------

def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], op: str) -> Any:
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                           f"jsonpatch {op} operation does not apply: doc is missing path: /{'/'.join(parts)}")
    return cur


def _missing(op: str, parts: list[str]) -> ApiError:
    return ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                    f"jsonpatch {op} operation does not apply: doc is missing key: /{'/'.join(parts)}")


def json_patch(obj: dict[str, Any], ops: list[Any]) -> dict[str, Any]:
    doc: Any = copy.deepcopy(obj)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request(f"invalid json patch operation: {op!r}")
        name, parts = op["op"], _pointer(op["path"])
        if name in ("add", "replace", "test") and "value" not in op:
            raise bad_request(f"json patch {name} operation needs a value")
        if name == "test":
            if _get(doc, parts) != op["value"]:
                raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                               f"testing value /{'/'.join(parts)} failed: test failed")
            continue
        if name in ("move", "copy"):
            value = copy.deepcopy(_get(doc, _pointer(op["from"])))
            if name == "move":
                doc = _remove(doc, _pointer(op["from"]), "move")
            doc = _add(doc, parts, value, name)
        elif name == "add":
            doc = _add(doc, parts, copy.deepcopy(op["value"]), "add")
        elif name == "remove":
            doc = _remove(doc, parts, "remove")
        elif name == "replace":
            _get(doc, parts)
            doc = _remove(doc, parts, "replace")
            doc = _add(doc, parts, copy.deepcopy(op["value"]), "replace")
        else:
            raise bad_request(f"unknown json patch operation {name!r}")
    if not isinstance(doc, dict):
        raise bad_request("json patch must leave an object")
    return doc


def _get(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for p in parts:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise _missing("test", parts)
    return cur


def _add(doc: Any, parts: list[str], value: Any, op: str) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts, op)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise _missing(op, parts)
    else:
        raise _missing(op, parts)
    return doc


def _remove(doc: Any, parts: list[str], op: str) -> Any:
    parent = _parent(doc, parts, op)
    last = parts[-1] if parts else ""
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]
    else:
        raise _missing(op, parts)
    return doc


# ---- RFC 7386 ----------------------------------------------------------------------------------

def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ---- strategic merge ---------------------------------------------------------------------------

def strategic_merge(obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    result = _merge_map(obj, patch)
    return result if result is not None else {}


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    return value


def _merge_map(original: Any, patch: dict[str, Any]) -> dict[str, Any] | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return _strip_directives(patch)  # type: ignore[no-any-return]
    if directive not in (None, "merge"):
        raise bad_request(f"Unknown patch type: {directive}")
    result: dict[str, Any] = dict(original) if isinstance(original, dict) else {}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key == "$patch" or key == "$retainKeys":
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.partition("/")[2]] = value if isinstance(value, list) else []
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.partition("/")[2]
            drop = set(map(_hashable, value or []))
            current = result.get(field)
            if isinstance(current, list):
                result[field] = [v for v in current if _hashable(v) not in drop]
            continue
        if value is None:
            result.pop(key, None)
            continue
        current = result.get(key)
        if isinstance(value, dict):
            merged = _merge_map(current, value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(key, current if isinstance(current, list) else [], value)
        else:
            result[key] = value
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _order(field, result[field], order)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        keep = set(retain)
        result = {k: v for k, v in result.items() if k in keep}
    return result


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, (dict, list)) else value


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), None)
        if sample is not None:
            return "containerPort" if "containerPort" in sample else "port"
    return MERGE_KEYS.get(field)


def _merge_list(field: str, original: list[Any], patch: list[Any]) -> list[Any]:
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [_strip_directives(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    if field in PRIMITIVE_MERGE:
        out = list(original)
        for v in patch:
            if v not in out:
                out.append(v)
        return out
    key = _merge_key(field, patch + original)
    if key is None or not all(isinstance(p, dict) for p in patch):
        return _strip_directives(patch)  # type: ignore[no-any-return]
    result = list(original)
    for item in patch:
        if key not in item:
            raise bad_request(f"map: {item} does not contain declared merge key: {key}")
        index = next((i for i, cur in enumerate(result) if isinstance(cur, dict) and cur.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
            continue
        if index is None:
            result.append(_strip_directives(item))
        else:
            merged = _merge_map(result[index], item)
            if merged is None:
                del result[index]
            else:
                result[index] = merged
    return result


def _order(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    key = MERGE_KEYS.get(field) or (_merge_key(field, items) if field == "ports" else None)
    if key is None:
        ranks = {_hashable(v): i for i, v in enumerate(order)}
        return sorted(items, key=lambda v: ranks.get(_hashable(v), len(ranks)))
    ranks = {_hashable(o.get(key)): i for i, o in enumerate(order) if isinstance(o, dict)}
    return sorted(items, key=lambda v: ranks.get(_hashable(v.get(key)) if isinstance(v, dict) else None, len(ranks)))
