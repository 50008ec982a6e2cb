"""One realistic sample message per catalogue subject, shared by the bus and docs tests."""

from __future__ import annotations

from typing import get_args

from spillway.model import messages as m
from spillway.model.kube import (
    Condition,
    Node,
    NodeSpec,
    NodeStatus,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodSpec,
    PodStatus,
    SchedulingGate,
    Taint,
)

POD = Pod(
    metadata=ObjectMeta(name="web-1", namespace="shop", uid="uid-1", resource_version="42",
                        annotations={"LOCAL_REPLICAS": "2"},
                        owner_references=[OwnerReference(api_version="apps/v1", kind="ReplicaSet", name="web-abc",
                                                         uid="rs-1", controller=True)]),
    spec=PodSpec(scheduling_gates=[SchedulingGate(name="spillway.io/placement")]),
    status=PodStatus(conditions=[Condition(type="PodScheduled", status="False", reason="Unschedulable")]),
)
NODE = Node(
    metadata=ObjectMeta(name="eklet-subnet-1", labels={"node.kubernetes.io/instance-type": "eklet"}),
    spec=NodeSpec(taints=[Taint(key="eks.tke.cloud.tencent.com/eklet", effect="NoSchedule")]),
    status=NodeStatus(allocatable={"cpu": "100", "memory": "200Gi"}),
)


def sample(subject: str) -> m.Message:
    """A message valid for `subject` (a concrete subject, not a wildcard)."""
    type_ = m.type_for_subject(subject)
    if type_ is m.PodEvent:
        changes: tuple[m.PodChange, ...] = get_args(m.PodChange)
        change = next(c for c in changes if m.POD_SUBJECT_BY_CHANGE[c] == subject)
        return m.PodEvent(change=change, pod=POD, observed_at=1700000000.5)
    if type_ is m.NodeEvent:
        return m.NodeEvent(change="deleted" if subject == m.NODE_DELETED else "changed", node=NODE,
                           observed_at=1700000001.0)
    if type_ is m.ConfigEvent:
        return m.ConfigEvent(data={"AUTO_SCALE_EKS": "true"}, resource_version="7", observed_at=1.0)
    if type_ is m.PlacementDecision:
        return m.PlacementDecision(namespace="shop", name="web-1", uid="uid-1", workload="Deployment/shop/web",
                                   outcome="cloud", node="eklet-subnet-1", reason="LocalReplicasReached",
                                   message="2 local replicas already", trace_id="0" * 31 + "1",
                                   rules=[m.RuleResult(rule="daemonset", code="allowed")], decided_at=2.0)
    if type_ is m.InstanceEvent:
        statuses: tuple[m.InstanceStatus, ...] = get_args(m.InstanceStatus)
        status = next(s for s in statuses if m.INSTANCE_SUBJECT_BY_STATUS[s] == subject)
        return m.InstanceEvent(namespace="shop", name="web-1", uid="uid-1", status=status,
                               eks_ci_id="eksci-123", eks_ci_name="spillway-uid-1", request_id="req-1")
    if type_ is m.ZoneCooldown:
        return m.ZoneCooldown(zone="ap-guangzhou-3", until=1700000300.0, reason="ResourceInsufficient.SoldOut")
    if type_ is m.DeadLetter:
        return m.DeadLetter(service="placement", subject=m.POD_BOUND, error="boom", payload="{}", deliveries=5,
                            stream_seq=9, consumer="placement-on_bound")
    raise AssertionError(f"no sample for {subject}")


def concrete_subjects() -> list[str]:
    """Every catalogue subject, with the DLQ wildcard made concrete."""
    return [s.subject.replace("*", "placement") for s in m.CATALOGUE]
