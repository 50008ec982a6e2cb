"""The Kubernetes adapter: kubernetes_asyncio for configuration and authentication, raw JSON
calls decoded with msgspec, a reflector (list+watch), Events, Lease leader election, and the
cluster's identity (`cluster_uid`)."""

from spillway.kube.client import KubeClient, node_path, object_path, pod_path
from spillway.kube.errors import Conflict, Forbidden, Gone, Invalid, KubeError, NotFound
from spillway.kube.identity import ClusterIdentityError, cluster_uid, wait_for_cluster_uid

__all__ = ["ClusterIdentityError", "Conflict", "Forbidden", "Gone", "Invalid", "KubeClient", "KubeError", "NotFound",
           "cluster_uid", "node_path", "object_path", "pod_path", "wait_for_cluster_uid"]
