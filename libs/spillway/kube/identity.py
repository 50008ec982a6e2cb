"""Which cluster this is: the uid of its `kube-system` namespace.

A config file is copied from cluster to cluster, and with it `cloud.clusterID`; the namespace's
uid is made by the API server when the cluster is born, never changes, and is the same for every
client of one cluster, so cluster-scoped tools use it as the cluster's identity. Read once at
start-up (it needs `get` on `namespaces`, name `kube-system`). A namespace that is missing or has
no uid is an error, never a default: a shared default would make two clusters one.
"""

from __future__ import annotations

import msgspec

from spillway.kube.client import KubeClient, object_path
from spillway.kube.errors import Forbidden, NotFound
from spillway.loops import SYSTEM_CLOCK, Clock, Liveness, until_ok

CLUSTER_NAMESPACE = "kube-system"
IDENTITY_LOOP = "cluster identity"


class ClusterIdentityError(Exception):
    """The cluster's identity cannot be read (no `kube-system`, no uid, or not allowed to read it)."""


class _Meta(msgspec.Struct):
    uid: str = ""


class _Namespace(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)


async def cluster_uid(client: KubeClient) -> str:
    """The `kube-system` namespace's `metadata.uid`; raises ClusterIdentityError when it cannot be read."""
    path = object_path("v1", "namespaces", CLUSTER_NAMESPACE)
    try:
        namespace = await client.get_as(path, _Namespace)
    except NotFound:
        raise ClusterIdentityError(f"namespace {CLUSTER_NAMESPACE} not found: its uid identifies this "
                                   "cluster") from None
    except Forbidden as exc:
        raise ClusterIdentityError(f"not allowed to get namespace {CLUSTER_NAMESPACE} ({exc.message}): grant "
                                   f"get on namespaces named {CLUSTER_NAMESPACE} (k8s/base/rbac.yaml)") from None
    except msgspec.DecodeError as exc:
        raise ClusterIdentityError(f"namespace {CLUSTER_NAMESPACE} does not decode: {exc}") from None
    if not namespace.metadata.uid:
        raise ClusterIdentityError(f"namespace {CLUSTER_NAMESPACE} has no metadata.uid")
    return namespace.metadata.uid


async def wait_for_cluster_uid(client: KubeClient, *, clock: Clock = SYSTEM_CLOCK,
                               liveness: Liveness | None = None) -> str:
    """`cluster_uid`, tried again (logged, counted, backed off) until it answers: a service must not
    name a single instance before it knows which cluster it is."""
    found: list[str] = []

    async def read() -> None:
        found.append(await cluster_uid(client))

    await until_ok(IDENTITY_LOOP, 1.0, read, clock=clock, liveness=liveness)
    return found[-1]
