"""Retry as data: what a handler raises tells the runtime what to do with the message.

- return normally → ack.
- `TemporaryError(delay)` → nak with that delay (or the retry policy's delay when None); after
  the consumer's last delivery the message is dead-lettered.
- `PermanentError` → dead-letter at once (retrying cannot help), and carry on.
- any other exception → like TemporaryError(None): retried with the policy's backoff.
"""

from __future__ import annotations

WRONG_LAST_SEQUENCE = 10071  # JetStream's compare-and-set miss: read again and retry


class BusError(Exception):
    """The bus itself failed (publish gave up, stream missing…)."""


class TemporaryError(Exception):
    """Try again later; `delay` seconds if given, else the retry policy decides."""

    def __init__(self, message: str = "", delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(Exception):
    """This message can never succeed: send it to the DLQ now."""


class PayloadTooLarge(PermanentError):
    """The message is bigger than the server's max_payload: no retry can make it fit."""

    def __init__(self, size: int, limit: int, where: str = "") -> None:
        super().__init__(f"{where + ': ' if where else ''}{size} bytes exceed the server's max_payload of {limit}")
        self.size = size
        self.limit = limit


def is_permanent(exc: BaseException) -> bool:
    """True when retrying the same operation can never succeed (the payload is too big, the key is
    not a valid KV key, the value cannot be encoded, or a handler said so); False for what a
    later attempt may fix (connection lost, timeouts, no responders, a stream not there yet).

    The one place the difference is decided: the watcher's pipeline, publishers and handlers ask
    it rather than listing exception types of their own.
    """
    # late imports keep this module importable without a NATS client (pure callers, docs)
    import msgspec
    import nats.errors
    import nats.js.errors

    if isinstance(exc, PermanentError | nats.errors.MaxPayloadError | msgspec.EncodeError):
        return True
    if isinstance(exc, nats.js.errors.InvalidKeyError | nats.js.errors.InvalidBucketNameError):
        return True
    if isinstance(exc, nats.errors.BadSubjectError | nats.errors.BadHeaderError):
        return True
    # a message JetStream refuses for what it is (not for where the server is): 'message size
    # exceeds maximum allowed' (10054), or any other 400 except a KV compare-and-set race
    if isinstance(exc, nats.js.errors.BadRequestError):
        race = isinstance(exc, nats.js.errors.KeyWrongLastSequenceError) or exc.err_code == WRONG_LAST_SEQUENCE
        return not race
    return isinstance(exc, TypeError)
