"""Why a pod cannot become a TKE Serverless instance.

Every failure is a `TranslationError` with a one-line message naming the object and the field
at fault; the subclass tells the caller what to do (`NotEligible` and `UnsupportedVolume` are
permanent for this pod spec, `MissingReference` may heal once the Secret or ConfigMap exists).
Messages name keys, never values: a secret must not leak through an event or a log line.
"""

from __future__ import annotations


class TranslationError(Exception):
    """Base: the pod (with this context) cannot be expressed as a create request."""


class NotEligible(TranslationError):
    """The pod needs more CPU or memory than the largest instance spec offers."""


class UnsupportedVolume(TranslationError):
    """A volume whose data the public API cannot provide (e.g. iscsi, cephfs, a non-CBS PVC)."""


class MissingReference(TranslationError):
    """A non-optional Secret, ConfigMap, key or PersistentVolume the context did not resolve."""


class InvalidReference(TranslationError):
    """A Secret or ConfigMap the pod references holds what the API cannot take (a value that is not
    UTF-8 text): a fault of that object, which the placement policy cannot see in the pod."""


class InvalidPod(TranslationError):
    """The pod spec itself is inconsistent (a mount of an undeclared volume, an unknown named port…)."""


class InvalidContext(TranslationError):
    """The caller's context cannot produce a valid request (no security group, bad apiserver address)."""


class ResolvConfError(TranslationError):
    """resolv.conf text that cannot be parsed; the message names the line number and its text."""
