"""A value that must never be printed: repr and str are `'***'`; only `reveal()` gives it back."""

from __future__ import annotations

from typing import Final

MASK: Final = "***"


class Secret:
    """Wraps a credential so that reprs, logs, f-strings and tracebacks show `***` instead."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value: call this only where it is handed to the SDK that signs requests."""
        return self._value

    def __repr__(self) -> str:
        return repr(MASK)

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        raise TypeError("a Secret is not picklable")
