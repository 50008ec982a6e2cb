"""One table per restriction rule: eligible and ineligible variants, whole RuleResults compared."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.model.kube import Pod, from_builtins
from spillway.policy.decision import Outcome, Trigger
from spillway.policy.engine import PlacementInput, decide
from spillway.policy.nodes import SuperNodeState
from spillway.policy.options import PolicyOptions
from spillway.policy.rules import (
    REGISTRY,
    cloud_instance,
    daemonset,
    evaluate_rules,
    first_failure,
    fixed_ip,
    namespace,
    ports,
    probes,
    rule_reason_codes,
    size,
    super_node_admission,
    sysctl,
    volumes,
)
from spillway.policy.rules import affinity as affinity_rule
from spillway.policy.rules.base import RuleContext
from spillway.policy.status import Code, RuleResult
from spillway.policy.workload import WorkloadKey
from tests.policy.builders import container, pod, pod_dict, pv, pvc, super_node

CTX = RuleContext()
A = Code.ALLOWED
NEVER = Code.NEVER_POSSIBLE


def ok(name: str) -> RuleResult:
    return RuleResult(name, A)


# ---- daemonset, namespace, fixed ip -------------------------------------------------------

@pytest.mark.parametrize(
    ("subject", "ctx", "expected"),
    [
        pytest.param(pod("a", owner=("DaemonSet", "agent")), CTX, RuleResult(
            "daemonset", NEVER, "DaemonsetForbidden",
            "pod default/a belongs to a DaemonSet; DaemonSet pods never run on super nodes"), id="daemonset pod"),
        pytest.param(pod("a", owner=("ReplicaSet", "rs")), CTX, ok("daemonset"), id="replicaset pod"),
    ],
)
def test_daemonset(subject: Pod, ctx: RuleContext, expected: RuleResult) -> None:
    assert daemonset.check(subject, ctx) == expected


@pytest.mark.parametrize(
    ("ns", "options", "expected"),
    [
        pytest.param("kube-system", PolicyOptions(), RuleResult(
            "namespace", NEVER, "NamespaceExcluded", "namespace 'kube-system' is excluded from bursting "
            "(excludedNamespaces)"), id="kube-system"),
        pytest.param("tke-eni-ip-webhook", PolicyOptions(), "NamespaceExcluded", id="tke-eni-ip-webhook"),
        pytest.param("default", PolicyOptions(), ok("namespace"), id="default allowed"),
        pytest.param("batch", PolicyOptions(excluded_namespaces=frozenset({"batch"})), "NamespaceExcluded",
                     id="configured list"),
        pytest.param("kube-system", PolicyOptions(excluded_namespaces=frozenset()), ok("namespace"),
                     id="empty list allows kube-system"),
    ],
)
def test_namespace(ns: str, options: PolicyOptions, expected: RuleResult | str) -> None:
    result = namespace.check(pod("a", ns), RuleContext(options))
    if isinstance(expected, str):
        assert (result.code, result.reason) == (NEVER, expected)
    else:
        assert result == expected


@pytest.mark.parametrize(
    ("annotations", "expected_code"),
    [
        pytest.param({"tke.cloud.tencent.com/vpc-ip-claim-delete-policy": "Never"}, NEVER, id="fixed ip"),
        pytest.param({"tke.cloud.tencent.com/vpc-ip-claim-delete-policy": ""}, NEVER, id="fixed ip empty value"),
        pytest.param({"other": "x"}, A, id="no fixed ip"),
    ],
)
def test_fixed_ip(annotations: dict[str, str], expected_code: Code) -> None:
    result = fixed_ip.check(pod(annotations=annotations), CTX)
    assert (result.code, result.reason) == (expected_code, "FixedIPForbidden" if expected_code is NEVER else "")


# ---- sysctl ----------------------------------------------------------------------------------

def sysctl_pod(value: str, name: str = "net.ipv4.ip_local_port_range") -> Pod:
    return pod(spec={"securityContext": {"sysctls": [{"name": name, "value": value}]}})


@pytest.mark.parametrize(
    ("value", "name", "code"),
    [
        pytest.param("32768 60999", "net.ipv4.ip_local_port_range", A, id="below range"),
        pytest.param("60999 61000", "net.ipv4.ip_local_port_range", NEVER, id="60999-61000 overlaps"),
        pytest.param("65534 65535", "net.ipv4.ip_local_port_range", NEVER, id="65534-65535 overlaps"),
        pytest.param("65535 65535", "net.ipv4.ip_local_port_range", A, id="65535-65535 does not"),
        pytest.param("1024 65535", "net.ipv4.ip_local_port_range", NEVER, id="wide range covers"),
        pytest.param("62000\t63000", "net.ipv4.ip_local_port_range", NEVER, id="tab separated inside"),
        pytest.param("61000 65534", "net.core.somaxconn", A, id="other sysctl ignored"),
        pytest.param("garbage", "net.ipv4.ip_local_port_range", Code.ERROR, id="malformed"),
        pytest.param("5000 4000", "net.ipv4.ip_local_port_range", Code.ERROR, id="inverted"),
    ],
)
def test_sysctl(value: str, name: str, code: Code) -> None:
    result = sysctl.check(sysctl_pod(value, name), CTX)
    assert (result.code, result.reason) == (code, "" if code is A else "SysctlPortRangeConflict")


def test_sysctl_message() -> None:
    assert sysctl.check(sysctl_pod("60999 61000"), CTX) == RuleResult(
        "sysctl-port-range", NEVER, "SysctlPortRangeConflict",
        "sysctl net.ipv4.ip_local_port_range='60999 61000' overlaps the ports 61000-65534 reserved on super nodes")


# ---- container ports ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"containers": [container(ports=[{"containerPort": 8080}])]}, ok("container-ports"),
                     id="ordinary port"),
        pytest.param({"containers": [container(ports=[{"containerPort": 60999}, {"containerPort": 65535}])]},
                     ok("container-ports"), id="just outside both ends"),
        pytest.param({"containers": [container(ports=[{"containerPort": 61000}])]}, RuleResult(
            "container-ports", NEVER, "ReservedContainerPort",
            "ports in the range 61000-65534 reserved on super nodes: container 'app' containerPort 61000"),
            id="containerPort 61000"),
        pytest.param({"containers": [container(ports=[{"containerPort": 80, "hostPort": 65534}])]}, RuleResult(
            "container-ports", NEVER, "ReservedContainerPort",
            "ports in the range 61000-65534 reserved on super nodes: container 'app' hostPort 65534"),
            id="hostPort 65534"),
        pytest.param({"initContainers": [container("init", ports=[{"containerPort": 62000}])]}, RuleResult(
            "container-ports", NEVER, "ReservedContainerPort",
            "ports in the range 61000-65534 reserved on super nodes: init container 'init' containerPort 62000"),
            id="init container port"),
        pytest.param({"containers": [container(lifecycle={"postStart": {"httpGet": {"port": 64000}}})]}, RuleResult(
            "container-ports", NEVER, "ReservedContainerPort",
            "ports in the range 61000-65534 reserved on super nodes: container 'app' postStart hook port 64000"),
            id="postStart httpGet hook on a reserved port"),
        pytest.param({"containers": [container(ports=[{"name": "drain", "containerPort": 8081}],
                                               lifecycle={"preStop": {"tcpSocket": {"port": "61500"}}})]}, RuleResult(
            "container-ports", NEVER, "ReservedContainerPort",
            "ports in the range 61000-65534 reserved on super nodes: container 'app' preStop hook port 61500"),
            id="preStop tcpSocket hook, port as a digit string"),
        pytest.param({"containers": [container(ports=[{"name": "drain", "containerPort": 8081}], lifecycle={
            "preStop": {"httpGet": {"port": "drain"}}, "postStart": {"exec": {"command": ["true"]}}})]},
            ok("container-ports"), id="hooks on ordinary ports"),
        pytest.param({"containers": [container(lifecycle={"preStop": {"httpGet": {"port": "nope"}},
                                                          "postStart": {"sleep": {"seconds": 1}}})]},
                     ok("container-ports"), id="hook on an unresolvable name"),
    ],
)
def test_container_ports(spec: dict[str, Any], expected: RuleResult) -> None:
    assert ports.check(pod(spec=spec), CTX) == expected


# ---- probe ports ---------------------------------------------------------------------------------

def probed(kind: str, probe: dict[str, Any], declared: list[dict[str, Any]] | None = None, init: bool = False) -> Pod:
    c = {**container(ports=declared or []), kind: probe}
    return pod(spec={"initContainers" if init else "containers": [c]})


@pytest.mark.parametrize(
    ("subject", "found"),
    [
        pytest.param(probed("livenessProbe", {"httpGet": {"port": 8080}}), None, id="http ok"),
        pytest.param(probed("livenessProbe", {"httpGet": {"port": 61000}}),
                     "container 'app' liveness probe port 61000", id="http liveness in range"),
        pytest.param(probed("readinessProbe", {"tcpSocket": {"port": 65534}}),
                     "container 'app' readiness probe port 65534", id="tcp readiness in range"),
        pytest.param(probed("startupProbe", {"grpc": {"port": 62000}}),
                     "container 'app' startup probe port 62000", id="grpc startup in range"),
        pytest.param(probed("livenessProbe", {"httpGet": {"port": "admin"}},
                            [{"name": "admin", "containerPort": 63000}]),
                     "container 'app' liveness probe port 63000", id="named port resolved in range"),
        pytest.param(probed("livenessProbe", {"httpGet": {"port": "web"}}, [{"name": "web", "containerPort": 8080}]),
                     None, id="named port resolved ok"),
        pytest.param(probed("livenessProbe", {"tcpSocket": {"port": "nope"}}), None, id="unresolvable name passes"),
        pytest.param(probed("livenessProbe", {"tcpSocket": {"port": "\u00b2"}}), None,
                     id="a non-ASCII digit is a name, not a number"),
        pytest.param(probed("livenessProbe", {"exec": {"command": ["true"]}}), None, id="exec probe"),
        pytest.param(probed("readinessProbe", {"httpGet": {"port": 64000}}, init=True),
                     "init container 'app' readiness probe port 64000", id="init container probe"),
    ],
)
def test_probe_ports(subject: Pod, found: str | None) -> None:
    expected = ok("probe-ports") if found is None else RuleResult(
        "probe-ports", NEVER, "ReservedProbePort",
        f"probes on ports in the range 61000-65534 reserved on super nodes: {found}")
    assert probes.check(subject, CTX) == expected


# ---- volumes -------------------------------------------------------------------------------------

PVCS = {
    "nfs-claim": pvc("nfs-claim", "pv-nfs"),
    "cbs-claim": pvc("cbs-claim", "pv-cbs"),
    "csi-cbs-claim": pvc("csi-cbs-claim", "pv-csi-cbs"),
    "cephfs-claim": pvc("cephfs-claim", "pv-cephfs"),
    "hostpath-claim": pvc("hostpath-claim", "pv-hostpath"),
    "ebs-claim": pvc("ebs-claim", "pv-other-csi"),
    "local-claim": pvc("local-claim", "pv-local"),
    "pending-claim": pvc("pending-claim"),
    "lost-claim": pvc("lost-claim", "pv-gone"),
}
PVS = {
    "pv-nfs": pv("pv-nfs", {"nfs": {"server": "10.0.0.2", "path": "/export"}}),
    "pv-cbs": pv("pv-cbs", {"qcloudCbs": {"cbsDiskId": "disk-1"}}),
    "pv-csi-cbs": pv("pv-csi-cbs", {"csi": {"driver": "com.tencent.cloud.csi.cbs", "volumeHandle": "disk-2"}}),
    "pv-cephfs": pv("pv-cephfs", {"cephfs": {"monitors": ["10.0.0.3"]}}),
    "pv-hostpath": pv("pv-hostpath", {"hostPath": {"path": "/data"}}),
    "pv-other-csi": pv("pv-other-csi", {"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-1"}}),
    "pv-local": pv("pv-local", {"local": {"path": "/mnt/disk"}}),
}
VOLUME_CTX = RuleContext(pvc_lookup=lambda ns, name: PVCS.get(name) if ns == "default" else None,
                         pv_lookup=PVS.get)


def claim(name: str) -> dict[str, Any]:
    return {"name": "data", "persistentVolumeClaim": {"claimName": name}}


def judged(subject: Pod) -> RuleResult:
    """The volume-relevant verdict: the first failure of `volumes` or `cloud-instance`, else allowed."""
    results = [volumes.check(subject, VOLUME_CTX), cloud_instance.check(subject, VOLUME_CTX)]
    return next((r for r in results if not r.allowed), RuleResult("volumes", A))


CANNOT = "a cloud instance cannot run the pod as written: "


@pytest.mark.parametrize(
    ("volume", "expected"),
    [
        pytest.param({"name": "data", "emptyDir": {}}, None, id="emptyDir dropped with a warning"),
        pytest.param({"name": "data", "secret": {"secretName": "s"}}, None, id="secret"),
        pytest.param({"name": "data", "configMap": {"name": "c"}}, None, id="configMap"),
        pytest.param({"name": "data", "projected": {"sources": []}}, None, id="projected"),
        pytest.param({"name": "data", "downwardAPI": {"items": []}}, None, id="downwardAPI"),
        pytest.param({"name": "data", "nfs": {"server": "s", "path": "/"}}, None, id="inline nfs"),
        pytest.param({"name": "data", "hostPath": {"path": "/x"}}, None, id="inline hostPath"),
        pytest.param(claim("nfs-claim"), None, id="pvc nfs"),
        pytest.param(claim("cbs-claim"), None, id="pvc qcloudCbs"),
        pytest.param(claim("csi-cbs-claim"), None, id="pvc cbs csi"),
        pytest.param(claim("hostpath-claim"), None, id="pvc hostPath"),
        # what used to pass the policy and was then refused by the translation: the same answer now
        pytest.param({"name": "data", "cephfs": {"monitors": ["m"]}}, RuleResult(
            "cloud-instance", NEVER, "UnsupportedVolume", CANNOT + "volume data: cephfs volumes are not supported "
            "by the API"), id="inline cephfs"),
        pytest.param(claim("cephfs-claim"), RuleResult(
            "cloud-instance", NEVER, "UnsupportedVolume", CANNOT + "volume data: claim 'cephfs-claim' is bound to a "
            "volume that is neither nfs nor CBS"), id="pvc cephfs"),
        pytest.param({"name": "data", "csi": {"driver": "com.tencent.cloud.csi.cbs"}}, RuleResult(
            "cloud-instance", NEVER, "UnsupportedVolume", CANNOT + "volume data: csi volumes are not supported by "
            "the API"), id="inline cbs csi"),
        pytest.param({"name": "data", "csi": {"driver": "secrets-store.csi.k8s.io"}}, "UnsupportedVolume",
                     id="inline other csi"),
        pytest.param(claim("ebs-claim"), "UnsupportedVolume", id="pvc other csi"),
        pytest.param(claim("local-claim"), "UnsupportedVolume", id="pvc local pv"),
        pytest.param({"name": "data", "iscsi": {"targetPortal": "t"}}, "UnsupportedVolume", id="inline iscsi"),
        pytest.param({"name": "data", "rbd": {"monitors": ["m"]}}, "UnsupportedVolume", id="inline rbd"),
        pytest.param({"name": "data", "awsElasticBlockStore": {"volumeID": "v"}}, "UnsupportedVolume",
                     id="inline ebs"),
        pytest.param({"name": "data", "gcePersistentDisk": {"pdName": "d"}}, RuleResult(
            "cloud-instance", NEVER, "UnsupportedVolume", CANNOT + "volume data: unknown volume source"),
            id="unmodelled source"),
        pytest.param({"name": "data", "nfs": {"server": "", "path": "/"}}, "InvalidPodSpec", id="nfs without server"),
        pytest.param(claim("pending-claim"), RuleResult(
            "volumes", Code.REFUSED, "PVCNotBound",
            "volume claims not resolved yet: volume 'data': PVC 'pending-claim' is not bound to a PV yet"),
            id="unbound pvc"),
        pytest.param(claim("lost-claim"), RuleResult(
            "volumes", Code.REFUSED, "PVNotFound", "volume claims not resolved yet: volume 'data': PV 'pv-gone' not "
            "found"), id="missing pv"),
        pytest.param(claim("nobody"), RuleResult(
            "volumes", Code.REFUSED, "PVCNotFound", "volume claims not resolved yet: volume 'data': PVC 'nobody' not "
            "found"), id="missing pvc"),
    ],
)
def test_volumes(volume: dict[str, Any], expected: RuleResult | str | None) -> None:
    result = judged(pod(spec={"volumes": [volume]}))
    if expected is None:
        assert result == RuleResult("volumes", A)
    elif isinstance(expected, str):
        assert (result.name, result.code, result.reason) == ("cloud-instance", NEVER, expected)
    else:
        assert result == expected


def test_unsupported_volume_outranks_a_pending_claim_and_all_are_listed() -> None:
    subject = pod(spec={"volumes": [claim("pending-claim"), {"name": "blk", "rbd": {"monitors": ["m"]}},
                                    {"name": "fs", "cephfs": {"monitors": ["m"]}}]})
    results = evaluate_rules(subject, VOLUME_CTX)
    failed = [r for r in results if not r.allowed]
    assert failed == [
        RuleResult("cloud-instance", NEVER, "UnsupportedVolume",
                   CANNOT + "volume blk: rbd volumes are not supported by the API; volume fs: cephfs volumes are "
                   "not supported by the API"),
        RuleResult("volumes", Code.REFUSED, "PVCNotBound",
                   "volume claims not resolved yet: volume 'data': PVC 'pending-claim' is not bound to a PV yet"),
    ]
    assert first_failure(results) == failed[0]


# ---- what a cloud instance cannot run (the translation's own answer) ---------------------------

@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"containers": [container(livenessProbe={"httpGet": {"port": "web"}})]}, RuleResult(
            "cloud-instance", NEVER, "InvalidProbe",
            CANNOT + "container app: liveness probe: named port 'web' is not declared by the container"),
            id="probe on an undeclared named port"),
        pytest.param({"containers": [container(ports=[{"name": "web", "containerPort": 8080}],
                                               readinessProbe={"tcpSocket": {"port": "web"}})]}, None,
                     id="probe on a declared named port"),
        pytest.param({"containers": [container(startupProbe={"httpGet": {"port": "web"}})]}, None,
                     id="startup probes are dropped, not refused"),
        pytest.param({"containers": [container(livenessProbe={"httpGet": {"port": 80, "scheme": "FTP"}})]},
                     "InvalidProbe", id="probe scheme"),
        pytest.param({"containers": [container(livenessProbe={"tcpSocket": {"port": "9" * 5000}})]}, RuleResult(
            "cloud-instance", NEVER, "InvalidProbe", CANNOT + "container app: liveness probe: port 65536 is out of "
            "range"), id="a port of 5000 digits is out of range, not parsed"),
        pytest.param({"containers": [container(env=[{"name": "X", "valueFrom": {"fieldRef": {
            "fieldPath": "spec.hostname"}}}])]}, RuleResult(
            "cloud-instance", NEVER, "InvalidPodSpec",
            CANNOT + "container app: env X: unsupported fieldRef 'spec.hostname'"), id="unsupported fieldRef"),
        pytest.param({"containers": [container(volumeMounts=[{"name": "ghost", "mountPath": "/g"}])]},
                     "InvalidPodSpec", id="mount of an undeclared volume"),
        pytest.param({"containers": [container(), container()]}, "InvalidPodSpec", id="repeated container name"),
        pytest.param({"containers": [container(env=[{"name": f"V{i}", "valueFrom": {}} for i in range(7)])]},
                     RuleResult("cloud-instance", NEVER, "InvalidPodSpec", CANNOT + "; ".join(
                         f"container app: env V{i}: valueFrom has no source" for i in range(5)) + "; and 2 more"),
                     id="message lists five"),
    ],
)
def test_cloud_instance(spec: dict[str, Any], expected: RuleResult | str | None) -> None:
    result = cloud_instance.check(pod(spec=spec), CTX)
    if expected is None:
        assert result == ok("cloud-instance")
    elif isinstance(expected, str):
        assert (result.code, result.reason) == (NEVER, expected)
    else:
        assert result == expected


# ---- size ------------------------------------------------------------------------------------

def sized(cpu: str, memory: str, annotations: dict[str, str] | None = None) -> Pod:
    return pod(annotations=annotations, spec={"containers": [
        container(resources={"requests": {"cpu": cpu, "memory": memory}})]})


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        pytest.param(sized("4", "6Gi"), RuleResult("size", A, "", "instance 4C/8G"), id="fits 4C/8G"),
        pytest.param(sized("64", "512Gi"), RuleResult("size", A, "", "instance 64C/512G"), id="largest spec"),
        pytest.param(sized("65", "1Gi"), RuleResult(
            "size", NEVER, "PodTooLarge",
            "pod needs 65 CPU / 1 GiB; the largest super-node instance is 64 CPU / 512 GiB"), id="too many cores"),
        pytest.param(sized("1", "600Gi"), RuleResult(
            "size", NEVER, "PodTooLarge",
            "pod needs 1 CPU / 600 GiB; the largest super-node instance is 64 CPU / 512 GiB"), id="too much memory"),
        pytest.param(sized("1", "1Gi", {"eks.tke.cloud.tencent.com/cpu": "128"}), RuleResult(
            "size", NEVER, "PodTooLarge",
            "pod needs 128 CPU / 1 GiB; the largest super-node instance is 64 CPU / 512 GiB"),
            id="annotation override too large"),
        pytest.param(sized("1", "1Gi", {"eks.tke.cloud.tencent.com/mem": "lots"}), RuleResult(
            "size", A, "", "instance 1C/1G",
            ("annotation eks.tke.cloud.tencent.com/mem: invalid quantity 'lots'; size computed from the containers",)),
            id="bad annotation warns and uses containers"),
        pytest.param(sized("one", "1Gi"), RuleResult(
            "size", Code.ERROR, "InvalidResourceQuantity", "container resources: invalid quantity 'one'"),
            id="bad container quantity"),
    ],
)
def test_size(subject: Pod, expected: RuleResult) -> None:
    assert size.check(subject, CTX) == expected


# ---- node affinity -------------------------------------------------------------------------

def zone_affinity(op: str, *zones: str) -> dict[str, Any]:
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": op, "values": list(zones)}]}]}}}}


NODES_CTX = RuleContext(super_nodes=[super_node("eklet-a", zone="gz-3"), super_node("eklet-b", zone="gz-4",
                                                                                   ready=False)])
TEMPLATE_CTX = RuleContext(PolicyOptions(subnets=(("subnet-x", "gz-6"),)))


@pytest.mark.parametrize(
    ("spec", "ctx", "code"),
    [
        pytest.param({}, NODES_CTX, A, id="no constraint"),
        pytest.param(zone_affinity("In", "gz-3"), NODES_CTX, A, id="zone of a registered node"),
        pytest.param(zone_affinity("In", "gz-4"), NODES_CTX, A, id="zone of a NotReady node still possible"),
        pytest.param(zone_affinity("In", "gz-9"), NODES_CTX, NEVER, id="zone nobody has"),
        pytest.param({"nodeSelector": {"node.kubernetes.io/instance-type": "eklet"}}, NODES_CTX, A,
                     id="selector for super nodes"),
        pytest.param({"nodeSelector": {"disktype": "ssd"}}, NODES_CTX, NEVER, id="selector for local label"),
        pytest.param(zone_affinity("NotIn", "gz-3", "gz-4"), NODES_CTX, NEVER, id="NotIn every zone"),
        pytest.param({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                    "values": ["10.0.1.5"]}]}]}}}}, NODES_CTX, NEVER,
            id="pinned to a local node name"),
        pytest.param(zone_affinity("In", "gz-6"), TEMPLATE_CTX, A, id="template from configured subnet"),
        pytest.param(zone_affinity("In", "gz-3"), TEMPLATE_CTX, NEVER, id="template other zone"),
        pytest.param({"nodeSelector": {"node.kubernetes.io/instance-type": "eklet"}}, CTX, A,
                     id="label-only template"),
    ],
)
def test_node_affinity(spec: dict[str, Any], ctx: RuleContext, code: Code) -> None:
    result = affinity_rule.check(pod(spec=spec), ctx)
    assert (result.code, result.reason) == (code, "NodeAffinityMismatch" if code is NEVER else "")


def test_node_affinity_message_names_templates() -> None:
    assert affinity_rule.check(pod(spec=zone_affinity("In", "gz-3")), TEMPLATE_CTX) == RuleResult(
        "node-affinity", NEVER, "NodeAffinityMismatch",
        "the pod's nodeSelector / required node affinity matches none of the 1 expected super node(s) "
        "(none registered yet)")


# ---- registry ------------------------------------------------------------------------------

def test_registry_runs_every_rule_and_keeps_every_failure() -> None:
    subject = pod("a", "kube-system", owner=("DaemonSet", "agent"),
                  spec={"containers": [container(ports=[{"containerPort": 61001}])]})
    results = evaluate_rules(subject, CTX)
    assert [r.name for r in results] == list(REGISTRY)
    assert [(r.name, r.reason) for r in results if not r.allowed] == [
        ("daemonset", "DaemonsetForbidden"), ("namespace", "NamespaceExcluded"),
        ("container-ports", "ReservedContainerPort")]


def test_every_rule_declares_its_reason_codes() -> None:
    for name, rule in REGISTRY.items():
        assert rule.name == name and rule.reason[0].isupper() and rule.reason.isalnum()
    assert {"DaemonsetForbidden", "PVCNotBound", "PVNotFound", "InvalidResourceQuantity"} <= rule_reason_codes()


# ---- the whole decision for a pod the translation would refuse ----------------------------------

@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        pytest.param({"volumes": [{"name": "fs", "cephfs": {"monitors": ["m"]}}]}, "UnsupportedVolume", id="cephfs"),
        pytest.param({"volumes": [{"name": "s", "csi": {"driver": "com.tencent.cloud.csi.cbs"}}]},
                     "UnsupportedVolume", id="inline csi"),
        pytest.param({"volumes": [claim("cephfs-claim")]}, "UnsupportedVolume", id="claim bound to cephfs"),
        pytest.param({"containers": [container(livenessProbe={"tcpSocket": {"port": "metrics"}})]}, "InvalidProbe",
                     id="probe on an undeclared named port"),
    ],
)
@pytest.mark.parametrize("trigger", ["gated", "unschedulable"])
def test_a_pod_the_cloud_cannot_run_never_goes_there(spec: dict[str, Any], reason: str, trigger: str) -> None:
    gated = trigger == "gated"
    inputs = PlacementInput(
        pod=from_builtins(pod_dict("web-1", annotations={"LOCAL_REPLICAS": "0"}, gated=gated, spec=spec), Pod),
        workload=WorkloadKey("Deployment", "default", "web"), trigger=Trigger(trigger), global_switch="true",
        options=PolicyOptions(), local_count=0, super_nodes=(SuperNodeState(super_node("eklet-a"), 0),), now=1.0,
        pvc_lookup=VOLUME_CTX.pvc_lookup, pv_lookup=VOLUME_CTX.pv_lookup,
    )
    decision = decide(inputs)
    assert decision.outcome is (Outcome.LOCAL if gated else Outcome.STAY_PENDING)
    assert decision.node is None and decision.reason == reason
    assert (decision.event.type, decision.event.reason) == ("Warning", reason)


@pytest.mark.parametrize(
    ("the_pod", "reason"),
    [
        pytest.param(pod(), None, id="ordinary pod: admitted"),
        pytest.param(pod(annotations={"tke.cloud.tencent.com/vpc-ip-claim-delete-policy": "Never"}),
                     "FixedIPForbidden", id="fixed IP"),
        pytest.param(pod(namespace="kube-system"), "NamespaceExcluded", id="excluded namespace"),
        pytest.param(pod(spec={"containers": [container(ports=[{"containerPort": 62000}])]}),
                     "ReservedContainerPort", id="reserved port"),
        pytest.param(pod(spec={"nodeSelector": {"disk": "ssd"}}), None,
                     id="affinity is the scheduler's business once bound: admitted"),
    ],
)
def test_super_node_admission_judges_pods_bound_by_anyone(the_pod: Pod, reason: str | None) -> None:
    """What a super node refuses to run however the pod reached it (a copied toleration and pin)."""
    refusal = super_node_admission(the_pod, CTX)
    assert (refusal.reason if refusal else None) == reason
