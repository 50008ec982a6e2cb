"""A tiny RFC 6902 applier (add, remove, replace, test) for checking the patches the policy builds."""

from __future__ import annotations

import copy
from typing import Any


class PatchConflict(Exception):
    """A `test` op failed or a path does not exist (the API answers 422)."""


def _tokens(path: str) -> list[str]:
    if not path.startswith("/"):
        raise PatchConflict(f"bad path {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _parent(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for token in tokens[:-1]:
        try:
            node = node[int(token)] if isinstance(node, list) else node[token]
        except (KeyError, IndexError, ValueError) as exc:
            raise PatchConflict(f"missing {token!r}") from exc
    return node


def apply_patch(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    for op in ops:
        tokens = _tokens(op["path"])
        parent, last = _parent(out, tokens), tokens[-1]
        kind = op["op"]
        if kind == "test":
            try:
                current = parent[int(last)] if isinstance(parent, list) else parent[last]
            except (KeyError, IndexError, ValueError) as exc:
                raise PatchConflict(f"test: missing {op['path']}") from exc
            if current != op["value"]:
                raise PatchConflict(f"test failed at {op['path']}")
        elif kind == "add":
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if index > len(parent):
                    raise PatchConflict("index out of range")
                parent.insert(index, copy.deepcopy(op["value"]))
            elif isinstance(parent, dict):
                parent[last] = copy.deepcopy(op["value"])
            else:
                raise PatchConflict("add into a scalar")
        elif kind == "remove":
            try:
                del parent[int(last) if isinstance(parent, list) else last]
            except (KeyError, IndexError, ValueError) as exc:
                raise PatchConflict(f"remove: missing {op['path']}") from exc
        elif kind == "replace":
            if isinstance(parent, list):
                parent[int(last)] = copy.deepcopy(op["value"])
            elif last in parent:
                parent[last] = copy.deepcopy(op["value"])
            else:
                raise PatchConflict(f"replace: missing {op['path']}")
        else:
            raise PatchConflict(f"unsupported op {kind}")
    return out
