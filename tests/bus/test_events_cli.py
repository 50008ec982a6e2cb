"""`spillway events`: live tail (--json), replay (--since) and the readable one-line summaries."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys

import pytest

from spillway.bus import Bus
from spillway.cli.events import format_line, parse_duration
from spillway.model import messages as m
from tests.bus.samples import concrete_subjects, sample


async def events(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "spillway.cli", "events", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def test_events_json_shows_a_published_message(bus: Bus, nats_server: str) -> None:
    proc = await events("--json", "--count", "1", "--nats", nats_server)
    assert proc.stderr is not None
    assert (await asyncio.wait_for(proc.stderr.readline(), 20)).startswith(b"listening on spillway.>")
    msg = sample(m.PLACEMENT_DECIDED)
    await bus.publish(msg)
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
    assert json.loads(out) == json.loads(m.encode(msg))


async def test_events_since_replays_stored_messages_readably(bus: Bus, nats_server: str) -> None:
    await bus.publish(sample(m.POD_BOUND))
    await bus.publish(sample(m.INSTANCE_RUNNING))
    proc = await events(m.POD_BOUND, "--since", "5m", "--count", "1", "--nats", nats_server)
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err
    [line] = out.decode().splitlines()
    assert line.split(" ", 1)[1] == "spillway.pod.bound shop/web-1 bound node=- uid=uid-1"


@pytest.mark.parametrize("subject", concrete_subjects())
def test_every_subject_has_a_one_line_summary(subject: str) -> None:
    line = format_line(subject, m.encode(sample(subject)), dt.datetime.now(dt.UTC))
    assert "\n" not in line and subject in line and "(undecodable)" not in line and "Event(" not in line


def test_undecodable_payload_is_shown_raw() -> None:
    line = format_line(m.POD_BOUND, b"garbage", dt.datetime.now(dt.UTC))
    assert line.endswith("spillway.pod.bound (undecodable) garbage")


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("30s", 30), ("5m", 300), ("2h", 7200), ("1h30m", 5400)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
