"""Typed, read-only views of the Kubernetes objects Spillway reasons about.

Why not kubernetes_asyncio's models: they cost ~390 µs per pod to deserialise, msgspec ~5 µs
(docs/design.md §9). These Structs hold only the fields the policy, the translation and the services
use; unknown fields are ignored on decode, so they read real API JSON as it comes
(`decode_pod(raw_bytes)`). Encoding writes camelCase JSON that is itself valid API JSON for
those fields. They are frozen: change an object by building a patch, never by mutation.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

# Well-known names shared by every layer.
SUPER_NODE_TAINT_KEY = "eks.tke.cloud.tencent.com/eklet"
SUPER_NODE_INSTANCE_TYPE = "eklet"
LABEL_INSTANCE_TYPE = "node.kubernetes.io/instance-type"
LABEL_ZONE_NAME = "eks.tke.cloud.tencent.com/zone-name"
LABEL_TOPOLOGY_ZONE = "topology.kubernetes.io/zone"
LABEL_EKS_VERSION = "eks.tke.cloud.tencent.com/version"
ANNOTATION_SUBNET_ID = "eks.tke.cloud.tencent.com/subnet-id"
ANNOTATION_RESOLV_CONF = "eks.tke.cloud.tencent.com/resolv-conf"
ANNOTATION_CPU = "eks.tke.cloud.tencent.com/cpu"
ANNOTATION_MEM = "eks.tke.cloud.tencent.com/mem"
ANNOTATION_SECURITY_GROUPS = "eks.tke.cloud.tencent.com/security-group-id"
ANNOTATION_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
ANNOTATION_AUTO_SCALE = "AUTO_SCALE_EKS"
ANNOTATION_LOCAL_REPLICAS = "LOCAL_REPLICAS"
ANNOTATION_FIXED_IP = "tke.cloud.tencent.com/vpc-ip-claim-delete-policy"
ANNOTATION_RETURN_TO_LOCAL = "RETURN_TO_LOCAL"
PLACEMENT_GATE = "spillway.io/placement"
EKS_CONFIG_NAMESPACE = "kube-system"
EKS_CONFIG_NAME = "eks-config"
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
"""Pod phases no container runs in again: the pod is done, whatever its deletionTimestamp says."""
DAEMON_SET = "DaemonSet"


class _K8s(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True, forbid_unknown_fields=False):
    """Base: camelCase on the wire, defaults omitted, unknown API fields ignored."""


class OwnerReference(_K8s, frozen=True):
    api_version: str = ""
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool | None = None


class ObjectMeta(_K8s, frozen=True):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    generate_name: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    owner_references: list[OwnerReference] = []
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None
    finalizers: list[str] = []
    generation: int | None = None

    def controller_ref(self) -> OwnerReference | None:
        """The owner with controller=true, which is what workload identity follows."""
        for ref in self.owner_references:
            if ref.controller:
                return ref
        return None


# ---- pod spec -----------------------------------------------------------------------------

class ContainerPort(_K8s, frozen=True):
    container_port: int = 0
    host_port: int | None = None
    name: str = ""
    protocol: str = "TCP"


class KeyRef(_K8s, frozen=True):
    """secretKeyRef / configMapKeyRef."""

    name: str = ""
    key: str = ""
    optional: bool | None = None


class FieldRef(_K8s, frozen=True):
    field_path: str = ""
    api_version: str | None = None


class ResourceFieldRef(_K8s, frozen=True):
    resource: str = ""
    container_name: str | None = None
    divisor: str | None = None


class EnvVarSource(_K8s, frozen=True):
    secret_key_ref: KeyRef | None = None
    config_map_key_ref: KeyRef | None = None
    field_ref: FieldRef | None = None
    resource_field_ref: ResourceFieldRef | None = None


class EnvVar(_K8s, frozen=True):
    name: str = ""
    value: str | None = None
    value_from: EnvVarSource | None = None


class LocalRef(_K8s, frozen=True):
    name: str = ""
    optional: bool | None = None


class EnvFromSource(_K8s, frozen=True):
    prefix: str | None = None
    config_map_ref: LocalRef | None = None
    secret_ref: LocalRef | None = None


class VolumeMount(_K8s, frozen=True):
    name: str = ""
    mount_path: str = ""
    read_only: bool | None = None
    sub_path: str | None = None
    sub_path_expr: str | None = None
    mount_propagation: str | None = None


class HTTPGetAction(_K8s, frozen=True):
    path: str | None = None
    port: int | str = 0
    scheme: str | None = None
    host: str | None = None


class TCPSocketAction(_K8s, frozen=True):
    port: int | str = 0
    host: str | None = None


class GRPCAction(_K8s, frozen=True):
    port: int = 0
    service: str | None = None


class ExecAction(_K8s, frozen=True):
    command: list[str] = []


class Probe(_K8s, frozen=True):
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    grpc: GRPCAction | None = None
    initial_delay_seconds: int | None = None
    timeout_seconds: int | None = None
    period_seconds: int | None = None
    success_threshold: int | None = None
    failure_threshold: int | None = None


class SleepAction(_K8s, frozen=True):
    seconds: int = 0


class LifecycleHandler(_K8s, frozen=True):
    """A postStart / preStop hook: exactly one of its actions is set."""

    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    sleep: SleepAction | None = None


class Lifecycle(_K8s, frozen=True):
    post_start: LifecycleHandler | None = None
    pre_stop: LifecycleHandler | None = None


class ResourceRequirements(_K8s, frozen=True):
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}


class Capabilities(_K8s, frozen=True):
    add: list[str] = []
    drop: list[str] = []


class SecurityContext(_K8s, frozen=True):
    capabilities: Capabilities | None = None
    privileged: bool | None = None
    run_as_user: int | None = None
    run_as_non_root: bool | None = None
    read_only_root_filesystem: bool | None = None


class Container(_K8s, frozen=True):
    name: str = ""
    image: str = ""
    command: list[str] = []
    args: list[str] = []
    working_dir: str | None = None
    ports: list[ContainerPort] = []
    env: list[EnvVar] = []
    env_from: list[EnvFromSource] = []
    resources: ResourceRequirements = ResourceRequirements()
    volume_mounts: list[VolumeMount] = []
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None
    security_context: SecurityContext | None = None
    image_pull_policy: str | None = None
    restart_policy: str | None = None  # sidecar init containers ("Always")
    lifecycle: Lifecycle | None = None


class Sysctl(_K8s, frozen=True):
    name: str = ""
    value: str = ""


class PodSecurityContext(_K8s, frozen=True):
    sysctls: list[Sysctl] = []
    run_as_user: int | None = None
    run_as_non_root: bool | None = None
    fs_group: int | None = None


class Toleration(_K8s, frozen=True):
    key: str | None = None
    operator: str | None = None  # Equal (default) | Exists
    value: str | None = None
    effect: str | None = None  # NoSchedule | PreferNoSchedule | NoExecute; empty = all
    toleration_seconds: int | None = None


class NodeSelectorRequirement(_K8s, frozen=True):
    key: str = ""
    operator: str = ""  # In NotIn Exists DoesNotExist Gt Lt
    values: list[str] = []


class NodeSelectorTerm(_K8s, frozen=True):
    match_expressions: list[NodeSelectorRequirement] = []
    match_fields: list[NodeSelectorRequirement] = []


class NodeSelector(_K8s, frozen=True):
    node_selector_terms: list[NodeSelectorTerm] = []


class NodeAffinity(_K8s, frozen=True):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None


class Affinity(_K8s, frozen=True):
    node_affinity: NodeAffinity | None = None


class SchedulingGate(_K8s, frozen=True):
    name: str = ""


class KeyToPath(_K8s, frozen=True):
    key: str = ""
    path: str = ""


class SecretVolumeSource(_K8s, frozen=True):
    secret_name: str = ""
    items: list[KeyToPath] = []
    optional: bool | None = None


class ConfigMapVolumeSource(_K8s, frozen=True):
    name: str = ""
    items: list[KeyToPath] = []
    optional: bool | None = None


class NFSVolumeSource(_K8s, frozen=True):
    server: str = ""
    path: str = ""
    read_only: bool | None = None


class PVCVolumeSource(_K8s, frozen=True):
    claim_name: str = ""
    read_only: bool | None = None


class HostPathVolumeSource(_K8s, frozen=True):
    path: str = ""
    type: str | None = None


class EmptyDirVolumeSource(_K8s, frozen=True):
    medium: str | None = None
    size_limit: str | None = None


class Volume(_K8s, frozen=True):
    """A pod volume. Sources we do not model (projected, downwardAPI, csi…) are kept raw in `other`."""

    name: str = ""
    nfs: NFSVolumeSource | None = None
    persistent_volume_claim: PVCVolumeSource | None = None
    host_path: HostPathVolumeSource | None = None
    empty_dir: EmptyDirVolumeSource | None = None
    secret: SecretVolumeSource | None = None
    config_map: ConfigMapVolumeSource | None = None
    cephfs: dict[str, Any] | None = None
    projected: dict[str, Any] | None = None
    downward_api: dict[str, Any] | None = msgspec.field(default=None, name="downwardAPI")
    csi: dict[str, Any] | None = None
    iscsi: dict[str, Any] | None = None
    rbd: dict[str, Any] | None = None
    aws_elastic_block_store: dict[str, Any] | None = None
    flex_volume: dict[str, Any] | None = None


class LocalObjectReference(_K8s, frozen=True):
    name: str = ""


class PodDNSConfigOption(_K8s, frozen=True):
    name: str = ""
    value: str | None = None


class PodDNSConfig(_K8s, frozen=True):
    nameservers: list[str] = []
    searches: list[str] = []
    options: list[PodDNSConfigOption] = []


class HostAlias(_K8s, frozen=True):
    ip: str = ""
    hostnames: list[str] = []


class PodSpec(_K8s, frozen=True):
    containers: list[Container] = []
    init_containers: list[Container] = []
    volumes: list[Volume] = []
    node_name: str = ""
    node_selector: dict[str, str] = {}
    affinity: Affinity | None = None
    tolerations: list[Toleration] = []
    scheduling_gates: list[SchedulingGate] = []
    scheduler_name: str = "default-scheduler"
    restart_policy: str = "Always"
    termination_grace_period_seconds: int | None = None
    security_context: PodSecurityContext | None = None
    image_pull_secrets: list[LocalObjectReference] = []
    service_account_name: str | None = None
    host_network: bool | None = None
    dns_policy: str | None = None
    dns_config: PodDNSConfig | None = None
    priority: int | None = None
    host_aliases: list[HostAlias] = []
    share_process_namespace: bool | None = None


# ---- pod status ---------------------------------------------------------------------------

class Condition(_K8s, frozen=True):
    type: str = ""
    status: str = ""
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = None
    last_heartbeat_time: str | None = None


class ContainerStateDetail(_K8s, frozen=True):
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None


class ContainerState(_K8s, frozen=True):
    waiting: ContainerStateDetail | None = None
    running: ContainerStateDetail | None = None
    terminated: ContainerStateDetail | None = None


class ContainerStatus(_K8s, frozen=True):
    name: str = ""
    ready: bool = False
    restart_count: int = 0
    image: str = ""
    image_id: str = msgspec.field(default="", name="imageID")
    container_id: str | None = msgspec.field(default=None, name="containerID")
    started: bool | None = None
    state: ContainerState | None = None


class PodIP(_K8s, frozen=True):
    ip: str = ""


class PodStatus(_K8s, frozen=True):
    phase: str = "Pending"
    conditions: list[Condition] = []
    pod_ip: str | None = msgspec.field(default=None, name="podIP")
    pod_ips: list[PodIP] = msgspec.field(default_factory=list, name="podIPs")
    host_ip: str | None = msgspec.field(default=None, name="hostIP")
    start_time: str | None = None
    reason: str | None = None
    message: str | None = None
    container_statuses: list[ContainerStatus] = []
    init_container_statuses: list[ContainerStatus] = []
    nominated_node_name: str | None = None

    def condition(self, type_: str) -> Condition | None:
        for cond in self.conditions:
            if cond.type == type_:
                return cond
        return None


class Pod(_K8s, frozen=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: PodSpec = PodSpec()
    status: PodStatus = PodStatus()
    kind: str = "Pod"
    api_version: str = "v1"

    @property
    def key(self) -> str:
        """`namespace/name`: how users and `spillway explain` name a pod."""
        return f"{self.metadata.namespace}/{self.metadata.name}"

    def is_gated_by(self, gate: str = PLACEMENT_GATE) -> bool:
        return any(g.name == gate for g in self.spec.scheduling_gates)

    def is_unschedulable(self) -> bool:
        cond = self.status.condition("PodScheduled")
        return cond is not None and cond.status == "False" and cond.reason == "Unschedulable"

    def awaiting_decision(self) -> bool:
        """Marked Unschedulable by the scheduler and held by no scheduling gate: placement's
        unschedulable path. A gated pod is never tried by the scheduler, so a stale Unschedulable
        condition on it means nothing."""
        return self.is_unschedulable() and not self.spec.scheduling_gates

    def is_terminating(self) -> bool:
        return self.metadata.deletion_timestamp is not None

    def is_finished(self) -> bool:
        """Phase Succeeded or Failed: nothing will run the pod again."""
        return self.status.phase in FINISHED_PHASES

    def is_daemonset_pod(self) -> bool:
        """Its controller owner is a DaemonSet. Only the controller counts, as for
        kube-controller-manager and virtual-kubelet: a DaemonSet that is merely another owner
        neither created the pod nor replaces it."""
        ref = self.metadata.controller_ref()
        return ref is not None and ref.kind == DAEMON_SET


# ---- what is kept of a pod on a local node ------------------------------------------------

LOCAL_POD_ANNOTATIONS = frozenset({ANNOTATION_AUTO_SCALE, ANNOTATION_LOCAL_REPLICAS, ANNOTATION_RETURN_TO_LOCAL})
"""The annotations a local pod is read for (its workload's switches and LOCAL_REPLICAS)."""
LOCAL_POD_CONDITIONS = frozenset({"Ready", "PodScheduled"})


def _sized(container: Container) -> Container:
    return Container(name=container.name, resources=container.resources, restart_policy=container.restart_policy,
                     ports=[p for p in container.ports if p.host_port])


def local_pod_view(pod: Pod) -> Pod:
    """A pod bound to a local node as the bus keeps it: only what a consumer reads of such a pod.

    Why: a cluster's pods are nearly all local, and nobody acts on them; placement counts them per
    workload and, to send burst pods home, sums their requests and host ports per node and waits
    for their readiness. So the pods bucket holds, of a local pod, its identity, owner, labels,
    deletion, the LOCAL_POD_ANNOTATIONS, its node, gates and priority, each container's name,
    resources and host ports, and of its status the phase, reason and LOCAL_POD_CONDITIONS: about
    a seventh of a typical pod. A pod on a super node, unbound or on an unknown node is kept whole.
    The watcher also writes a local pod again only when this view changes (a status flap does not)."""
    meta, spec, status = pod.metadata, pod.spec, pod.status
    return Pod(
        metadata=msgspec.structs.replace(
            meta, annotations={k: v for k, v in meta.annotations.items() if k in LOCAL_POD_ANNOTATIONS},
            finalizers=[]),
        spec=PodSpec(containers=[_sized(c) for c in spec.containers],
                     init_containers=[_sized(c) for c in spec.init_containers],
                     node_name=spec.node_name, scheduling_gates=spec.scheduling_gates, priority=spec.priority),
        status=PodStatus(phase=status.phase, reason=status.reason,
                         conditions=[c for c in status.conditions if c.type in LOCAL_POD_CONDITIONS]),
    )


# ---- nodes --------------------------------------------------------------------------------

class Taint(_K8s, frozen=True):
    key: str = ""
    value: str | None = None
    effect: str = ""
    time_added: str | None = None


class NodeSpec(_K8s, frozen=True):
    unschedulable: bool | None = None
    taints: list[Taint] = []
    pod_cidr: str | None = msgspec.field(default=None, name="podCIDR")
    provider_id: str | None = msgspec.field(default=None, name="providerID")


class NodeAddress(_K8s, frozen=True):
    type: str = ""
    address: str = ""


class DaemonEndpoint(_K8s, frozen=True):
    port: int = msgspec.field(default=0, name="Port")


class NodeDaemonEndpoints(_K8s, frozen=True):
    kubelet_endpoint: DaemonEndpoint | None = None


class NodeSystemInfo(_K8s, frozen=True):
    machine_id: str = msgspec.field(default="", name="machineID")
    system_uuid: str = msgspec.field(default="", name="systemUUID")
    boot_id: str = msgspec.field(default="", name="bootID")
    kernel_version: str = ""
    os_image: str = ""
    container_runtime_version: str = ""
    kubelet_version: str = ""
    kube_proxy_version: str = ""
    operating_system: str = ""
    architecture: str = ""


class NodeStatus(_K8s, frozen=True):
    capacity: dict[str, str] = {}
    allocatable: dict[str, str] = {}
    conditions: list[Condition] = []
    addresses: list[NodeAddress] = []
    daemon_endpoints: NodeDaemonEndpoints | None = None
    node_info: NodeSystemInfo | None = None

    def condition(self, type_: str) -> Condition | None:
        for cond in self.conditions:
            if cond.type == type_:
                return cond
        return None


class Node(_K8s, frozen=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: NodeSpec = NodeSpec()
    status: NodeStatus = NodeStatus()
    kind: str = "Node"
    api_version: str = "v1"

    def is_super_node(self) -> bool:
        return self.metadata.labels.get(LABEL_INSTANCE_TYPE) == SUPER_NODE_INSTANCE_TYPE

    def is_ready(self) -> bool:
        cond = self.status.condition("Ready")
        return cond is not None and cond.status == "True"


# ---- the rest -----------------------------------------------------------------------------

class ConfigMap(_K8s, frozen=True):
    metadata: ObjectMeta = ObjectMeta()
    data: dict[str, str] = {}
    kind: str = "ConfigMap"
    api_version: str = "v1"


class Secret(_K8s, frozen=True):
    """Values stay base64 as the API sends them; decode only at the point of use, never log."""

    metadata: ObjectMeta = ObjectMeta()
    data: dict[str, str] = {}
    type: str | None = None
    kind: str = "Secret"
    api_version: str = "v1"


class ReplicaSet(_K8s, frozen=True):
    """Only what workload identity needs: the owner (a Deployment) and the desired count."""

    metadata: ObjectMeta = ObjectMeta()
    kind: str = "ReplicaSet"
    api_version: str = "apps/v1"


class PersistentVolumeClaimSpec(_K8s, frozen=True):
    volume_name: str | None = None
    storage_class_name: str | None = None


class PersistentVolumeClaim(_K8s, frozen=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: PersistentVolumeClaimSpec = PersistentVolumeClaimSpec()
    kind: str = "PersistentVolumeClaim"
    api_version: str = "v1"


class PersistentVolumeSpec(_K8s, frozen=True):
    nfs: NFSVolumeSource | None = None
    cephfs: dict[str, Any] | None = None
    host_path: HostPathVolumeSource | None = None
    csi: dict[str, Any] | None = None
    qcloud_cbs: dict[str, Any] | None = msgspec.field(default=None, name="qcloudCbs")
    claim_ref: dict[str, Any] | None = None
    storage_class_name: str | None = None


class PersistentVolume(_K8s, frozen=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: PersistentVolumeSpec = PersistentVolumeSpec()
    kind: str = "PersistentVolume"
    api_version: str = "v1"


class PodList(msgspec.Struct, frozen=True):
    """A pod list whose items stay raw, each to be decoded on its own (`decode_pod`): one pod
    that does not decode as a Pod must never hide the others."""

    items: list[msgspec.Raw] = []


class _Identity(msgspec.Struct):
    uid: object = ""


class _Shell(msgspec.Struct):
    metadata: _Identity = msgspec.field(default_factory=_Identity)


_pod_decoder = msgspec.json.Decoder(Pod)
_pod_list_decoder = msgspec.json.Decoder(PodList)
_shell_decoder = msgspec.json.Decoder(_Shell)
_node_decoder = msgspec.json.Decoder(Node)


def decode_pod(raw: bytes | str) -> Pod:
    """Decode API JSON (bytes from `_preload_content=False`) into a Pod view."""
    return _pod_decoder.decode(raw)


def decode_pod_list(raw: bytes | str) -> PodList:
    """A pod list's JSON, its items left raw (raises only when the list itself is not one)."""
    return _pod_list_decoder.decode(raw)


def raw_uid(raw: bytes | str) -> str:
    """The uid of a raw object that may not decode as a Pod; "" when even that cannot be read."""
    try:
        uid = _shell_decoder.decode(raw).metadata.uid
    except msgspec.DecodeError:
        return ""
    return uid if isinstance(uid, str) else ""


def decode_node(raw: bytes | str) -> Node:
    return _node_decoder.decode(raw)


T = TypeVar("T")


def from_builtins(obj: Any, type_: type[T]) -> T:
    """Convert a decoded JSON dict (e.g. a watch event's object) into a view."""
    return msgspec.convert(obj, type_)
