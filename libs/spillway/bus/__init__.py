"""The NATS JetStream adapter: streams, KV buckets, publish with de-duplication, the consume loop and the DLQ.

Public API:
- `Bus.connect(url, service=...)`, `bus.ensure()`, `bus.publish(msg, subject=, msg_id=)`,
  `bus.kv(bucket)`, `bus.typed_kv(bucket)`, `bus.close()`
- `Handlers().on(*subjects, ...)` decorator, `Consumer(bus, spec).start()/stop(grace)`,
  `AdvisoryMover` (DLQ safety net), `current_delivery()`
- retry as data: `TemporaryError(message, delay)`, `PermanentError`, a handler's `retry=` policy
  (`spillway.loops.Backoff(...)`; `default_retry` when not given)
- `is_permanent(exc)`: the one answer to "can retrying this ever help" (`PayloadTooLarge`, an
  invalid KV key, an unencodable value are permanent; connection loss and timeouts are not)
"""

from spillway.bus.advisories import AdvisoryMover
from spillway.bus.client import MSG_ID_HEADER, Bus, content_msg_id
from spillway.bus.consumer import Consumer, dead_letter_id
from spillway.bus.errors import BusError, PayloadTooLarge, PermanentError, TemporaryError, is_permanent
from spillway.bus.handlers import Delivery, Handler, Handlers, HandlerSpec, current_delivery
from spillway.bus.kv import TypedKV
from spillway.bus.retry import default_retry
from spillway.bus.streams import ADVISORY_STREAM, STREAM_CONFIG, ensure_all

__all__ = [
    "ADVISORY_STREAM", "MSG_ID_HEADER", "STREAM_CONFIG", "AdvisoryMover", "Bus", "BusError", "Consumer", "Delivery",
    "Handler", "HandlerSpec", "Handlers", "PayloadTooLarge", "PermanentError", "TemporaryError", "TypedKV",
    "content_msg_id", "current_delivery", "dead_letter_id", "default_retry", "ensure_all", "is_permanent",
]
