"""Discovery documents kubectl reads before anything else: /version, /api, /apis, per group-
version resource lists, and the minimal /openapi/v3 that lets kubectl ≥ 1.29 validate on the
server (query_param_verifier_v3.go). Aggregated discovery is answered with the plain documents,
which kubectl accepts as the fallback.
"""

from __future__ import annotations

import hashlib
from typing import Any

from spillway.sandbox.resources import RESOURCES, ResourceType, group_versions

Obj = dict[str, Any]
KUBE_VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-spillway", "gitCommit": "", "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64"}


def version() -> Obj:
    return dict(KUBE_VERSION)


def core_versions(server_address: str) -> Obj:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(name: str, versions: list[str]) -> Obj:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def group_list() -> Obj:
    groups = [_group(g, vs) for g, vs in group_versions().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def group(name: str) -> Obj | None:
    versions = group_versions().get(name)
    if not versions or not name:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def _entry(r: ResourceType) -> list[Obj]:
    main: Obj = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
                 "verbs": list(r.verbs),
                 "storageVersionHash": hashlib.sha256(f"{r.api_version}/{r.kind}".encode()).hexdigest()[:11]}
    if r.short_names:
        main["shortNames"] = list(r.short_names)
    if r.categories:
        main["categories"] = list(r.categories)
    out = [main]
    for sub in r.subresources:
        entry: Obj = {"name": f"{r.plural}/{sub.name}", "singularName": "", "namespaced": r.namespaced,
                      "kind": sub.kind, "verbs": list(sub.verbs)}
        if sub.group:
            entry["group"], entry["version"] = sub.group, sub.version
        out.append(entry)
    return out


def resource_list(group_name: str, version_name: str) -> Obj | None:
    resources = [e for r in RESOURCES if r.group == group_name and r.version == version_name for e in _entry(r)]
    if not resources:
        return None
    gv = f"{group_name}/{version_name}" if group_name else version_name
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


def _gv_path(group_name: str, version_name: str) -> str:
    return f"apis/{group_name}/{version_name}" if group_name else f"api/{version_name}"


def openapi_v3_index() -> Obj:
    paths = {}
    for g, versions in group_versions().items():
        for v in versions:
            path = _gv_path(g, v)
            digest = hashlib.sha256(path.encode()).hexdigest()[:16].upper()
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


_FIELD_VALIDATION = {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True},
                     "description": "fieldValidation instructs the server on how to handle objects in the request "
                                    "containing unknown or duplicate fields."}


def openapi_v3_group_version(path: str) -> Obj | None:
    """A stub document: PATCH/PUT/POST operations carrying GVK and the fieldValidation parameter."""
    paths: Obj = {}
    for r in RESOURCES:
        if _gv_path(r.group, r.version) != path:
            continue
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        prefix = f"/{path}/namespaces/{{namespace}}" if r.namespaced else f"/{path}"
        op = {"parameters": [_FIELD_VALIDATION], "x-kubernetes-group-version-kind": gvk,
              "responses": {"200": {"description": "OK"}}}
        post = dict(op, operationId=f"create{r.kind}", **{"x-kubernetes-action": "post"})
        paths[f"{prefix}/{r.plural}"] = {"post": post}
        paths[f"{prefix}/{r.plural}/{{name}}"] = {
            "patch": dict(op, operationId=f"patch{r.kind}", **{"x-kubernetes-action": "patch"}),
            "put": dict(op, operationId=f"replace{r.kind}", **{"x-kubernetes-action": "put"}),
        }
    if not paths:
        return None
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": KUBE_VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": {}}}
