"""The TKE provider client against the emulator: idempotent creates, batching, retries, error types."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from spillway.cloud import (
    AuthError,
    CloudError,
    CreateRequest,
    EventSource,
    InstanceNaming,
    InstanceProvider,
    InvalidRequestError,
    LogSource,
    QuotaError,
    RetryableError,
    SoldOutError,
    TkeProvider,
)
from spillway.cloud.provider import HealthProbe
from spillway.cloud.retry import NO_RETRY
from spillway.emulator.server import Emulator
from tests.fixtures.cloud import CLOUD_SECRET_KEY, MutableClock, cloud_settings

DESCRIBE = "DescribeEKSContainerInstances"
DELETE = "DeleteEKSContainerInstances"
CREATE = "CreateEKSContainerInstances"


NAMING = InstanceNaming("test-cluster", "8d0f6a57-1c1e-4b7e-9a55-2f5e0e1c0001")
"""This cluster's names; another cluster with the same clusterID has another uid."""


def request(uid: str, naming: InstanceNaming = NAMING, **overrides: Any) -> CreateRequest:
    params: dict[str, Any] = {
        "Containers": [{"Name": "app", "Image": "nginx:1.27"}], "SecurityGroupIds": ["sg-1"],
        "SubnetId": "subnet-aaa", "VpcId": "vpc-1", "Cpu": 1.0, "Memory": 2.0,
    }
    params.update(overrides)
    return CreateRequest(name=naming.name(uid), params=params)


def names_on(emu: Emulator) -> list[str]:
    return sorted(r.name for r in emu.state.records.values())


async def test_protocols_are_implemented(cloud_client: TkeProvider) -> None:
    assert isinstance(cloud_client, InstanceProvider)
    assert isinstance(cloud_client, LogSource) and isinstance(cloud_client, EventSource)
    assert isinstance(cloud_client, HealthProbe)


async def test_the_health_probe_is_one_call_never_retried(emulator: Emulator, cloud_client: TkeProvider) -> None:
    await cloud_client.probe()
    assert emulator.state.calls[DESCRIBE] == 1
    emulator.faults.update({"errors": [{"code": "InternalError", "rate": 1.0, "action": DESCRIBE}]})
    with pytest.raises(CloudError) as failed:
        await cloud_client.probe()
    assert failed.value.code == "InternalError"
    assert emulator.state.calls[DESCRIBE] == 2  # the client's retries would have hidden the outage


async def test_create_is_idempotent_by_name(emulator: Emulator, cloud_client: TkeProvider) -> None:
    first = await cloud_client.create(request("pod-1"))
    again = await cloud_client.create(request("pod-1"))
    concurrent = await asyncio.gather(*(cloud_client.create(request("pod-2")) for _ in range(5)))
    assert first == again and len(set(concurrent)) == 1
    assert names_on(emulator) == sorted(NAMING.name(u) for u in ("pod-1", "pod-2"))


async def test_instance_view(emulator: Emulator, emulator_clock: MutableClock, cloud_client: TkeProvider) -> None:
    id_ = await cloud_client.create(request("pod-1"))
    inst = (await cloud_client.describe([id_]))[id_]
    assert (inst.id, inst.name, inst.status, inst.subnet_id, inst.zone) == (
        id_, NAMING.name("pod-1"), "Running", "subnet-aaa", "ap-guangzhou-3")
    assert inst.private_ip and inst.created_at is not None and inst.cpu == 1 and inst.memory_gib == 2
    (container,) = inst.containers
    assert (container.name, container.image, container.state, container.restart_count) == (
        "app", "nginx:1.27", "running", 0)
    emulator_clock.advance(20)
    assert len((await cloud_client.logs(id_, tail=3)).splitlines()) == 3
    assert "Scheduled" in {e.reason for e in await cloud_client.events(id_)}


async def test_describe_by_names_and_prefix(emulator: Emulator, cloud_client: TkeProvider) -> None:
    ids = {uid: await cloud_client.create(request(uid)) for uid in ("a", "b")}
    other_cluster = InstanceNaming("test-cluster", "8d0f6a57-1c1e-4b7e-9a55-2f5e0e1c0002")  # same clusterID
    other = await cloud_client.create(request("a", other_cluster))
    found = await cloud_client.describe_by_names([NAMING.name("a"), "spw-nothing"])
    listed = await cloud_client.list_by_name_prefix(NAMING.prefix)
    assert {n: i.id for n, i in found.items()} == {NAMING.name("a"): ids["a"]}
    assert sorted(i.id for i in listed) == sorted(ids.values()) and other not in {i.id for i in listed}


