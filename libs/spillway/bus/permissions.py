"""Who may do what on the bus: one NATS user per service, least privilege, and the server block.

Why a table: a NATS server without authorisation lets anyone who reaches it publish a placement
decision or an instance event (which creates and deletes cloud instances) or rewrite the pod KV.
Each service connects as its own user and may publish only what the catalogue
(`messages.CATALOGUE`) says it publishes, write only the KV buckets it owns, and read only the
buckets and durable consumers it uses. `render_authorization` turns the table into the
nats-server `authorization { users = [...] }` block that `spillway up`, the tests' server,
docker-compose and the k8s NATS component run (docs/rbac.md explains every row).

What one grant means on the wire (nats-py 2.x against nats-server 2.10+):
- a JetStream publish: publish to the subject; the ack comes back on the user's own inbox;
- a KV write (put, delete, purge): publish to `$KV.<bucket>.<key>`;
- a KV read: stream info (`$JS.API.STREAM.INFO.KV_<bucket>`), a get (`$JS.API.STREAM.MSG.GET.KV_<bucket>`:
  the buckets are made without direct get), and a watch, which is an ordered push consumer
  (`$JS.API.CONSUMER.CREATE.KV_<bucket>`, no name; its info, `CONSUMER.INFO.KV_<bucket>.*`) with
  flow control (`$JS.FC.KV_<bucket>.>`);
- a durable consumer: create it (`CONSUMER.DURABLE.CREATE`), fetch from it, ack its messages, all by
  its exact name (the filter travels in the request body: the name is what the server checks);
- replies: every user has its own inbox prefix `_INBOX.<user>` and may subscribe only there.
The admin user creates and updates the streams and buckets (`Bus.ensure()`), which no service may.
"""

from __future__ import annotations

from dataclasses import dataclass

from spillway.bus.handlers import safe_durable
from spillway.bus.streams import ADVISORY_STREAM
from spillway.model import messages as m

ADMIN = "admin"
READER = "reader"
JS_API = "$JS.API"


def inbox_prefix(user: str) -> str:
    """Where the server answers `user` (JetStream acks, API replies, fetches, KV watches)."""
    return f"_INBOX.{user}"


