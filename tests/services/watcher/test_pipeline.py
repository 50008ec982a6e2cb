"""The watcher's KeyedPipeline on a real NATS: one slot per key, latest state wins, permanent errors
given up at once and reported for that object alone, retryable ones retried without starving others."""

from __future__ import annotations

import asyncio

from services.watcher.pipeline import Job, KeyedPipeline, Report
from spillway.bus import Bus, PayloadTooLarge
from spillway.loops import Backoff
from spillway.model import messages as m
from spillway.natsserver import NatsServer
from tests.fixtures.eventually import eventually


async def value_of(bus: Bus, key: str) -> bytes | None:
    try:
        entry = await (await bus.kv(m.KV_PODS)).get(key)
    except Exception:
        return None
    return entry.value


def put(bus: Bus, key: str, value: bytes) -> Job:
    """A job that writes `value` under `key` in the pods bucket."""
    async def job() -> None:
        await bus.kv_put(m.KV_PODS, key, value)
    return job


async def test_a_poison_object_never_starves_the_others(bus: Bus) -> None:
    """An invalid key and an oversized value, updated far more often than there are slots: each
    attempt fails once, is reported, and every other key is still written."""
    pipeline = KeyedPipeline(limit=4)
    refused: list[tuple[str, type[BaseException]]] = []
    too_big = b"x" * (bus.max_payload + 1)
    poison = {"default/vttablet-{{uid}}": b"{}", "default/huge": too_big}

    def refuse(key: str) -> Report:
        return lambda exc: refused.append((key, type(exc)))

    for round_ in range(300):
        for key, value in poison.items():
            await pipeline.submit(key, put(bus, key, value), report=refuse(key))
        good = f"default/good-{round_ % 10}"
        await pipeline.submit(good, put(bus, good, str(round_).encode()))
    await pipeline.drain()
    assert pipeline.active_keys == 0 and pipeline.pending_jobs == 0
    for i in range(10):
        assert await value_of(bus, f"default/good-{i}") == str(290 + i).encode()  # each key's latest
    assert {k for k, _ in refused} == set(poison)
    assert ("default/huge", PayloadTooLarge) in refused
    # never retried: at most one attempt per submission (fewer when submissions coalesced)
    assert 2 <= len(refused) <= 600
    assert await value_of(bus, "default/huge") is None


async def test_updates_while_nats_is_down_coalesce_to_the_latest_state() -> None:
    server = NatsServer()
    server.start()
    bus = await Bus.connect(server.url, service="test")
    try:
        await bus.ensure()
        pipeline = KeyedPipeline(limit=1, backoff=Backoff(initial=0.1, cap=0.5, jitter=0.0))
        runs: list[int] = []

        def write(version: int) -> Job:
            async def job() -> None:
                runs.append(version)
                await bus.kv_put(m.KV_PODS, "default/busy", str(version).encode())
            return job

        server.stop()
        await eventually(lambda: not bus.connected, what="client saw the outage")
        for version in range(1000):
            await pipeline.submit("default/busy", write(version))
        # one key, one worker, one pending job: not 1000 slots nor 1000 queued jobs
        assert pipeline.active_keys == 1 and pipeline.pending_jobs <= 1
        # the key backs off without its one slot: another key still gets it
        other_done = asyncio.Event()

        async def other() -> None:
            other_done.set()
        await pipeline.submit("default/other", other)
        await pipeline.submit("default/third", other)
        await eventually(other_done.is_set, what="another key ran while the busy key was retrying")
        server.start()
        await eventually(lambda: bus.connected, seconds=20, what="client reconnected")
        await asyncio.wait_for(pipeline.drain(), 60)
        assert await value_of(bus, "default/busy") == b"999"
        assert len(runs) < 50, runs  # a few retries and the latest state, not a thousand writes
        assert runs[-1] == 999
    finally:
        await bus.close(drain=False)
        server.cleanup()


async def test_order_within_a_key_and_a_failing_report_does_not_stop_the_key(bus: Bus) -> None:
    pipeline = KeyedPipeline(limit=8)
    seen: list[str] = []

    def broken_report(exc: BaseException) -> None:
        raise RuntimeError("reporting broke")

    started = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        started.set()
        await release.wait()
        seen.append("first")

    async def poison() -> None:
        await bus.kv_put(m.KV_PODS, "bad key", b"{}")

    async def last() -> None:
        seen.append("last")

    await pipeline.submit("k", first)
    await started.wait()
    await pipeline.submit("k", poison, report=broken_report)  # replaced by `last` before it runs
    await pipeline.submit("k", last)
    assert pipeline.pending_jobs == 1
    release.set()
    await pipeline.drain()
    assert seen == ["first", "last"]
    await pipeline.submit("k", poison, report=broken_report)
    await pipeline.submit("j", last)
    await pipeline.drain()
    assert seen == ["first", "last", "last"]
