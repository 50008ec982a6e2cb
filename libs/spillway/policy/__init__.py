"""The placement policy: pure, table-driven rules with reason codes (kube-scheduler filter plugin style).

Objects in, decision out: no I/O, no asyncio, no clock reads (time comes in as `now`). Imports
only `spillway.model`. The services (placement, admission, `spillway explain`) call:

- `decide(PlacementInput) -> Decision`, then `cloud_patch(pod, decision)` / `local_patch(pod)`;
- `review(pod, global_switch, options) -> AdmissionResult`;
- `workload_of(pod, replicaset_owner) -> WorkloadKey`, `count_local(pods, super_nodes, in_flight)`;
- the return to the IDC: `returns.precheck` / `returns.judge(facts, room, since)`, with
  `local_fit.find_room(pod, nodes)` for the room the default scheduler would find.
"""

from spillway.policy.admission import AdmissionResult, review, review_object
from spillway.policy.decision import Decision, DecisionReason, EventReason, Outcome, PlacementEvent, Trigger
from spillway.policy.engine import PlacementInput, decide, narrow_affinity
from spillway.policy.local_count import count_local
from spillway.policy.nodes import SUPER_NODE_TOLERATION, NodeChoice, NodeChoiceReason, SuperNodeState, choose_super_node
from spillway.policy.options import PolicyOptions
from spillway.policy.patches import add_gate_patch, cloud_patch, local_patch
from spillway.policy.rules import REGISTRY, RuleContext, evaluate_rules
from spillway.policy.status import Code, RuleResult
from spillway.policy.switches import SwitchReason, SwitchVerdict, parse_local_replicas, parse_switch, switch_verdict
from spillway.policy.workload import WorkloadKey, workload_of

__all__ = [
    "REGISTRY",
    "SUPER_NODE_TOLERATION",
    "AdmissionResult",
    "Code",
    "Decision",
    "DecisionReason",
    "EventReason",
    "NodeChoice",
    "NodeChoiceReason",
    "Outcome",
    "PlacementEvent",
    "PlacementInput",
    "PolicyOptions",
    "RuleContext",
    "RuleResult",
    "SuperNodeState",
    "SwitchReason",
    "SwitchVerdict",
    "Trigger",
    "WorkloadKey",
    "add_gate_patch",
    "choose_super_node",
    "cloud_patch",
    "count_local",
    "decide",
    "evaluate_rules",
    "local_patch",
    "narrow_affinity",
    "parse_local_replicas",
    "parse_switch",
    "review",
    "review_object",
    "switch_verdict",
    "workload_of",
]
