"""List pagination (`limit` / `continue`) as kube-apiserver's etcd3 storage serves it: one snapshot
across pages, tokens that encode the resourceVersion and the next key, 410 with a fresh token once
the snapshot is compacted, `remainingItemCount` only without selectors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from spillway.sandbox import Sandbox
from spillway.sandbox.chaos import compact_history
from spillway.sandbox.paging import INCONSISTENT_CONTINUE, decode_continue, encode_continue
from tests.sandbox.helpers import Raw, pod

PODS = "/api/v1/pods"


async def _create(sb: Sandbox, namespace: str, *names: str, labels: dict[str, str] | None = None) -> None:
    if not sb.store.namespace_exists(namespace):
        await sb.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    for name in names:
        await sb.store.create("pods", pod(name, labels=labels), namespace=namespace)


async def _pages(raw: Raw, path: str, limit: int) -> list[dict[str, Any]]:
    """Every page of a paged list, following continue tokens."""
    pages: list[dict[str, Any]] = []
    token = ""
    while True:
        query = f"{'&' if '?' in path else '?'}limit={limit}" + (f"&continue={token}" if token else "")
        status, body, _ = await raw.request("GET", path + query)
        assert status == 200, body
        pages.append(body)
        token = body["metadata"].get("continue", "")
        if not token:
            return pages


def _names(page: dict[str, Any]) -> list[str]:
    return [f"{i['metadata']['namespace']}/{i['metadata']['name']}" for i in page["items"]]


async def test_pages_cover_the_list_once_in_key_order_with_remaining_counts(sandbox: Sandbox) -> None:
    await _create(sandbox, "a-b", "p1", "p2")
    await _create(sandbox, "a", "p3", "p4", "p5")
    pages = await _pages(Raw(sandbox), PODS, 2)
    # etcd orders keys bytewise: "a-b/…" sorts before "a/…" ('-' < '/')
    assert [_names(p) for p in pages] == [["a-b/p1", "a-b/p2"], ["a/p3", "a/p4"], ["a/p5"]]
    assert [p["metadata"].get("remainingItemCount") for p in pages] == [3, 1, None]
    assert len({p["metadata"]["resourceVersion"] for p in pages}) == 1


async def test_the_token_encodes_version_resource_version_and_the_key_after_the_last_item(sandbox: Sandbox) -> None:
    await _create(sandbox, "default", "p1", "p2", "p3")
    status, body, _ = await Raw(sandbox).request("GET", "/api/v1/namespaces/default/pods?limit=2")
    assert status == 200
    token = body["metadata"]["continue"]
    decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert decoded == {"v": "meta.k8s.io/v1", "rv": int(body["metadata"]["resourceVersion"]), "start": "p2\x00"}
    assert "=" not in token  # unpadded, as Go's RawURLEncoding


async def test_later_pages_show_the_first_pages_snapshot(sandbox: Sandbox) -> None:
    await _create(sandbox, "default", "p1", "p2", "p3", "p4")
    raw = Raw(sandbox)
    _, first, _ = await raw.request("GET", "/api/v1/namespaces/default/pods?limit=2")
    await sandbox.store.delete("pods", "default", "p3", grace_period_seconds=0)
    await sandbox.store.create("pods", pod("p5"), namespace="default")
    await sandbox.store.patch("pods", "default", "p4", {"metadata": {"labels": {"changed": "yes"}}},
                              "application/merge-patch+json")
    status, second, _ = await raw.request(
        "GET", f"/api/v1/namespaces/default/pods?limit=2&continue={first['metadata']['continue']}")
    assert status == 200, second
    assert [i["metadata"]["name"] for i in second["items"]] == ["p3", "p4"]
    assert second["items"][1]["metadata"].get("labels", {}) == {}  # p4 as it was
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert "continue" not in second["metadata"]  # p5 came later: not part of this list


async def test_a_status_patch_leaves_the_previous_version_as_it_was(sandbox: Sandbox) -> None:
    """A patch that does not name metadata still writes a new version: the old one, which readers,
    watch history and earlier pages share, keeps its own resourceVersion."""
    await _create(sandbox, "default", "p1", "p2")
    raw = Raw(sandbox)
    _, first, _ = await raw.request("GET", "/api/v1/namespaces/default/pods?limit=1")
    before = sandbox.store.get("pods", "default", "p2")
    rv = before["metadata"]["resourceVersion"]
    await sandbox.store.patch("pods", "default", "p2", {"status": {"phase": "Running"}},
                              "application/strategic-merge-patch+json", subresource="status")
    assert before["metadata"]["resourceVersion"] == rv
    _, second, _ = await raw.request(
        "GET", f"/api/v1/namespaces/default/pods?limit=1&continue={first['metadata']['continue']}")
    assert second["items"][0]["metadata"]["resourceVersion"] == rv
    assert second["items"][0]["status"]["phase"] == "Pending"


async def test_a_compacted_token_is_410_with_a_token_that_continues_on_the_latest_state(sandbox: Sandbox) -> None:
    await _create(sandbox, "default", "p1", "p2", "p3")
    raw = Raw(sandbox)
    _, first, _ = await raw.request("GET", "/api/v1/namespaces/default/pods?limit=1")
    await sandbox.store.create("pods", pod("p0"), namespace="default")  # a change, then compaction
    compact_history(sandbox.store)
    status, gone, _ = await raw.request(
        "GET", f"/api/v1/namespaces/default/pods?limit=1&continue={first['metadata']['continue']}")
    assert (status, gone["reason"], gone["message"]) == (410, "Expired", INCONSISTENT_CONTINUE)
    fresh = gone["metadata"]["continue"]
    assert decode_continue(fresh) == ("p1\x00", -1)
    rest = await _pages(raw, f"/api/v1/namespaces/default/pods?continue={fresh}", 5)
    assert [_names(p) for p in rest] == [["default/p2", "default/p3"]]
    assert rest[0]["metadata"]["resourceVersion"] == str(sandbox.store.rv)


async def test_a_token_at_the_current_revision_survives_compaction(sandbox: Sandbox) -> None:
    """Compaction removes old revisions, not the current one: nothing changed, nothing expires."""
    await _create(sandbox, "default", "p1", "p2")
    raw = Raw(sandbox)
    _, first, _ = await raw.request("GET", "/api/v1/namespaces/default/pods?limit=1")
    compact_history(sandbox.store)
    status, second, _ = await raw.request(
        "GET", f"/api/v1/namespaces/default/pods?limit=1&continue={first['metadata']['continue']}")
    assert status == 200 and [i["metadata"]["name"] for i in second["items"]] == ["p2"]


async def test_selectors_fill_pages_and_omit_the_remaining_count(sandbox: Sandbox) -> None:
    await _create(sandbox, "default", "a1", "b1", "a2", "b2", "a3", labels=None)
    for name in ("a1", "a2", "a3"):
        await sandbox.store.patch("pods", "default", name, {"metadata": {"labels": {"kind": "a"}}},
                                  "application/merge-patch+json")
    pages = await _pages(Raw(sandbox), "/api/v1/namespaces/default/pods?labelSelector=kind%3Da", 2)
    assert [[i["metadata"]["name"] for i in p["items"]] for p in pages] == [["a1", "a2"], ["a3"]]
    assert all("remainingItemCount" not in p["metadata"] for p in pages)


@pytest.mark.parametrize(("query", "message"), [
    pytest.param("continue=%%%", "invalid continue token: continue key is not valid", id="not-base64"),
    pytest.param(f"continue={encode_continue('p1', 0)}", "incorrect encoded start resourceVersion", id="rv-zero"),
    pytest.param("continue=" + base64.urlsafe_b64encode(b'{"v":"x","rv":5,"start":"a"}').decode().rstrip("="),
                 "server does not recognize this encoded version", id="unknown-version"),
    pytest.param(f"continue={encode_continue('../kube-system/x', 5)}", "continue key is not valid", id="traversal"),
    pytest.param(f"continue={encode_continue('p1', 5)}&resourceVersion=5",
                 "specifying resource version is not allowed when using continue", id="with-resource-version"),
])
async def test_bad_tokens_are_400(sandbox: Sandbox, query: str, message: str) -> None:
    status, body, _ = await Raw(sandbox).request("GET", f"/api/v1/namespaces/default/pods?limit=1&{query}")
    assert status == 400 and body["reason"] == "BadRequest"
    assert message in body["message"]


async def test_resource_version_zero_is_served_whole_as_the_watch_cache_does(sandbox: Sandbox) -> None:
    await _create(sandbox, "default", "p1", "p2", "p3")
    status, body, _ = await Raw(sandbox).request("GET", "/api/v1/namespaces/default/pods?limit=1&resourceVersion=0")
    assert status == 200 and len(body["items"]) == 3 and "continue" not in body["metadata"]


async def test_an_old_exact_resource_version_list_is_410_once_compacted(sandbox: Sandbox) -> None:
    await _create(sandbox, "default", "p1")
    old = str(sandbox.store.rv)
    await _create(sandbox, "default", "p2")
    raw = Raw(sandbox)
    status, body, _ = await raw.request("GET", f"/api/v1/namespaces/default/pods?limit=5&resourceVersion={old}")
    assert status == 200 and [i["metadata"]["name"] for i in body["items"]] == ["p1"]
    compact_history(sandbox.store)
    status, body, _ = await raw.request("GET", f"/api/v1/namespaces/default/pods?limit=5&resourceVersion={old}")
    assert (status, body["message"]) == (410, "The resourceVersion for the provided list is too old.")


async def test_a_table_list_pages_too(sandbox: Sandbox) -> None:
    """kubectl get asks for Tables in chunks of 500 and follows the token."""
    await _create(sandbox, "default", "p1", "p2")
    status, body, _ = await Raw(sandbox).request(
        "GET", "/api/v1/namespaces/default/pods?limit=1",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert status == 200 and body["kind"] == "Table" and len(body["rows"]) == 1
    assert body["metadata"]["continue"] and body["metadata"]["remainingItemCount"] == 1


async def test_a_metadata_list_pages_and_carries_only_each_items_metadata(sandbox: Sandbox) -> None:
    """What a metadata informer asks for: PartialObjectMetadataList, items without spec or status."""
    await _create(sandbox, "default", "p1", "p2", labels={"app": "web"})
    accept = {"Accept": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"}
    status, body, _ = await Raw(sandbox).request("GET", "/api/v1/namespaces/default/pods?limit=1", headers=accept)
    assert status == 200
    assert (body["kind"], body["apiVersion"], body["metadata"]["remainingItemCount"]) == (
        "PartialObjectMetadataList", "meta.k8s.io/v1", 1)
    [item] = body["items"]
    assert set(item) == {"kind", "apiVersion", "metadata"} and item["kind"] == "PartialObjectMetadata"
    stored = sandbox.store.get("pods", "default", "p1")["metadata"]
    assert item["metadata"] == stored and item["metadata"]["labels"] == {"app": "web"}
    status, one, _ = await Raw(sandbox).request(
        "GET", "/api/v1/namespaces/default/pods/p2",
        headers={"Accept": "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"})
    assert status == 200 and one == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                     "metadata": sandbox.store.get("pods", "default", "p2")["metadata"]}
