"""Idempotent creation of the stream, the advisory stream, the KV buckets and durable consumers.

Layout (documented in docs/bus.md):
- stream `SPILLWAY` captures `spillway.>`, dead letters (`spillway.dlq.<service>`) included, so
  `spillway events` shows them and `--since` replays them. Durable consumers must therefore never
  filter on `spillway.>` itself; each filters on the subjects it handles.
- stream `SPILLWAY_ADVISORIES` keeps the server's MAX_DELIVERIES advisories for the DLQ safety net.
- one KV bucket per `messages.BUCKETS` row.
Who creates them: whoever may (`Bus.sets_up`): the admin user, or anyone on a server without
authorisation. A service on its own NATS user only waits for them (`Bus.wait_for_setup`).
"""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DiscardPolicy, KeyValueConfig, StorageType, StreamConfig
from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from spillway.model import messages as m

log = logging.getLogger(__name__)

ADVISORY_STREAM = "SPILLWAY_ADVISORIES"
MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"
DUPLICATE_WINDOW_SECONDS = 120.0
STREAM_MAX_AGE_SECONDS = 7 * 24 * 3600.0
"""Dead letters stay a week for an operator to read; events are consumed within seconds."""
STREAM_MAX_BYTES = 256 * 2**20
"""Whatever the churn, the stream never outgrows this: the oldest events (consumed long ago) go
first. About 30,000 events of whole pods: the watcher publishes only what changes a decision or a
cloud pod, so a 500-pod burst is a few thousand; a backlog this large means consumers are down,
and their resyncs recover. JetStream reserves it on every replica's disk (`max_file_store`)."""
ADVISORY_MAX_AGE_SECONDS = 24 * 3600.0
ADVISORY_MAX_BYTES = 64 * 2**20

STREAM_CONFIG = StreamConfig(
    name=m.STREAM,
    description="Spillway events (spillway.>), dead letters included",
    subjects=[f"{m.SUBJECT_ROOT}.>"],
    storage=StorageType.FILE,
    max_age=STREAM_MAX_AGE_SECONDS,
    max_bytes=STREAM_MAX_BYTES,
    discard=DiscardPolicy.OLD,
    duplicate_window=DUPLICATE_WINDOW_SECONDS,
)

ADVISORY_STREAM_CONFIG = StreamConfig(
    name=ADVISORY_STREAM,
    description="MAX_DELIVERIES advisories of SPILLWAY consumers (DLQ safety net)",
    subjects=[f"{MAX_DELIVERIES_ADVISORY}.{m.STREAM}.*"],
    storage=StorageType.FILE,
    max_age=ADVISORY_MAX_AGE_SECONDS,
    max_bytes=ADVISORY_MAX_BYTES,
    discard=DiscardPolicy.OLD,
)


async def ensure_stream(js: JetStreamContext, cfg: StreamConfig) -> None:
    """Create, or update when the config differs (err 10058)."""
    try:
        await js.add_stream(cfg)
    except BadRequestError as exc:
        if exc.err_code != 10058:
            raise
        await js.update_stream(cfg)


async def ensure_bucket(js: JetStreamContext, spec: m.BucketSpec) -> KeyValue:
    """Create the bucket; if it exists with another config, keep using it (and say so)."""
    cfg = KeyValueConfig(bucket=spec.name, history=spec.history, ttl=spec.ttl, storage=StorageType.FILE,
                         description=spec.description)
    try:
        return await js.create_key_value(cfg)
    except BadRequestError as exc:
        if exc.err_code != 10058:
            raise
        log.warning("KV bucket exists with another config; using it as is", extra={"bucket": spec.name})
        return await js.key_value(spec.name)


async def ensure_all(js: JetStreamContext) -> dict[str, KeyValue]:
    """Every catalogue bucket, the advisory stream and the stream; returns the buckets by name.
    The stream comes last, so once it exists the whole set-up does (`set_up_done`)."""
    buckets = {spec.name: await ensure_bucket(js, spec) for spec in m.BUCKETS}
    await ensure_stream(js, ADVISORY_STREAM_CONFIG)
    await ensure_stream(js, STREAM_CONFIG)
    return buckets


async def set_up_done(js: JetStreamContext) -> bool:
    """Whether `ensure_all` has run on this server (the stream it creates last exists)."""
    try:
        await js.stream_info(m.STREAM)
    except NotFoundError:
        return False
    return True


async def open_bucket(js: JetStreamContext, name: str, *, create: bool = True) -> KeyValue:
    """An existing bucket, or (with `create`) the catalogue's bucket created on first use."""
    try:
        return await js.key_value(name)
    except BucketNotFoundError:
        for spec in m.BUCKETS:
            if spec.name == name and create:
                return await ensure_bucket(js, spec)
        raise


async def ensure_consumer(js: JetStreamContext, stream: str, cfg: ConsumerConfig) -> None:
    """Create or update a durable consumer (pull_subscribe would ignore a changed config)."""
    if cfg.durable_name and "." in cfg.durable_name:
        raise ValueError(f"durable name {cfg.durable_name!r} must not contain '.'")
    await js.add_consumer(stream, cfg)
