"""resolv.conf parsing and the DNS source precedence (pod annotation > node > dnsConfig > cloud default)."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.translate import DnsConfig, ResolvConfError, parse_resolv_conf, translate_pod
from tests.translate.builders import ctx, pod

ANNOTATION = "eks.tke.cloud.tencent.com/resolv-conf"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("nameserver 10.0.0.10\n", DnsConfig(("10.0.0.10",)), id="one nameserver"),
        pytest.param(
            "# cluster DNS\n\nnameserver 10.0.0.10\n; backup\nnameserver fd00::53\n"
            "search shop.svc.cluster.local svc.cluster.local\noptions ndots:5 rotate timeout:2\n",
            DnsConfig(("10.0.0.10", "fd00::53"), ("shop.svc.cluster.local", "svc.cluster.local"),
                      (("ndots", "5"), ("rotate", None), ("timeout", "2"))),
            id="full file with comments and blanks",
        ),
        pytest.param("search a.example\ndomain b.example\n", DnsConfig((), ("b.example",)), id="last search wins"),
        pytest.param("options ndots:2\noptions ndots:3 edns0", DnsConfig(options=(("ndots", "3"), ("edns0", None))),
                     id="options merge, last wins"),
        pytest.param("  nameserver 1.1.1.1   # trailing comment\r\n", DnsConfig(("1.1.1.1",)),
                     id="inline comment, CRLF"),
        pytest.param("sortlist 130.155.160.0/255.255.240.0\nnameserver 1.1.1.1", DnsConfig(("1.1.1.1",)),
                     id="sortlist ignored"),
    ],
)
def test_parse_resolv_conf(text: str, expected: DnsConfig) -> None:
    assert parse_resolv_conf(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("nameserver\n", "line 1 'nameserver': nameserver takes exactly one address", id="no address"),
        pytest.param("# x\nnameserver dns.example\n", "line 2 'nameserver dns.example': not an IP address",
                     id="hostname nameserver"),
        pytest.param("nameserver 1.1.1.1 8.8.8.8", "line 1 'nameserver 1.1.1.1 8.8.8.8': nameserver takes exactly",
                     id="two addresses on a line"),
        pytest.param("nameserver 1.1.1.1\n" * 4, "line 4 'nameserver 1.1.1.1': more than 3 nameservers",
                     id="too many nameservers"),
        pytest.param("namesever 1.1.1.1", "line 1 'namesever 1.1.1.1': unknown keyword 'namesever'", id="typo"),
        pytest.param("\n\nsearch\n", "line 3 'search': search needs at least one domain", id="empty search"),
        pytest.param("options ndots:", "line 1 'options ndots:': malformed option 'ndots:'", id="option no value"),
        pytest.param("options :5", "malformed option ':5'", id="option no name"),
        pytest.param("# only comments\n\n", "no directives", id="nothing"),
    ],
)
def test_malformed_resolv_conf(text: str, message: str) -> None:
    with pytest.raises(ResolvConfError) as info:
        parse_resolv_conf(text)
    assert message in str(info.value)


def test_dns_config_to_api() -> None:
    config = DnsConfig(("1.1.1.1",), ("a.example",), (("ndots", "5"), ("rotate", None)))
    assert config.to_api() == {"Nameservers": ["1.1.1.1"], "Searches": ["a.example"],
                               "Options": [{"Name": "ndots", "Value": "5"}, {"Name": "rotate", "Value": ""}]}


POD_DNS = "nameserver 10.0.0.1\n"
NODE_DNS = "nameserver 10.0.0.2\n"
BAD = "nameserver nope\n"
SPEC_DNS = {
    "dnsPolicy": "None",
    "dnsConfig": {"nameservers": ["10.0.0.3"], "options": [{"name": "ndots", "value": "1"}]},
}


@pytest.mark.parametrize(
    ("pod_text", "node_text", "spec", "expected", "warning_sources"),
    [
        pytest.param(POD_DNS, NODE_DNS, SPEC_DNS, {"Nameservers": ["10.0.0.1"]}, [], id="pod annotation first"),
        pytest.param(None, NODE_DNS, SPEC_DNS, {"Nameservers": ["10.0.0.2"]}, [], id="then the node's"),
        pytest.param(BAD, NODE_DNS, {}, {"Nameservers": ["10.0.0.2"]}, ["pod"], id="bad pod annotation → node"),
        pytest.param(BAD, None, {}, None, ["pod"], id="bad pod annotation, no node → default"),
        pytest.param(BAD, BAD, {}, None, ["pod", "node"], id="both bad → default"),
        pytest.param(None, None, SPEC_DNS, {"Nameservers": ["10.0.0.3"], "Options": [{"Name": "ndots", "Value": "1"}]},
                     [], id="dnsPolicy None uses spec.dnsConfig"),
        pytest.param(None, None, {}, None, [], id="nothing → cloud default"),
        pytest.param(None, None, {"dnsPolicy": "ClusterFirst", "dnsConfig": {"nameservers": ["9.9.9.9"]}}, None,
                     ["spec.dnsConfig"], id="dnsConfig without policy None is reported"),
    ],
)
def test_dns_precedence(
    pod_text: str | None, node_text: str | None, spec: dict[str, Any], expected: dict[str, Any] | None,
    warning_sources: list[str],
) -> None:
    annotations = {} if pod_text is None else {ANNOTATION: pod_text}
    result = translate_pod(pod(annotations=annotations, **spec), ctx(node_resolv_conf=node_text))
    assert result.request.get("DnsConfig") == expected
    sources = [w.split(" ")[0] for w in result.warnings]
    assert sources == warning_sources
    for warning in result.warnings:
        if warning.startswith(("pod", "node")):
            assert "line 1 'nameserver nope': not an IP address" in warning
