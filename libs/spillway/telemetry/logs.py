"""JSON logs, one object per line on stderr, carrying trace_id/span_id when a span is active.

Why: logs are read by machines (Loki, `jq`) and joined to traces by id. Secrets: values registered
with `register_secret()` are masked in every record, a last line of defence behind the `Secret`
type whose repr is already `'***'`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, TextIO

from spillway.telemetry.tracing import current_ids

_secrets: set[str] = set()
MASK = "***"
_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def register_secret(value: str) -> None:
    """Mask this exact value wherever it would appear in a log line (ignores very short values)."""
    if len(value) >= 4:
        _secrets.add(value)


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class JsonFormatter(logging.Formatter):
    """`{"ts","level","logger","msg",...extra fields,"trace_id","span_id","exc"}` per line."""

    def __init__(self, service: str = "") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if self.service:
            out["service"] = self.service
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        ids = current_ids()
        if ids is not None:
            out["trace_id"], out["span_id"] = ids
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(out, default=str, ensure_ascii=False))


def setup_logging(service: str = "", level: str | int = "INFO", stream: TextIO | None = None) -> None:
    """Route the root logger to one JSON line per record on stderr (replaces existing handlers)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for noisy in ("nats", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
