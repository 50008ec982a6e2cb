"""docs/install.md and the README's install section match the manifests: every repository path
they name exists, every `kubectl -k` target renders, and the names they tell users to create
(Secret, keys, webhook, Service) are the ones the manifests use."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.ship.render import KUBECTL, REPO, SERVICES, of_kind, render, service_deployments

INSTALL = REPO / "docs" / "install.md"
README = REPO / "README.md"
PATH_RE = re.compile(r"(?<![\w/.-])((?:k8s|docs|deploy|tests)/[\w./-]+|Dockerfile|docker-compose\.yml)")


def _readme_section() -> str:
    text = README.read_text()
    start = text.index("## Install on a real cluster")
    end = text.find("\n## ", start + 1)
    return text[start:] if end == -1 else text[start:end]


@pytest.mark.parametrize("doc", ["install", "readme"])
def test_every_named_path_exists(doc: str) -> None:
    text = INSTALL.read_text() if doc == "install" else _readme_section()
    paths = {p.rstrip(".,)") for p in PATH_RE.findall(text)}
    assert paths, "no paths found: the pattern is broken"
    missing = sorted(p for p in paths if not (REPO / p).exists())
    assert not missing, missing


@pytest.mark.parametrize("doc", ["install", "readme"])
def test_the_four_network_prerequisites_are_stated(doc: str) -> None:
    text = (INSTALL.read_text() if doc == "install" else _readme_section()).lower()
    for phrase in ("private line", "api server reachable from the vpc", "underlay", "calico", "pod cidr",
                   "public access"):
        assert phrase in text, phrase


@pytest.mark.kubectl
@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
def test_documented_names_match_the_manifests() -> None:
    text = INSTALL.read_text() + _readme_section()
    targets = set(re.findall(r"kubectl (?:apply|delete) -k (k8s/overlays/\w+)", text))
    assert targets == {"k8s/overlays/production", "k8s/overlays/sandbox"}
    objs = render("overlays/production")
    deployments = service_deployments(objs)
    env_refs = {
        e["valueFrom"]["secretKeyRef"]["name"]: e["valueFrom"]["secretKeyRef"]["key"]
        for d in deployments.values()
        for e in d["spec"]["template"]["spec"]["containers"][0].get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    secret_name = next(name for name, key in env_refs.items() if key in ("secretID", "secretKey"))
    created = re.search(r"create secret generic (\S+) \\\n\s+--from-literal=(\w+)=\S+ --from-literal=(\w+)=", text)
    assert created is not None
    assert created.group(1) == secret_name
    assert {created.group(2), created.group(3)} == {"secretID", "secretKey"}
    (webhook,) = of_kind(objs, "MutatingWebhookConfiguration")
    tls_volume = next(v for v in deployments["admission"]["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls")
    script = (REPO / "k8s" / "scripts" / "webhook-cert.sh").read_text()
    assert f'SECRET="${{SECRET:-{tls_volume["secret"]["secretName"]}}}"' in script
    assert f'WEBHOOK="${{WEBHOOK:-{webhook["metadata"]["name"]}}}"' in script
    assert f'SERVICE="${{SERVICE:-{webhook["webhooks"][0]["clientConfig"]["service"]["name"]}}}"' in script
    assert f"deployment/spillway-{SERVICES[1]}" in text  # the rollout status line names a real Deployment
    # the bus: the credentials Secret the services read comes from `spillway bus credentials`,
    # the TLS Secret they mount from the script the docs name
    assert "spillway-nats-credentials" in env_refs and "spillway bus credentials" in text
    volumes = deployments["admission"]["spec"]["template"]["spec"]["volumes"]
    nats_tls = next(v for v in volumes if v["name"] == "nats-tls")
    nats_script = (REPO / "k8s" / "scripts" / "nats-cert.sh").read_text()
    assert f'SECRET="${{SECRET:-{nats_tls["secret"]["secretName"]}}}"' in nats_script and "nats-cert.sh" in text


def test_production_config_has_the_original_chart_keys() -> None:
    config = yaml.safe_load((REPO / "k8s" / "overlays" / "production" / "config.yaml").read_text())
    assert {"appID", "ownerUIN", "vpcID", "regionShort", "regionLong", "subnets"} <= set(config["cloud"])
    assert "podUsedApiserver" in config["eklet"]
    assert all(set(s) == {"id", "zone"} for s in config["cloud"]["subnets"])
