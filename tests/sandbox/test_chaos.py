"""`POST /debug/spillway/chaos`: dropped watch streams and compacted history, as the chaos
suite forces them mid-burst, and what a real client (our Reflector) makes of them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from spillway.kube import KubeClient
from spillway.kube.client import collection_path
from spillway.kube.reflector import RawEvent, Reflector
from spillway.sandbox import Sandbox
from spillway.sandbox.chaos import CHAOS_PATH, apply
from tests.fixtures.sandbox import SandboxFactory
from tests.sandbox.helpers import Raw, pod


async def _open_watch_ends(sb: Sandbox, chaos: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Open a long watch, fire chaos, return (lines the watch got before it ended, chaos answer)."""
    raw = Raw(sb)
    watch = asyncio.create_task(raw.stream("/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=30"))
    for _ in range(100):
        if sb.store._watchers.get("pods"):
            break
        await asyncio.sleep(0.01)
    status, answer, _ = await raw.request("POST", CHAOS_PATH, chaos)
    assert status == 200, answer
    _, lines = await asyncio.wait_for(watch, 5)
    return lines, answer


async def test_drop_watches_ends_every_open_stream(sandbox: Sandbox) -> None:
    await sandbox.store.create("pods", pod("a"), namespace="default")
    lines, answer = await _open_watch_ends(sandbox, {"drop_watches": True})
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [("ADDED", "a")]
    assert answer["dropped_watches"] >= 1 and answer["compacted_resources"] == 0


@pytest.mark.parametrize(("chaos", "resume_status"), [
    pytest.param({"compact_history": True}, 410, id="compacted-resume-gets-410"),
    pytest.param({"drop_watches": True}, None, id="drop-only-resume-replays-history"),
])
async def test_resume_after_chaos(sandbox: Sandbox, chaos: dict[str, Any], resume_status: int | None) -> None:
    first = await sandbox.store.create("pods", pod("a"), namespace="default")
    await sandbox.store.create("pods", pod("b"), namespace="default")
    status, _, _ = await Raw(sandbox).request("POST", CHAOS_PATH, chaos)
    assert status == 200
    rv = first["metadata"]["resourceVersion"]
    _, lines = await Raw(sandbox).stream(f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}"
                                         "&timeoutSeconds=1")
    if resume_status is None:
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [("ADDED", "b")]
    else:
        assert [(e["type"], e["object"]["code"]) for e in lines] == [("ERROR", resume_status)]


async def test_resume_from_now_after_compaction_sees_later_events(sandbox: Sandbox) -> None:
    await sandbox.store.create("pods", pod("a"), namespace="default")
    _, answer, _ = await Raw(sandbox).request("POST", CHAOS_PATH, {"compact_history": True})
    watch = asyncio.create_task(Raw(sandbox).stream(
        f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={answer['resourceVersion']}&timeoutSeconds=1"))
    await asyncio.sleep(0.1)
    await sandbox.store.create("pods", pod("later"), namespace="default")
    _, lines = await watch
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [("ADDED", "later")]


@pytest.mark.parametrize(("body", "status"), [
    pytest.param({"drop_all_the_things": True}, 400, id="unknown-field"),
    pytest.param([1, 2], 400, id="not-an-object"),
])
async def test_bad_requests_are_refused(sandbox: Sandbox, body: Any, status: int) -> None:
    got, answer, _ = await Raw(sandbox).request("POST", CHAOS_PATH, body)
    assert got == status and answer["kind"] == "Status"


async def test_with_rbac_only_masters_may_use_it(make_sandbox: SandboxFactory) -> None:
    sb = await make_sandbox(rbac=True)
    status, _, _ = await Raw(sb, sb.token_for("default", "default")).request("POST", CHAOS_PATH, {"drop_watches": True})
    assert status == 403
    status, _, _ = await Raw(sb).request("POST", CHAOS_PATH, {"drop_watches": True})
    assert status == 200


async def test_reflector_relists_through_drop_and_410_and_misses_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    client = await KubeClient.connect(str(sandbox.kubeconfig_path))
    seen: dict[str, str] = {}

    async def handle(event: RawEvent) -> None:
        seen[event.key] = event.type

    reflector = Reflector(client, collection_path("v1", "pods", "default"), handle)
    task = asyncio.create_task(reflector.run())
    try:
        await sandbox.store.create("pods", pod("before"), namespace="default")
        await asyncio.wait_for(reflector.synced.wait(), 5)
        relists = reflector.relists
        # No await between these lines: the reflector cannot re-watch until all of them are done,
        # so the changes land while its stream is closed and its resume point is compacted away.
        sandbox.store.close_watchers()
        for i in range(3):
            await sandbox.store.create("pods", pod(f"gap-{i}"), namespace="default")
        await sandbox.store.delete("pods", "default", "before", grace_period_seconds=0)
        apply(sandbox.store, {"drop_watches": True, "compact_history": True})
        for _ in range(200):
            if seen.get("default/before") == "DELETED" and all(f"default/gap-{i}" in seen for i in range(3)):
                break
            await asyncio.sleep(0.05)
        assert {k: v for k, v in seen.items() if k.startswith("default/gap-")} == {
            f"default/gap-{i}": "ADDED" for i in range(3)}
        assert seen["default/before"] == "DELETED"
        assert reflector.relists > relists, "a resume into compacted history must relist"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()


async def test_cluster_loops_keep_working_after_their_watches_drop(make_cluster: Any) -> None:
    """The sandbox's own controllers watch in-process; a drop must not stop them."""
    cluster: Sandbox = await make_cluster()
    for _ in range(100):  # the loops start watching right after start()
        if cluster.store._watchers.get("deployments") and cluster.store._watchers.get("replicasets"):
            break
        await asyncio.sleep(0.01)
    assert apply(cluster.store, {"drop_watches": True, "compact_history": True})["dropped_watches"] >= 2
    await asyncio.sleep(0.05)
    await cluster.store.create("deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "after-chaos"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "after-chaos"}},
                 "template": {"metadata": {"labels": {"app": "after-chaos"}},
                              "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}}, namespace="default")
    for _ in range(250):
        pods, _ = cluster.store.list("pods", "default", label_selector="app=after-chaos")
        if len(pods) == 2 and all((p.get("status") or {}).get("phase") == "Running" for p in pods):
            break
        await asyncio.sleep(0.02)
    assert [(p.get("status") or {}).get("phase") for p in pods] == ["Running", "Running"]
