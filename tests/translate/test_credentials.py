"""imagePullSecrets → ImageRegistryCredentials, and that passwords never show."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from spillway.translate import translate_pod
from tests.translate.builders import container, ctx, pod

PASSWORD = "s3cr3t-pa55"


def dockerconfig(auths: dict[str, Any], legacy: bool = False) -> dict[str, bytes]:
    if legacy:
        return {".dockercfg": json.dumps(auths).encode()}
    return {".dockerconfigjson": json.dumps({"auths": auths}).encode()}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


SECRETS = {
    "ccr": dockerconfig({"ccr.ccs.tencentyun.com": {"username": "100001", "password": PASSWORD}}),
    "hub": dockerconfig({"https://index.docker.io/v1/": {"auth": b64(f"bob:{PASSWORD}")}}),
    "old": dockerconfig({"registry.idc:5000": {"auth": b64("carol:pw")}}, legacy=True),
    "two": dockerconfig({"b.example": {"username": "u", "password": "p"},
                         "a.example": {"username": "u", "password": "p"}}),
    "junk": {".dockerconfigjson": b"{not json"},
    "empty": dockerconfig({"x.example": {"email": "a@b"}}),
    "opaque": {"token": b"abc"},
}


@pytest.mark.parametrize(
    ("names", "expected", "warnings"),
    [
        pytest.param(["ccr"], [{"Server": "ccr.ccs.tencentyun.com", "Username": "100001", "Password": PASSWORD,
                                "Name": "ccr-1"}], [], id="username/password"),
        pytest.param(["hub"], [{"Server": "index.docker.io", "Username": "bob", "Password": PASSWORD,
                                "Name": "hub-1"}], [], id="auth form, URL key"),
        pytest.param(["old"], [{"Server": "registry.idc:5000", "Username": "carol", "Password": "pw",
                                "Name": "old-1"}], [], id="legacy .dockercfg"),
        pytest.param(["two"], [{"Server": "a.example", "Username": "u", "Password": "p", "Name": "two-1"},
                               {"Server": "b.example", "Username": "u", "Password": "p", "Name": "two-2"}], [],
                     id="several servers sorted"),
        pytest.param(["gone"], [], ["imagePullSecret gone not found; skipped"], id="missing secret"),
        pytest.param(["junk"], [], ["imagePullSecret junk: .dockerconfigjson is not JSON; skipped"], id="not JSON"),
        pytest.param(["empty"], [], ["imagePullSecret empty: entry 'x.example' has no username/password; skipped"],
                     id="no credentials"),
        pytest.param(["opaque"], [], ["imagePullSecret opaque: neither .dockerconfigjson nor .dockercfg; skipped"],
                     id="wrong type"),
    ],
)
def test_registry_credentials(names: list[str], expected: list[dict[str, str]], warnings: list[str]) -> None:
    the_pod = pod(imagePullSecrets=[{"name": n} for n in names])
    result = translate_pod(the_pod, ctx(secrets=SECRETS, pod_used_apiserver="10.0.0.1:443"))
    assert result.request.get("ImageRegistryCredentials", []) == expected
    assert list(result.warnings) == warnings


def test_secrets_never_in_repr_str_or_redacted_request() -> None:
    the_pod = pod(
        container(
            env=[{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "ccr", "key": "plain"}}},
                 {"name": "DSN", "value": "db://u:$(PW)@db"}],
            args=["--password", "$(PW)"],
        ),
        imagePullSecrets=[{"name": "ccr"}, {"name": "hub"}],
    )
    secrets = {**SECRETS, "ccr": {**SECRETS["ccr"], "plain": PASSWORD.encode()}}
    result = translate_pod(the_pod, ctx(secrets=secrets))
    assert PASSWORD in json.dumps(result.request)  # the real request carries it …
    for text in (repr(result), str(result), json.dumps(result.redacted_request()), repr(ctx(secrets=secrets))):
        assert PASSWORD not in text  # … nothing printable does
    assert b64(f"bob:{PASSWORD}") not in repr(result)
