"""Pod → TKE Serverless instance translation: pure, no I/O.

`translate_pod(pod, ctx)` turns a bound pod plus what the caller resolved (Secrets,
ConfigMaps, PersistentVolumes, the node's resolv.conf, configuration) into the exact params of
`CreateEKSContainerInstances`, with a warning for everything dropped or defaulted and a
`TranslationError` for what cannot run at all. `cloud_refusals(pod, persistent_volumes)` is
that last judgement on its own (reason code and message), for the placement policy to ask first.
"""

from spillway.translate.context import TranslationContext, TranslationResult
from spillway.translate.dns import CLOUD_DEFAULT_NAMESERVERS, DnsConfig, parse_resolv_conf
from spillway.translate.eligibility import cloud_refusals
from spillway.translate.errors import (
    InvalidContext,
    InvalidPod,
    InvalidReference,
    MissingReference,
    NotEligible,
    ResolvConfError,
    TranslationError,
    UnsupportedVolume,
)
from spillway.translate.pod import translate_pod
from spillway.translate.probes import port_number
from spillway.translate.refusal import (
    REASON_INVALID_POD_SPEC,
    REASON_INVALID_PROBE,
    REASON_UNSUPPORTED_VOLUME,
    REFUSAL_REASONS,
    CloudRefusal,
)
from spillway.translate.volumes import DROPPED_VOLUME_SOURCES, REFUSED_VOLUME_SOURCES

__all__ = [
    "CLOUD_DEFAULT_NAMESERVERS",
    "DROPPED_VOLUME_SOURCES",
    "REASON_INVALID_POD_SPEC",
    "REASON_INVALID_PROBE",
    "REASON_UNSUPPORTED_VOLUME",
    "REFUSAL_REASONS",
    "REFUSED_VOLUME_SOURCES",
    "CloudRefusal",
    "DnsConfig",
    "InvalidContext",
    "InvalidPod",
    "InvalidReference",
    "MissingReference",
    "NotEligible",
    "ResolvConfError",
    "TranslationContext",
    "TranslationError",
    "TranslationResult",
    "UnsupportedVolume",
    "cloud_refusals",
    "parse_resolv_conf",
    "port_number",
    "translate_pod",
]
