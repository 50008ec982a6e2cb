"""Why a cloud instance cannot run a pod: a reason code and a one-line message.

Why a value and not only an exception: the placement policy asks the same question before it
binds a pod (to keep it local with a Warning), the translation asks it before it builds a
request (to fail the pod), and both must get the same answer. A refusal is that answer; the
translation turns it into the matching `TranslationError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from spillway.translate.errors import InvalidPod, TranslationError, UnsupportedVolume

REASON_UNSUPPORTED_VOLUME = "UnsupportedVolume"
"""A volume whose data the API cannot provide (only nfs and CBS disks exist there)."""
REASON_INVALID_PROBE = "InvalidProbe"
"""A liveness/readiness probe the API cannot express: a named port the container does not
declare, a port out of range, a scheme other than HTTP/HTTPS."""
REASON_INVALID_POD_SPEC = "InvalidPodSpec"
"""The pod spec is inconsistent in a way no instance can run (a mount of an undeclared volume,
an env reference the downward API does not know…)."""

REFUSAL_REASONS: tuple[str, ...] = (REASON_INVALID_POD_SPEC, REASON_UNSUPPORTED_VOLUME, REASON_INVALID_PROBE)


@dataclass(frozen=True, slots=True)
class CloudRefusal:
    """One thing about a pod that no cloud instance can run."""

    reason: str
    message: str

    def error(self) -> TranslationError:
        if self.reason == REASON_UNSUPPORTED_VOLUME:
            return UnsupportedVolume(self.message)
        return InvalidPod(self.message)
