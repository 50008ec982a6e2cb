"""Label and field selectors, parsed once per request and matched per object.

Grammar as in apimachinery `labels.Parse` and `fields.ParseSelector`: labels support `=`, `==`,
`!=` (also true when the key is absent), `in (a,b)`, `notin (a,b)`, `key` and `!key`; fields
support `=`, `==`, `!=`. A comma means AND. Malformed input raises a 400 BadRequest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from spillway.sandbox.errors import bad_request

_KEY = re.compile(r"^([a-zA-Z0-9]([-a-zA-Z0-9.]*[a-zA-Z0-9])?/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$")
_VALUE = re.compile(r"^(([a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?)?)$")
_SET_EXPR = re.compile(r"^\s*(!?)\s*([^\s!=()]+)\s+(in|notin)\s*\(([^)]*)\)\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        # "!=" and "notin" also match objects without the key
        return not present or labels[self.key] not in self.values


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _check_key(key: str, selector: str) -> str:
    if not _KEY.match(key):
        raise bad_request(f"unable to parse requirement: invalid label key {key!r} in selector {selector!r}")
    return key


def _check_value(value: str, selector: str) -> str:
    if len(value) > 63 or not _VALUE.match(value):
        raise bad_request(f"unable to parse requirement: invalid label value {value!r} in selector {selector!r}")
    return value


class LabelSelector:
    """A parsed label selector; empty matches everything."""

    def __init__(self, requirements: list[Requirement]) -> None:
        self.requirements = requirements

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        if not text or not text.strip():
            return cls([])
        reqs: list[Requirement] = []
        for part in _split_top_level(text):
            if not part:
                raise bad_request(f"unable to parse requirement: found '', expected: identifier in {text!r}")
            m = _SET_EXPR.match(part)
            if m:
                if m.group(1):
                    raise bad_request(f"unable to parse requirement: unexpected '!' in {part!r}")
                values = [v.strip() for v in m.group(4).split(",")]
                if m.group(3) == "in" and values == [""]:
                    raise bad_request(f"unable to parse requirement: for 'in' operator, values set can't be empty "
                                      f"in {text!r}")
                op = m.group(3)
                reqs.append(Requirement(_check_key(m.group(2), text), op,
                                        frozenset(_check_value(v, text) for v in values if v or op == "in")))
                continue
            for token, op in (("!=", "!="), ("==", "="), ("=", "=")):
                if token in part:
                    key, _, value = part.partition(token)
                    value = value.strip()
                    reqs.append(Requirement(_check_key(key.strip(), text), op, frozenset({_check_value(value, text)})))
                    break
            else:
                if part.startswith("!"):
                    reqs.append(Requirement(_check_key(part[1:].strip(), text), "!"))
                elif any(c in part for c in "()<> "):
                    raise bad_request(f"unable to parse requirement: unexpected token in {part!r}")
                else:
                    reqs.append(Requirement(_check_key(part, text), "exists"))
        return cls(reqs)

    @classmethod
    def from_label_selector(cls, sel: Mapping[str, Any] | None) -> LabelSelector:
        """Build from a metav1.LabelSelector dict (matchLabels + matchExpressions)."""
        if not sel:
            return cls([])
        reqs = [Requirement(k, "=", frozenset({v})) for k, v in (sel.get("matchLabels") or {}).items()]
        ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
        for expr in sel.get("matchExpressions") or []:
            reqs.append(Requirement(expr["key"], ops[expr["operator"]], frozenset(expr.get("values") or [])))
        return cls(reqs)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, Mapping) else None
    if cur is None:
        return "false" if path in ("spec.unschedulable", "spec.hostNetwork") else ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


class FieldSelector:
    """A parsed field selector over the fields a kind supports."""

    def __init__(self, terms: list[tuple[str, bool, str]]) -> None:
        self.terms = terms  # (field, equal?, value)

    @classmethod
    def parse(cls, text: str | None, supported: frozenset[str]) -> FieldSelector:
        if not text or not text.strip():
            return cls([])
        terms: list[tuple[str, bool, str]] = []
        for part in (p.strip() for p in text.split(",")):
            for token, is_equal in (("!=", False), ("==", True), ("=", True)):
                if token in part:
                    name, _, value = part.partition(token)
                    equal = is_equal
                    break
            else:
                raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
            name = name.strip()
            if name not in supported:
                raise bad_request(f"field label not supported: {name}")
            terms.append((name, equal, value.strip()))
        return cls(terms)

    @property
    def empty(self) -> bool:
        return not self.terms

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((_field_value(obj, name) == value) == equal for name, equal, value in self.terms)


def object_matcher(labels: LabelSelector, fields: FieldSelector) -> Callable[[Mapping[str, Any]], bool]:
    if labels.empty and fields.empty:
        return lambda _obj: True

    def match(obj: Mapping[str, Any]) -> bool:
        return labels.matches((obj.get("metadata") or {}).get("labels")) and fields.matches(obj)

    return match
