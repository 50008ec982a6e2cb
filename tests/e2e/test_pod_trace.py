"""One pod, one trace (docs/design.md §3): every service's spans for a pod — watcher's publish, the
placement decision, the instance creation, the status sync — carry the pod's uid as trace id,
as decoded from what each process really exports over OTLP/HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spillway.cli.demo import NAMESPACE, NGINX_DEPLOYMENT, Printer, all_running, wait_for
from spillway.cli.stack import LocalStack, StackOptions
from spillway.kube import KubeClient
from spillway.kube.client import collection_path
from spillway.telemetry import pod_trace_id
from tests.telemetry.otlp_receiver import OtlpReceiver

pytestmark = pytest.mark.slow


async def test_each_cloud_pod_is_one_trace_across_the_services(tmp_path: Path) -> None:
    receiver = await OtlpReceiver().start()
    try:
        stack = LocalStack(StackOptions(state_dir=tmp_path, start_delay=0.0), progress=Printer(True).progress)
        stack.otlp_endpoint = receiver.url
        async with stack:
            kube = await KubeClient.connect(str(stack.kubeconfig))
            try:
                await kube.request("POST", collection_path("apps/v1", "deployments", NAMESPACE),
                                   body=NGINX_DEPLOYMENT)
                pods = await wait_for(all_running(4), "4 running pods", 60, Printer(True), kube)
            finally:
                await kube.close()
        # stopping the stack flushed every service's exporter
    finally:
        await receiver.stop()
    cloud = [p for p in pods if p.spec.node_name.startswith("eklet-")]
    assert len(cloud) == 3
    by_trace: dict[str, set[str]] = {}
    for span in receiver.spans:
        by_trace.setdefault(span.trace_id, set()).add(span.service)
    for pod in cloud:
        services: Any = by_trace.get(format(pod_trace_id(pod.metadata.uid), "032x"), set())
        assert {"spillway-watcher", "spillway-placement", "spillway-cloud-provisioner",
                "spillway-node-status"} <= services, (pod.metadata.name, services)
