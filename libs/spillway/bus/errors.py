"""Retry as data: what a handler raises tells the runtime what to do with the message.

- return normally → ack.
- `TemporaryError(delay)` → nak with that delay (or the retry policy's delay when None); after
  the consumer's last delivery the message is dead-lettered.
- `PermanentError` → dead-letter at once (retrying cannot help), and carry on.
- any other exception → like TemporaryError(None): retried with the policy's backoff.
"""

from __future__ import annotations


class BusError(Exception):
    """The bus itself failed (publish gave up, stream missing…)."""


class TemporaryError(Exception):
    """Try again later; `delay` seconds if given, else the retry policy decides."""

    def __init__(self, message: str = "", delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(Exception):
    """This message can never succeed: send it to the DLQ now."""
