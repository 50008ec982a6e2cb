"""Hypothesis strategies for whole pods as API JSON, hostile wherever the API lets a user be.

Names, namespaces and labels are what kube-apiserver accepts (DNS-1123, label syntax); annotation
values are any string the API stores, and every annotation Spillway reads gets the values that
broke it once (`Infinity`, 5,000 digits, `1e30000000`) as well as random text. Quantities come
in every shape of Kubernetes' grammar (huge and tiny exponents, binary and decimal suffixes)
plus junk the API would refuse, so the parsers are exercised beyond what the sandbox stores.
Used by the policy and translation property tests.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from bench.hostile import HOSTILE_TEXT, HUGE_DIGITS
from spillway.model.kube import (
    ANNOTATION_AUTO_SCALE,
    ANNOTATION_CPU,
    ANNOTATION_DELETION_COST,
    ANNOTATION_FIXED_IP,
    ANNOTATION_LOCAL_REPLICAS,
    ANNOTATION_MEM,
    ANNOTATION_RESOLV_CONF,
    ANNOTATION_SECURITY_GROUPS,
    ANNOTATION_SUBNET_ID,
    PLACEMENT_GATE,
)


def _hostile_value(index: int) -> str:
    return HOSTILE_TEXT[index]


hostile_text = st.integers(0, len(HOSTILE_TEXT) - 1).map(_hostile_value)
"""One of HOSTILE_TEXT (drawn by index: the strategy's repr stays small)."""
huge_digits = st.sampled_from(["", "32768 "]).map(lambda prefix: prefix + HUGE_DIGITS)


def _label_part(max_size: int) -> st.SearchStrategy[str]:
    """A DNS-1123 label or a label name: alphanumeric ends, [-._] inside (the API's syntax)."""
    inner = st.text(alphabet="abcxyz019-._", max_size=max(0, max_size - 2))
    return st.builds(lambda a, mid, b: a + (mid + b if mid or b else ""), st.sampled_from("abz09"), inner,
                     st.sampled_from(["", "a", "9"]))


dns_label = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?\Z")
pod_name = st.one_of(dns_label, st.lists(dns_label, min_size=2, max_size=12).map(".".join).map(lambda s: s[:253])
                     .filter(lambda s: s[-1].isalnum()))
"""DNS-1123 subdomains, up to the 253 characters the API allows for a pod name."""
namespace = st.one_of(dns_label, dns_label, dns_label,
                      st.sampled_from(["default", "kube-system", "tke-eni-ip-webhook"]))
label_value = st.one_of(st.just(""), _label_part(63).filter(lambda s: len(s) <= 63 and s[-1].isalnum()))
label_key = st.builds(lambda prefix, name: f"{prefix}/{name}" if prefix else name,
                      st.sampled_from(["", "app.kubernetes.io", "example.com"]),
                      _label_part(63).filter(lambda s: len(s) <= 63 and s[-1].isalnum()))


# ---- quantities ---------------------------------------------------------------------------

_digits = st.text(alphabet="0123456789", min_size=1, max_size=25)
_number = st.one_of(
    _digits,
    st.builds(lambda a, b: f"{a}.{b}", _digits, _digits),
    st.builds(lambda a: f"{a}.", _digits),
    st.builds(lambda b: f".{b}", _digits),
)
_exponent = st.one_of(st.integers(-40, 40), st.integers(-(2**40), 2**40)).map(str)
_suffix = st.one_of(
    st.sampled_from(["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]),
    st.builds(lambda e, sign, n: f"{e}{sign}{n.lstrip('+-')}", st.sampled_from("eE"), st.sampled_from(["", "+", "-"]),
              _exponent),
)
grammar_quantity = st.builds(lambda sign, n, s: f"{sign}{n}{s}", st.sampled_from(["", "", "", "+", "-"]), _number,
                             _suffix)
"""Every shape of Kubernetes' quantity grammar, including values it caps or rounds."""
usual_quantity = st.sampled_from(["0", "100m", "250m", "1", "2", "3.5", "4", "8", "70", "128Mi", "512Mi", "1Gi",
                                  "6Gi", "16Gi", "600Gi", "1e3", "1.5e2"])
quantity = st.one_of(usual_quantity, usual_quantity, grammar_quantity, hostile_text,
                     st.text(max_size=8))


# ---- annotations --------------------------------------------------------------------------

def _hostile(*usual: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(list(usual)), hostile_text, st.text(max_size=12))


ANNOTATION_VALUES: dict[str, st.SearchStrategy[str]] = {
    ANNOTATION_AUTO_SCALE: _hostile("true", "false", "True", " FALSE "),
    ANNOTATION_LOCAL_REPLICAS: _hostile("0", "1", "2", "3", "10", " 2 ", "007"),
    ANNOTATION_CPU: st.one_of(quantity, _hostile("2", "500m")),
    ANNOTATION_MEM: st.one_of(quantity, _hostile("4Gi", "512Mi")),
    ANNOTATION_RESOLV_CONF: _hostile("nameserver 1.1.1.1\noptions rotate ndots:2", "search a b\nnameserver ::1",
                                     "# only a comment", "nameserver 1.1.1.1 2.2.2.2", "options :x",
                                     "nameserver 1.1.1.1\n" * 9),
    ANNOTATION_SECURITY_GROUPS: _hostile("sg-a,sg-b", " , ", "sg-c", ",,,sg-d ,"),
    ANNOTATION_FIXED_IP: _hostile("Never", "Immutable"),
    ANNOTATION_SUBNET_ID: _hostile("subnet-1"),
    ANNOTATION_DELETION_COST: _hostile("-100", "0"),
    "eks.tke.cloud.tencent.com/cpu-type": _hostile("intel", "amd,intel"),
}
usual_annotations = st.fixed_dictionaries({ANNOTATION_LOCAL_REPLICAS: st.sampled_from(["0", "1", "2"])}, optional={
    ANNOTATION_AUTO_SCALE: st.just("true"), ANNOTATION_CPU: usual_quantity, ANNOTATION_MEM: usual_quantity})
"""What most bursting workloads carry, so that many pods get as far as a super node."""
hostile_annotations = st.fixed_dictionaries({}, optional=ANNOTATION_VALUES).flatmap(
    lambda known: st.dictionaries(label_key, st.text(max_size=20), max_size=2).map(lambda other: {**other, **known}))
"""Every annotation Spillway reads, each present or not, with usual, hostile or random values."""
pod_annotations = st.one_of(usual_annotations, hostile_annotations)


# ---- containers ---------------------------------------------------------------------------

PORT_NAMES = ["http", "admin", "grpc", "metrics"]
port_number = st.one_of(st.integers(1, 60999), st.integers(1, 60999), st.integers(1, 65535),
                        st.sampled_from([80, 8080, 61000, 63000, 65534, 65535]))
probe_port: st.SearchStrategy[int | str] = st.one_of(port_number, st.sampled_from([*PORT_NAMES, "undeclared"]))
probe_handler = st.one_of(
    st.builds(lambda p, path, scheme: {"httpGet": {"port": p, "path": path, "scheme": scheme}},
              probe_port, st.sampled_from(["/", "/healthz", ""]), st.sampled_from(["HTTP", "HTTPS"])),
    st.builds(lambda p: {"tcpSocket": {"port": p}}, probe_port),
    st.builds(lambda p: {"grpc": {"port": p}}, port_number),
    st.builds(lambda c: {"exec": {"command": c}}, st.lists(st.sampled_from(["sh", "-c", "true"]), min_size=1,
                                                           max_size=3)),
)
probe = st.builds(lambda handler, timing: {**handler, **timing}, probe_handler,
                  st.fixed_dictionaries({}, optional={"periodSeconds": st.integers(1, 60),
                                                      "initialDelaySeconds": st.integers(0, 600)}))
lifecycle = st.fixed_dictionaries({}, optional={
    "postStart": st.one_of(probe_handler.filter(lambda h: "grpc" not in h), st.just({"sleep": {"seconds": 1}})),
    "preStop": st.one_of(probe_handler.filter(lambda h: "grpc" not in h), st.just({"sleep": {"seconds": 5}})),
})
resources = st.fixed_dictionaries({}, optional={
    "requests": st.fixed_dictionaries({}, optional={"cpu": quantity, "memory": quantity,
                                                    "ephemeral-storage": quantity}),
    "limits": st.fixed_dictionaries({}, optional={"cpu": quantity, "memory": quantity}),
})
env_var = st.fixed_dictionaries({"name": st.sampled_from(["A", "B", "PATH"])}, optional={
    "value": st.text(max_size=10),
    "valueFrom": st.sampled_from([
        {"fieldRef": {"fieldPath": "metadata.name"}}, {"fieldRef": {"fieldPath": "status.podIP"}},
        {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}},
        {"resourceFieldRef": {"resource": "requests.memory", "divisor": "0"}},
        {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1e30000000"}},
        {"secretKeyRef": {"name": "db", "key": "password"}}, {"configMapKeyRef": {"name": "cfg", "key": "A"}},
    ]),
})


def container(names: list[str], *, sidecar: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    optional: dict[str, st.SearchStrategy[Any]] = {
        "resources": resources,
        "ports": st.lists(st.fixed_dictionaries({"containerPort": port_number}, optional={
            "name": st.sampled_from(PORT_NAMES), "hostPort": port_number,
            "protocol": st.sampled_from(["TCP", "UDP", "SCTP"])}), max_size=3),
        "livenessProbe": probe, "readinessProbe": probe, "startupProbe": probe, "lifecycle": lifecycle,
        "env": st.lists(env_var, max_size=3),
        "volumeMounts": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["v0", "v1", "v2", "v3"]),
                                                        "mountPath": st.sampled_from(["/data", "/etc/x"])}),
                                 max_size=2),
        "command": st.lists(st.text(max_size=8), max_size=2),
        "securityContext": st.sampled_from([{"privileged": True}, {"capabilities": {"add": ["NET_ADMIN"]}},
                                            {"runAsUser": 1000}]),
    }
    if sidecar:
        optional["restartPolicy"] = st.just("Always")
    images = st.sampled_from(["nginx", "ccr.example/a:1"])
    return st.fixed_dictionaries({"name": st.sampled_from(names), "image": images}, optional=optional)


