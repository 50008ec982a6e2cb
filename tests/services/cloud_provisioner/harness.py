"""Shared by the cloud-provisioner and node-status tests: config for the emulator, pod builders,
and the watcher's side of the bus contract (tests publish the PodEvents the watcher would)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from spillway.bus import Bus
from spillway.cloud import InstanceNaming, InstanceProvider, TkeProvider
from spillway.config import Config
from spillway.emulator.server import Emulator
from spillway.kube import KubeClient, cluster_uid, pod_path
from spillway.model import messages as m
from spillway.model.kube import Pod
from spillway.sandbox import Sandbox
from tests.fixtures.cloud import CLOUD_REGION, CLOUD_SECRET_ID, CLOUD_SECRET_KEY, CLOUD_SUBNETS, cloud_settings

CLUSTER_ID = "test-cluster"
NODE_A = "eklet-subnet-aaa"
NODE_B = "eklet-subnet-bbb"


def cloud_config(emulator: Emulator, **sections: Any) -> dict[str, Any]:
    """Config data (camelCase, as in the file) pointing the cloud at the emulator."""
    data: dict[str, Any] = {
        "cloud": {
            "secretID": CLOUD_SECRET_ID, "secretKey": CLOUD_SECRET_KEY, "vpcID": "vpc-test",
            "regionLong": CLOUD_REGION, "apiEndpoint": f"http://{emulator.endpoint}", "clusterID": CLUSTER_ID,
            "securityGroupIds": ["sg-test"], "instanceQuota": 50,
            "subnets": [{"id": s, "zone": z} for s, z in CLOUD_SUBNETS.items()],
        },
        "eklet": {"podUsedApiserver": "10.0.0.1:6443"},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return data


async def naming_of(kube: KubeClient) -> InstanceNaming:
    """The instance names a service run with `cloud_config` uses on this client's cluster."""
    return InstanceNaming(CLUSTER_ID, await cluster_uid(kube))


def fast_provider(emulator: Emulator, **overrides: object) -> Callable[[Config], InstanceProvider]:
    """A provider factory with millisecond retries (the service's own default backs off for seconds)."""
    return lambda config: TkeProvider(cloud_settings(emulator, **overrides))


def pod_body(name: str, *, env: list[dict[str, Any]] | None = None, owner_kind: str | None = None,
             image: str = "nginx:1.27", **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": image,
                                 "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}
    if env:
        container["env"] = env
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                            "spec": {"containers": [container], "terminationGracePeriodSeconds": 30, **spec}}
    if owner_kind:
        body["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner_kind, "name": "owner",
                                                "uid": "owner-uid", "controller": True}]
    return body


async def create_and_bind(sandbox: Sandbox, kube: KubeClient, body: dict[str, Any], node: str = NODE_A) -> Pod:
    """Create the pod, bind it like placement does, and return the bound pod."""
    await sandbox.store.create("pods", body, namespace="default")
    name = body["metadata"]["name"]
    await kube.bind_pod("default", name, node)
    return await kube.get_as(pod_path("default", name), Pod)


async def announce(bus: Bus, pod: Pod, change: m.PodChange = "bound", msg_id: str | None = None) -> None:
    """Publish what the watcher publishes for this pod change."""
    await bus.publish(m.PodEvent(change=change, pod=pod, observed_at=time.time()),
                      msg_id=msg_id or f"{pod.metadata.uid}:{change}:{pod.spec.node_name}")


async def get_pod(kube: KubeClient, name: str) -> Pod:
    return await kube.get_as(pod_path("default", name), Pod)
