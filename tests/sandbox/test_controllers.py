"""The in-process controller hook the cluster behaviour builds on: a loop over store.watch that writes back
through the store is visible to HTTP clients like any other writer."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kubernetes_asyncio import client, watch

from spillway.sandbox import Sandbox, SandboxOptions
from tests.fixtures.sandbox import api_client_for
from tests.sandbox.helpers import node, pod


async def naive_scheduler(sb: Sandbox) -> None:
    """Bind every pending, ungated pod to the first node (a stand-in for the sandbox's scheduler)."""
    store = sb.store
    _, rv = store.list("pods")
    async for type_, obj in store.watch("pods", resource_version=rv, field_selector="spec.nodeName="):
        if type_ == "DELETED" or obj["spec"].get("schedulingGates"):
            continue
        nodes, _ = store.list("nodes")
        if nodes:
            meta = obj["metadata"]
            await store.bind(meta["namespace"], meta["name"], {"target": {"kind": "Node",
                                                                          "name": nodes[0]["metadata"]["name"]}})


async def test_controller_writes_show_up_in_http_watches(tmp_path: Path) -> None:
    async with Sandbox(SandboxOptions(kubeconfig=tmp_path / "kc", controllers=[naive_scheduler])) as sb:
        await sb.store.create("nodes", node("n1"))
        api = await api_client_for(sb.kubeconfig_path)
        try:
            core = client.CoreV1Api(api)
            rv = (await core.list_namespaced_pod("default")).metadata.resource_version
            await core.create_namespaced_pod("default", pod("p"))  # type: ignore[arg-type]  # dict body
            seen = []
            async with watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=rv,
                                            timeout_seconds=3) as stream:
                async for event in stream:
                    seen.append((event["type"], event["object"].spec.node_name))
                    if event["object"].spec.node_name:
                        break
            assert seen == [("ADDED", None), ("MODIFIED", "n1")]
        finally:
            await api.close()


async def test_get_copy_is_safe_to_edit(sandbox: Sandbox) -> None:
    await sandbox.store.create("configmaps", {"metadata": {"name": "c"}, "data": {"a": "1"}}, namespace="default")
    watcher = sandbox.store.watch("configmaps", "default", str(sandbox.store.rv))
    mine = sandbox.store.get_copy("configmaps", "default", "c")
    mine["data"]["a"] = "2"
    assert sandbox.store.get("configmaps", "default", "c")["data"] == {"a": "1"}
    await sandbox.store.update("configmaps", mine)
    batch = await asyncio.wait_for(watcher.next_batch(1), 2)
    watcher.close()
    assert batch is not None and [(t, o["data"]) for t, o, _ in batch] == [("MODIFIED", {"a": "2"})]
