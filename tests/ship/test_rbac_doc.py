"""docs/rbac.md lists exactly the rules the manifests grant, per service, both ways.

Rules are followed from the bindings (subject ServiceAccount → Role/ClusterRole), so a rule in a
role nobody binds, or a binding to the wrong account, shows up as a difference too.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any

import pytest

from tests.ship.render import KUBECTL, REPO, SERVICES, of_kind, render

pytestmark = [pytest.mark.kubectl, pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")]

DOC = REPO / "docs" / "rbac.md"
ACCOUNTS = {f"spillway-{s}": s for s in SERVICES} | {"tke-scheduler": "tke-scheduler"}
# Built-in roles the tke-scheduler binds; documented in prose, their rules belong to Kubernetes.
BUILT_IN = {"system:kube-scheduler", "system:volume-scheduler", "extension-apiserver-authentication-reader"}

Rule = tuple[str, str, str, str, str, str]  # service, scope, group, resource, resourceName, verb


def granted(objs: tuple[dict[str, Any], ...]) -> set[Rule]:
    roles = {("ClusterRole", None, r["metadata"]["name"]): r for r in of_kind(objs, "ClusterRole")}
    roles |= {("Role", r["metadata"]["namespace"], r["metadata"]["name"]): r for r in of_kind(objs, "Role")}
    rules: set[Rule] = set()
    for binding in of_kind(objs, "ClusterRoleBinding") + of_kind(objs, "RoleBinding"):
        ref = binding["roleRef"]
        if ref["name"] in BUILT_IN:
            continue
        namespace = binding["metadata"].get("namespace")
        role = roles[(ref["kind"], None if ref["kind"] == "ClusterRole" else namespace, ref["name"])]
        scope = namespace or "cluster"
        for subject in binding["subjects"]:
            service = ACCOUNTS[subject["name"]]
            for rule in role["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        for name in rule.get("resourceNames", [""]):
                            for verb in rule["verbs"]:
                                rules.add((service, scope, group or "core", resource, name, verb))
    return rules


def documented(text: str) -> set[Rule]:
    rules: set[Rule] = set()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 8 and cells[0] in ACCOUNTS.values():
            service, scope, group, resource, name, verb, why, e2e = cells
            assert why, f"no reason given: {line}"
            assert e2e, f"no E2E verdict (tests/e2e/test_least_privilege.py checks it): {line}"
            rules.add((service, scope, group, resource, name, verb))
    return rules


def test_doc_table_matches_the_manifests_exactly() -> None:
    in_manifests = granted(render("base")) | granted(render("component/tke-scheduler"))
    in_doc = documented(DOC.read_text())
    assert in_doc - in_manifests == set(), "documented but not granted"
    assert in_manifests - in_doc == set(), "granted but not documented"


def test_admission_has_no_rules_and_the_builtin_bindings_are_documented() -> None:
    assert not [r for r in granted(render("base")) if r[0] == "admission"]
    text = DOC.read_text()
    for role in BUILT_IN:
        assert f"`{role}`" in text


def test_parser_sees_a_changed_row() -> None:
    row = "| placement | cluster | core | pods/binding | | {} |"
    text = DOC.read_text().replace(row.format("create"), row.format("update"))
    assert ("placement", "cluster", "core", "pods/binding", "", "update") in documented(text)


def test_doc_mentions_the_manifest_files() -> None:
    for path in re.findall(r"`(k8s/[^`]+)`", DOC.read_text()):
        assert (REPO / pathlib.Path(path)).exists(), path
