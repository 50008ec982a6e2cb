"""Real manifests nobody here wrote: every workload of the kubernetes/examples corpus on one stack.

Each workload manifest of `../shared/corpus/kubernetes-examples` (beside the repository) is
applied as a new user would try Spillway: the manifest's namespace removed (each directory of the
corpus gets its own namespace, so the examples' PersistentVolumeClaims, ConfigMaps and Secrets are
found and same-named objects of different examples do not collide), `AUTO_SCALE_EKS: "true"` and
`LOCAL_REPLICAS: "0"` added to the pod template, one replica. What the corpus holds besides
workloads (claims, volumes, config, services) is applied too, as `kubectl apply -f DIR` would.

Adjustments, each because of the API and not to suit Spillway: `extensions/v1beta1` workloads are
skipped (kube-apiserver removed that group version in 1.16); a ReplicationController is applied as
the equivalent `apps/v1` ReplicaSet (the sandbox serves no ReplicationControllers; the pod
template, which is what Spillway judges, is unchanged); files that are templates rather than YAML
(`{{replicas}}`) are skipped. Whatever the sandbox refuses is printed and is fine.

Then: every pod the API accepted has a decision `spillway explain NS/POD --json` returns within
60 s of its appearance; no pod is on a super node that docs/reference.md's restrictions say it
cannot run on; no child of the stack had to be restarted.
"""

from __future__ import annotations

import asyncio
import copy
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from spillway.kube import KubeClient, KubeError
from tests.chaos.harness import (
    create_object,
    decision_json,
    explain_cli,
    log_evidence,
    pods_in,
    running_stack,
    supervised_restarts,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus" / "kubernetes-examples"
REFERENCE = REPO / "docs" / "reference.md"

DECISION_SECONDS = 60.0
QUIET_SECONDS = 5.0
"""No new pod and every pod decided for this long: the controllers are done."""
WATCH_CAP_SECONDS = DECISION_SECONDS + 30.0
"""Controllers that keep making pods (a failed-pod loop) do not keep the test running."""

POD_MAKERS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "Pod", "ReplicationController"}
ALSO_APPLIED = ["StorageClass", "PersistentVolume", "PersistentVolumeClaim", "ConfigMap", "Secret",
                "ServiceAccount", "Service"]
REPLICATED = {"Deployment", "ReplicaSet", "StatefulSet"}
SUPER_NODE_PREFIX = "eklet-"
RESERVED_PORTS = range(61000, 65535)
PERSISTENT_VOLUMES = {"awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "csi", "fc",
                      "flexVolume", "flocker", "gcePersistentDisk", "gitRepo", "glusterfs", "hostPath", "iscsi",
                      "nfs", "photonPersistentDisk", "portworxVolume", "quobyte", "rbd", "scaleIO", "storageos",
                      "vsphereVolume", "qcloudCbs", "ephemeral", "local"}
TENCENT_CBS_CSI = "com.tencent.cloud.csi.cbs"


def burstable(obj: dict[str, Any]) -> dict[str, Any]:
    """The manifest as the corpus test applies it (namespace dropped, the two annotations, 1 replica)."""
    obj = copy.deepcopy(obj)
    obj.setdefault("metadata", {}).pop("namespace", None)
    if obj["kind"] == "ReplicationController":
        spec = obj.setdefault("spec", {})
        labels = spec.get("selector") or ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        obj = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": obj["metadata"],
               "spec": {**spec, "selector": {"matchLabels": labels}}}
    if obj["kind"] == "Pod":
        template_meta = obj["metadata"]
    else:
        template_meta = obj.setdefault("spec", {}).setdefault("template", {}).setdefault("metadata", {})
    template_meta["annotations"] = {**(template_meta.get("annotations") or {}),
                                    "AUTO_SCALE_EKS": "true", "LOCAL_REPLICAS": "0"}
    if obj["kind"] in REPLICATED:
        obj["spec"]["replicas"] = 1
    if obj["kind"] == "Job":
        obj["spec"]["parallelism"] = obj["spec"]["completions"] = 1
    return obj


