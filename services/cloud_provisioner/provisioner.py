"""Pod bound to a super node → one container instance; pod terminating or deleted → none.

Why it is safe to run twice (redelivery, a restart, two replicas): the instance name is derived
from the cluster's identity and the pod uid (`InstanceNaming`), and the provider looks it up
before it creates. The pod is read fresh from the API first, so a stale event for a pod that is
gone or terminating creates nothing. A create that finishes after this replica saw the pod go is
undone at once; one that races another replica's delete is left to the orphan collector.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from opentelemetry.trace import Span

from services.cloud_provisioner.failures import Failure, classify_failure, scrub
from services.cloud_provisioner.metrics import (
    CLOUD_ERRORS,
    INSTANCE_CREATE_SECONDS,
    INSTANCE_DELETE_SECONDS,
    INSTANCES_CREATED,
    INSTANCES_DELETED,
    INSTANCES_FAILED,
    ZONE_SOLD_OUT,
)
from services.cloud_provisioner.resolve import Resolver
from services.cloud_provisioner.settings import super_nodes
from spillway.bus import Bus, PermanentError, TemporaryError, current_delivery
from spillway.cloud import CloudError, CreateRequest, InstanceNaming, InstanceProvider, RetryableError
from spillway.config import Config, policy_options
from spillway.kube import KubeClient, NotFound, pod_path
from spillway.kube.events import EventRecorder, ObjectRef
from spillway.model import messages as m
from spillway.model.kube import Pod
from spillway.policy import RuleResult
from spillway.policy.patches import failed_status_patch, owed_bind_node
from spillway.policy.rules import RuleContext, super_node_admission
from spillway.telemetry import get_tracer
from spillway.translate import TranslationError, translate_pod

log = logging.getLogger("spillway.cloud-provisioner")
REMEMBER_DELETED = 10_000


def pod_ref(pod: Pod) -> ObjectRef:
    return ObjectRef("Pod", pod.metadata.namespace, pod.metadata.name, pod.metadata.uid)


class Provisioner:
    """The two handlers' logic; one per running service."""

    def __init__(self, *, config: Config, client: KubeClient, provider: InstanceProvider, bus: Bus,
                 recorder: EventRecorder, resolver: Resolver, naming: InstanceNaming,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.client = client
        self.provider = provider
        self.bus = bus
        self.recorder = recorder
        self.resolver = resolver
        self.clock = clock
        self.nodes = super_nodes(config)
        self.rule_context = RuleContext(options=policy_options(config))
        self.naming = naming
        for subnet in config.cloud.subnets:  # the series exist at 0, so the first one shows in increase()
            ZONE_SOLD_OUT.labels(subnet.zone)
        self._gone: OrderedDict[str, None] = OrderedDict()

    def instance_name(self, pod: Pod) -> str:
        return self.naming.name(pod.metadata.uid)

    # ---- bound → create -------------------------------------------------------------------------

    async def on_bound(self, event: m.PodEvent) -> None:
        node = event.pod.spec.node_name
        if node not in self.nodes or event.pod.is_daemonset_pod():
            return  # not ours; DaemonSet pods are failed by node-status, never run
        pod = await self._fresh(event.pod)
        if pod is None or pod.is_terminating() or pod.is_finished():
            return
        if owed_bind_node(pod) != node:  # not placed here by Spillway: admit it as a kubelet would
            refusal = super_node_admission(pod, self.rule_context)
            if refusal is not None:
                await self._not_admitted(pod, node, refusal)
                return
        name = self.instance_name(pod)
        with get_tracer().start_as_current_span("cloud-provisioner create", attributes={
            "k8s.pod.name": pod.metadata.name, "k8s.namespace.name": pod.metadata.namespace,
            "k8s.pod.uid": pod.metadata.uid, "k8s.node.name": node, "spillway.instance.name": name,
        }) as span:
            secret_values: list[bytes] = []
            try:
                placement = await self.resolver.placement(node)
                ctx = await self.resolver.context(pod, name, placement)
                secret_values = [v for data in ctx.secrets.values() for v in data.values()]
                result = translate_pod(pod, ctx)
                if result.warnings:
                    await self._event(pod, "Warning", "TranslationWarning",
                                      "; ".join(result.warnings))
                creating = time.perf_counter()
                instance_id = await self.provider.create(CreateRequest.from_params(result.request))
                INSTANCE_CREATE_SECONDS.observe(time.perf_counter() - creating)
            except (CloudError, TranslationError) as exc:
                await self._failed(pod, node, name, exc, secret_values, span)
                return
            span.set_attribute("spillway.instance.id", instance_id)
        INSTANCES_CREATED.inc()
        log.info("instance created", extra={"pod": pod.key, "uid": pod.metadata.uid, "instance": instance_id,
                                            "instance_name": name, "spec": str(result.spec)})
        if pod.metadata.uid in self._gone:  # the pod went while we were creating
            await self.provider.delete([instance_id])
            INSTANCES_DELETED.labels("pod-gone-during-create").inc()
            return
        await self.bus.publish(m.InstanceEvent(
            namespace=pod.metadata.namespace, name=pod.metadata.name, uid=pod.metadata.uid, status="created",
            eks_ci_id=instance_id, eks_ci_name=name, node=node, observed_at=self.clock(),
        ), msg_id=f"{pod.metadata.uid}:created")

    async def _not_admitted(self, pod: Pod, node: str, refusal: RuleResult) -> None:
        """A pod some other party bound to our super node (a scheduler honouring a copied
        toleration and pin, a nodeName) that no super node may run: no instance, one Warning.
        It is left Pending rather than failed, so its controller does not replace it in a loop."""
        log.warning("pod bound without a decision refused", extra={
            "pod": pod.key, "node": node, "reason": refusal.reason})
        await self._event(pod, "Warning", refusal.reason,
                          f"bound to super node {node} without a Spillway decision, and {refusal.message}: no "
                          "cloud instance is created for it; delete the pod, or remove its super-node "
                          "toleration and node pin")

    async def _fresh(self, pod: Pod) -> Pod | None:
        """The pod as the API has it now; None when it is gone or is another incarnation."""
        try:
            fresh = await self.client.get_as(pod_path(pod.metadata.namespace, pod.metadata.name), Pod)
        except NotFound:
            return None
        return fresh if fresh.metadata.uid == pod.metadata.uid else None

    async def _failed(self, pod: Pod, node: str, name: str, exc: Exception, secret_values: list[bytes],
                      span: Span) -> None:
        failure = classify_failure(exc, cooldown_seconds=self.config.placement.sold_out_cooldown_seconds)
        if failure is None:
            raise exc
        span.set_attribute("spillway.failure.code", failure.code)
        if isinstance(exc, CloudError):
            CLOUD_ERRORS.labels(exc.code).inc()
            if exc.request_id:
                span.set_attribute("cloud.request_id", exc.request_id)
        delivery = current_delivery()
        if failure.retry and (delivery is None or not delivery.is_last_attempt):
            raise TemporaryError(f"{failure.code}: will retry") from (exc if isinstance(exc, RetryableError) else None)
        message = scrub(failure.message, secret_values)
        log.warning("provisioning failed", extra={"pod": pod.key, "uid": pod.metadata.uid, "reason": failure.pod_reason,
                                                  "code": failure.code, "error": message})
        if failure.zone:
            await self._cool_down(failure)
        await self._event(pod, "Warning", failure.event_reason, message)
        # published before the pod is failed: placement backs the workload off before its
        # controller's replacement pod reaches it, instead of bursting that one into the same wall
        await self.bus.publish(m.InstanceEvent(
            namespace=pod.metadata.namespace, name=pod.metadata.name, uid=pod.metadata.uid, status="failed",
            eks_ci_name=name, node=node, reason=failure.pod_reason, observed_at=self.clock(),
            request_id=(exc.request_id or "") if isinstance(exc, CloudError) else "",
        ), msg_id=f"{pod.metadata.uid}:failed")
        await self.fail_pod(pod, failure.pod_reason, message)
        INSTANCES_FAILED.labels(failure.pod_reason).inc()

    async def _cool_down(self, failure: Failure) -> None:
        assert failure.zone is not None
        until = self.clock() + self.config.placement.sold_out_cooldown_seconds
        cooldown = m.ZoneCooldown(zone=failure.zone, until=until, reason=failure.code)
        zones = await self.bus.typed_kv(m.KV_ZONES, m.ZoneCooldown)
        await zones.put(m.kv_key(failure.zone), cooldown)
        ZONE_SOLD_OUT.labels(failure.zone).inc()
        await self.bus.publish(cooldown, msg_id=f"cooldown:{failure.zone}:{int(until)}")

    async def _event(self, pod: Pod, type_: str, reason: str, message: str) -> None:
        with contextlib.suppress(NotFound):
            await self.recorder.record(pod_ref(pod), type_, reason, message)

    async def fail_pod(self, pod: Pod, reason: str, message: str) -> None:
        """phase Failed with a reason and message (its controller then replaces it); only this
        incarnation of the pod (its uid), never one re-created under the same name."""
        meta = pod.metadata
        with contextlib.suppress(NotFound):
            await self.client.patch_pod_status(meta.namespace, meta.name, failed_status_patch(reason, message),
                                               uid=meta.uid)

    # ---- terminating / deleted → delete ---------------------------------------------------------

    async def on_gone(self, event: m.PodEvent) -> None:
        pod = event.pod
        node = pod.spec.node_name
        if node not in self.nodes:
            return
        live = await self._fresh(pod)
        if live is not None and not live.is_terminating():
            # the event says gone, the API says running: a forged or corrupted message must not
            # delete an instance a live pod runs on
            raise PermanentError(f"contradicts the API: pod {pod.key} uid {pod.metadata.uid} is not being deleted")
        self._remember_gone(pod.metadata.uid)
        name = self.instance_name(pod)
        with get_tracer().start_as_current_span("cloud-provisioner delete", attributes={
            "k8s.pod.name": pod.metadata.name, "k8s.namespace.name": pod.metadata.namespace,
            "k8s.pod.uid": pod.metadata.uid, "spillway.instance.name": name, "spillway.pod.change": event.change,
        }) as span:
            try:
                deleting = time.perf_counter()
                found = (await self.provider.describe_by_names([name])).get(name)
                if found is not None:
                    span.set_attribute("spillway.instance.id", found.id)
                    await self.provider.delete([found.id])
                    INSTANCE_DELETE_SECONDS.observe(time.perf_counter() - deleting)
            except RetryableError as exc:
                CLOUD_ERRORS.labels(exc.code).inc()
                raise TemporaryError(str(exc)) from exc
        if found is not None:
            INSTANCES_DELETED.labels(event.change).inc()
            log.info("instance deleted", extra={"pod": pod.key, "uid": pod.metadata.uid, "instance": found.id})
        await self.bus.publish(m.InstanceEvent(
            namespace=pod.metadata.namespace, name=pod.metadata.name, uid=pod.metadata.uid, status="deleted",
            eks_ci_id=found.id if found else "", eks_ci_name=name, node=node, reason=f"pod {event.change}",
            observed_at=self.clock(),
        ), msg_id=f"{pod.metadata.uid}:deleted")

    def _remember_gone(self, uid: str) -> None:
        self._gone[uid] = None
        self._gone.move_to_end(uid)
        while len(self._gone) > REMEMBER_DELETED:
            self._gone.popitem(last=False)