async def test_delete_twice_and_after_vanishing(emulator: Emulator, cloud_client: TkeProvider) -> None:
    ids = [await cloud_client.create(request(f"p{i}")) for i in range(4)]
    emulator.vanish([ids[1]])  # gone behind the client's back: the batch must still delete the rest
    await cloud_client.delete(ids)
    await cloud_client.delete(ids)
    assert emulator.state.records == {}
    assert await cloud_client.describe(ids) == {}


async def test_batching_describes_and_deletes(emulator: Emulator, cloud_client: TkeProvider) -> None:
    ids = [await cloud_client.create(request(f"p{i}")) for i in range(45)]
    emulator.state.reset_calls()
    results = await asyncio.gather(*(cloud_client.describe([ids[i % 45]]) for i in range(250)))
    assert all(len(r) == 1 for r in results)
    assert emulator.state.calls[DESCRIBE] <= 3
    await asyncio.gather(*(cloud_client.delete([i]) for i in ids))
    assert emulator.state.calls[DELETE] == 3
    assert emulator.state.records == {}


@pytest.mark.parametrize("faults", [
    pytest.param({"errors": [{"code": "InternalError", "rate": 0.5}]}, id="internal-error-50pct"),
    pytest.param({"errors": [{"code": "InternalError", "rate": 0.5, "action": CREATE, "after_effect": True}]},
                 id="internal-error-after-creating-50pct"),
    pytest.param({"errors": [{"code": "RequestLimitExceeded", "rate": 0.5}]}, id="throttled-50pct"),
])
async def test_retries_reach_success_without_duplicates(emulator: Emulator, cloud_client: TkeProvider,
                                                        faults: dict[str, Any]) -> None:
    emulator.faults.update(faults)
    uids = [f"pod-{i}" for i in range(30)]
    ids = await asyncio.gather(*(cloud_client.create(request(u)) for u in uids))
    assert len(set(ids)) == 30
    for uid in uids:
        assert emulator.state.count_by_name(NAMING.name(uid)) == 1
    described = await cloud_client.describe(ids)
    assert set(described) == set(ids)
    await cloud_client.delete(ids)
    assert emulator.state.records == {}
    assert sum(sum(c.values()) for c in emulator.state.errors.values()) > 0  # the faults did fire


async def test_errors_map_to_our_types(emulator: Emulator) -> None:
    async with TkeProvider(cloud_settings(emulator, should_retry=NO_RETRY)) as client:
        emulator.faults.update({"sold_out_zones": ["ap-guangzhou-3"]})
        with pytest.raises(SoldOutError) as sold_out:
            await client.create(request("s", SubnetId="subnet-aaa"))
        emulator.faults.update({"sold_out_zones": []})
        with pytest.raises(InvalidRequestError) as invalid:
            await client.create(request("bad", Cpu=3.0, Memory=6.0))
        emulator.options.quota = 1
        await client.create(request("q1"))
        with pytest.raises(QuotaError) as quota:
            await client.create(request("q2"))
        emulator.faults.update({"errors": [{"code": "RequestLimitExceeded", "rate": 1.0, "action": DESCRIBE}]})
        with pytest.raises(RetryableError) as throttled:
            await client.describe(["eksci-x"])
    assert sold_out.value.zone == "ap-guangzhou-3" and sold_out.value.request_id
    assert invalid.value.code == "InvalidParameterValue"
    assert quota.value.code == "LimitExceeded"
    assert throttled.value.throttled


async def test_real_rate_limit_is_retried(emulator: Emulator) -> None:
    emulator.options.rate_limit = 5.0
    async with TkeProvider(cloud_settings(emulator)) as client:
        ids = [await client.create(request(f"r{i}")) for i in range(8)]
    assert len(set(ids)) == 8 and len(emulator.state.records) == 8
    assert emulator.state.errors[CREATE]["RequestLimitExceeded"] + emulator.state.errors[DESCRIBE][
        "RequestLimitExceeded"] > 0


async def test_wrong_key_is_an_auth_error_without_the_key(emulator: Emulator) -> None:
    settings = cloud_settings(emulator, secret_key="definitely-wrong-key")
    async with TkeProvider(settings) as client:
        with pytest.raises(AuthError) as err:
            await client.describe(["eksci-x"])
        text = " ".join([str(err.value), repr(err.value), repr(client), repr(settings), repr(client.api)])
    assert err.value.code == "AuthFailure.SignatureFailure"
    assert "definitely-wrong-key" not in text and CLOUD_SECRET_KEY not in text


async def test_network_errors_are_retryable(emulator: Emulator) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = cloud_settings(emulator, endpoint=f"127.0.0.1:{port}", should_retry=NO_RETRY)
    async with TkeProvider(settings) as client:
        with pytest.raises(RetryableError) as err:
            await client.describe(["eksci-x"])
    assert err.value.code == "ClientNetworkError"
