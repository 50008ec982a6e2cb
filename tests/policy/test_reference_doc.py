"""docs/reference.md cannot drift from the code: reason codes, event reasons, status codes,
rule names and annotation keys are compared both ways where the doc lists them."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from spillway.model import kube
from spillway.policy.catalogue import (
    documented_reasons,
    event_reasons,
    reason_codes,
    rule_names,
    service_reasons,
    status_codes,
)

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, re.S | re.M)
    assert found, f"docs/reference.md has no section {title!r}"
    return found.group(1)


def first_column_codes(title: str) -> set[str]:
    return set(re.findall(r"^\| `([A-Za-z-]+)` \|", section(title), re.M))


def test_reason_codes_match_the_catalogue() -> None:
    assert first_column_codes("Reason codes") == documented_reasons()
    assert not reason_codes() & service_reasons(), "a service reason that is also a decision's reason code"


def test_event_reasons_match() -> None:
    assert first_column_codes("Events") == event_reasons()


def test_status_codes_match() -> None:
    assert first_column_codes("Status codes") == status_codes()


def test_rule_names_and_their_codes_are_listed() -> None:
    restrictions = section("Restrictions")
    assert first_column_codes("Restrictions") == set(rule_names())
    from spillway.policy.rules import REGISTRY

    for rule in REGISTRY.values():
        row = next(line for line in restrictions.splitlines() if line.startswith(f"| `{rule.name}` |"))
        assert set(re.findall(r"`([A-Za-z]+)`", row.split("|")[3])) == set(rule.reasons), rule.name


@pytest.mark.parametrize(
    "name",
    sorted(n for n in dir(kube) if n.startswith(("ANNOTATION_", "LABEL_")) or n in {
        "PLACEMENT_GATE", "SUPER_NODE_TAINT_KEY", "EKS_CONFIG_NAME", "EKS_CONFIG_NAMESPACE"}),
)
def test_every_key_constant_is_documented(name: str) -> None:
    value = getattr(kube, name)
    assert f"`{value}" in DOC, f"{name}={value!r} is not in docs/reference.md"


def test_switch_table_has_nine_rows() -> None:
    rows = [line for line in section("Switches").splitlines() if re.match(r"^\| (`true`|`false`|unset) \|", line)]
    assert len(rows) == 9


def test_volume_section_tells_which_volumes_run_in_the_cloud() -> None:
    """Every source the translation drops is listed as dropped, every one it refuses as refused."""
    from spillway.translate import DROPPED_VOLUME_SOURCES, REFUSED_VOLUME_SOURCES

    text = section("Volumes on super nodes")
    bullets = {m.group(1): m.group(2) for m in re.finditer(r"^- \*\*(\w+)[^*]*\*\*(.*?)(?=^- |\Z)", text, re.S | re.M)}
    assert set(bullets) == {"Mounted", "Dropped", "Refused"}
    listed = {kind: set(re.findall(r"`([A-Za-z]+)`", body)) for kind, body in bullets.items()}
    assert set(DROPPED_VOLUME_SOURCES) <= listed["Dropped"]
    assert set(REFUSED_VOLUME_SOURCES) <= listed["Refused"]
    assert not (listed["Mounted"] | listed["Dropped"]) & set(REFUSED_VOLUME_SOURCES)
    assert not listed["Mounted"] & set(DROPPED_VOLUME_SOURCES)


def test_rule_rows_and_reason_codes_agree() -> None:
    """A code a rule row names is a documented reason code, and the row of every rule whose
    codes come from the translation names the translation's codes."""
    from spillway.policy.rules import REGISTRY
    from spillway.translate import REFUSAL_REASONS

    documented = first_column_codes("Reason codes")
    for rule in REGISTRY.values():
        assert set(rule.reasons) <= documented, rule.name
    assert set(REFUSAL_REASONS) <= set(REGISTRY["cloud-instance"].reasons)


# ---- reasons the services pass to events, found in their source --------------------------------

REASON = re.compile(r"[A-Z][a-z]+(?:[A-Z][a-z0-9]*)+")
"""An event reason: UpperCamelCase of two words or more (`Warning`, `Normal` are types)."""
REASON_PARAMETERS = frozenset({"reason", "event_reason"})