# ---- volumes ------------------------------------------------------------------------------

VOLUME_SOURCES: list[dict[str, Any]] = [
    {"emptyDir": {}}, {"emptyDir": {"medium": "Memory", "sizeLimit": "1e30000000"}},
    {"nfs": {"server": "nfs.example", "path": "/x"}}, {"hostPath": {"path": "/h"}},
    {"configMap": {"name": "cfg"}}, {"secret": {"secretName": "db"}},
    {"projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
    {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
    {"persistentVolumeClaim": {"claimName": "cbs"}}, {"persistentVolumeClaim": {"claimName": "nfs"}},
    {"persistentVolumeClaim": {"claimName": "ceph"}}, {"persistentVolumeClaim": {"claimName": "unbound"}},
    {"persistentVolumeClaim": {"claimName": "gone"}}, {"persistentVolumeClaim": {"claimName": "cbs", "readOnly": True}},
    {"cephfs": {"monitors": ["10.0.0.1:6789"]}}, {"csi": {"driver": "com.tencent.cloud.csi.cbs"}},
    {"csi": {"driver": "secrets-store.csi.k8s.io"}}, {"iscsi": {"targetPortal": "t", "iqn": "i", "lun": 0}},
    {"rbd": {"monitors": ["m"], "image": "i"}}, {"awsElasticBlockStore": {"volumeID": "v"}},
    {"flexVolume": {"driver": "x/y"}}, {"ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
    {"gitRepo": {"repository": "r"}}, {"glusterfs": {"endpoints": "e", "path": "p"}},
]
volumes = st.lists(st.builds(lambda name, source: {"name": name, **source}, st.sampled_from(["v0", "v1", "v2", "v3"]),
                             st.sampled_from(VOLUME_SOURCES)), max_size=3, unique_by=lambda v: v["name"])


# ---- scheduling ---------------------------------------------------------------------------

affinity_value = st.one_of(st.sampled_from(["gz-3", "gz-4", "eklet", "5"]), huge_digits)
node_selector_terms = st.lists(st.fixed_dictionaries({}, optional={
    "matchExpressions": st.lists(st.fixed_dictionaries({
        "key": st.sampled_from(["topology.kubernetes.io/zone", "node.kubernetes.io/instance-type", "disk"]),
        "operator": st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]),
        "values": st.lists(affinity_value, max_size=2)}), max_size=2),
    "matchFields": st.lists(st.fixed_dictionaries({
        "key": st.just("metadata.name"), "operator": st.sampled_from(["In", "NotIn"]),
        "values": st.lists(st.sampled_from(["eklet-0", "node-1"]), min_size=1, max_size=2)}), max_size=1),
}), min_size=1, max_size=2)
toleration = st.sampled_from([
    {"operator": "Exists"}, {"key": "eks.tke.cloud.tencent.com/eklet", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoExecute", "tolerationSeconds": 30},
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists"},
])


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    """A whole pod as API JSON: metadata, app/init/sidecar containers, volumes, scheduling."""
    spec: dict[str, Any] = {"containers": draw(st.lists(container(["app", "web", "side", "init-a"]), min_size=1,
                                                        max_size=3, unique_by=lambda c: c["name"]))}
    optional: dict[str, st.SearchStrategy[Any]] = {
        "initContainers": st.lists(st.one_of(container(["init-a", "init-b"]), container(["init-c"], sidecar=True)),
                                   max_size=2, unique_by=lambda c: c["name"]),
        "volumes": volumes,
        "nodeSelector": st.dictionaries(st.sampled_from(["topology.kubernetes.io/zone", "disk"]),
                                        st.sampled_from(["gz-3", "ssd"]), max_size=1),
        "affinity": st.builds(lambda terms: {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}, node_selector_terms),
        "tolerations": st.lists(toleration, max_size=3),
        "securityContext": st.builds(lambda v: {"sysctls": [{"name": "net.ipv4.ip_local_port_range", "value": v}]},
                                     st.one_of(st.just("32768 60999"), st.sampled_from(["32768 65535", "x", ""]),
                                               huge_digits)),
        "restartPolicy": st.sampled_from(["Always", "OnFailure", "Never"]),
        "dnsPolicy": st.sampled_from(["ClusterFirst", "Default", "None"]),
        "dnsConfig": st.just({"nameservers": ["10.9.9.9"], "options": [{"name": "ndots", "value": "2"}]}),
        "hostAliases": st.just([{"ip": "10.1.1.1", "hostnames": ["db"]}]),
        "shareProcessNamespace": st.booleans(),
        "hostNetwork": st.booleans(),
        "imagePullSecrets": st.just([{"name": "pull"}]),
        "schedulerName": st.sampled_from(["default-scheduler", "tke-scheduler"]),
        "priority": st.integers(-(2**31), 2**31 - 1),
    }
    spec.update(draw(st.fixed_dictionaries({}, optional=optional)))
    if draw(st.booleans()):
        spec["schedulingGates"] = [{"name": PLACEMENT_GATE}]
    owner = draw(st.sampled_from([None, "ReplicaSet", "StatefulSet", "Job", "DaemonSet"]))
    metadata: dict[str, Any] = {
        "name": draw(pod_name), "namespace": draw(namespace), "uid": "uid-1",
        "labels": draw(st.dictionaries(label_key, label_value, max_size=3)),
        "annotations": draw(pod_annotations),
    }
    if owner:
        metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner, "name": "owner", "uid": "o",
                                        "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
