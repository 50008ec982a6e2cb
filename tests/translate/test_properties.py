"""Random pods: translation only ever fails with a TranslationError, and every request it makes
has the API's required fields, a valid Cpu/Memory spec, and survives the real SDK's model.
Whole hostile pods (tests/model/pod_strategies.py) hold to the same contract."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tencentcloud.tke.v20180525 import models

from spillway.model.kube import PersistentVolume, from_builtins
from spillway.model.specs import is_valid_spec
from spillway.translate import TranslationContext, TranslationError, translate_pod
from tests.model.pod_strategies import pods as whole_pods

TEXT = st.text(alphabet="ab$()=:/ .-_x1", max_size=12)
# Mostly valid values, with the occasional bad one, so most pods translate and errors stay covered.
CPU = st.sampled_from(["0", "100m", "250m", "1", "2", "3.5", "7"] * 4 + ["70", "1e3", "bogus", ""])
MEMORY = st.sampled_from(["0", "128Mi", "1Gi", "6Gi", "20Gi", "100Gi"] * 4 + ["600Gi", "bogus", "1Pi"])
PORT = st.one_of(st.integers(min_value=1, max_value=65535),
                 st.sampled_from(["http", "admin", "8080"] * 5 + ["nope", "0"]))
SECRETS: dict[str, dict[str, bytes]] = {
    "db": {"password": b"s3cret-value", "user": b"u", "bin": b"\xff\xfe"},
    "pull": {".dockerconfigjson": json.dumps(
        {"auths": {"ccr.example": {"auth": base64.b64encode(b"u:p").decode()}}}).encode()},
}
CONFIG_MAPS = {"cfg": {"A": "1", "B": "$(A)"}}
PVS = {
    "cbs": from_builtins({"spec": {"qcloudCbs": {"cbsDiskId": "disk-1"}}}, PersistentVolume),
    "nfs": from_builtins({"spec": {"nfs": {"server": "s", "path": "/p"}}}, PersistentVolume),
    "ceph": from_builtins({"spec": {"cephfs": {}}}, PersistentVolume),
}
CONTEXT = TranslationContext(
    instance_name="spw-x", subnet_id="subnet-1", vpc_id="vpc-1", security_group_ids=("sg-1",),
    node_name="eklet-subnet-1", pod_used_apiserver="10.0.0.1:6443", node_resolv_conf="nameserver 10.0.0.2",
    secrets=SECRETS, config_maps=CONFIG_MAPS, persistent_volumes=PVS,
)


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


key_ref = st.fixed_dictionaries({"name": st.sampled_from(["db", "cfg", "gone"]),
                                  "key": st.sampled_from(["password", "A", "user", "B", "bin", "x"])},
                                 optional={"optional": st.booleans()})
env_var = st.fixed_dictionaries({"name": st.sampled_from(["A", "B", "C", "X", "KUBERNETES_SERVICE_HOST"])}, optional={
    "value": TEXT,
    "valueFrom": st.one_of(
        st.builds(lambda r: {"secretKeyRef": r}, key_ref),
        st.builds(lambda r: {"configMapKeyRef": r}, key_ref),
        st.builds(lambda p: {"fieldRef": {"fieldPath": p}}, st.sampled_from(
            ["metadata.name", "metadata.labels['x']", "status.podIP", "status.hostIP", "spec.nodeName"] * 3
            + ["bad.path"])),
        st.builds(lambda r, d: {"resourceFieldRef": {"resource": r, "divisor": d}},
                  st.sampled_from(["limits.cpu", "requests.memory", "limits.ephemeral-storage"] * 3 + ["x.cpu"]),
                  st.sampled_from(["1", "1m", "1Mi"] * 3 + ["0"])),
        st.just({}),
    ),
})
env_from = optional(prefix=TEXT, configMapRef=optional(name=st.sampled_from(["cfg", "gone"]), optional=st.booleans()),
                    secretRef=optional(name=st.sampled_from(["db", "gone"]), optional=st.booleans()))
probe = st.one_of(
    st.builds(lambda p, path, s: {"httpGet": {"port": p, "path": path, "scheme": s}}, PORT, st.sampled_from(["/", ""]),
              st.sampled_from(["HTTP", "https", "FTP"])),
    st.builds(lambda p: {"tcpSocket": {"port": p}}, PORT),
    st.builds(lambda c: {"exec": {"command": c}}, st.lists(TEXT, max_size=2)),
    st.just({"grpc": {"port": 9000}}),
    st.just({"periodSeconds": 3}),
)
resources = optional(requests=optional(cpu=CPU, memory=MEMORY), limits=optional(cpu=CPU, memory=MEMORY))
mount = st.fixed_dictionaries({"name": st.sampled_from(["v1", "v2", "v3"] * 4 + ["ghost"]),
                               "mountPath": st.just("/m")},
                              optional={"readOnly": st.booleans(), "subPath": TEXT})


def container(names: list[str], sidecar: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    extra: dict[str, st.SearchStrategy[Any]] = {"restartPolicy": st.just("Always")} if sidecar else {}
    images = st.sampled_from(["nginx", "ccr.example/app:1"] * 8 + [""])
    return st.fixed_dictionaries({"name": st.sampled_from(names), "image": images},
                                 optional={
        "command": st.lists(TEXT, max_size=3), "args": st.lists(TEXT, max_size=3), "workingDir": TEXT,
        "env": st.lists(env_var, max_size=4), "envFrom": st.lists(env_from, max_size=2), "resources": resources,
        "ports": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["http", "admin"]),
                                                 "containerPort": st.integers(1, 65535)}), max_size=2),
        "volumeMounts": st.lists(mount, max_size=2), "livenessProbe": probe, "readinessProbe": probe,
        "startupProbe": probe,
        "securityContext": optional(capabilities=optional(add=st.lists(st.sampled_from(["NET_ADMIN", "SYS_TIME"])),
                                                          drop=st.lists(st.just("ALL"))), privileged=st.booleans()),
        **extra,
    })


volume_source = st.sampled_from([
    {"nfs": {"server": "nfs", "path": "/x"}}, {"nfs": {"server": "", "path": "/x"}}, {"emptyDir": {}},
    {"configMap": {"name": "cfg"}}, {"secret": {"secretName": "db"}}, {"hostPath": {"path": "/h"}},
    {"projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}, {"cephfs": {}}, {"iscsi": {}},
    {"persistentVolumeClaim": {"claimName": "cbs"}}, {"persistentVolumeClaim": {"claimName": "nfs"}},
    {"persistentVolumeClaim": {"claimName": "cbs", "readOnly": True}},
    {"persistentVolumeClaim": {"claimName": "ceph"}}, {"persistentVolumeClaim": {"claimName": "gone"}},
])
pod_annotations = optional(**{
    "eks.tke.cloud.tencent.com/cpu": CPU, "eks.tke.cloud.tencent.com/mem": MEMORY,
    "eks.tke.cloud.tencent.com/security-group-id": st.sampled_from(["sg-a,sg-b", " , ", "sg-c"]),
    "eks.tke.cloud.tencent.com/resolv-conf": st.sampled_from(["nameserver 1.1.1.1\noptions rotate", "bad", "#"]),
    "eks.tke.cloud.tencent.com/cpu-type": st.sampled_from(["intel", "amd,intel", "arm"]),
})
pods = st.builds(
    lambda meta, spec: {"metadata": meta, "spec": spec},
    st.fixed_dictionaries({"name": st.just("p"), "namespace": st.just("ns"), "annotations": pod_annotations}),
    st.fixed_dictionaries({"containers": st.lists(container(["a", "b", "c", "d", "i1"]), min_size=1, max_size=3,
                                                  unique_by=lambda c: c["name"])}, optional={
        "initContainers": st.lists(st.one_of(container(["i1", "i2", "i3"]), container(["i1", "i2", "i3"], True)),
                                   max_size=2, unique_by=lambda c: c["name"]),
        "volumes": st.lists(st.builds(lambda n, s: {"name": n, **s}, st.sampled_from(["v1", "v2", "v3"]),
                                      volume_source), max_size=3, unique_by=lambda v: v["name"]),
        "restartPolicy": st.sampled_from(["Always", "OnFailure", "Never", "Weird"]),
        "imagePullSecrets": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["pull", "db", "gone"])}),
                                     max_size=2),
        "dnsPolicy": st.sampled_from(["None", "ClusterFirst"]),
        "dnsConfig": optional(nameservers=st.lists(st.just("10.9.9.9"), max_size=2),
                              options=st.lists(st.fixed_dictionaries({"name": st.just("ndots")},
                                                                     optional={"value": st.just("2")}), max_size=2)),
    }),
)

REQUIRED: dict[str, tuple[str, ...]] = {
    "request": ("Containers", "EksCiName", "SecurityGroupIds", "SubnetId", "VpcId", "Memory", "Cpu"),
    "container": ("Image", "Name"),
    "mount": ("Name", "MountPath"),
    "probe": ("Probe",),
    "http": ("Path", "Port", "Scheme"),
    "cbs": ("Name", "CbsDiskId"),
    "nfs": ("Name", "Server", "Path"),
    "dns_option": ("Name", "Value"),
    "credential": ("Server", "Username", "Password"),
}


def assert_has(kind: str, obj: dict[str, Any]) -> None:
    for field in REQUIRED[kind]:
        assert obj.get(field) not in (None, "", []), f"{kind}.{field} missing in {obj}"


def check_request(request: dict[str, Any]) -> None:
    assert_has("request", request)
    assert is_valid_spec(request["Cpu"], request["Memory"])
    assert request.get("RestartPolicy", "Always") in ("Always", "OnFailure", "Never")
    volumes = request.get("EksCiVolume", {})
    for v in volumes.get("CbsVolumes", []):
        assert_has("cbs", v)
    for v in volumes.get("NfsVolumes", []):
        assert_has("nfs", v)
    volume_names = {v["Name"] for kind in volumes.values() for v in kind}
    bodies = [*request["Containers"], *request.get("InitContainers", [])]
    assert len({c["Name"] for c in bodies}) == len(bodies)
    for body in bodies:
        assert_has("container", body)
        for m in body.get("VolumeMounts", []):
            assert_has("mount", m)
            assert m["Name"] in volume_names
        for key in ("LivenessProbe", "ReadinessProbe"):
            if key in body:
                assert_has("probe", body[key])
                if "HttpGet" in body[key]:
                    assert_has("http", body[key]["HttpGet"])
                    assert 0 < body[key]["HttpGet"]["Port"] < 65536
    for option in request.get("DnsConfig", {}).get("Options", []):
        assert "Name" in option and "Value" in option
    for cred in request.get("ImageRegistryCredentials", []):
        assert_has("credential", cred)
    # The SDK's own model: an unknown field warns (an error under pytest), a misplaced one is dropped.
    model = models.CreateEKSContainerInstancesRequest()
    model.from_json_string(json.dumps(request))
    assert model._serialize() == request  # to_json_string() would add every unset field as null


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pods)
def test_random_pods_translate_or_fail_cleanly(body: dict[str, Any]) -> None:
    from spillway.model.kube import Pod

    pod = from_builtins(body, Pod)
    try:
        first = translate_pod(pod, CONTEXT)
    except TranslationError as exc:
        event(type(exc).__name__)
        assert str(exc) and "\n" not in str(exc)
        return
    event("translated")
    check_request(first.request)
    assert translate_pod(pod, CONTEXT).request == first.request  # deterministic: retries send the same request
    assert "s3cret-value" not in repr(first)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(whole_pods())
def test_whole_hostile_pods_translate_or_fail_with_a_translation_error(body: dict[str, Any]) -> None:
    """Whole pods as the API accepts them, with hostile values in every annotation Spillway
    reads and quantities of every shape: the translation answers a valid request or a
    TranslationError (one line), never another exception."""
    from spillway.model.kube import Pod

    pod = from_builtins(body, Pod)
    try:
        result = translate_pod(pod, CONTEXT)
    except TranslationError as exc:
        event(type(exc).__name__)
        assert str(exc) and "\n" not in str(exc)
        return
    event("translated")
    assert is_valid_spec(result.request["Cpu"], result.request["Memory"])
    assert "s3cret-value" not in repr(result)
