"""The admission service: the mutating webhook that adds the placement scheduling gate at pod creation.

Idle for now (starts, connects to NATS, serves /healthz, /readyz and /metrics, drains on SIGTERM).
Handlers are added like this; the runtime acks, retries with backoff, dead-letters and traces:

    @service.on(messages.POD_BOUND)
    async def on_bound(event: messages.PodEvent) -> None:
        await service.ctx.bus.publish(...)

Run it with `spillway run admission --config FILE`.
"""

from spillway.runtime import Service

service = Service("admission")
