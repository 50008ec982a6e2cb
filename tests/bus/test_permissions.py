"""Least privilege on the bus: each service's NATS user does its work and is refused the rest.

Against a real nats-server running the rendered authorisation (the `nats_process` fixture): for
every service a client on its credentials publishes to every subject it does not own, writes
every bucket it does not own, calls the stream API a service never needs and subscribes where it
should not, and the server refuses each one (the refusals come back as permission errors naming
the subject). Without credentials, or with a wrong password, nobody gets in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import nats
import nats.errors
import pytest
import pytest_asyncio
import yaml
from nats.aio.client import Client

from services.placement.leadership import DURABLE as PLACEMENT_DURABLE
from spillway.bus import Bus, permissions
from spillway.bus.permissions import ADMIN, READER, SERVICE_USERS, USERS, render_authorization
from spillway.cli.run import SERVICES, load_service
from spillway.config import Secret, parse_config
from spillway.model import messages as m
from spillway.natsserver import NatsServer
from tests.bus.samples import sample
from tests.fixtures.eventually import eventually

REPO = Path(__file__).resolve().parents[2]
JS = permissions.JS_API
ProbeAs = Callable[[str], Awaitable["Probe"]]
ALL_STREAMS = [m.STREAM, "SPILLWAY_ADVISORIES", *(f"KV_{b.name}" for b in m.BUCKETS)]


def foreign_catalogue_subjects(name: str) -> list[str]:
    """The catalogue subjects somebody else publishes (the DLQ row: every other service's)."""
    subjects: list[str] = []
    for spec in m.CATALOGUE:
        if spec.subject == f"{m.DLQ_PREFIX}.*":
            subjects += [m.dlq_subject(other) for other in SERVICE_USERS if other != name]
        elif spec.publisher != name:
            subjects.append(spec.subject)
    return subjects


@dataclass
class Probe:
    """A raw client on one user's credentials that records the server's permission refusals."""

    nc: Client
    refusals: list[str] = field(default_factory=list)

    async def refused(self, what: str, subjects: list[str]) -> None:
        """Until the server refused every one of `subjects` (`what`: publish or subscription)."""
        await self.nc.flush()
        wanted = {f'permissions violation for {what} to "{s}"'.lower() for s in subjects}  # as nats-py says it

        def not_refused() -> set[str]:
            return wanted - {r.removeprefix("nats: ") for r in self.refusals}

        def all_refused() -> bool:
            assert not not_refused(), sorted(not_refused())
            return True

        await eventually(all_refused, what=f"every {what} refused", seconds=10)


@pytest_asyncio.fixture
async def probe_as(nats_process: NatsServer, nats_passwords: dict[str, str]) -> AsyncIterator[ProbeAs]:
    probes: list[Probe] = []

    async def connect(user: str) -> Probe:
        probe = Probe(nc=Client())

        async def on_error(exc: Exception) -> None:
            probe.refusals.append(str(exc))

        await probe.nc.connect(nats_process.url, user=user, password=nats_passwords[user], error_cb=on_error,
                               inbox_prefix=permissions.inbox_prefix(user), max_reconnect_attempts=1)
        probes.append(probe)
        return probe

    yield connect
    for probe in probes:
        await probe.nc.close()


def foreign_publishes(name: str) -> list[str]:
    """Every catalogue subject and KV bucket `name` must not publish or write, and the stream API
    calls no service needs (creating, changing or deleting streams, another's consumers)."""
    row = permissions.user(name)
    own = set(row.publish_allow())
    subjects = foreign_catalogue_subjects(name)
    subjects += [f"$KV.{bucket.name}.some-key" for bucket in m.BUCKETS if bucket.name not in row.writes]
    subjects += [f"{JS}.STREAM.{verb}.{stream}" for stream in ALL_STREAMS
                 for verb in ("CREATE", "UPDATE", "DELETE", "PURGE")]
    subjects += [f"{JS}.STREAM.MSG.GET.KV_{bucket.name}" for bucket in m.BUCKETS
                 if bucket.name not in (*row.reads, *row.writes)]
    subjects += [f"{JS}.STREAM.MSG.DELETE.{stream}" for stream in ALL_STREAMS]
    others = [c for u in USERS if u.name != name for c in u.consumer_names()]
    subjects += [f"{JS}.CONSUMER.DURABLE.CREATE.{m.STREAM}.{c}" for c in others]
    subjects += [f"{JS}.CONSUMER.MSG.NEXT.{m.STREAM}.{c}" for c in others]
    subjects += [f"{JS}.CONSUMER.DELETE.{m.STREAM}.{c}" for c in row.consumer_names()]
    subjects += ["$SYS.REQ.SERVER.PING", f"{m.SUBJECT_ROOT}.unknown"]
    assert not own & set(subjects), own & set(subjects)
    return list(dict.fromkeys(subjects))


def foreign_subscriptions(name: str) -> list[str]:
    others = [permissions.inbox_prefix(u.name) + ".>" for u in USERS if u.name != name]
    wanted = [">", "_INBOX.>", f"{m.SUBJECT_ROOT}.>", "spillway.pod.bound", "$KV.pods.>", "$JS.API.>", *others]
    allowed = permissions.user(name).subscribe_allow()
    return [s for s in wanted if not any(s == a or m.subject_matches(a, s) for a in allowed)]


@pytest.mark.parametrize("name", [*SERVICE_USERS, READER])
async def test_each_user_is_refused_everything_it_does_not_need(probe_as: ProbeAs, name: str) -> None:
    probe = await probe_as(name)
    publishes = foreign_publishes(name)
    for subject in publishes:
        await probe.nc.publish(subject, b"{}")
    await probe.refused("publish", publishes)
    subscriptions = foreign_subscriptions(name)
    for subject in subscriptions:
        await probe.nc.subscribe(subject)
    await probe.refused("subscription", subscriptions)
    assert probe.nc.is_connected  # refused, not thrown out: a service keeps its connection


async def test_the_reader_may_follow_every_subject(probe_as: ProbeAs) -> None:
    probe = await probe_as(READER)
    sub = await probe.nc.subscribe(f"{m.SUBJECT_ROOT}.>")
    admin = await probe_as(ADMIN)
    await admin.nc.publish(m.PLACEMENT_DECIDED, b"{}")
    msg = await sub.next_msg(timeout=10)
    assert msg.subject == m.PLACEMENT_DECIDED and probe.refusals == []


async def connect_service(nats_process: NatsServer, passwords: dict[str, str], name: str) -> Bus:
    return await Bus.connect(nats_process.url, service=name, user=name, password=Secret(passwords[name]),
                             max_reconnect_attempts=1)


@pytest.mark.parametrize("name", SERVICE_USERS)
async def test_each_service_does_its_own_work_unrefused(
    nats_process: NatsServer, nats_passwords: dict[str, str], bus: Bus, name: str,
) -> None:
    """Publish every subject it owns (acked by JetStream), write and read every bucket it owns or
    reads, dead-letter on its own subject: nothing refused."""
    service = await connect_service(nats_process, nats_passwords, name)
    try:
        row = permissions.user(name)
        assert not service.sets_up
        await service.wait_for_setup()
        for spec in m.CATALOGUE:
            if spec.publisher == name:
                ack = await service.publish_raw(spec.subject, m.encode(sample(spec.subject)), retry_for=5)
                assert ack.stream == m.STREAM
        letter = m.DeadLetter(service=name, subject="x", error="e", payload="")
        assert (await service.publish(letter, retry_for=5)).stream == m.STREAM
        for bucket in row.writes:
            revision = await service.kv_put(bucket, "probe", b"{}")
            entry = await (await service.kv(bucket)).get("probe")
            assert (entry.value, entry.revision) == (b"{}", revision)
            await (await service.kv(bucket)).delete("probe")
        for bucket in row.reads:
            kv = await service.typed_kv(bucket, dict)
            await kv.keys()  # a watch underneath
            assert await kv.get("absent") is None
    finally:
        await service.close(drain=False)
    log = nats_process.log_file.read_text(errors="replace")
    assert [line for line in log.splitlines() if "Violation" in line] == []


async def test_nobody_connects_without_the_right_password(nats_process: NatsServer, nats_passwords: dict[str, str]
                                                          ) -> None:
    for user, password in ((None, None), ("watcher", "wrong"), ("nobody", "x"), ("watcher", nats_passwords[READER])):
        nc = Client()
        try:
            with pytest.raises(nats.errors.Error, match="Authorization Violation"):
                await nc.connect(nats_process.url, allow_reconnect=False, max_reconnect_attempts=0, user=user,
                                 password=password)
        finally:
            await nc.close()  # a refused connect leaves its socket open otherwise


def test_every_bucket_has_exactly_one_writer_and_subjects_one_publisher() -> None:
    for bucket in m.BUCKETS:
        writers = [u.name for u in USERS if bucket.name in u.writes]
        assert len(writers) == 1, (bucket.name, writers)
    for spec in m.CATALOGUE:
        publishers = [u.name for u in USERS if u.is_service and spec.subject in u.publish_allow()]
        expected = [spec.publisher] if spec.publisher in SERVICE_USERS else []
        assert publishers == expected, (spec.subject, publishers)


def test_the_table_names_exactly_the_consumers_the_services_create() -> None:
    config = parse_config({}, env={})
    created: dict[str, set[str]] = {}
    for name in SERVICES:
        service = load_service(name)
        specs = service.handler_specs(config)
        names = {spec.consumer_name(name) for spec in specs}
        if specs:  # the runtime runs the advisory mover for the consumers it started
            names.add(permissions.user(name).mover_name())
        created[name] = names
    created["placement"].add(f"placement-{PLACEMENT_DURABLE}")  # its leader's consumer, outside the runtime
    assert {u.name: set(u.consumer_names()) for u in USERS if u.is_service} == created


def test_passwords_are_rendered_as_given_and_variables_unquoted() -> None:
    block = render_authorization({u.name: "$" + permissions.password_variable(u.name) for u in USERS})
    assert "password: $SPILLWAY_NATS_PASSWORD_CLOUD_PROVISIONER," in block
    block = render_authorization({u.name: 'p"w' for u in USERS})
    assert 'password: "p\\"w"' in block
    with pytest.raises(KeyError, match="reader"):
        render_authorization({u.name: "x" for u in USERS if u.name != READER})


def test_docker_compose_runs_the_rendered_authorization() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    conf = compose["configs"]["nats-conf"]["content"].replace("$$", "$")  # compose's escape of `$`
    assert render_authorization({u.name: "$" + permissions.password_variable(u.name) for u in USERS}) in conf
    nats_env = compose["services"]["nats"]["environment"]
    assert sorted(nats_env) == sorted(permissions.password_variable(u.name) for u in USERS)
    for name in SERVICE_USERS:
        env = compose["services"][name]["environment"]
        assert env["SPILLWAY_NATS_USER"] == name
        assert env["SPILLWAY_NATS_PASSWORD"] == nats_env[permissions.password_variable(name)]


def test_docs_rbac_has_a_row_per_bus_user() -> None:
    doc = (REPO / "docs" / "rbac.md").read_text()
    section = doc[doc.index("## The bus (NATS users)"):]
    for row in USERS:
        assert f"\n| `{row.name}` |" in section, row.name
