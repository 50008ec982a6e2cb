"""The real SDK's typed async client against the emulator, for every action."""

from __future__ import annotations

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.tke.v20180525 import models

from spillway.emulator.server import Emulator
from tests.emulator.helpers import create_params, model, sdk
from tests.fixtures.cloud import MutableClock


async def test_every_action_through_the_typed_sdk(emulator: Emulator, emulator_clock: MutableClock) -> None:
    async with sdk(emulator) as client:
        created = await client.CreateEKSContainerInstances(
            model(models.CreateEKSContainerInstancesRequest, create_params("web-1")))
        (eks_id,) = created.EksCiIds
        assert eks_id.startswith("eksci-") and created.RequestId

        described = await client.DescribeEKSContainerInstances(
            model(models.DescribeEKSContainerInstancesRequest, {"EksCiIds": [eks_id]}))
        assert described.TotalCount == 1
        ci = described.EksCis[0]
        assert (ci.EksCiName, ci.Status, ci.SubnetId, ci.Cpu, ci.Memory) == ("web-1", "Running", "subnet-aaa", 1, 2)
        assert ci.CreationTime.endswith(" +0000 UTC")
        assert ci.Containers[0].CurrentState.State == "running"
        assert ci.Containers[0].RestartCount == 0

        updated = await client.UpdateEKSContainerInstance(
            model(models.UpdateEKSContainerInstanceRequest, {"EksCiId": eks_id, "Name": "web-renamed"}))
        assert updated.EksCiId == eks_id

        await client.RestartEKSContainerInstances(
            model(models.RestartEKSContainerInstancesRequest, {"EksCiIds": [eks_id]}))
        emulator_clock.advance(30)

        events = await client.DescribeEKSContainerInstanceEvent(
            model(models.DescribeEKSContainerInstanceEventRequest, {"EksCiId": eks_id}))
        assert {"Scheduled", "Started", "Restarted"} <= {e.Reason for e in events.Events}
        assert events.Events[0].PodName == "web-renamed"

        log = await client.DescribeEksContainerInstanceLog(
            model(models.DescribeEksContainerInstanceLogRequest, {"EksCiId": eks_id, "Tail": 5}))
        assert log.ContainerName == "app"
        assert len(log.LogContent.splitlines()) == 5

        regions = await client.DescribeEKSContainerInstanceRegions(models.DescribeEKSContainerInstanceRegionsRequest())
        assert "ap-guangzhou" in {r.RegionName for r in regions.Regions}
        assert regions.TotalCount == len(regions.Regions)

        again = await client.DescribeEKSContainerInstances(
            model(models.DescribeEKSContainerInstancesRequest, {"EksCiIds": [eks_id]}))
        assert again.EksCis[0].EksCiName == "web-renamed"
        assert again.EksCis[0].Containers[0].CurrentState.RestartCount == 1

        await client.DeleteEKSContainerInstances(
            model(models.DeleteEKSContainerInstancesRequest, {"EksCiIds": [eks_id]}))
        with pytest.raises(TencentCloudSDKException) as err:
            await client.DeleteEKSContainerInstances(
                model(models.DeleteEKSContainerInstancesRequest, {"EksCiIds": [eks_id]}))
        assert err.value.code == "ResourceNotFound"
    assert emulator.state.calls["DeleteEKSContainerInstances"] == 2


async def test_sync_sdk_as_a_new_user_would_use_it(emulator: Emulator) -> None:
    """Plain sync TkeClient with default profile; only the endpoint changed (http to the emulator)."""
    import asyncio

    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.tke.v20180525 import tke_client

    from tests.fixtures.cloud import CLOUD_SECRET_ID, CLOUD_SECRET_KEY

    result: dict[str, object] = {}

    def user_code() -> None:  # blocking user code; runs in a thread while the emulator serves on this loop
        cred = credential.Credential(CLOUD_SECRET_ID, CLOUD_SECRET_KEY)
        profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=emulator.endpoint))
        client = tke_client.TkeClient(cred, "ap-guangzhou", profile)
        created = client.CreateEKSContainerInstances(model(models.CreateEKSContainerInstancesRequest, create_params()))
        described = client.DescribeEKSContainerInstances(models.DescribeEKSContainerInstancesRequest())
        client.DeleteEKSContainerInstances(
            model(models.DeleteEKSContainerInstancesRequest, {"EksCiIds": created.EksCiIds}))
        after = client.DescribeEKSContainerInstances(models.DescribeEKSContainerInstancesRequest())
        result.update(ids=created.EksCiIds, names=[c.EksCiName for c in described.EksCis], after=after.TotalCount)

    await asyncio.to_thread(user_code)
    assert result["names"] == ["web-1"] and result["after"] == 0
