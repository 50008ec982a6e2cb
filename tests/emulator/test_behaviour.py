"""Emulator behaviour: validation, filters, paging, lifecycle, quota, rate limit, faults, persistence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from spillway.emulator.server import Emulator, EmulatorOptions
from tests.emulator.helpers import call, create_params, sdk
from tests.fixtures.cloud import CLOUD_REGION, CLOUD_SECRET_ID, CLOUD_SECRET_KEY, CLOUD_SUBNETS, MutableClock

CREATE = "CreateEKSContainerInstances"
DESCRIBE = "DescribeEKSContainerInstances"


def _without(params: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != key}


@pytest.mark.parametrize(("params", "code"), [
    pytest.param(_without(create_params(), "EksCiName"), "MissingParameter", id="no-name"),
    pytest.param(_without(create_params(), "SecurityGroupIds"), "MissingParameter", id="no-security-groups"),
    pytest.param(create_params(Containers=[{"Name": "app"}]), "MissingParameter", id="container-without-image"),
    pytest.param(create_params(Containers=[{"Image": "nginx"}]), "MissingParameter", id="container-without-name"),
    pytest.param(create_params(Containers=[{"Name": "a", "Image": "i", "VolumeMounts": [{"Name": "v"}]}],
                               EksCiVolume={"NfsVolumes": [{"Name": "v", "Server": "s", "Path": "/"}]}),
                 "MissingParameter", id="mount-without-path"),
    pytest.param(create_params(EksCiVolume={"NfsVolumes": [{"Name": "v", "Server": "s"}]}),
                 "MissingParameter", id="nfs-without-path"),
    pytest.param(create_params(Containers=[{"Name": "a", "Image": "i", "VolumeMounts": [
        {"Name": "nope", "MountPath": "/d"}]}]), "InvalidParameterValue", id="mount-of-unknown-volume"),
    pytest.param(create_params(Ports=[80]), "UnknownParameter", id="unknown-top-level-field"),
    pytest.param(create_params(Containers=[{"Name": "a", "Image": "i", "Ports": [80]}]), "UnknownParameter",
                 id="container-has-no-port-field"),
    pytest.param(create_params(Cpu=3.0, Memory=6.0), "InvalidParameterValue", id="3-cores-is-no-spec"),
    pytest.param(create_params(Cpu=4.0, Memory=6.0), "InvalidParameterValue", id="4c-6g-is-no-spec"),
    pytest.param(create_params(Cpu="1", Memory=2.0), "InvalidParameterValue", id="cpu-as-string"),
    pytest.param(create_params(RestartPolicy="Sometimes"), "InvalidParameterValue", id="bad-restart-policy"),
    pytest.param(create_params("Web_1"), "InvalidParameterValue", id="bad-name"),
    pytest.param(create_params(Containers=[]), "InvalidParameterValue", id="no-containers"),
])
async def test_create_rejects_what_the_api_rejects(emulator: Emulator, params: dict[str, Any], code: str) -> None:
    async with sdk(emulator) as client:
        with pytest.raises(TencentCloudSDKException) as err:
            await call(client, CREATE, params)
    assert err.value.code == code
    assert emulator.state.records == {}


@pytest.mark.parametrize(("cpu", "memory"), [(0.25, 0.5), (0.5, 4.0), (4.0, 8.0), (64.0, 512.0)])
async def test_valid_specs_are_accepted(emulator: Emulator, cpu: float, memory: float) -> None:
    async with sdk(emulator) as client:
        ids = (await call(client, CREATE, create_params(Cpu=cpu, Memory=memory)))["EksCiIds"]
    assert len(ids) == 1


async def _populate(client: Any) -> dict[str, str]:
    ids: dict[str, str] = {}
    for name, subnet, vpc in [("a", "subnet-aaa", "vpc-1"), ("b", "subnet-aaa", "vpc-2"), ("c", "subnet-bbb", "vpc-1"),
                              ("a", "subnet-bbb", "vpc-2")]:
        (id_,) = (await call(client, CREATE, create_params(name, SubnetId=subnet, VpcId=vpc)))["EksCiIds"]
        ids.setdefault(name, id_)
    return ids


@pytest.mark.parametrize(("filters", "expected_names"), [
    pytest.param([], ["a", "b", "c", "a"], id="none"),
    pytest.param([{"Name": "eks-ci-name", "Values": ["a"]}], ["a", "a"], id="name-duplicates-allowed"),
    pytest.param([{"Name": "eks-ci-name", "Values": ["a", "c"]}], ["a", "c", "a"], id="or-within-a-filter"),
    pytest.param([{"Name": "eks-ci-name", "Values": ["a", "c"]}, {"Name": "vpc-id", "Values": ["vpc-1"]}],
                 ["a", "c"], id="and-across-filters"),
    pytest.param([{"Name": "status", "Values": ["Running"]}], ["a", "b", "c", "a"], id="status"),
    pytest.param([{"Name": "status", "Values": ["Failed"]}], [], id="status-none"),
    pytest.param([{"Name": "eip-address", "Values": ["1.2.3.4"]}], [], id="eip"),
])
async def test_describe_filters(emulator: Emulator, filters: list[dict[str, Any]], expected_names: list[str]) -> None:
    async with sdk(emulator) as client:
        await _populate(client)
        out = await call(client, DESCRIBE, {"Filters": filters} if filters else {})
    assert [c["EksCiName"] for c in out["EksCis"]] == expected_names
    assert out["TotalCount"] == len(expected_names)


async def test_private_ip_filter_and_unique_ips(emulator: Emulator) -> None:
    async with sdk(emulator) as client:
        ids = [(await call(client, CREATE, create_params(f"n{i}")))["EksCiIds"][0] for i in range(5)]
        everything = (await call(client, DESCRIBE, {}))["EksCis"]
        ips = [c["PrivateIp"] for c in everything]
        assert len(set(ips)) == 5
        one = await call(client, DESCRIBE, {"Filters": [{"Name": "private-ip", "Values": [ips[2]]}]})
    assert [c["EksCiId"] for c in one["EksCis"]] == [ids[2]]


@pytest.mark.parametrize(("params", "code"), [
    pytest.param({"Limit": 101}, "InvalidParameterValue", id="limit-over-100"),
    pytest.param({"Offset": -1}, "InvalidParameterValue", id="negative-offset"),
    pytest.param({"Filters": [{"Name": "zone", "Values": ["x"]}]}, "InvalidParameterValue", id="unknown-filter"),
    pytest.param({"Filters": [{"Name": "status"}]}, "MissingParameter", id="filter-without-values"),
])
async def test_describe_rejects(emulator: Emulator, params: dict[str, Any], code: str) -> None:
    async with sdk(emulator) as client:
        with pytest.raises(TencentCloudSDKException) as err:
            await call(client, DESCRIBE, params)
    assert err.value.code == code


async def test_paging_and_ids(emulator: Emulator) -> None:
    async with sdk(emulator) as client:
        ids = (await call(client, CREATE, create_params("many", Replicas=25)))["EksCiIds"]
        page = await call(client, DESCRIBE, {"Limit": 10, "Offset": 20})
        by_ids = await call(client, DESCRIBE, {"EksCiIds": [*ids[:3], "eksci-missing"]})
    assert (page["TotalCount"], len(page["EksCis"])) == (25, 5)
    assert sorted(c["EksCiId"] for c in by_ids["EksCis"]) == sorted(ids[:3])


async def test_delete_limits_and_all_or_nothing(emulator: Emulator) -> None:
    async with sdk(emulator) as client:
        ids = (await call(client, CREATE, create_params("d", Replicas=21)))["EksCiIds"]
        with pytest.raises(TencentCloudSDKException) as too_many:
            await call(client, "DeleteEKSContainerInstances", {"EksCiIds": ids})
        with pytest.raises(TencentCloudSDKException) as unknown:
            await call(client, "DeleteEKSContainerInstances", {"EksCiIds": [ids[0], "eksci-unknown"]})
        assert len(emulator.state.records) == 21
        await call(client, "DeleteEKSContainerInstances", {"EksCiIds": ids[:20]})
    assert (too_many.value.code, unknown.value.code) == ("InvalidParameterValue", "ResourceNotFound")
    assert list(emulator.state.records) == [ids[20]]


async def test_start_delay_with_an_injected_clock() -> None:
    clock = MutableClock()
    options = EmulatorOptions(secret_id=CLOUD_SECRET_ID, secret_key=CLOUD_SECRET_KEY, start_delay=30, clock=clock,
                              rate_limit=0)
    async with Emulator(options) as emu, sdk(emu) as client:
        (id_,) = (await call(client, CREATE, create_params()))["EksCiIds"]
        before = (await call(client, DESCRIBE, {"EksCiIds": [id_]}))["EksCis"][0]
        with pytest.raises(TencentCloudSDKException) as log_err:
            await call(client, "DescribeEksContainerInstanceLog", {"EksCiId": id_})
        clock.advance(31)
        after = (await call(client, DESCRIBE, {"EksCiIds": [id_]}))["EksCis"][0]
    assert (before["Status"], before["Containers"][0]["CurrentState"]["State"]) == ("Pending", "created")
    assert log_err.value.code == "ResourceUnavailable.EksContainerStatus"
    assert (after["Status"], after["Containers"][0]["CurrentState"]["State"]) == ("Running", "running")


async def test_log_honours_tail_and_is_deterministic(emulator: Emulator, emulator_clock: MutableClock) -> None:
    async with sdk(emulator) as client:
        (id_,) = (await call(client, CREATE, create_params()))["EksCiIds"]
        emulator_clock.advance(100)
        first = await call(client, "DescribeEksContainerInstanceLog", {"EksCiId": id_, "Tail": 10})
        second = await call(client, "DescribeEksContainerInstanceLog", {"EksCiId": id_, "Tail": 10})
        with pytest.raises(TencentCloudSDKException) as err:
            await call(client, "DescribeEksContainerInstanceLog", {"EksCiId": id_, "Tail": 2001})
    assert len(first["LogContent"].splitlines()) == 10 and first == {**second, "RequestId": first["RequestId"]}
    assert err.value.code == "InvalidParameterValue"


async def test_quota_and_rate_limit() -> None:
    options = EmulatorOptions(secret_id=CLOUD_SECRET_ID, secret_key=CLOUD_SECRET_KEY, quota=3, rate_limit=5)
    async with Emulator(options) as emu, sdk(emu) as client:
        await call(client, CREATE, create_params("q", Replicas=3))
        with pytest.raises(TencentCloudSDKException) as quota:
            await call(client, CREATE, create_params("q"))
        codes = []
        for _ in range(8):
            try:
                await call(client, DESCRIBE, {})
                codes.append("ok")
            except TencentCloudSDKException as err:
                codes.append(err.code)
    assert quota.value.code == "LimitExceeded"
    assert "RequestLimitExceeded" in codes and codes[0] == "ok"
    assert emu.state.errors[DESCRIBE]["RequestLimitExceeded"] == codes.count("RequestLimitExceeded")


@pytest.mark.parametrize("code", ["ResourceInsufficient.SpecifiedInstanceType", "ResourcesSoldOut"])
async def test_sold_out_zone(emulator: Emulator, code: str) -> None:
    emulator.faults.update({"sold_out_zones": [CLOUD_SUBNETS["subnet-aaa"]], "sold_out_code": code})
    async with sdk(emulator) as client:
        with pytest.raises(TencentCloudSDKException) as err:
            await call(client, CREATE, create_params(SubnetId="subnet-aaa"))
        ok = await call(client, CREATE, create_params(SubnetId="subnet-bbb"))
    assert err.value.code == code and len(ok["EksCiIds"]) == 1


async def test_fail_after_start_by_name(emulator: Emulator, emulator_clock: MutableClock) -> None:
    emulator.faults.update({"fail_after_start": {"name_pattern": "^crash", "after_seconds": 5, "exit_code": 137,
                                                 "reason": "OOMKilled"}})
    async with sdk(emulator) as client:
        (bad,) = (await call(client, CREATE, create_params("crashy")))["EksCiIds"]
        (good,) = (await call(client, CREATE, create_params("fine")))["EksCiIds"]
        running = {c["EksCiId"]: c["Status"] for c in (await call(client, DESCRIBE, {}))["EksCis"]}
        emulator_clock.advance(6)
        later = {c["EksCiId"]: c for c in (await call(client, DESCRIBE, {}))["EksCis"]}
    assert running == {bad: "Running", good: "Running"}
    assert (later[bad]["Status"], later[good]["Status"]) == ("Failed", "Running")
    state = later[bad]["Containers"][0]["CurrentState"]
    assert (state["State"], state["ExitCode"], state["Reason"]) == ("exited", 137, "OOMKilled")


async def test_admin_endpoints(emulator: Emulator) -> None:
    async with sdk(emulator) as client:
        ids = (await call(client, CREATE, create_params("v", Replicas=2)))["EksCiIds"]
    base = emulator.url.rstrip("/")
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{base}/_admin/faults", json={"latency_ms": 1, "errors": [
                {"code": "InternalError", "rate": 0.5, "action": CREATE}]}) as r:
            faults = await r.json()
        async with s.post(f"{base}/_admin/faults", json={"bogus": 1}) as r:
            rejected = r.status
        async with s.post(f"{base}/_admin/vanish", json={"ids": [ids[0]]}) as r:
            vanished = await r.json()
        async with s.get(f"{base}/_admin/state") as r:
            state = await r.json()
        async with s.post(f"{base}/_admin/reset", json={"instances": False}) as r:
            assert r.status == 200
    assert faults["errors"][0]["rate"] == 0.5 and rejected == 400
    assert vanished == {"vanished": [ids[0]]}
    assert [i["EksCiId"] for i in state["instances"]] == [ids[1]]
    assert state["instances"][0]["Zone"] == "ap-guangzhou-3"
    assert state["calls"] == {CREATE: 1}
    assert (emulator.faults.errors, dict(emulator.state.calls), len(emulator.state.records)) == ([], {}, 1)


async def test_persistence_across_restart(tmp_path: Path) -> None:
    def options() -> EmulatorOptions:
        return EmulatorOptions(secret_id=CLOUD_SECRET_ID, secret_key=CLOUD_SECRET_KEY, region=CLOUD_REGION,
                               data_dir=tmp_path, rate_limit=0)

    async with Emulator(options()) as emu, sdk(emu) as client:
        ids = (await call(client, CREATE, create_params("keep", Replicas=2)))["EksCiIds"]
        first = (await call(client, DESCRIBE, {}))["EksCis"]
    assert (tmp_path / "emulator-state.json").exists()
    assert CLOUD_SECRET_KEY not in (tmp_path / "emulator-state.json").read_text()
    async with Emulator(options()) as emu, sdk(emu) as client:
        again = (await call(client, DESCRIBE, {}))["EksCis"]
        (new,) = (await call(client, CREATE, create_params("new")))["EksCiIds"]
        ips = {c["PrivateIp"] for c in (await call(client, DESCRIBE, {}))["EksCis"]}
    assert again == first and new not in ids and len(ips) == 3
