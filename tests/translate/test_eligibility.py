"""One answer to "can a cloud instance run this pod": the translation refuses exactly what the
placement policy keeps off the super nodes.

The first table reproduces pods that used to pass the policy and then fail in the translation
(bound, failed, recreated by their controller, bound again…); the property test checks the
agreement both ways for random pods."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings

from spillway.model.kube import ObjectMeta, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimSpec, Pod
from spillway.model.kube import from_builtins as decode
from spillway.policy.rules import REGISTRY, RuleContext, evaluate_rules, first_failure
from spillway.policy.status import Code
from spillway.translate import (
    REFUSAL_REASONS,
    CloudRefusal,
    InvalidPod,
    NotEligible,
    TranslationError,
    UnsupportedVolume,
    cloud_refusals,
    translate_pod,
)
from tests.translate.builders import container, ctx, pod
from tests.translate.test_properties import CONTEXT, pods

CEPH_PV = decode({"metadata": {"name": "pv-ceph"}, "spec": {"cephfs": {"monitors": ["10.0.0.3"]}}}, PersistentVolume)
NFS_PV = decode({"metadata": {"name": "pv-nfs"}, "spec": {"nfs": {"server": "10.0.0.2", "path": "/x"}}},
                PersistentVolume)


def claims_to(pvs: dict[str, PersistentVolume]) -> RuleContext:
    """A policy context whose claims are named like the translation's (claim name → PV of that name)."""
    def pvc(namespace: str, name: str) -> PersistentVolumeClaim | None:
        if name not in pvs:
            return None
        return PersistentVolumeClaim(ObjectMeta(name=name, namespace=namespace),
                                     PersistentVolumeClaimSpec(volume_name=name))
    return RuleContext(pvc_lookup=pvc, pv_lookup=pvs.get)


@pytest.mark.parametrize(
    ("subject", "error", "reason", "message"),
    [
        pytest.param(pod(volumes=[{"name": "fs", "cephfs": {"monitors": ["10.0.0.3"]}}]), UnsupportedVolume,
                     "UnsupportedVolume", "volume fs: cephfs volumes are not supported by the API", id="cephfs"),
        pytest.param(pod(volumes=[{"name": "s", "csi": {"driver": "secrets-store.csi.k8s.io"}}]), UnsupportedVolume,
                     "UnsupportedVolume", "volume s: csi volumes are not supported by the API", id="inline csi"),
        pytest.param(pod(volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "ceph"}}]), UnsupportedVolume,
                     "UnsupportedVolume", "volume d: claim 'ceph' is bound to a volume that is neither nfs nor CBS",
                     id="claim bound to cephfs"),
        pytest.param(pod(container(livenessProbe={"httpGet": {"port": "metrics"}})), InvalidPod, "InvalidProbe",
                     "container app: liveness probe: named port 'metrics' is not declared by the container",
                     id="probe on an undeclared named port"),
    ],
)
def test_the_policy_keeps_local_what_the_translation_refuses(
    subject: Pod, error: type[TranslationError], reason: str, message: str
) -> None:
    pvs = {"ceph": CEPH_PV}
    with pytest.raises(error) as raised:
        translate_pod(subject, ctx(persistent_volumes=pvs))
    assert str(raised.value) == message
    assert cloud_refusals(subject, pvs) == (CloudRefusal(reason, message),)
    failed = first_failure(evaluate_rules(subject, claims_to(pvs)))
    assert failed is not None
    assert (failed.name, failed.code, failed.reason) == ("cloud-instance", Code.NEVER_POSSIBLE, reason)
    assert message in failed.message


def test_a_pod_the_cloud_can_run_has_no_refusal() -> None:
    subject = pod(container(ports=[{"name": "web", "containerPort": 8080}],
                            readinessProbe={"httpGet": {"port": "web"}},
                            volumeMounts=[{"name": "data", "mountPath": "/d"}, {"name": "cfg", "mountPath": "/c"}]),
                  volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "nfs"}},
                           {"name": "cfg", "configMap": {"name": "c"}}])
    assert cloud_refusals(subject, {"nfs": NFS_PV}) == ()
    translate_pod(subject, ctx(persistent_volumes={"nfs": NFS_PV}))
    assert REGISTRY["cloud-instance"].check(subject, claims_to({"nfs": NFS_PV})).allowed


def test_an_unresolved_claim_is_left_to_the_caller() -> None:
    subject = pod(volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "later"}},
                           {"name": "fs", "cephfs": {}}])
    refusals = cloud_refusals(subject, {})
    assert [r.message for r in refusals] == ["volume fs: cephfs volumes are not supported by the API"]


def test_every_refusal_is_listed_not_only_the_first() -> None:
    subject = pod(container("a", livenessProbe={"tcpSocket": {"port": "x"}},
                            env=[{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}}]),
                  container("a"), volumes=[{"name": "v", "rbd": {}}, {"name": "v", "emptyDir": {}}])
    assert [(r.reason, r.message) for r in cloud_refusals(subject, {})] == [
        ("InvalidPodSpec", "container names are not unique"),
        ("UnsupportedVolume", "volume v: rbd volumes are not supported by the API"),
        ("InvalidPodSpec", "volume name 'v' is empty or repeated"),
        ("InvalidPodSpec", "container a: env N: unsupported fieldRef 'metadata.labels'"),
        ("InvalidProbe", "container a: liveness probe: named port 'x' is not declared by the container"),
    ]


POLICY_CONTEXT = claims_to(dict(CONTEXT.persistent_volumes))
POD_ERRORS = (InvalidPod, UnsupportedVolume, NotEligible)
"""What the translation raises about the pod itself (not about a Secret, a ConfigMap or the context)."""


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pods)
def test_translation_and_policy_agree_on_random_pods(body: dict[str, Any]) -> None:
    subject = decode(body, Pod)
    results = {r.name: r for r in evaluate_rules(subject, POLICY_CONTEXT)}
    refusals = cloud_refusals(subject, CONTEXT.persistent_volumes)
    try:
        translate_pod(subject, CONTEXT)
        translated: TranslationError | None = None
    except TranslationError as exc:
        translated = exc
    event(type(translated).__name__ if translated else "translated")
    if isinstance(translated, POD_ERRORS):
        # a pod the translation refuses for what it is never passes the policy
        assert not results["cloud-instance"].allowed or results["size"].code is not Code.ALLOWED, translated
    if refusals:
        assert translated is not None and str(translated) == refusals[0].message
        assert results["cloud-instance"].code is Code.NEVER_POSSIBLE
        assert results["cloud-instance"].reason == refusals[0].reason in REFUSAL_REASONS
    else:
        assert results["cloud-instance"].allowed
