"""Authentication by bearer token, authorisation like the real RBAC authorizer, and an audit trail.

Tokens: one admin token (group system:masters, always allowed; it is what the kubeconfig
carries) and one token per service account, made on demand with `token_for(ns, sa)` and, when
a tokens directory is set, written there as `<namespace>.<serviceaccount>.token` (read back on
start, so tokens survive a restart). With RBAC off every request is allowed but still audited,
so tests can check least privilege either way. Discovery and health URLs are open to any
authenticated user (what system:discovery grants).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spillway.sandbox.errors import ApiError, forbidden

ADMIN_USER = "system:admin"


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"UserInfo({self.name!r})"


ADMIN = UserInfo(ADMIN_USER, ("system:masters", "system:authenticated"))


@dataclass(frozen=True)
class Attributes:
    """One request, as the authorizer sees it."""

    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""


@dataclass(frozen=True)
class AuditRecord:
    user: str
    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    allowed: bool

    def as_dict(self) -> dict[str, Any]:
        return {"user": self.user, "verb": self.verb, "group": self.group, "resource": self.resource,
                "subresource": self.subresource, "namespace": self.namespace, "name": self.name,
                "allowed": self.allowed}


class Rbac:
    """Tokens, the authorizer and the audit list. The store is read for roles and bindings."""

    def __init__(self, store: Any, *, enabled: bool, tokens_dir: Path | None = None) -> None:
        self.store = store
        self.enabled = enabled
        self.tokens_dir = tokens_dir
        self.audit: list[AuditRecord] = []
        self._tokens: dict[str, UserInfo] = {}
        self.admin_token = ""
        self._load_tokens()
        if not self.admin_token:
            self.admin_token = self._new_token("admin", ADMIN)

    def _load_tokens(self) -> None:
        if self.tokens_dir is None or not self.tokens_dir.is_dir():
            return
        for path in self.tokens_dir.glob("*.token"):
            token = path.read_text().strip()
            stem = path.name.removesuffix(".token")
            if stem == "admin":
                self.admin_token = token
                self._tokens[token] = ADMIN
            elif "." in stem:
                ns, sa = stem.split(".", 1)
                self._tokens[token] = _sa_user(ns, sa)

    def _new_token(self, stem: str, user: UserInfo) -> str:
        token = secrets.token_urlsafe(32)
        self._tokens[token] = user
        if self.tokens_dir is not None:
            self.tokens_dir.mkdir(parents=True, exist_ok=True)
            path = self.tokens_dir / f"{stem}.token"
            path.write_text(token + "\n")
            path.chmod(0o600)
        return token

    def token_for(self, namespace: str, serviceaccount: str) -> str:
        """The bearer token of system:serviceaccount:<namespace>:<serviceaccount> (made once)."""
        user = _sa_user(namespace, serviceaccount)
        for token, known in self._tokens.items():
            if known == user:
                return token
        return self._new_token(f"{namespace}.{serviceaccount}", user)

    def authenticate(self, authorization: str | None) -> UserInfo | None:
        """The user for an Authorization header; None = unauthenticated (401 when RBAC is on)."""
        if authorization and authorization.lower().startswith("bearer "):
            return self._tokens.get(authorization[7:].strip())
        if not self.enabled:
            return ADMIN
        return None

    def check(self, user: UserInfo, attrs: Attributes) -> None:
        """Authorise and audit; raise 403 with the real message when denied."""
        allowed = not self.enabled or self.allowed(user, attrs)
        self.audit.append(AuditRecord(user.name, attrs.verb, attrs.group, attrs.resource, attrs.subresource,
                                      attrs.namespace, attrs.name, allowed))
        if not allowed:
            raise forbidden_error(user, attrs)

    def records(self, user: str | None = None) -> list[AuditRecord]:
        return [r for r in self.audit if user is None or r.user == user]

    # ---- the RBAC authorizer -------------------------------------------------------------------

    def allowed(self, user: UserInfo, attrs: Attributes) -> bool:
        if "system:masters" in user.groups:
            return True
        for crb in self._items("clusterrolebindings", None):
            if _binds(crb, user, "") and self._role_allows(crb.get("roleRef") or {}, "", attrs):
                return True
        if attrs.namespace:
            for rb in self._items("rolebindings", attrs.namespace):
                if _binds(rb, user, attrs.namespace) and self._role_allows(rb.get("roleRef") or {}, attrs.namespace,
                                                                           attrs):
                    return True
        return False

    def _items(self, key: str, namespace: str | None) -> list[dict[str, Any]]:
        items, _ = self.store.list(key, namespace)
        return list(items)

    def _role_allows(self, ref: dict[str, Any], namespace: str, attrs: Attributes) -> bool:
        kind = ref.get("kind")
        if kind == "ClusterRole":
            role = self.store.try_get("clusterroles", None, ref.get("name", ""))
        elif kind == "Role" and namespace:
            role = self.store.try_get("roles", namespace, ref.get("name", ""))
        else:
            return False
        return role is not None and any(_rule_allows(rule, attrs) for rule in role.get("rules") or [])


def _sa_user(namespace: str, serviceaccount: str) -> UserInfo:
    return UserInfo(f"system:serviceaccount:{namespace}:{serviceaccount}",
                    ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"))


def _binds(binding: dict[str, Any], user: UserInfo, namespace: str) -> bool:
    for s in binding.get("subjects") or []:
        kind, name = s.get("kind"), s.get("name")
        if kind == "ServiceAccount":
            if user.name == f"system:serviceaccount:{s.get('namespace') or namespace}:{name}":
                return True
        elif (kind == "User" and name == user.name) or (kind == "Group" and name in user.groups):
            return True
    return False


def _rule_allows(rule: dict[str, Any], a: Attributes) -> bool:
    verbs, groups, resources = rule.get("verbs") or [], rule.get("apiGroups") or [], rule.get("resources") or []
    if "*" not in verbs and a.verb not in verbs:
        return False
    if "*" not in groups and a.group not in groups:
        return False
    combined = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    if not any(r in ("*", combined) or (a.subresource and r in (f"{a.resource}/*", f"*/{a.subresource}"))
               for r in resources):
        return False
    names = rule.get("resourceNames") or []
    return not names or a.name in names


def forbidden_error(user: UserInfo, a: Attributes) -> ApiError:
    qualified = f"{a.resource}.{a.group}" if a.group else a.resource
    what = f'{qualified} "{a.name}"' if a.name else qualified
    resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    scope = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
    err = forbidden(f'{what} is forbidden: User "{user.name}" cannot {a.verb} resource "{resource}" '
                    f'in API group "{a.group}" {scope}')
    err.name, err.group, err.kind = a.name, a.group, a.resource
    return err


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")
