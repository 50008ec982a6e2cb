"""The policy judges super nodes and DaemonSet pods by the same facts the services act on."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.model.kube import Pod
from spillway.policy.admission import review
from spillway.policy.options import PolicyOptions
from spillway.policy.rules import affinity as affinity_rule
from spillway.policy.rules import daemonset as daemonset_rule
from spillway.policy.rules.base import RuleContext
from spillway.policy.status import Code
from tests.policy.builders import pod

CONFIGURED = RuleContext(PolicyOptions(subnets=(("subnet-x", "gz-6"), ("subnet-y", "gz-7"))))
UNCONFIGURED = RuleContext()


@pytest.mark.parametrize("ctx", [pytest.param(CONFIGURED, id="subnets configured"),
                                 pytest.param(UNCONFIGURED, id="no subnet")])
@pytest.mark.parametrize(
    "selector",
    [
        pytest.param({"kubernetes.io/os": "linux"}, id="os"),
        pytest.param({"kubernetes.io/arch": "amd64"}, id="arch"),
        pytest.param({"type": "virtual-kubelet"}, id="virtual-kubelet type"),
        pytest.param({"eks.tke.cloud.tencent.com/version": "v2"}, id="eks version"),
        pytest.param({"kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": "eklet"}, id="os and type"),
    ],
)
def test_labels_every_super_node_has_are_possible_before_any_is_registered(
        selector: dict[str, str], ctx: RuleContext) -> None:
    result = affinity_rule.check(pod(spec={"nodeSelector": selector}), ctx)
    assert result.code is Code.ALLOWED, result.message


@pytest.mark.parametrize(
    ("selector", "code"),
    [
        pytest.param({"kubernetes.io/hostname": "eklet-subnet-y"}, Code.ALLOWED, id="hostname of a configured one"),
        pytest.param({"kubernetes.io/hostname": "eklet-subnet-z"}, Code.NEVER_POSSIBLE, id="hostname of none"),
        pytest.param({"kubernetes.io/os": "windows"}, Code.NEVER_POSSIBLE, id="another os"),
    ],
)
def test_labels_of_one_super_node_before_registration(selector: dict[str, str], code: Code) -> None:
    assert affinity_rule.check(pod(spec={"nodeSelector": selector}), CONFIGURED).code is code


def co_owned(**kwargs: Any) -> Pod:
    """A pod a ReplicaSet controls that also lists a DaemonSet among its owners."""
    return pod("web-1", metadata={"ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "ds-uid", "controller": False},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "rs-uid", "controller": True},
    ]}, **kwargs)


def test_a_daemonset_co_owner_does_not_make_a_daemonset_pod() -> None:
    assert daemonset_rule.check(co_owned(), UNCONFIGURED).code is Code.ALLOWED


def test_a_daemonset_co_owned_pod_is_gated_like_its_controller_s_pods() -> None:
    assert review(co_owned(annotations={"LOCAL_REPLICAS": "1"}), None, PolicyOptions()).gate
