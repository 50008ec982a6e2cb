"""Watch semantics through kubernetes_asyncio and raw HTTP: resume, 410, bookmarks, selectors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from spillway.sandbox import Sandbox, SandboxOptions
from tests.fixtures.sandbox import SandboxFactory
from tests.sandbox.helpers import Raw, pod


async def _collect(func: Any, *args: Any, count: int, **kwargs: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    async with watch.Watch().stream(func, *args, **kwargs) as stream:
        async for event in stream:
            out.append((event["type"], event["object"]))
            if len(out) >= count:
                break
    return out


async def test_list_then_watch_resumes_with_only_later_events(sandbox: Sandbox, kube_api: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api)
    await core.create_namespaced_pod("default", pod("before"))  # type: ignore[arg-type]  # dict body
    listed = await core.list_namespaced_pod("default")
    await core.create_namespaced_pod("default", pod("after"))  # type: ignore[arg-type]  # dict body
    events = await _collect(core.list_namespaced_pod, "default", count=1,
                            resource_version=listed.metadata.resource_version, timeout_seconds=5)
    assert [(t, o.metadata.name) for t, o in events] == [("ADDED", "after")]


@pytest.mark.parametrize("rv", [None, "0"], ids=["unset", "zero"])
async def test_watch_without_rv_replays_everything_as_added(sandbox: Sandbox, rv: str | None) -> None:
    for name in ("a", "b"):
        await sandbox.store.create("pods", pod(name), namespace="default")
    query = "" if rv is None else f"&resourceVersion={rv}"
    status, lines = await Raw(sandbox).stream(f"/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=0.3{query}")
    assert status == 200
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [("ADDED", "a"), ("ADDED", "b")]


async def test_too_old_rv_streams_410_then_relist_works(tmp_path: Any) -> None:
    async with Sandbox(SandboxOptions(kubeconfig=tmp_path / "kc", watch_history=2)) as sb:
        first = await sb.store.create("pods", pod("p0"), namespace="default")
        for i in range(1, 5):
            await sb.store.create("pods", pod(f"p{i}"), namespace="default")
        status, lines = await Raw(sb).stream(
            f"/api/v1/namespaces/default/pods?watch=true&resourceVersion={first['metadata']['resourceVersion']}")
        assert status == 200
        assert [(e["type"], e["object"]["code"], e["object"]["reason"]) for e in lines] == [("ERROR", 410, "Expired")]
        assert lines[0]["object"]["message"].startswith("too old resource version: ")
        from tests.fixtures.sandbox import api_client_for
        api = await api_client_for(sb.kubeconfig_path)
        try:
            core = client.CoreV1Api(api)
            with pytest.raises(ApiException) as err:
                await _collect(core.list_namespaced_pod, "default", count=1,
                               resource_version=first["metadata"]["resourceVersion"], timeout_seconds=2)
            assert err.value.status == 410
            relisted = await core.list_namespaced_pod("default")
            assert len(relisted.items) == 5
            await sb.store.create("pods", pod("p5"), namespace="default")
            events = await _collect(core.list_namespaced_pod, "default", count=1,
                                    resource_version=relisted.metadata.resource_version, timeout_seconds=5)
            assert [o.metadata.name for _, o in events] == ["p5"]
        finally:
            await api.close()


async def test_bookmarks_are_sent_periodically_and_at_timeout(sandbox: Sandbox) -> None:
    status, lines = await Raw(sandbox).stream(
        f"/api/v1/pods?watch=True&allowWatchBookmarks=true&timeoutSeconds=0.5&resourceVersion={sandbox.store.rv}")
    assert status == 200
    assert lines and {e["type"] for e in lines} == {"BOOKMARK"}
    assert lines[-1]["object"] == {"kind": "Pod", "apiVersion": "v1",
                                   "metadata": {"resourceVersion": str(sandbox.store.rv)}}


async def test_objects_moving_across_a_selector_arrive_as_added_and_deleted(sandbox: Sandbox) -> None:
    store = sandbox.store
    await store.create("pods", pod("mover", labels={"tier": "web"}), namespace="default")
    watcher = store.watch("pods", "default", str(store.rv), label_selector="tier=db")
    await store.patch("pods", "default", "mover", {"metadata": {"labels": {"tier": "db"}}},
                      "application/merge-patch+json")
    await store.patch("pods", "default", "mover", {"metadata": {"labels": {"x": "1"}}},
                      "application/merge-patch+json")
    await store.patch("pods", "default", "mover", {"metadata": {"labels": {"tier": "web"}}},
                      "application/merge-patch+json")
    batch = await watcher.next_batch(1)
    watcher.close()
    assert batch is not None
    assert [(t, o["metadata"]["labels"]["tier"]) for t, o, _ in batch] == [
        ("ADDED", "db"), ("MODIFIED", "db"), ("DELETED", "db")]


async def test_field_selector_watch_on_one_name(sandbox: Sandbox) -> None:
    rv = str(sandbox.store.rv)
    for name in ("x", "y"):
        await sandbox.store.create("pods", pod(name), namespace="default")
    _, lines = await Raw(sandbox).stream(
        f"/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Dy&resourceVersion={rv}"
        "&timeoutSeconds=0.3")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [("ADDED", "y")]


async def test_slow_watcher_is_closed_not_the_server(make_sandbox: SandboxFactory) -> None:
    sb = await make_sandbox(watch_queue_size=3)
    watcher = sb.store.watch("pods", None, str(sb.store.rv))
    for i in range(5):
        await sb.store.create("pods", pod(f"p{i}"), namespace="default")
    assert watcher.closed and await watcher.next_batch(0.1) is None
    assert sb.store.count("pods") == 5


async def test_in_process_watch_iterates_events(sandbox: Sandbox) -> None:
    watcher = sandbox.store.watch("configmaps", "default", str(sandbox.store.rv))
    seen: list[tuple[str, str]] = []

    async def consume() -> None:
        async for type_, obj in watcher:
            seen.append((type_, obj["metadata"]["name"]))
            if len(seen) == 2:
                watcher.close()

    task = asyncio.create_task(consume())
    await sandbox.store.create("configmaps", {"metadata": {"name": "c"}, "data": {"k": "v"}}, namespace="default")
    await sandbox.store.delete("configmaps", "default", "c")
    await asyncio.wait_for(task, 2)
    assert seen == [("ADDED", "c"), ("DELETED", "c")]
