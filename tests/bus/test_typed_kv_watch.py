"""TypedKV.watch against a real nats-server: the latest value of every key, the "synced" call once
those are delivered, then each change; deletes and purges as None; an entry that does not decode
is skipped and counted, and the watch goes on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from spillway.bus import Bus, TypedKV
from spillway.bus.kv import KVChange
from spillway.model import messages as m

SYNCED = "synced"
Seen = asyncio.Queue[Any]


def cooldown(zone: str, until: float) -> m.ZoneCooldown:
    return m.ZoneCooldown(zone=zone, until=until, reason="ResourceSoldOut")


@pytest.fixture
async def zones(bus: Bus) -> TypedKV[m.ZoneCooldown]:
    return await bus.typed_kv(m.KV_ZONES, m.ZoneCooldown)


@pytest.fixture
async def follow() -> AsyncIterator[Any]:
    """`seen = follow(kv, key)`: a task iterating the watch, putting each change (and SYNCED) on `seen`."""
    tasks: list[asyncio.Task[None]] = []

    def start(kv: TypedKV[Any], key: str = ">") -> Seen:
        seen: Seen = asyncio.Queue()

        async def run() -> None:
            async for change in kv.watch(key, on_synced=lambda: seen.put_nowait(SYNCED)):
                seen.put_nowait(change)

        tasks.append(asyncio.create_task(run()))
        return seen

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def next_of(seen: Seen) -> Any:
    return await asyncio.wait_for(seen.get(), 10)


async def test_initial_values_then_synced_then_changes(zones: TypedKV[m.ZoneCooldown], follow: Any) -> None:
    a, c = cooldown("ap-a", 1.0), cooldown("ap-c", 3.0)
    await zones.put("ap-a", cooldown("ap-a", 0.5))
    rev_a = await zones.put("ap-a", a)  # only the latest value of a key is replayed
    await zones.raw.put("ap-b", b"{not json")
    rev_c = await zones.put("ap-c", c)

    seen = follow(zones)
    assert await next_of(seen) == KVChange("ap-a", a, rev_a)
    assert await next_of(seen) == KVChange("ap-c", c, rev_c)  # ap-b did not decode: skipped
    assert await next_of(seen) == SYNCED
    assert zones.undecodable == 1

    b = cooldown("ap-b", 2.0)
    rev_b = await zones.put("ap-b", b)
    assert await next_of(seen) == KVChange("ap-b", b, rev_b)
    await zones.delete("ap-a")
    deleted = await next_of(seen)
    assert (deleted.key, deleted.value) == ("ap-a", None) and deleted.revision > rev_b
    await zones.raw.purge("ap-c")
    assert (await next_of(seen)).value is None
    await zones.raw.put("ap-b", b"")
    assert (await next_of(seen)).value is None  # an empty value reads as gone, as a delete does
    await zones.raw.put("ap-a", b'{"zone": 7}')  # wrong type: skipped, the watch goes on
    d = cooldown("ap-d", 4.0)
    rev_d = await zones.put("ap-d", d)
    assert await next_of(seen) == KVChange("ap-d", d, rev_d)
    assert zones.undecodable == 2
    assert seen.empty()


async def test_an_empty_bucket_is_synced_at_once(zones: TypedKV[m.ZoneCooldown], follow: Any) -> None:
    seen = follow(zones)
    assert await next_of(seen) == SYNCED
    a = cooldown("ap-a", 1.0)
    revision = await zones.put("ap-a", a)
    assert await next_of(seen) == KVChange("ap-a", a, revision)


async def test_a_key_filter_watches_that_key_only(bus: Bus, follow: Any) -> None:
    configs = await bus.typed_kv(m.KV_CONFIG, m.ConfigEvent)
    await configs.put("other", m.ConfigEvent(data={"x": "1"}))
    seen = follow(configs, m.CONFIG_KEY_EKS)
    assert await next_of(seen) == SYNCED
    await configs.put("other", m.ConfigEvent(data={"x": "2"}))
    config = m.ConfigEvent(data={"AUTO_SCALE_EKS": "true"})
    revision = await configs.put(m.CONFIG_KEY_EKS, config)
    assert await next_of(seen) == KVChange(m.CONFIG_KEY_EKS, config, revision)
    assert seen.empty()
