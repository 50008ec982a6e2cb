"""Events as a real cluster shows them: `kubectl get events` prints the event columns (a Table
from the server), and a Binding written by a client other than the scheduler leaves no event."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.sandbox import Sandbox
from spillway.sandbox.semantics import rfc3339
from tests.fixtures.eventually import eventually
from tests.fixtures.sandbox import KubectlRunner
from tests.sandbox.conftest import ClusterFactory
from tests.sandbox.helpers import Raw, pod

TABLE = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io, application/json"}


def event(name: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
            "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default",
                               "fieldPath": "spec.containers{web}"},
            "reason": "BurstToCloud", "message": "  placed on eklet-subnet-1\n", "type": "Normal", **fields}


async def test_events_list_as_the_real_table(sandbox: Sandbox) -> None:
    now = rfc3339(sandbox.store.clock() - 300)
    await sandbox.store.create("events", event("web-1.a", count=3, firstTimestamp=now, lastTimestamp=now,
                                               source={"component": "spillway-placement", "host": "p-0"}),
                               namespace="default")
    await sandbox.store.create("events", event("web-1.b", reportingComponent="kubelet", reportingInstance="n1",
                                               eventTime="2026-01-01T00:00:00.000000Z"), namespace="default")
    status, table = await _get(sandbox, "/api/v1/namespaces/default/events")
    assert status == 200 and table["kind"] == "Table"
    columns = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns == [("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", 1), ("Source", 1),
                       ("Message", 0), ("First Seen", 1), ("Count", 1), ("Name", 1)]
    first, second = (row["cells"] for row in table["rows"])
    assert first == ["5m", "Normal", "BurstToCloud", "pod/web-1", "spec.containers{web}",
                     "spillway-placement, p-0", "placed on eklet-subnet-1", "5m", 3, "web-1.a"]
    # no first/last timestamp: eventTime for both; no count: 1; no source: the reporting controller
    assert second[5:] == ["kubelet, n1", "placed on eklet-subnet-1", second[0], 1, "web-1.b"]
    assert second[0] != "<unknown>"
    status, table = await _get(sandbox, "/apis/events.k8s.io/v1/namespaces/default/events")
    assert [row["cells"][3] for row in table["rows"]] == ["pod/web-1", "pod/web-1"]


async def _get(sandbox: Sandbox, path: str) -> tuple[int, Any]:
    status, body, _ = await Raw(sandbox).request("GET", path, headers=TABLE)
    return status, body


@pytest.mark.kubectl
async def test_kubectl_get_events_prints_the_event_columns(sandbox: Sandbox, kubectl: KubectlRunner) -> None:
    await sandbox.store.create("events", event("web-1.a", count=1), namespace="default")
    got = await kubectl("get", "events")
    header = got.stdout.splitlines()[0].split()
    assert header == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert "pod/web-1" in got.stdout and "BurstToCloud" in got.stdout


async def test_a_binding_by_another_client_writes_no_event(make_cluster: ClusterFactory) -> None:
    sb = await make_cluster()
    raw = Raw(sb)
    theirs = pod("theirs", schedulerName="someone-elses")
    await raw.request("POST", "/api/v1/namespaces/default/pods", theirs)
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "theirs"},
               "target": {"kind": "Node", "name": "node-1"}}
    status, _, _ = await raw.request("POST", "/api/v1/namespaces/default/pods/theirs/binding", binding)
    assert status == 201
    await raw.request("POST", "/api/v1/namespaces/default/pods", pod("ours"))

    def scheduled() -> list[dict[str, Any]]:
        events, _ = sb.store.list("events", "default")
        return [e for e in events if e["reason"] == "Scheduled"]

    seen = await eventually(scheduled, what="the Scheduled event of our pod")
    assert sb.store.get("pods", "default", "ours")["spec"]["nodeName"] == "node-1"
    assert [(e["involvedObject"]["name"], e["source"]["component"]) for e in seen] == [("ours", "default-scheduler")]
    assert seen[0]["message"] == "Successfully assigned default/ours to node-1"
    events, _ = sb.store.list("events", "default")
    assert not [e for e in events if e["involvedObject"]["name"] == "theirs"]
