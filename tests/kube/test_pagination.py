"""Paged lists: `KubeClient.list_pages` and the reflector's list, against the sandbox (which pages as
kube-apiserver does) and against a server that misbehaves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from kubernetes_asyncio import client as k8s_client

from spillway.kube import KubeClient
from spillway.kube.client import ContinueExpired, collection_path
from spillway.kube.errors import Gone, KubeError
from spillway.kube.reflector import RawEvent, Reflector
from spillway.sandbox import Sandbox
from spillway.sandbox.chaos import compact_history
from tests.sandbox.helpers import pod

PODS = collection_path("v1", "pods", "default")


async def _pods(sb: Sandbox, *names: str) -> None:
    for name in names:
        await sb.store.create("pods", pod(name), namespace="default")


async def test_list_pages_yields_each_page_of_at_most_page_size_items(sandbox: Sandbox, kube: KubeClient) -> None:
    await _pods(sandbox, "p1", "p2", "p3", "p4", "p5")
    pages = [page async for page in kube.list_pages(PODS, page_size=2)]
    assert [len(p.items) for p in pages] == [2, 2, 1]
    assert [p.metadata.remainingItemCount for p in pages] == [3, 1, None]
    assert len({p.metadata.resourceVersion for p in pages}) == 1


async def test_a_compacted_snapshot_mid_list_raises_continue_expired(sandbox: Sandbox, kube: KubeClient) -> None:
    await _pods(sandbox, "p1", "p2", "p3")
    pages = kube.list_pages(PODS, page_size=1)
    await anext(pages)
    await _pods(sandbox, "p0")
    compact_history(sandbox.store)
    with pytest.raises(ContinueExpired) as raised:
        await anext(pages)
    assert isinstance(raised.value, Gone) and raised.value.status == 410


async def test_list_pages_stops_past_max_items(sandbox: Sandbox, kube: KubeClient) -> None:
    await _pods(sandbox, "p1", "p2", "p3", "p4", "p5")
    with pytest.raises(KubeError) as raised:
        async for _ in kube.list_pages(PODS, page_size=2, max_items=3):
            pass
    assert raised.value.reason == "ListTooLarge"


async def _client_for(app: web.Application) -> AsyncIterator[KubeClient]:
    async with TestServer(app) as server:
        configuration = k8s_client.Configuration()
        configuration.host = str(server.make_url("")).rstrip("/")
        client = KubeClient(k8s_client.ApiClient(configuration))
        try:
            yield client
        finally:
            await client.close()


async def test_a_server_that_hands_back_the_same_token_is_an_error() -> None:
    async def pods(request: web.Request) -> web.Response:
        return web.json_response({"metadata": {"resourceVersion": "5", "continue": "same"},
                                  "items": [{"metadata": {"name": "p", "namespace": "default"}}]})

    app = web.Application()
    app.router.add_get(PODS, pods)
    async for client in _client_for(app):
        with pytest.raises(KubeError) as raised:
            async for _ in client.list_pages(PODS, page_size=1):
                pass
        assert raised.value.reason == "ListNotProgressing"


async def test_the_reflector_applies_each_page_before_it_asks_for_the_next(sandbox: Sandbox) -> None:
    """Streaming: memory is one page, because page 1 is handled before page 2 is fetched."""
    await _pods(sandbox, "p1", "p2", "p3", "p4")
    lists_served: list[int] = []
    served = 0

    async def counting(request: web.Request) -> web.StreamResponse:
        nonlocal served
        served += 1
        async with aiohttp.ClientSession() as session, session.get(sandbox.url + request.path_qs) as resp:
            return web.Response(body=await resp.read(), status=resp.status, content_type="application/json")

    async def handler(event: RawEvent) -> None:
        lists_served.append(served)

    app = web.Application()
    app.router.add_get(PODS, counting)
    async for client in _client_for(app):
        reflector = Reflector(client, PODS, handler, page_size=2)
        await reflector.relist()
    assert lists_served == [1, 1, 2, 2]


async def test_changes_while_paging_are_seen_by_the_watch_from_the_lists_version(
        sandbox: Sandbox, kube: KubeClient) -> None:
    """Pages are one snapshot; the watch resumes from its resourceVersion, so what changed while
    the later pages were fetched arrives as watch events, none lost and none early."""
    await _pods(sandbox, "p1", "p2", "p3", "p4")
    listed_at = str(sandbox.store.rv)
    events: list[tuple[str, str]] = []
    changed = False

    async def handler(event: RawEvent) -> None:
        nonlocal changed
        events.append((event.type, event.key))
        if not changed:  # while page 1 is applied: one new pod, one deleted from page 2
            changed = True
            await _pods(sandbox, "p0")
            await sandbox.store.delete("pods", "default", "p4", grace_period_seconds=0)

    reflector = Reflector(kube, PODS, handler, page_size=2, watch_timeout_seconds=1)
    await reflector.relist()
    assert reflector.resource_version == listed_at
    assert events == [("ADDED", f"default/p{i}") for i in (1, 2, 3, 4)]
    await asyncio.wait_for(reflector.watch_once(), 10)
    assert events[4:] == [("ADDED", "default/p0"), ("DELETED", "default/p4")]


async def test_an_expired_continue_falls_back_to_one_whole_list_without_ghosts(
        sandbox: Sandbox, kube: KubeClient) -> None:
    await _pods(sandbox, "p1", "p2", "p3", "p4")
    events: list[tuple[str, str]] = []
    compacted = False

    async def handler(event: RawEvent) -> None:
        nonlocal compacted
        events.append((event.type, event.key))
        if not compacted:  # after page 1 was served: p1 goes, and the snapshot is compacted
            compacted = True
            await sandbox.store.delete("pods", "default", "p1", grace_period_seconds=0)
            compact_history(sandbox.store)

    reflector = Reflector(kube, PODS, handler, page_size=2)
    await reflector.relist()
    assert set(reflector.known) == {"default/p2", "default/p3", "default/p4"}
    assert ("DELETED", "default/p1") in events
    assert reflector.resource_version == str(sandbox.store.rv)
