"""The configuration file's shape: the original chart's install values plus Spillway's own keys.

Keys are camelCase as in the chart (`cloud.appID`, `cloud.subnets[].zone`…). Unknown keys are
errors (a typo should not silently fall back to a default). Everything is frozen.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from spillway.config.secret import Secret
from spillway.policy.returns import ReturnSettings


class _Section(msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True):
    """Base: camelCase keys, unknown keys refused."""


class Subnet(_Section, frozen=True):
    id: str
    """Subnet id, e.g. subnet-abc123; one super node `eklet-<id>` per subnet."""
    zone: str
    """Availability zone of the subnet, e.g. ap-guangzhou-3."""


class Prices(_Section, frozen=True):
    """What cloud instances cost, for the estimate in `spillway_cloud_cost_per_hour` and `spillway
    status`: an instance costs its spec's cores times `vcpuHour` plus its GiB times `memoryGiBHour`.
    The defaults are examples that show the shape, not Tencent's prices: set your own."""

    vcpu_hour: float = msgspec.field(default=0.1, name="vcpuHour")
    """Price of one vCPU for one hour (example default 0.1)."""
    memory_gib_hour: float = msgspec.field(default=0.05, name="memoryGiBHour")
    """Price of one GiB of memory for one hour (example default 0.05)."""
    currency: str = "CNY"
    """What the prices are in; only shown, never converted."""


class CloudConfig(_Section, frozen=True):
    app_id: str = msgspec.field(default="", name="appID")
    owner_uin: str = msgspec.field(default="", name="ownerUIN")
    secret_id: str = msgspec.field(default="", name="secretID")
    secret_key: Secret | None = msgspec.field(default=None, name="secretKey")
    vpc_id: str = msgspec.field(default="", name="vpcID")
    region_short: str = ""
    region_long: str = ""
    subnets: list[Subnet] = []
    api_endpoint: str = ""
    """host:port of the API (default tke.tencentcloudapi.com); `http://host:port` allowed for the emulator."""
    cluster_id: str = msgspec.field(default="spillway", name="clusterID")
    """The readable part of instance names (`spw-<clusterID>-<hash>-<pod uid>`). Clusters sharing an
    account are told apart by the hash, which also covers the cluster's `kube-system` uid, so the
    default may stay; a value still starting with `REPLACE_ME` is refused."""
    security_group_ids: list[str] = []
    instance_quota: int = 100
    """How many container instances this cluster may run (super-node capacity is derived from it)."""
    rate_limit: float = 15.0
    """Client-side requests per second per API action, below TKE's 20/s; 0 turns the limiter off."""
    prices: Prices = Prices()
    """Prices for the cost estimate (examples by default)."""


class EkletConfig(_Section, frozen=True):
    pod_used_apiserver: str = ""
    """The IDC API server address as reachable from the VPC (KUBERNETES_SERVICE_HOST/PORT of cloud pods)."""


class NatsConfig(_Section, frozen=True):
    url: str = "nats://127.0.0.1:4222"
    user: str = ""
    """The service's own NATS user (env SPILLWAY_NATS_USER wins); empty: connect without credentials."""
    password: Secret | None = None
    """Its password; normally from env SPILLWAY_NATS_PASSWORD (a Secret), not the file."""
    ca_file: str = ""
    """PEM CA that signed the server's TLS certificate (env SPILLWAY_NATS_CA_FILE wins); set: the
    connection is TLS and the server's certificate and name are verified; empty: plain TCP."""


class KubernetesConfig(_Section, frozen=True):
    kubeconfig: str = ""
    """Path to a kubeconfig; empty means in-cluster configuration."""


_RETURNS = ReturnSettings()


class ReturnToLocalConfig(_Section, frozen=True):
    """placement.returnToLocal: when burst pods come home (the switch is `RETURN_TO_LOCAL` in
    kube-system/eks-config or on the pod template; off by default). The keys, their meaning and
    their defaults are those of `spillway.policy.returns.ReturnSettings`."""

    stable_seconds: float = _RETURNS.stable_seconds
    min_cloud_seconds: float = _RETURNS.min_cloud_seconds
    max_per_minute: int = _RETURNS.max_per_minute
    cooldown_seconds: float = _RETURNS.cooldown_seconds
    settle_seconds: float = _RETURNS.settle_seconds
    check_seconds: float = _RETURNS.check_seconds


