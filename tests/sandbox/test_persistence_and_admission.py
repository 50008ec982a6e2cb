"""State survives a restart with increasing resourceVersions; admission hooks mutate and warn."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes_asyncio import client

from spillway.sandbox import AdmissionRequest, Sandbox, SandboxOptions, persistence
from spillway.sandbox.errors import ApiError
from tests.sandbox.helpers import Raw, pod


async def test_state_survives_restart_and_rvs_keep_increasing(tmp_path: Path) -> None:
    opts = SandboxOptions(kubeconfig=tmp_path / "kc", data_dir=tmp_path / "data")
    async with Sandbox(opts) as sb:
        created = await sb.store.create("configmaps", {"metadata": {"name": "c"}, "data": {"a": "1"}},
                                        namespace="default")
        token = sb.token_for("default", "x")
        last_rv = sb.store.rv
    async with Sandbox(opts) as sb:
        again = sb.store.get("configmaps", "default", "c")
        assert again == created
        assert sb.token_for("default", "x") == token
        _, body, _ = await Raw(sb).request(
            "GET", f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={int(last_rv) - 1}")
        assert body["type"] == "ERROR" and body["object"]["code"] == 410
        updated = await sb.store.patch("configmaps", "default", "c", {"data": {"a": "2"}},
                                       "application/merge-patch+json")
        assert int(updated["metadata"]["resourceVersion"]) > last_rv


@pytest.mark.parametrize(("load_seconds", "first_pause"),
                         [(0.0, 5.0), (0.1, 5.0), (7.0, 7.0 * persistence.SAVE_COST_FACTOR)])
async def test_the_first_periodic_save_waits_in_proportion_to_the_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, load_seconds: float, first_pause: float) -> None:
    """A 50,000-pod snapshot is not written back while everything starts against it."""
    pauses: list[float] = []

    class Stop(Exception):
        pass

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        raise Stop

    monkeypatch.setattr("spillway.sandbox.persistence.asyncio.sleep", sleep)
    with pytest.raises(Stop):
        await persistence.save_periodically(Sandbox(SandboxOptions()).store, tmp_path, 5.0, load_seconds)
    assert pauses == [first_pause]


async def test_admission_hook_mutates_and_warns(tmp_path: Path) -> None:
    async def gate(request: AdmissionRequest) -> None:
        if request.resource.plural != "pods" or request.operation != "CREATE":
            return
        if request.object["metadata"].get("annotations", {}).get("deny"):
            raise ApiError(400, "BadRequest", 'admission webhook "gate" denied the request')
        request.object["spec"]["schedulingGates"] = [{"name": "spillway.io/placement"}]
        request.warnings.append("LOCAL_REPLICAS is not a number")

    async with Sandbox(SandboxOptions(kubeconfig=tmp_path / "kc", admission_hooks=[gate])) as sb:
        status, created, headers = await Raw(sb).request("POST", "/api/v1/namespaces/default/pods", pod("p"))
        assert status == 201
        assert created["spec"]["schedulingGates"] == [{"name": "spillway.io/placement"}]
        assert headers.getall("Warning") == ['299 - "LOCAL_REPLICAS is not a number"']
        denied = pod("q")
        denied["metadata"]["annotations"] = {"deny": "1"}
        status, body, _ = await Raw(sb).request("POST", "/api/v1/namespaces/default/pods", denied)
        assert (status, body["message"]) == (400, 'admission webhook "gate" denied the request')
        # in-process writes go through the same hooks, so controllers see webhook effects
        made = await sb.store.create("pods", pod("r"), namespace="default")
        assert made["spec"]["schedulingGates"]


async def test_discovery_lists_subresources(sandbox: Sandbox, kube_api: client.ApiClient) -> None:
    core = await client.CoreV1Api(kube_api).get_api_resources()
    names = {r.name: r for r in core.resources}
    assert {"pods/binding", "pods/status", "pods/log", "nodes/status"} <= set(names)
    assert names["pods"].short_names == ["po"] and names["pods"].categories == ["all"]
    apps = await client.AppsV1Api(kube_api).get_api_resources()
    scale = next(r for r in apps.resources if r.name == "deployments/scale")
    assert (scale.group, scale.version, scale.kind) == ("autoscaling", "v1", "Scale")
