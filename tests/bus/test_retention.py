"""Retention sized for the job: the event stream is bounded in bytes as well as age (the oldest
going first), and a bus set up before the bound gets it on the next set-up."""

from __future__ import annotations

from nats.js.api import DiscardPolicy, StorageType, StreamConfig

from spillway.bus import Bus
from spillway.bus.streams import (
    ADVISORY_MAX_BYTES,
    ADVISORY_STREAM,
    STREAM_MAX_AGE_SECONDS,
    STREAM_MAX_BYTES,
    ensure_all,
)
from spillway.model import messages as m


async def test_a_stream_set_up_unbounded_is_bounded_by_the_next_set_up(nats_server: str) -> None:
    bus = await Bus.connect(nats_server, service="test")
    try:
        await bus.js.add_stream(StreamConfig(name=m.STREAM, subjects=[f"{m.SUBJECT_ROOT}.>"],
                                             storage=StorageType.FILE, max_age=STREAM_MAX_AGE_SECONDS))
        await ensure_all(bus.js)
        events = (await bus.js.stream_info(m.STREAM)).config
        assert (events.max_bytes, events.discard) == (STREAM_MAX_BYTES, DiscardPolicy.OLD)
        advisories = (await bus.js.stream_info(ADVISORY_STREAM)).config
        assert (advisories.max_bytes, advisories.discard) == (ADVISORY_MAX_BYTES, DiscardPolicy.OLD)
        for spec in m.BUCKETS:  # state: one entry per key, however often it is written
            assert (await bus.js.stream_info(f"KV_{spec.name}")).config.max_msgs_per_subject == spec.history
    finally:
        await bus.close(drain=False)
