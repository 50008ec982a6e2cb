"""One object that cannot be read never fails a list or a watch: the reflector against a tiny API
server that serves exactly the bytes kube-apiserver never would (the sandbox refuses them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from kubernetes_asyncio import client as k8s_client

from spillway.kube import KubeClient
from spillway.kube.errors import Gone, KubeError
from spillway.kube.reflector import BadObject, RawEvent, Reflector
from spillway.loops import Backoff
from spillway.model.kube import decode_pod
from tests.fixtures.clock import FakeClock
from tests.fixtures.eventually import eventually


def pod(name: str, rv: str, cpu: Any = "1") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": rv},
            "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": cpu}}}]}}


NUMERIC_CPU = pod("numeric-cpu", "2", cpu=1)  # kube-apiserver would have said "1"
NAME_IS_A_NUMBER = {"metadata": {"name": 7, "namespace": "default", "resourceVersion": "3"}}


class FakeApi:
    """Serves one list and one watch stream of raw lines, then keeps the stream open."""

    def __init__(self, items: list[Any], watch_lines: list[bytes]) -> None:
        self.items = items
        self.watch_lines = watch_lines
        self.lists = 0

    async def pods(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") != "true":
            self.lists += 1
            return web.json_response({"kind": "PodList", "metadata": {"resourceVersion": "10"}, "items": self.items})
        resp = web.StreamResponse()
        await resp.prepare(request)
        for line in self.watch_lines:
            await resp.write(line + b"\n")
        self.watch_lines = []
        await asyncio.sleep(3600)
        return resp


@pytest.fixture
async def api_and_client() -> AsyncIterator[tuple[FakeApi, KubeClient]]:
    api = FakeApi([], [])
    app = web.Application()
    app.router.add_get("/api/v1/pods", api.pods)
    async with TestServer(app) as server:
        configuration = k8s_client.Configuration()
        configuration.host = str(server.make_url("")).rstrip("/")
        client = KubeClient(k8s_client.ApiClient(configuration))
        try:
            yield api, client
        finally:
            await client.close()


def collecting() -> tuple[list[RawEvent], list[BadObject], Any, Any]:
    handled: list[RawEvent] = []
    bad: list[BadObject] = []

    async def handler(event: RawEvent) -> None:
        if event.type != "DELETED":
            decode_pod(event.raw)  # what the watcher does: raises for a pod that is not a pod
        handled.append(event)

    return handled, bad, handler, bad.append


async def test_a_bad_item_does_not_fail_the_list(api_and_client: tuple[FakeApi, KubeClient]) -> None:
    api, client = api_and_client
    api.items = [NUMERIC_CPU, NAME_IS_A_NUMBER, pod("good", "4")]
    handled, bad, handler, on_bad = collecting()
    reflector = Reflector(client, "/api/v1/pods", handler, on_bad_object=on_bad)
    await reflector.relist()
    assert reflector.synced.is_set() and reflector.resource_version == "10"
    assert [(e.type, e.key) for e in handled] == [("ADDED", "default/good")]
    # the second cannot even be named (its name is a number): reported with an empty key
    assert [(b.key, type(b.error)) for b in bad] == [("default/numeric-cpu", msgspec.ValidationError),
                                                     ("", msgspec.ValidationError)]
    assert "Expected `str`, got `int`" in str(bad[0].error)
    assert reflector.bad_objects == 2
    # the same versions again: reported once, not on every relist; nothing is reported deleted
    await reflector.relist()
    assert len(bad) == 2 and [e.type for e in handled] == ["ADDED"]
    # the bad pod gets fixed: it is handled like any change
    api.items = [pod("numeric-cpu", "11"), NAME_IS_A_NUMBER, pod("good", "4")]
    await reflector.relist()
    assert [(e.type, e.key) for e in handled][1:] == [("MODIFIED", "default/numeric-cpu")]


async def test_a_bad_watch_event_does_not_stop_the_watch(api_and_client: tuple[FakeApi, KubeClient]) -> None:
    api, client = api_and_client
    api.items = [pod("good", "4")]

    def event(kind: str, obj: Any) -> bytes:
        return msgspec.json.encode({"type": kind, "object": obj})

    api.watch_lines = [
        b"this is not json",
        event("ADDED", NAME_IS_A_NUMBER),
        event("MODIFIED", pod("good", "12", cpu=0.5)),
        event("ADDED", pod("later", "13")),
        event("DELETED", {"metadata": {"name": "good", "namespace": "default", "resourceVersion": ["14"]}}),
        event("ADDED", pod("last", "15")),
    ]
    handled, bad, handler, on_bad = collecting()
    reflector = Reflector(client, "/api/v1/pods", handler, on_bad_object=on_bad)
    task = asyncio.create_task(reflector.run())
    try:
        await eventually(lambda: "default/last" in reflector.known, what="watched past the bad events")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [(e.type, e.key) for e in handled] == [
        ("ADDED", "default/good"), ("ADDED", "default/later"), ("DELETED", "default/good"), ("ADDED", "default/last")]
    # the non-JSON line, the nameless pod, the numeric cpu, the DELETED with an unreadable version
    assert [b.key for b in bad] == ["", "", "default/good", "default/good"]
    assert reflector.relists == 1  # never relisted: the watch went on
    assert reflector.resource_version == "15"
    assert "default/good" not in reflector.known  # its undecodable DELETED still removed it


async def test_a_broken_list_or_watch_backs_off_on_the_reflectors_clock() -> None:
    """Every kind of failure (an API error, a socket error, anything an HTTP library raises) waits
    the reflector's Backoff on its clock, growing to the cap, before the next try."""
    clock = FakeClock(auto_advance=True)
    failures: list[BaseException] = [Gone(410, "Expired", "too old"), OSError("refused"),
                                     KubeError(500, "InternalError", "etcd"),
                                     RuntimeError("server disconnected"), OSError("refused"), TimeoutError()]

    class DownApi:
        list_pages = KubeClient.list_pages  # pages through `request`, which fails

        async def request(self, *args: Any, **kwargs: Any) -> bytes:
            if not failures:
                raise asyncio.CancelledError  # enough: end the run
            raise failures.pop(0)

    async def handler(event: RawEvent) -> None:  # pragma: no cover - nothing is ever listed
        pass

    reflector = Reflector(DownApi(), "/api/v1/pods", handler,  # type: ignore[arg-type]  # a duck-typed client
                          backoff=Backoff(initial=0.4, cap=1.0, jitter=0.0), clock=clock)
    with pytest.raises(asyncio.CancelledError):
        await reflector.run()
    assert clock.slept == [0.4, 0.8, 1.0, 1.0, 1.0]  # the 410 relists at once; the rest back off
