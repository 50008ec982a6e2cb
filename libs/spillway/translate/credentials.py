"""imagePullSecrets → the API's ImageRegistryCredentials.

Reads `kubernetes.io/dockerconfigjson` (`.dockerconfigjson`: {"auths": {server: …}}) and the
legacy `.dockercfg` ({server: …}); each entry gives a username and password directly or as
`auth` = base64("user:pass"). As with a kubelet, a missing pull secret is not fatal: it is
reported and skipped. Passwords never appear in a warning or an error.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from spillway.model.kube import Pod


def _server(key: str) -> str:
    """`https://index.docker.io/v1/` → `index.docker.io`: the API wants a registry host."""
    if "://" in key:
        return urlsplit(key).netloc or key
    return key.split("/", 1)[0]


def _entries(name: str, data: Mapping[str, bytes], warnings: list[str]) -> dict[str, Any]:
    for key, nested in ((".dockerconfigjson", True), (".dockercfg", False)):
        if key not in data:
            continue
        try:
            doc = json.loads(data[key])
        except (ValueError, UnicodeDecodeError):
            warnings.append(f"imagePullSecret {name}: {key} is not JSON; skipped")
            return {}
        auths = doc.get("auths") if nested and isinstance(doc, dict) else doc
        if not isinstance(auths, dict):
            warnings.append(f"imagePullSecret {name}: {key} has no auths; skipped")
            return {}
        return auths
    warnings.append(f"imagePullSecret {name}: neither .dockerconfigjson nor .dockercfg; skipped")
    return {}


def _user_pass(entry: Any) -> tuple[str, str] | None:
    if not isinstance(entry, dict):
        return None
    user, password = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(password, str) and user:
        return user, password
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        if sep and user:
            return user, password
    return None


def registry_credentials(
    pod: Pod, secrets: Mapping[str, Mapping[str, bytes]], warnings: list[str]
) -> list[dict[str, str]]:
    """Credentials sorted by (server, secret), duplicates removed, named `<secret>-<n>`."""
    found: list[tuple[str, str, str, str]] = []  # server, secret, user, password
    for ref in pod.spec.image_pull_secrets:
        data = secrets.get(ref.name)
        if data is None:
            warnings.append(f"imagePullSecret {ref.name} not found; skipped")
            continue
        for server_key, entry in _entries(ref.name, data, warnings).items():
            pair = _user_pass(entry)
            server = _server(str(server_key))
            if pair is None or not server:
                warnings.append(
                    f"imagePullSecret {ref.name}: entry {server or server_key!r} has no username/password; skipped"
                )
                continue
            found.append((server, ref.name, *pair))
    out: list[dict[str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    counters: dict[str, int] = {}
    for server, secret, user, password in sorted(set(found)):
        if (server, user, password) in seen:
            continue
        seen.add((server, user, password))
        counters[secret] = counters.get(secret, 0) + 1
        out.append({"Server": server, "Username": user, "Password": password, "Name": f"{secret}-{counters[secret]}"})
    return out
