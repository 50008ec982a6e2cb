"""Render the k8s/ kustomizations with the real `kubectl kustomize`, once per test session.

Components are not rendered alone (a Component cannot be built by itself): each is rendered
through a throwaway overlay of the base, so every component is validated as it will be used.
"""

from __future__ import annotations

import functools
import os
import pathlib
import shutil
import subprocess
import tempfile
from typing import Any

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
SERVICES = ("watcher", "placement", "cloud-provisioner", "node-status", "admission")
COMPONENTS = tuple(sorted(p.name for p in (K8S / "components").iterdir() if p.is_dir()))

# Named render targets: the base, both overlays, and one overlay per component.
TARGETS = ("base", "overlays/sandbox", "overlays/production", *(f"component/{c}" for c in COMPONENTS))

KUBECTL = shutil.which("kubectl")


def _kustomize(path: pathlib.Path) -> list[dict[str, Any]]:
    assert KUBECTL is not None
    out = subprocess.run([KUBECTL, "kustomize", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"kubectl kustomize {path} failed:\n{out.stderr}"
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@functools.cache
def render(target: str) -> tuple[dict[str, Any], ...]:
    """The objects `kubectl kustomize` produces for a named target (see TARGETS)."""
    if not target.startswith("component/"):
        return tuple(_kustomize(K8S / target))
    component = target.removeprefix("component/")
    with tempfile.TemporaryDirectory(prefix="spillway-ship-") as tmp:
        rel = os.path.relpath(K8S, tmp)
        (pathlib.Path(tmp) / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources: [{rel}/base]\ncomponents: [{rel}/components/{component}]\n"
        )
        return tuple(_kustomize(pathlib.Path(tmp)))


def of_kind(objs: tuple[dict[str, Any], ...], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def service_deployments(objs: tuple[dict[str, Any], ...]) -> dict[str, dict[str, Any]]:
    """The five Spillway service Deployments of a render, by service name."""
    found = {}
    for dep in of_kind(objs, "Deployment"):
        component = dep["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        if component in SERVICES:
            found[component] = dep
    return found
