"""Supervised loops and tasks, the clock they run on, and their liveness.

- `every(name, interval, fn, clock=, liveness=)`: a periodic loop that logs, counts and backs off on
  failure and never dies of one; `until_ok(...)`: the same until the first success.
- `supervise(name, fn, clock=, liveness=)`: a long-running task restarted with backoff when it ends;
  `raise_if_cancelled()` after a library call that may lose a cancellation.
- `Liveness`: their heartbeats; `problems()` is what `/healthz` reports (dead or stuck, and why).
- `Clock` / `SYSTEM_CLOCK`: time and sleep behind one seam, so tests drive time by hand.
- `Backoff`: the one retry schedule (capped exponential, jittered), also a `RetryPolicy`;
  `call_with_retry(fn, policy, clock=)`: one call tried again as a policy says.

In a service, pass `clock` and `ctx.liveness` (the runtime's registry, read by `/healthz`).
"""

from spillway.loops.backoff import Backoff, RetryPolicy
from spillway.loops.clock import SYSTEM_CLOCK, Clock, SystemClock
from spillway.loops.liveness import Heartbeat, Liveness
from spillway.loops.periodic import every, until_ok
from spillway.loops.retry import call_with_retry
from spillway.loops.tasks import raise_if_cancelled, supervise

__all__ = ["SYSTEM_CLOCK", "Backoff", "Clock", "Heartbeat", "Liveness", "RetryPolicy", "SystemClock",
           "call_with_retry", "every", "raise_if_cancelled", "supervise", "until_ok"]