def corpus_objects() -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Objects to apply by corpus directory (others first, workloads last), and what was skipped."""
    by_dir: dict[str, list[dict[str, Any]]] = {}
    skipped: list[str] = []
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix not in (".yaml", ".yml", ".json"):
            continue
        rel = str(path.relative_to(CORPUS))
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
        except yaml.YAMLError:
            skipped.append(f"{rel}: a template, not YAML")
            continue
        for doc in docs:
            kind, version = doc.get("kind", ""), doc.get("apiVersion", "")
            if version.startswith("extensions/"):
                skipped.append(f"{rel}: {kind} {version}: removed from the API in Kubernetes 1.16")
            elif kind in POD_MAKERS:
                by_dir.setdefault(str(path.parent.relative_to(CORPUS)), []).append(burstable(doc))
            elif kind in ALSO_APPLIED:
                doc = copy.deepcopy(doc)
                doc.get("metadata", {}).pop("namespace", None)
                by_dir.setdefault(str(path.parent.relative_to(CORPUS)), []).append(doc)
    order = {kind: i for i, kind in enumerate(ALSO_APPLIED)}
    for objects in by_dir.values():
        objects.sort(key=lambda o: order.get(o["kind"], len(order)))
    return by_dir, skipped


@dataclass(frozen=True)
class VolumeRules:
    """What docs/reference.md's "Volumes on super nodes" lets a super node run (mounted or
    dropped with a warning): pod volume sources, and the sources of a claim's PersistentVolume."""

    inline: frozenset[str]
    bound: frozenset[str]
    cbs_csi: bool


def volume_rules() -> VolumeRules:
    text = REFERENCE.read_text()
    assert "## Volumes on super nodes" in text, "docs/reference.md has no 'Volumes on super nodes' section"
    section = text.split("## Volumes on super nodes", 1)[1].split("\n## ", 1)[0]
    bullets = re.split(r"\n- \*\*", section)
    allowed = " ".join(b for b in bullets if b.startswith(("Mounted", "Dropped")))
    refused = " ".join(b for b in bullets if b.startswith("Refused"))
    inline = set(re.findall(r"`([A-Za-z]+)`", allowed)) - {"persistentVolumeClaim"}
    if "inline `csi`" in refused:
        inline.discard("csi")
    bound = {kind for kind in PERSISTENT_VOLUMES if re.search(rf"\b{kind}\b", allowed)}
    return VolumeRules(frozenset(inline), frozenset(bound), TENCENT_CBS_CSI in allowed)


def why_not_on_super_node(pod: dict[str, Any], claims: dict[tuple[str, str], dict[str, Any]],
                          volumes: dict[str, dict[str, Any]], rules: VolumeRules) -> list[str]:
    """Reference restrictions that this pod breaks, read from its spec (not from the decision)."""
    spec = pod.get("spec") or {}
    meta = pod.get("metadata") or {}
    broken: list[str] = []
    if is_daemon_pod(pod):
        broken.append("DaemonSet pod")
    if "tke.cloud.tencent.com/vpc-ip-claim-delete-policy" in (meta.get("annotations") or {}):
        broken.append("fixed-IP pod")
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for port in container.get("ports") or []:
            if port.get("containerPort") in RESERVED_PORTS or port.get("hostPort") in RESERVED_PORTS:
                broken.append(f"reserved port {port}")
    for volume in spec.get("volumes") or []:
        source = next((k for k in volume if k != "name"), "")
        if source != "persistentVolumeClaim":
            if source not in rules.inline:
                broken.append(f"volume {volume['name']}: {source} cannot be on a super node")
            continue
        claim = claims.get((meta.get("namespace", ""), volume[source].get("claimName", "")))
        bound = volumes.get(((claim or {}).get("spec") or {}).get("volumeName", ""))
        if bound is None:
            broken.append(f"volume {volume['name']}: claim missing, unbound or its volume missing")
            continue
        pv_spec = bound.get("spec") or {}
        pv_source = next((k for k in pv_spec if k in PERSISTENT_VOLUMES), "")
        cbs = pv_source == "csi" and rules.cbs_csi and (pv_spec.get("csi") or {}).get("driver") == TENCENT_CBS_CSI
        if not cbs and (pv_source == "csi" or pv_source not in rules.bound):
            broken.append(f"volume {volume['name']}: a claim bound to {pv_source or 'an unknown'} volume "
                          "cannot be on a super node")
    return broken


