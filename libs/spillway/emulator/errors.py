"""The error an action raises to answer with the API's error envelope."""

from __future__ import annotations


class ApiError(Exception):
    """Answered as `{"Response": {"Error": {"Code", "Message"}, "RequestId"}}` (always HTTP 200)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
