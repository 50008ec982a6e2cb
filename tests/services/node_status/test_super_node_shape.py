"""The super node the policy pictures before registration is the one node-status registers."""

from __future__ import annotations

from typing import Any

from services.node_status.nodes import merge_patch, new_node, super_nodes_from
from spillway.config import policy_options
from spillway.config.loader import parse_config
from spillway.model.kube import Node, Pod, from_builtins
from spillway.policy.rules import affinity as affinity_rule
from spillway.policy.rules.base import RuleContext
from spillway.policy.status import Code
from spillway.policy.templates import template_super_nodes

CONFIG = parse_config({"cloud": {"subnets": [{"id": "subnet-aaa", "zone": "ap-guangzhou-3"},
                                             {"id": "subnet-bbb", "zone": "ap-guangzhou-4"}]}}, env={})


def shape(node: Node) -> tuple[Any, ...]:
    meta = node.metadata
    return meta.name, meta.labels, meta.annotations, node.spec.taints


def test_template_equals_what_node_status_registers() -> None:
    registered = [from_builtins(new_node(node), Node) for node in super_nodes_from(CONFIG, "10.0.0.1", 10250)]
    pictured = template_super_nodes(policy_options(CONFIG).subnets)
    assert [shape(n) for n in pictured] == [shape(n) for n in registered]
    assert {"kubernetes.io/os", "kubernetes.io/arch", "kubernetes.io/hostname"} <= set(registered[0].metadata.labels)


def test_registration_adds_nothing_to_the_picture() -> None:
    """Merging node-status's labels, annotations and taint into the picture changes nothing."""
    for node, picture in zip(super_nodes_from(CONFIG, "10.0.0.1", 10250),
                             template_super_nodes(policy_options(CONFIG).subnets), strict=True):
        assert merge_patch(node, picture) is None


def test_the_affinity_rule_answers_the_same_before_and_after_registration() -> None:
    options = policy_options(CONFIG)
    before = RuleContext(options)
    after = RuleContext(options, super_nodes=[from_builtins(new_node(node), Node)
                                              for node in super_nodes_from(CONFIG, "10.0.0.1", 10250)])
    for selector, possible in [({"kubernetes.io/os": "linux"}, True), ({"kubernetes.io/arch": "amd64"}, True),
                               ({"kubernetes.io/hostname": "eklet-subnet-bbb"}, True),
                               ({"topology.kubernetes.io/zone": "ap-guangzhou-4"}, True),
                               ({"kubernetes.io/os": "windows"}, False),
                               ({"topology.kubernetes.io/zone": "ap-guangzhou-9"}, False)]:
        subject = from_builtins({"metadata": {"name": "p", "namespace": "ns"},
                                 "spec": {"nodeSelector": selector}}, Pod)
        answers = {affinity_rule.check(subject, ctx).code for ctx in (before, after)}
        assert answers == {Code.ALLOWED if possible else Code.NEVER_POSSIBLE}, selector