def _modules(*folders: str) -> Iterator[tuple[str, Path, ast.Module]]:
    """(dotted module name, path, tree); libs/spillway/x.py is spillway.x."""
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            parts = parts[1:] if parts[0] == "libs" else parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            yield ".".join(parts), path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _string(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _parameters(tree: ast.Module) -> dict[str, list[str]]:
    """Callable name → its positional parameter names that may carry an event reason: a function's
    parameters; a dataclass-style class's fields only when named `event_reason` (a `reason` field
    elsewhere is a condition's or a status's reason, not an event's)."""
    out: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
            out[node.name] = names[1:] if names[:1] in (["self"], ["cls"]) else names
        elif isinstance(node, ast.ClassDef):
            fields = [n.target.id for n in node.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
            if fields:
                out[node.name] = [f if f == "event_reason" else "" for f in fields]
    return out


def _constants(body: list[ast.stmt]) -> dict[str, str]:
    """Module-level `NAME = "Text"`, and enum members as `Class.NAME`."""
    out: dict[str, str] = {}
    for node in body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if (value := _string(node.value)) is not None:
                out[node.targets[0].id] = value
        elif isinstance(node, ast.ClassDef):
            out.update({f"{node.name}.{name}": value for name, value in _constants(node.body).items()
                        if "." not in name})
    return out


def _imports(tree: ast.Module) -> dict[str, tuple[str, str]]:
    """Local name → (module, name there) for `from module import name [as local]`."""
    return {a.asname or a.name: (node.module, a.name) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module for a in node.names}


def _callee(func: ast.AST) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def emitted_reasons() -> dict[str, str]:
    """Reason → where: every string the services pass as an event's reason (a parameter named
    `reason`/`event_reason`, or the argument after "Warning"/"Normal"), constants resolved through
    their imports, and every value of a services' enum whose name ends in Reason."""
    modules = list(_modules("services", "libs/spillway"))
    parameters: dict[str, list[str]] = {}
    constants: dict[str, dict[str, str]] = {}
    imports: dict[str, dict[str, tuple[str, str]]] = {}
    for module, _, tree in modules:
        parameters.update(_parameters(tree))
        constants[module] = _constants(tree.body)
        imports[module] = _imports(tree)

    def lookup(module: str, name: str, hops: int = 4) -> str | None:
        """`name` (or `Class.NAME`) as seen in `module`, following imports and re-exports."""
        head, dot, rest = name.partition(".")
        if name in constants.get(module, {}) or head not in imports.get(module, {}) or not hops:
            return constants.get(module, {}).get(name)
        source, original = imports[module][head]
        return lookup(source, f"{original}{dot}{rest}", hops - 1)

    found: dict[str, str] = {}
    for module, path, tree in modules:
        if not module.startswith("services."):
            continue

        def resolve(node: ast.AST, module: str = module) -> str | None:
            if (value := _string(node)) is not None:
                return value
            if isinstance(node, ast.Attribute) and node.attr == "value":
                node = node.value
            if isinstance(node, ast.Name):
                return lookup(module, node.id)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                return lookup(module, f"{node.value.id}.{node.attr}")
            return None

        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ClassDef) and node.name.endswith("Reason"):
                found.update({value: where for value in _constants(node.body).values()})
            if not isinstance(node, ast.Call):
                continue
            callee, args = _callee(node.func), node.args
            if callee == "partial" and args:  # functools.partial(f, *args): the call is f's
                callee, args = _callee(args[0]), args[1:]
            names = parameters.get(callee, [])
            candidates = [arg for name, arg in zip(names, args, strict=False) if name in REASON_PARAMETERS]
            candidates += [k.value for k in node.keywords if k.arg in REASON_PARAMETERS]
            candidates += [args[i + 1] for i, arg in enumerate(args[:-1]) if _string(arg) in ("Warning", "Normal")]
            for arg in candidates:
                value = resolve(arg)
                if value is not None and REASON.fullmatch(value):
                    found[value] = where
    return found


def test_every_reason_a_service_emits_is_in_the_catalogue() -> None:
    emitted = emitted_reasons()
    # the net must see what it is for: reasons passed as literals, constants and enum members
    assert {"TranslationWarning", "ZoneSoldOut", "ProvisioningFailed", "InstanceLost", "DaemonsetForbidden",
            "UndecodableObject", "PodUpdateRefused", "UnmanagedSuperNode"} <= set(emitted)
    missing = {reason: where for reason, where in emitted.items() if reason not in documented_reasons()
               and reason not in event_reasons()}
    assert not missing, f"event reasons used in services/ but not in spillway.policy.catalogue: {missing}"
