"""Redelivery backoff: a `RetryPolicy` (a `spillway.loops.Backoff` unless a handler needs more), per handler.

Why not the consumer's server-side `backoff` list: with backoff set the server lowers ack_wait to
backoff[0] (a slow handler gets redelivered while still running) and `nak()` ignores it anyway
(see docs/reference). So ack_wait stays long and every nak carries an explicit delay from here.
"""

from __future__ import annotations

from spillway.loops import Backoff, RetryPolicy

default_retry: RetryPolicy = Backoff(initial=0.5, cap=60.0)
"""0.5 s, 1 s, 2 s … 60 s, shortened by up to 10 % at random; never zero, so a nak is never a hot loop."""
