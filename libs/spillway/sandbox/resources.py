"""The registry of kinds the sandbox serves: what discovery, routing, RBAC and the store agree on.

One `ResourceType` per (group, version, plural). `storage` names the store bucket: the two
Event views (core/v1 and events.k8s.io/v1) share one bucket, as in the real server.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
GET_UPDATE_PATCH = ("get", "patch", "update")
COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
POD_FIELDS = COMMON_FIELDS | {
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
}
NODE_FIELDS = COMMON_FIELDS | {"spec.unschedulable"}
EVENT_FIELDS = COMMON_FIELDS | {
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
}
SECRET_FIELDS = COMMON_FIELDS | {"type"}
WORKLOADS = frozenset({"deployments", "replicasets", "statefulsets", "daemonsets", "jobs"})


@dataclass(frozen=True)
class Subresource:
    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = ""


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[Subresource, ...] = ()
    field_selectors: frozenset[str] = COMMON_FIELDS
    storage: str = ""
    # PUT may create (leases), and a PUT must carry a resourceVersion (leases).
    create_on_update: bool = False
    require_rv_on_update: bool = False
    # Generation is set on create for kinds with a spec, bumped on spec change for workloads.
    has_generation: bool = False
    bump_generation: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """The internal name: the plural, group-qualified only where plurals collide."""
        return self.plural if self.group in ("", "apps") or self.plural != "events" else f"{self.plural}.{self.group}"

    @property
    def bucket(self) -> str:
        return self.storage or self.plural

    def has_status(self) -> bool:
        return any(s.name == "status" for s in self.subresources)

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, GET_UPDATE_PATCH)


def _scale() -> Subresource:
    return Subresource("scale", "Scale", GET_UPDATE_PATCH, "autoscaling", "v1")


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "namespace", "Namespace", False, ("ns",),
                 verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
                 subresources=(_status("Namespace"),)),
    ResourceType("", "v1", "pods", "pod", "Pod", True, ("po",), ("all",),
                 subresources=(_status("Pod"), Subresource("binding", "Binding", ("create",)),
                               Subresource("eviction", "Eviction", ("create",), "policy", "v1"),
                               Subresource("log", "Pod", ("get",))),
                 field_selectors=POD_FIELDS, has_generation=True),
    ResourceType("", "v1", "nodes", "node", "Node", False, ("no",), subresources=(_status("Node"),),
                 field_selectors=NODE_FIELDS),
    ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
    ResourceType("", "v1", "secrets", "secret", "Secret", True, field_selectors=SECRET_FIELDS),
    ResourceType("", "v1", "services", "service", "Service", True, ("svc",), ("all",),
                 subresources=(_status("Service"),)),
    ResourceType("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ("sa",)),
    ResourceType("", "v1", "events", "event", "Event", True, ("ev",), field_selectors=EVENT_FIELDS,
                 create_on_update=True),
    ResourceType("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", True, ("pvc",),
                 subresources=(_status("PersistentVolumeClaim"),)),
    ResourceType("", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", False, ("pv",),
                 subresources=(_status("PersistentVolume"),)),
    ResourceType("events.k8s.io", "v1", "events", "event", "Event", True, ("ev",), storage="events",
                 create_on_update=True),
    ResourceType("coordination.k8s.io", "v1", "leases", "lease", "Lease", True,
                 create_on_update=True, require_rv_on_update=True),
    ResourceType("apps", "v1", "deployments", "deployment", "Deployment", True, ("deploy",), ("all",),
                 subresources=(_status("Deployment"), _scale()), has_generation=True, bump_generation=True),
    ResourceType("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, ("rs",), ("all",),
                 subresources=(_status("ReplicaSet"), _scale()), has_generation=True, bump_generation=True),
    ResourceType("apps", "v1", "statefulsets", "statefulset", "StatefulSet", True, ("sts",), ("all",),
                 subresources=(_status("StatefulSet"), _scale()), has_generation=True, bump_generation=True),
    ResourceType("apps", "v1", "daemonsets", "daemonset", "DaemonSet", True, ("ds",), ("all",),
                 subresources=(_status("DaemonSet"),), has_generation=True, bump_generation=True),
    ResourceType("batch", "v1", "jobs", "job", "Job", True, (), ("all",),
                 subresources=(_status("Job"),), has_generation=True, bump_generation=True),
    ResourceType("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", True, ("pdb",),
                 subresources=(_status("PodDisruptionBudget"),), has_generation=True, bump_generation=True),
    ResourceType("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
                 "mutatingwebhookconfiguration", "MutatingWebhookConfiguration", False, (), ("api-extensions",),
                 has_generation=True),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", False),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding",
                 "ClusterRoleBinding", False),
)

BY_KEY: dict[str, ResourceType] = {r.key: r for r in RESOURCES}
BY_PATH: dict[tuple[str, str, str], ResourceType] = {(r.group, r.version, r.plural): r for r in RESOURCES}
BY_KIND: dict[tuple[str, str], ResourceType] = {}
for _r in RESOURCES:
    BY_KIND.setdefault((_r.api_version, _r.kind), _r)


def resource(key: str) -> ResourceType:
    """Look a kind up by its internal key ("pods", "deployments", "events.events.k8s.io")."""
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown resource {key!r}; known: {', '.join(sorted(BY_KEY))}") from None


def group_versions() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in RESOURCES:
        versions = out.setdefault(r.group, [])
        if r.version not in versions:
            versions.append(r.version)
    return out