async def apply_corpus(kube: KubeClient, by_dir: dict[str, list[dict[str, Any]]]) -> tuple[list[str], list[str]]:
    """Create a namespace per directory and its objects; returns the namespaces and the refusals."""
    namespaces: list[str] = []
    refused: list[str] = []
    for i, (directory, objects) in enumerate(sorted(by_dir.items())):
        namespace = f"corpus-{i}"
        await create_object(kube, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        namespaces.append(namespace)
        for obj in objects:
            try:
                await create_object(kube, obj, namespace)
            except KubeError as exc:
                refused.append(f"{directory}: {obj['kind']} {obj['metadata'].get('name', '?')}: {exc}")
    return namespaces, refused


async def test_every_corpus_workload_gets_a_decision_and_breaks_nothing(tmp_path: Path) -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"the corpus is not beside the repository ({CORPUS})")
    by_dir, skipped = corpus_objects()
    rules = volume_rules()
    async with running_stack(tmp_path) as (stack, kube):
        namespaces, refused = await apply_corpus(kube, by_dir)
        print(f"\napplied {sum(map(len, by_dir.values()))} objects in {len(namespaces)} namespaces")
        print("skipped:\n  " + "\n  ".join(skipped))
        print("refused by the API:\n  " + "\n  ".join(refused))

        first_seen: dict[tuple[str, str], float] = {}
        decisions: dict[tuple[str, str], dict[str, Any]] = {}
        late: dict[tuple[str, str], float] = {}
        pods: dict[tuple[str, str], dict[str, Any]] = {}
        quiet_since = started = time.monotonic()
        while True:
            now = time.monotonic()
            listed = [p for ns in namespaces for p in await pods_in(kube, ns)]
            for pod in listed:
                key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
                pods[key] = pod
                if key not in first_seen:
                    first_seen[key], quiet_since = now, now
            for key in [k for k in first_seen if k not in decisions and k not in late]:
                record = await decision_json(stack.nats_url, *key)
                if record is not None:
                    decisions[key] = record
                    late.pop(key, None)
                elif now - first_seen[key] > DECISION_SECONDS:
                    late[key] = now - first_seen[key]
            waiting = [k for k in first_seen if k not in decisions and k not in late]
            if (not waiting and now - quiet_since > QUIET_SECONDS) or now - started > WATCH_CAP_SECONDS:
                break
            await asyncio.sleep(1.0)

        listed = [p for ns in namespaces for p in await pods_in(kube, ns)]
        pods.update({(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in listed})
        raw_claims = [c for ns in namespaces for c in (await kube.get_as(
            f"/api/v1/namespaces/{ns}/persistentvolumeclaims", dict[str, Any])).get("items", [])]
        claims = {(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in raw_claims}
        raw_volumes = (await kube.get_as("/api/v1/persistentvolumes", dict[str, Any])).get("items", [])
        volumes = {v["metadata"]["name"]: v for v in raw_volumes}
        sample = next(iter(sorted(decisions)), None)
        from_cli = explain_cli(stack.nats_url, *sample) if sample else None
        restarted = supervised_restarts(stack)
        evidence = log_evidence(stack)

    outcomes: dict[str, int] = {}
    for record in decisions.values():
        outcome = f"{record['outcome']}/{record['reason']}"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print(f"{len(first_seen)} pods, decisions: {dict(sorted(outcomes.items()))}")

    assert first_seen, "the corpus made no pod at all"
    # A DaemonSet pod made for a local node is placed there by the DaemonSet controller: it never
    # waits for a placement, so it has nothing to explain.
    undecided = sorted(f"{ns}/{name} ({pods[(ns, name)]['spec'].get('nodeName') or 'unbound'})"
                       for ns, name in late
                       if not (is_daemon_pod(pods.get((ns, name), {}))
                               and not pods[(ns, name)]["spec"].get("nodeName", "").startswith(SUPER_NODE_PREFIX)))
    assert not undecided, f"no decision {DECISION_SECONDS:.0f} s after the pod appeared: {undecided}\n{evidence}"

    wrongly_placed: list[str] = []
    for key, pod in pods.items():
        node = (pod.get("spec") or {}).get("nodeName") or ""
        if not node.startswith(SUPER_NODE_PREFIX):
            continue
        record = decisions.get(key) or {}
        broken = why_not_on_super_node(pod, claims, volumes, rules)
        refusals = [f"{r['rule']}: {r['code']}" for r in record.get("rules", []) if r.get("code") != "Allowed"]
        if broken or refusals or record.get("outcome") != "cloud":
            wrongly_placed.append(f"{key[0]}/{key[1]} on {node}: {broken}, decision "
                                  f"{record.get('outcome')}/{record.get('reason')} {refusals}")
    assert not wrongly_placed, "pods on super nodes that cannot run there:\n" + "\n".join(wrongly_placed)

    assert sample is None or (from_cli is not None and from_cli["uid"] == decisions[sample]["uid"]), \
        f"`spillway explain {sample[0]}/{sample[1]} --json` did not print the record" if sample else ""
    assert not restarted, f"children restarted by the stack's supervisor: {restarted}\n{evidence}"


def is_daemon_pod(pod: dict[str, Any]) -> bool:
    return any(o.get("kind") == "DaemonSet" for o in (pod.get("metadata") or {}).get("ownerReferences") or [])
