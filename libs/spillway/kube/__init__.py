"""The Kubernetes adapter: kubernetes_asyncio for configuration and authentication, raw JSON
calls decoded with msgspec, a reflector (list+watch), Events, and Lease leader election."""

from spillway.kube.client import KubeClient, node_path, object_path, pod_path
from spillway.kube.errors import Conflict, Forbidden, Gone, Invalid, KubeError, NotFound

__all__ = ["Conflict", "Forbidden", "Gone", "Invalid", "KubeClient", "KubeError", "NotFound", "node_path",
           "object_path", "pod_path"]