class PlacementConfig(_Section, frozen=True):
    switch_precedence: Literal["documented", "workload"] = "documented"
    deletion_cost: int = -100
    excluded_namespaces: list[str] = msgspec.field(default_factory=lambda: ["kube-system", "tke-eni-ip-webhook"])
    sold_out_cooldown_seconds: float = 300.0
    leader_election_namespace: str = "spillway"
    """Namespace of the Lease `placement` that elects the one active decision-maker."""
    lease_duration_seconds: float = 15.0
    """A standby takes over at most this long after the leader stopped renewing."""
    lease_renew_seconds: float = 2.0
    concurrency: int = 32
    """Pending pods decided in parallel (decisions of one workload are still serialised)."""
    resync_seconds: float = 30.0
    """How often pods still pending are decided again (switch, node and zone changes also trigger it)."""
    return_to_local: ReturnToLocalConfig = ReturnToLocalConfig()
    """When pods that burst come back to local nodes (`returnToLocal`)."""


class TelemetryConfig(_Section, frozen=True):
    health_port: int = 8080
    """Serves /healthz, /readyz and /metrics."""
    metrics_port: int = 0
    """Also serve the same endpoints here when non-zero and different from healthPort."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class TLSConfig(_Section, frozen=True):
    cert_file: str = ""
    key_file: str = ""


class AdmissionConfig(_Section, frozen=True):
    port: int = 8443
    tls: TLSConfig = TLSConfig()


class NodeStatusConfig(_Section, frozen=True):
    """node-status: the super nodes' kubelet side (addresses, log endpoint TLS, heartbeats)."""

    address: str = ""
    """InternalIP of the super nodes: where the API server reaches node-status's log endpoint.
    Empty: $POD_IP, else 127.0.0.1."""
    kubelet_port: int = 10250
    """HTTPS port of the kubelet log endpoint (`daemonEndpoints.kubeletEndpoint.Port`); 0 = any free port."""
    client_ca_file: str = ""
    """CA that signed the API server's kubelet-client certificate; only clients it signed are served.
    Empty: the cluster CA from the kubeconfig (or the in-cluster service-account CA)."""
    cert_file: str = ""
    """Serving certificate of the log endpoint; empty: a self-signed one is generated at startup."""
    key_file: str = ""
    lease_renew_seconds: float = 10.0
    """How often the node Leases in kube-node-lease are renewed."""
    node_status_seconds: float = 60.0
    """How often node status (Ready heartbeat) is written when nothing changed."""
    health_check_seconds: float = 10.0
    """How often the cloud is asked whether it answers."""
    cloud_failure_threshold: int = 3
    """Consecutive failed health calls before the super nodes go NotReady (CloudUnreachable)."""
    status_sync_seconds: float = 1.0
    """How often tracked instances are described (batched) and pod status patched."""
    resync_seconds: float = 60.0
    """How often the pods bound to super nodes are listed from the API (the bus events are hints)."""
    pod_cpu: str = "64"
    """CPU of the largest instance a pod may get; node cpu capacity = instanceQuota x this."""
    pod_memory: str = "512Gi"
    """Memory of the largest instance; node memory capacity = instanceQuota x this."""
    leader_election_namespace: str = "spillway"


class ProvisionerConfig(_Section, frozen=True):
    """cloud-provisioner: concurrency and orphan garbage collection."""

    create_concurrency: int = 64
    """Pods handled in parallel by one replica (creates are network-bound)."""
    gc_grace_seconds: float = 120.0
    """An orphan is deleted only this long after its CreationTime and after it was first seen orphaned."""
    gc_interval_seconds: float = 60.0
    leader_election_namespace: str = "spillway"


class Config(_Section, frozen=True):
    """The whole file. `source` is the path it was read from (for error messages)."""

    cloud: CloudConfig = CloudConfig()
    eklet: EkletConfig = EkletConfig()
    nats: NatsConfig = NatsConfig()
    kubernetes: KubernetesConfig = KubernetesConfig()
    placement: PlacementConfig = PlacementConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    admission: AdmissionConfig = AdmissionConfig()
    node_status: NodeStatusConfig = NodeStatusConfig()
    provisioner: ProvisionerConfig = ProvisionerConfig()
    source: str = ""