@dataclass(frozen=True)
class BusUser:
    """One NATS user: what it does, in the bus's own words; the NATS subjects are derived."""

    name: str
    why: str
    writes: tuple[str, ...] = ()
    """KV buckets it writes (it must be their one writer)."""
    reads: tuple[str, ...] = ()
    """KV buckets it reads (get, keys, watch)."""
    consumers: tuple[str, ...] = ()
    """Durable names (without the service prefix) of its consumers on the SPILLWAY stream."""
    dead_letter_mover: bool = False
    """Whether it runs the runtime's advisory mover (services whose handlers the runtime consumes)."""
    listens: tuple[str, ...] = ()
    """Catalogue subjects it follows with a core subscription (no durable consumer)."""
    publish: tuple[str, ...] = ()
    """Raw publish grants beyond the derived ones (the admin's `>`)."""
    subscribe: tuple[str, ...] = ()
    """Raw subscribe grants beyond its inbox."""

    @property
    def is_service(self) -> bool:
        return self.name not in (ADMIN, READER)

    def catalogue_subjects(self) -> list[str]:
        """The catalogue subjects it publishes (with its own dead-letter subject for a service)."""
        own = [spec.subject for spec in m.CATALOGUE if spec.publisher == self.name]
        return [*own, m.dlq_subject(self.name)] if self.is_service else own

    def consumer_names(self) -> list[str]:
        names = [safe_durable(f"{self.name}-{durable}") for durable in self.consumers]
        return [*names, self.mover_name()] if self.dead_letter_mover else names

    def mover_name(self) -> str:
        return safe_durable(f"{self.name}-dlq-advisories")

    def publish_allow(self) -> list[str]:
        allow = [*self.publish, *self.catalogue_subjects()]
        allow += [f"$KV.{bucket}.>" for bucket in self.writes]
        for bucket in dict.fromkeys((*self.writes, *self.reads)):
            stream = f"KV_{bucket}"
            allow += [f"{JS_API}.STREAM.INFO.{stream}", f"{JS_API}.STREAM.MSG.GET.{stream}",
                      f"{JS_API}.CONSUMER.CREATE.{stream}", f"{JS_API}.CONSUMER.INFO.{stream}.*",
                      f"$JS.FC.{stream}.>"]
        for name in self.consumer_names():
            stream = ADVISORY_STREAM if name == self.mover_name() and self.dead_letter_mover else m.STREAM
            allow += [f"{JS_API}.CONSUMER.DURABLE.CREATE.{stream}.{name}", f"{JS_API}.CONSUMER.INFO.{stream}.{name}",
                      f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{name}", f"$JS.ACK.{stream}.{name}.>"]
        if self.is_service:  # `Bus.wait_for_setup`: the stream the admin's set-up creates last
            allow.append(f"{JS_API}.STREAM.INFO.{m.STREAM}")
        if self.dead_letter_mover:  # the original message of an advisory, for its dead letter
            allow.append(f"{JS_API}.STREAM.MSG.GET.{m.STREAM}")
        return list(dict.fromkeys(allow))

    def subscribe_allow(self) -> list[str]:
        return list(dict.fromkeys([*self.subscribe, *self.listens, f"{inbox_prefix(self.name)}.>"]))


USERS: tuple[BusUser, ...] = (
    BusUser("watcher", "mirrors the Kubernetes API onto the bus: the only source of pod, node and config events",
            writes=(m.KV_PODS, m.KV_NODES, m.KV_CONFIG, m.KV_REPLICASETS, m.KV_PVCS, m.KV_PVS)),
    BusUser("placement", "decides pending pods (its leader consumes them) and keeps a view of every bucket",
            writes=(m.KV_DECISIONS,),
            reads=(m.KV_PODS, m.KV_NODES, m.KV_CONFIG, m.KV_ZONES, m.KV_REPLICASETS, m.KV_PVCS, m.KV_PVS),
            consumers=("decide",), listens=(m.INSTANCE_FAILED, m.INSTANCE_RUNNING)),
    BusUser("cloud-provisioner", "creates and deletes instances for bound and gone pods; zone cool-downs",
            writes=(m.KV_ZONES,), reads=(m.KV_NODES,), consumers=("on_bound", "on_gone"), dead_letter_mover=True),
    BusUser("node-status", "tracks cloud pods and reports them running",
            consumers=("on_pod", "on_instance"), dead_letter_mover=True),
    BusUser("admission", "reads the global switch for the admission webhook", reads=(m.KV_CONFIG,)),
    BusUser(READER, "`spillway events`, `spillway explain` and `spillway status`: reads the bus, changes nothing",
            reads=(m.KV_DECISIONS, m.KV_ZONES), subscribe=(f"{m.SUBJECT_ROOT}.>",),
            publish=(f"{JS_API}.STREAM.INFO.{m.STREAM}", f"{JS_API}.CONSUMER.CREATE.{m.STREAM}",
                     f"$JS.FC.{m.STREAM}.>")),
    BusUser(ADMIN, "creates and updates the streams and buckets (set-up, upgrades) and repairs by hand; "
            "never a service's credential", publish=(">",), subscribe=(">",)),
)

SERVICE_USERS: tuple[str, ...] = tuple(u.name for u in USERS if u.is_service)


def user(name: str) -> BusUser:
    """The table row of `name` (KeyError for a user that does not exist)."""
    for row in USERS:
        if row.name == name:
            return row
    raise KeyError(f"no bus user {name!r}")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _subjects(subjects: list[str]) -> str:
    return "[\n" + "".join(f"        {_quote(s)}\n" for s in subjects) + "      ]"


def render_authorization(passwords: dict[str, str]) -> str:
    """The nats-server `authorization` block. `passwords` maps each user to its password, or to a
    config variable reference such as `$SPILLWAY_NATS_PASSWORD_WATCHER` (resolved by the server
    from its environment), written unquoted so the server expands it."""
    missing = [u.name for u in USERS if u.name not in passwords]
    if missing:
        raise KeyError(f"no password for bus users {missing}")
    lines = ["authorization {", "  users = ["]
    for row in USERS:
        secret = passwords[row.name]
        password = secret if secret.startswith("$") else _quote(secret)
        lines.append(f"    {{user: {_quote(row.name)}, password: {password}, permissions: {{")
        lines.append(f"      publish: {{allow: {_subjects(row.publish_allow())}}}")
        lines.append(f"      subscribe: {{allow: {_subjects(row.subscribe_allow())}}}")
        lines.append("    }}")
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def password_variable(name: str) -> str:
    """The environment variable a deployed server reads `name`'s password from."""
    return "SPILLWAY_NATS_PASSWORD_" + name.upper().replace("-", "_")
