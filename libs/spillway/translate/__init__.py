"""Pod → TKE Serverless instance translation: pure, no I/O.

`translate_pod(pod, ctx)` turns a bound pod plus what the caller resolved (Secrets,
ConfigMaps, PersistentVolumes, the node's resolv.conf, configuration) into the exact params of
`CreateEKSContainerInstances`, with a warning for everything dropped or defaulted and a
`TranslationError` for what cannot run at all.
"""

from spillway.translate.context import TranslationContext, TranslationResult
from spillway.translate.dns import CLOUD_DEFAULT_NAMESERVERS, DnsConfig, parse_resolv_conf
from spillway.translate.errors import (
    InvalidContext,
    InvalidPod,
    MissingReference,
    NotEligible,
    ResolvConfError,
    TranslationError,
    UnsupportedVolume,
)
from spillway.translate.pod import translate_pod

__all__ = [
    "CLOUD_DEFAULT_NAMESERVERS",
    "DnsConfig",
    "InvalidContext",
    "InvalidPod",
    "MissingReference",
    "NotEligible",
    "ResolvConfError",
    "TranslationContext",
    "TranslationError",
    "TranslationResult",
    "UnsupportedVolume",
    "parse_resolv_conf",
    "translate_pod",
]
