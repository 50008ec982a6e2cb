"""The Job controller: run `parallelism` pods at a time until `completions` have succeeded
(no completions: until one succeeds and the rest finish), labels `job-name`/`controller-uid`
(and their `batch.kubernetes.io/` forms), conditions Complete or Failed (BackoffLimitExceeded).

Simplified: no Indexed completion mode, no pod failure policy, no backoff delay between
retries, no activeDeadlineSeconds, no ttlSecondsAfterFinished, no suspend.
"""

from __future__ import annotations

from typing import Any

from spillway.sandbox.controllers.base import Reconciler, owned, slow_start, write_status
from spillway.sandbox.controllers.podstate import is_active
from spillway.sandbox.controllers.template import pod_from_template
from spillway.sandbox.semantics import rfc3339

Obj = dict[str, Any]
USER = "system:serviceaccount:kube-system:job-controller"


def _finished_condition(job: Obj) -> bool:
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


class JobController(Reconciler):
    kind_key = "jobs"
    owner_kind = "Job"
    watched = ("jobs", "pods")

    async def reconcile(self, namespace: str, name: str) -> None:
        job = self.store.try_get("jobs", namespace, name)
        if job is None or job["metadata"].get("deletionTimestamp") or _finished_condition(job):
            return
        spec = job.get("spec") or {}
        parallelism = int(spec.get("parallelism", 1))
        completions = spec.get("completions")
        backoff_limit = int(spec.get("backoffLimit", 6))
        pods = owned(self.store, job, "pods")
        phases = [(p.get("status") or {}).get("phase") for p in pods]
        succeeded, failed = phases.count("Succeeded"), phases.count("Failed")
        active = sum(1 for p in pods if is_active(p))
        now = rfc3339(self.store.clock())
        status: Obj = {"active": active, "succeeded": succeeded, "failed": failed,
                       "startTime": (job.get("status") or {}).get("startTime") or now}
        done = succeeded >= int(completions) if completions is not None else succeeded > 0 and active == 0
        if failed > backoff_limit:
            status["conditions"] = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                     "message": "Job has reached the specified backoff limit",
                                     "lastProbeTime": now, "lastTransitionTime": now}]
        elif done:
            status["completionTime"] = now
            status["conditions"] = [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods", "lastProbeTime": now,
                 "lastTransitionTime": now},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods", "lastProbeTime": now,
                 "lastTransitionTime": now}]
        else:
            wanted = parallelism - active
            if completions is not None:
                wanted = min(wanted, int(completions) - succeeded - active)
            elif succeeded > 0:
                wanted = 0
            if wanted > 0:
                uid = job["metadata"]["uid"]
                labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                          "controller-uid": uid, "job-name": name}

                async def create_one() -> None:
                    pod = pod_from_template(job, spec.get("template") or {}, generate_name=f"{name}-",
                                            labels=labels)
                    await self.store.create("pods", pod, namespace=namespace, user=USER)

                status["active"] = active + await slow_start(wanted, create_one)
        await write_status(self.store, "jobs", job, status)
