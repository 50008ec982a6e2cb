"""The Kubernetes API sandbox: an in-memory API server that kubectl and kubernetes_asyncio take for real.

Use it in-process (`async with Sandbox(SandboxOptions()) as sb:` → `sb.url`, `sb.kubeconfig_path`,
`sb.store`, `sb.audit`, `sb.token_for(ns, sa)`) or as `spillway sandbox`. Module map: resources
(kinds), store (semantics, watch history, admission hooks, GC), watch (fan-out), selectors,
patch, pod_rules, validation + quantity (ObjectMeta rules, canonical quantities),
events_view, paging (limit/continue), api (HTTP), subresources (scale, log proxy), eviction (pods/eviction against
PodDisruptionBudgets), pdb_rules (their validation and selection), discovery, tables, rbac
(tokens, authorizer, audit), certs, persistence, server, cli.

Cluster behaviour (each loop switchable, all off by default in-process, on for
`spillway sandbox`): controllers/ (Deployment, ReplicaSet with the real scale-down order in
ranking.py, StatefulSet, Job, DaemonSet, the disruption controller), scheduler (+ pure
scheduling.py: filters, score, the real FitError message), kubelet (fake kubelet for the
sandbox's own nodes only), webhooks (mutating admission webhooks), topology (local nodes from
flags or a YAML file).

Deliberately left out (each is either not needed by Spillway/kubectl or documented as simplified):
- `resourceVersionMatch` on lists is not looked at (pagination itself is served as etcd3 storage
  does: `paging.py`).
- Protobuf, CBOR and YAML responses (JSON only); YAML request bodies are accepted.
- Full OpenAPI schemas: `/openapi/v2` is 404, `/openapi/v3` is a stub with GVKs and
  `fieldValidation` only; unknown fields are kept, never rejected (no schema validation).
- Server-side apply field management: apply-patch is create-or-strategic-merge, no
  managedFields, no conflicts, `force` ignored.
- Validation is partial: required fields of pods and events, ObjectMeta (name rule per kind,
  generateName, label/annotation syntax, 256 KiB of annotations, workload templates), quantities
  decoded to their canonical strings (quantity.py, validation.py), the 3 MiB body limit (413) and
  etcd's 1.5 MiB object limit (500); no schema validation of specs. docs/kubernetes-api.md
  records the verified rules.
- Pod update rules cover the allowed-field list; activeDeadlineSeconds may change freely and
  negative terminationGracePeriodSeconds are not special-cased.
- Binding a deleting pod answers 409 Conflict (the real server's plain error surfaces as 500).
- Namespace deletion removes the contents immediately (no Terminating phase); Foreground
  propagation behaves like Background; GC is synchronous within the DELETE.
- Watch caches are per resource with `--watch-history` events each; a RV newer than the store
  is served from now on (the real server waits and may answer 504); no `sendInitialEvents`.
- Aggregated discovery (apidiscovery.k8s.io/v2): answered with the plain documents (kubectl
  falls back); no API priority and fairness, no admission plugins other than the hooks, no
  ResourceQuota/LimitRange. PodDisruptionBudgets have no events (NoPods, UnmanagedPods…).
- Authentication is bearer tokens only (admin + per-service-account); plain HTTP, no TLS on
  the API itself. Non-resource URLs are open to any authenticated user.
- Status `reason` for 405 is the real `MethodNotAllowed`.
"""

from spillway.sandbox.server import Sandbox, SandboxOptions
from spillway.sandbox.store import AdmissionHook, AdmissionRequest, Store

__all__ = ["AdmissionHook", "AdmissionRequest", "Sandbox", "SandboxOptions", "Store"]
