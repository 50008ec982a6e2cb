"""The bus keeps of a local pod only what its readers read: each fact placement takes from a local
pod is the same from its view as from the whole pod, and the view is far smaller."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from bench.scale import workload_template
from spillway.model.kube import Pod, from_builtins, local_pod_view
from spillway.model.sizing import pod_size
from spillway.policy.local_fit import host_ports, local_node, pod_requests
from spillway.policy.returns import cloud_since, is_ready, return_switch, workload_busy
from spillway.policy.workload import workload_of
from tests.policy.test_local_fit import node


def whole_pod(**changes: Any) -> Pod:
    template = workload_template(10)
    spec = {**template["spec"], "nodeName": "idc-1", **changes.pop("spec", {})}
    body = {"metadata": {**template["metadata"], "name": "svc-00010-abc-x1", "namespace": "idc-0", "uid": "u-1",
                         "resourceVersion": "7", "creationTimestamp": "2026-11-28T08:00:00Z",
                         "finalizers": ["example.com/keep"],
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "svc-00010-abc",
                                              "uid": "rs-1", "controller": True}]},
            "spec": spec,
            "status": {"phase": "Running", "podIP": "10.0.0.7", "hostIP": "172.20.0.2",
                       "conditions": [{"type": "PodScheduled", "status": "True",
                                       "lastTransitionTime": "2026-11-28T08:00:01Z"},
                                      {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-28T08:00:09Z"},
                                      {"type": "ContainersReady", "status": "True"}],
                       "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0}], **changes}}
    return from_builtins(body, Pod)


SIDECAR_WITH_HOST_PORT = {"initContainers": [
    {"name": "proxy", "image": "envoy", "restartPolicy": "Always",
     "ports": [{"containerPort": 15001, "hostPort": 15001}, {"containerPort": 15090}],
     "resources": {"requests": {"cpu": "300m", "memory": "64Mi"}}}]}

PODS = [
    pytest.param(whole_pod(), id="typical"),
    pytest.param(whole_pod(spec=SIDECAR_WITH_HOST_PORT), id="sidecar-with-host-port"),
    pytest.param(whole_pod(phase="Succeeded"), id="finished"),
    pytest.param(whole_pod(conditions=[{"type": "Ready", "status": "False"}]), id="not-ready"),
    pytest.param(whole_pod(spec={"schedulingGates": [{"name": "example.com/wait"}]}), id="gated"),
]


@pytest.mark.parametrize("pod", PODS)
def test_every_fact_placement_reads_of_a_local_pod_is_the_same_from_its_view(pod: Pod) -> None:
    view = local_pod_view(pod)

    def facts(p: Pod) -> tuple[Any, ...]:
        return (p.key, p.metadata.uid, p.metadata.resource_version, p.spec.node_name, p.metadata.labels,
                workload_of(p, lambda _ns, _name: None), p.is_gated_by(), p.is_terminating(), p.is_finished(),
                pod_requests(p), host_ports(p), is_ready(p), cloud_since(p),
                p.metadata.annotations.get("LOCAL_REPLICAS"),
                return_switch("true", p.metadata.annotations).on, local_node(node(), [p]), workload_busy([p]),
                pod_size(p, honour_annotations=False))

    assert facts(view) == facts(pod)
    assert local_pod_view(view) == view  # a view of a view changes nothing


def test_the_view_is_a_small_part_of_the_pod() -> None:
    pod = whole_pod()
    whole, view = len(msgspec.json.encode(pod)), len(msgspec.json.encode(local_pod_view(pod)))
    assert view * 4 < whole, (view, whole)
