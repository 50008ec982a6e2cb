"""resolv.conf text → the API's DnsConfig, and which source wins for a pod.

Precedence (docs/design.md §1 "Custom DNS"): the pod's `eks.tke.cloud.tencent.com/resolv-conf`
annotation, else the super node's, else the pod's own `spec.dnsConfig` when `dnsPolicy: None`,
else no DnsConfig at all — the instance then uses the cloud's default resolvers
(183.60.83.19 and 183.60.82.98), which do not know the IDC cluster's service names.
Malformed text is reported as a warning and the next source is tried; a bad annotation must
never stop a pod from starting.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from spillway.model.kube import ANNOTATION_RESOLV_CONF, Pod
from spillway.model.specs import show_value
from spillway.translate.errors import ResolvConfError

CLOUD_DEFAULT_NAMESERVERS = ("183.60.83.19", "183.60.82.98")
MAX_NAMESERVERS = 3  # glibc MAXNS; Kubernetes validates the same limit on dnsConfig
MAX_SEARCHES = 32  # Kubernetes' dnsConfig limit
_IGNORED_KEYWORDS = frozenset({"sortlist", "lookup", "family"})  # valid resolv.conf, nothing to map


@dataclass(frozen=True, slots=True)
class DnsConfig:
    """Nameservers and searches in order (order matters to the resolver); options by name."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[tuple[str, str | None], ...] = ()

    def to_api(self) -> dict[str, Any]:
        """The API's DNSConfig. DNSConfigOption requires Value, so a bare option sends ""."""
        out: dict[str, Any] = {}
        if self.nameservers:
            out["Nameservers"] = list(self.nameservers)
        if self.searches:
            out["Searches"] = list(self.searches)
        if self.options:
            out["Options"] = [{"Name": n, "Value": v or ""} for n, v in self.options]
        return out


def _strip_comment(line: str) -> str:
    for marker in ("#", ";"):
        if marker in line:
            line = line.split(marker, 1)[0]
    return line.strip()


def parse_resolv_conf(text: str) -> DnsConfig:
    """Parse resolv.conf text strictly: an unknown keyword or a bad value is an error, so a typo
    in an annotation is reported instead of silently ignored."""
    nameservers: list[str] = []
    searches: list[str] = []
    options: dict[str, str | None] = {}
    seen_directive = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw)
        if not line:
            continue
        keyword, *values = line.split()

        def fail(why: str, number: int = number, raw: str = raw) -> ResolvConfError:
            return ResolvConfError(f"resolv.conf line {number} {show_value(raw.strip())}: {why}")

        if keyword == "nameserver":
            if len(values) != 1:
                raise fail("nameserver takes exactly one address")
            try:
                ipaddress.ip_address(values[0])
            except ValueError:
                raise fail("not an IP address") from None
            if len(nameservers) == MAX_NAMESERVERS:
                raise fail(f"more than {MAX_NAMESERVERS} nameservers")
            nameservers.append(values[0])
        elif keyword in ("search", "domain"):
            if not values:
                raise fail(f"{keyword} needs at least one domain")
            if keyword == "domain" and len(values) != 1:
                raise fail("domain takes exactly one domain")
            if len(values) > MAX_SEARCHES:
                raise fail(f"more than {MAX_SEARCHES} search domains")
            searches = values  # the resolver keeps the last search/domain line
        elif keyword == "options":
            if not values:
                raise fail("options needs at least one option")
            for option in values:
                name, sep, value = option.partition(":")
                if not name or (sep and not value):
                    raise fail(f"malformed option {show_value(option)} (want name or name:value)")
                options.pop(name, None)
                options[name] = value if sep else None
        elif keyword in _IGNORED_KEYWORDS:
            pass
        else:
            raise fail(f"unknown keyword {show_value(keyword)}")
        seen_directive = True
    if not seen_directive:
        raise ResolvConfError("resolv.conf has no directives (only blank lines or comments)")
    return DnsConfig(tuple(nameservers), tuple(searches), tuple(options.items()))


def choose_dns(pod: Pod, node_resolv_conf: str | None, warnings: list[str]) -> DnsConfig | None:
    """The DnsConfig for this pod by the documented precedence; None means the cloud default."""
    pod_text = pod.metadata.annotations.get(ANNOTATION_RESOLV_CONF)
    for source, text in (("pod", pod_text), ("node", node_resolv_conf)):
        if text is None:
            continue
        try:
            return parse_resolv_conf(text)
        except ResolvConfError as exc:
            warnings.append(f"{source} annotation {ANNOTATION_RESOLV_CONF} ignored: {exc}")
    policy = pod.spec.dns_policy or "ClusterFirst"
    spec_dns = pod.spec.dns_config
    if policy == "None":
        if spec_dns is None:
            warnings.append("dnsPolicy None without dnsConfig: the cloud's default DNS is used")
            return None
        return DnsConfig(
            tuple(spec_dns.nameservers),
            tuple(spec_dns.searches),
            tuple(_merge_options((o.name, o.value) for o in spec_dns.options if o.name)),
        )
    if spec_dns is not None:
        warnings.append(
            f"spec.dnsConfig is only applied with dnsPolicy None (pod has {policy}); the cloud's default DNS is used"
        )
    return None


def _merge_options(options: Any) -> list[tuple[str, str | None]]:
    merged: dict[str, str | None] = {}
    for name, value in options:
        merged.pop(name, None)
        merged[name] = value
    return list(merged.items())
