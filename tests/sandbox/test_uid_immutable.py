"""A write naming another uid is refused as kube-apiserver refuses it: a PATCH fails update
validation (422, uid is immutable), a PUT fails its uid precondition (409). Never applied with
the stored uid kept, so a writer holding a deleted pod's uid cannot touch its same-named successor."""

from __future__ import annotations

import pytest

from spillway.sandbox import Sandbox
from tests.sandbox.helpers import Raw, node, pod

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
POD = "/api/v1/namespaces/default/pods/p"


@pytest.mark.parametrize(("suffix", "content_type"), [("", MERGE), ("/status", MERGE), ("/status", STRATEGIC)])
async def test_a_patch_that_changes_the_uid_is_422_and_changes_nothing(
    sandbox: Sandbox, suffix: str, content_type: str,
) -> None:
    created = await sandbox.store.create("pods", pod("p"), namespace="default")
    raw = Raw(sandbox)
    status, body, _ = await raw.request("PATCH", POD + suffix, {
        "metadata": {"uid": "not-the-pod", "labels": {"x": "1"}}, "status": {"phase": "Failed"},
    }, content_type=content_type)
    assert (status, body["reason"]) == (422, "Invalid")
    assert body["message"] == 'Pod "p" is invalid: metadata.uid: Invalid value: "not-the-pod": field is immutable'
    assert body["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "metadata.uid",
                                          "message": 'Invalid value: "not-the-pod": field is immutable'}]
    _, current, _ = await raw.request("GET", POD)
    assert current["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert current["metadata"]["uid"] == created["metadata"]["uid"]
    assert current["status"]["phase"] == "Pending"


async def test_a_patch_carrying_the_pods_own_uid_applies(sandbox: Sandbox) -> None:
    created = await sandbox.store.create("pods", pod("p"), namespace="default")
    uid = created["metadata"]["uid"]
    status, body, _ = await Raw(sandbox).request(
        "PATCH", POD + "/status", {"metadata": {"uid": uid}, "status": {"phase": "Running"}}, content_type=STRATEGIC)
    assert status == 200
    assert (body["metadata"]["uid"], body["status"]["phase"]) == (uid, "Running")


async def test_a_status_patch_for_a_deleted_pod_never_reaches_its_successor(sandbox: Sandbox) -> None:
    first = await sandbox.store.create("pods", pod("p"), namespace="default")
    await sandbox.store.delete("pods", "default", "p", grace_period_seconds=0)
    second = await sandbox.store.create("pods", pod("p"), namespace="default")
    status, _, _ = await Raw(sandbox).request("PATCH", POD + "/status", {
        "metadata": {"uid": first["metadata"]["uid"]}, "status": {"phase": "Failed"}}, content_type=STRATEGIC)
    assert status == 422
    current = sandbox.store.get("pods", "default", "p")
    assert current["metadata"]["uid"] == second["metadata"]["uid"]
    assert current["status"]["phase"] == "Pending"


async def test_node_status_patches_are_held_to_the_same_rule(sandbox: Sandbox) -> None:
    await sandbox.store.create("nodes", node("n1"))
    status, body, _ = await Raw(sandbox).request(
        "PATCH", "/api/v1/nodes/n1/status", {"metadata": {"uid": "other"}}, content_type=STRATEGIC)
    assert (status, body["message"]) == (422, 'Node "n1" is invalid: metadata.uid: Invalid value: "other": '
                                              "field is immutable")


async def test_a_put_with_another_uid_fails_its_precondition(sandbox: Sandbox) -> None:
    created = await sandbox.store.create("pods", pod("p"), namespace="default")
    body = {**created, "metadata": {**created["metadata"], "uid": "not-the-pod", "labels": {"x": "1"}}}
    status, answer, _ = await Raw(sandbox).request("PUT", POD, body)
    assert (status, answer["reason"]) == (409, "Conflict")
    assert answer["message"] == (
        'Operation cannot be fulfilled on pods "p": Precondition failed: UID in precondition: not-the-pod, '
        f"UID in object meta: {created['metadata']['uid']}")
    current = sandbox.store.get("pods", "default", "p")
    assert current["metadata"].get("labels") == {}
