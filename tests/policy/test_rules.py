"""One table per restriction rule: eligible and ineligible variants, whole RuleResults compared."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.model.kube import Pod
from spillway.policy.options import PolicyOptions
from spillway.policy.rules import (
    REGISTRY,
    daemonset,
    evaluate_rules,
    fixed_ip,
    namespace,
    ports,
    probes,
    rule_reason_codes,
    size,
    sysctl,
    volumes,
)
from spillway.policy.rules import affinity as affinity_rule
from spillway.policy.rules.base import RuleContext
from spillway.policy.status import Code, RuleResult
from tests.policy.builders import container, pod, pv, pvc, super_node

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
    ],
)
def test_container_ports(spec: dict[str, Any], expected: RuleResult) -> None:
    assert ports.check(pod(spec=spec), CTX) == expected


# ---- probe ports ---------------------------------------------------------------------------------

def probed(kind: str, probe: dict[str, Any], declared: list[dict[str, Any]] | None = None, init: bool = False) -> Pod:
    c = container(ports=declared or [], **{kind: probe})
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


@pytest.mark.parametrize(
    ("volume", "code", "reason", "detail"),
    [
        pytest.param({"name": "data", "emptyDir": {}}, A, "", None, id="emptyDir"),
        pytest.param({"name": "data", "secret": {"secretName": "s"}}, A, "", None, id="secret"),
        pytest.param({"name": "data", "configMap": {"name": "c"}}, A, "", None, id="configMap"),
        pytest.param({"name": "data", "projected": {"sources": []}}, A, "", None, id="projected"),
        pytest.param({"name": "data", "downwardAPI": {"items": []}}, A, "", None, id="downwardAPI"),
        pytest.param({"name": "data", "nfs": {"server": "s", "path": "/"}}, A, "", None, id="inline nfs"),
        pytest.param({"name": "data", "hostPath": {"path": "/x"}}, A, "", None, id="inline hostPath"),
        pytest.param({"name": "data", "cephfs": {"monitors": ["m"]}}, A, "", None, id="inline cephfs"),
        pytest.param(claim("nfs-claim"), A, "", None, id="pvc nfs"),
        pytest.param(claim("cbs-claim"), A, "", None, id="pvc qcloudCbs"),
        pytest.param(claim("csi-cbs-claim"), A, "", None, id="pvc cbs csi"),
        pytest.param(claim("cephfs-claim"), A, "", None, id="pvc cephfs"),
        pytest.param(claim("hostpath-claim"), A, "", None, id="pvc hostPath"),
        pytest.param(claim("ebs-claim"), NEVER, "UnsupportedVolume",
                     "volume 'data': PVC 'ebs-claim' -> PV 'pv-other-csi': CSI driver 'ebs.csi.aws.com'",
                     id="pvc other csi"),
        pytest.param(claim("local-claim"), NEVER, "UnsupportedVolume",
                     "volume 'data': PVC 'local-claim' -> PV 'pv-local': unsupported source", id="pvc local pv"),
        pytest.param(claim("pending-claim"), Code.REFUSED, "PVCNotBound",
                     "volume 'data': PVC 'pending-claim' is not bound to a PV yet", id="unbound pvc"),
        pytest.param(claim("lost-claim"), Code.REFUSED, "PVNotFound", "volume 'data': PV 'pv-gone' not found",
                     id="missing pv"),
        pytest.param(claim("nobody"), Code.REFUSED, "PVCNotFound", "volume 'data': PVC 'nobody' not found",
                     id="missing pvc"),
        pytest.param({"name": "data", "iscsi": {"targetPortal": "t"}}, NEVER, "UnsupportedVolume",
                     "volume 'data': iscsi", id="inline iscsi"),
        pytest.param({"name": "data", "rbd": {"monitors": ["m"]}}, NEVER, "UnsupportedVolume", "volume 'data': rbd",
                     id="inline rbd"),
        pytest.param({"name": "data", "awsElasticBlockStore": {"volumeID": "v"}}, NEVER, "UnsupportedVolume",
                     "volume 'data': awsElasticBlockStore", id="inline ebs"),
        pytest.param({"name": "data", "csi": {"driver": "secrets-store.csi.k8s.io"}}, NEVER, "UnsupportedVolume",
                     "volume 'data': inline CSI driver 'secrets-store.csi.k8s.io'", id="inline other csi"),
        pytest.param({"name": "data", "csi": {"driver": "com.tencent.cloud.csi.cbs"}}, A, "", None,
                     id="inline cbs csi"),
        pytest.param({"name": "data", "gcePersistentDisk": {"pdName": "d"}}, NEVER, "UnsupportedVolume",
                     "volume 'data': unsupported volume source", id="unmodelled source"),
    ],
)
def test_volumes(volume: dict[str, Any], code: Code, reason: str, detail: str | None) -> None:
    result = volumes.check(pod(spec={"volumes": [volume]}), VOLUME_CTX)
    message = "" if detail is None else f"volumes super nodes cannot mount: {detail}"
    assert result == RuleResult("volumes", code, reason, message)


def test_volumes_unsupported_outranks_pending_and_lists_all() -> None:
    subject = pod(spec={"volumes": [claim("pending-claim"), {"name": "blk", "rbd": {"monitors": ["m"]}}]})
    assert volumes.check(subject, VOLUME_CTX) == RuleResult(
        "volumes", NEVER, "UnsupportedVolume",
        "volumes super nodes cannot mount: volume 'data': PVC 'pending-claim' is not bound to a PV yet; "
        "volume 'blk': rbd")


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
