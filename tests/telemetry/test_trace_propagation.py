"""One trace across processes: the handler span in a consumer process is a child of the publish span here."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spillway.bus import Bus
from spillway.model import messages as m
from spillway.telemetry import setup_tracing
from tests.bus.samples import sample
from tests.telemetry.otlp_receiver import OtlpReceiver

ROOT = Path(__file__).resolve().parents[2]


async def test_publish_and_remote_handler_share_one_trace(bus: Bus, nats_server: str) -> None:
    memory = InMemorySpanExporter()
    setup_tracing("spillway-test").add_span_processor(SimpleSpanProcessor(memory))
    receiver = await OtlpReceiver().start()
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_TRACES_EXPORTER": "otlp",
           "OTEL_BSP_SCHEDULE_DELAY": "100", "PYTHONPATH": os.pathsep.join([str(ROOT / "libs"), str(ROOT)])}
    env.pop("OTEL_SERVICE_NAME", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.telemetry.consumer_process", nats_server, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 20) == b"consuming\n"
        await bus.publish(sample(m.POD_BOUND))
        _, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, err.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await receiver.stop()

    [published] = [s for s in memory.get_finished_spans() if s.name == f"{m.POD_BOUND} publish"]
    [handled] = [s for s in receiver.spans if s.name == f"{m.POD_BOUND} process"]
    assert handled.service == "spillway-traced"
    assert handled.trace_id == format(published.context.trace_id, "032x")
    assert handled.parent_span_id == format(published.context.span_id, "016x")
