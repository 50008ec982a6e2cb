"""Pure parts of the cloud client: names, error mapping, backoff, retry loop, token bucket, batcher."""

from __future__ import annotations

import asyncio
import re

import pytest

from spillway.cloud import (
    AuthError,
    CloudError,
    InvalidRequestError,
    NotFoundError,
    QuotaError,
    RetryableError,
    SoldOutError,
)
from spillway.cloud.batcher import Batcher
from spillway.cloud.errors import classify
from spillway.cloud.naming import InstanceNaming
from spillway.cloud.ratelimit import TokenBucket
from spillway.cloud.retry import CloudRetry
from spillway.loops import Backoff, call_with_retry
from tests.fixtures.clock import FakeClock

NAME_RULE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
UID = "6f1c1e9a-3b7d-4a52-9d7e-0c1a2b3c4d5e"


CLUSTER_UID = "0b3e8a4c-2f71-4d0e-8c1a-5e6f7a8b9c0d"
OTHER_CLUSTER_UID = "c7d1f0e2-9a3b-4c5d-8e6f-1a2b3c4d5e6f"


@pytest.mark.parametrize(("cluster", "uid"), [
    pytest.param("prod-idc-1", UID, id="typical"),
    pytest.param("Cluster_With.Odd/Chars", UID, id="odd-cluster-id"),
    pytest.param("x" * 200, UID, id="very-long-cluster-id"),
    pytest.param("9starts-with-digit", UID, id="digit-cluster"),
    pytest.param("c", "NOT-A-UUID_but_some/uid" * 5, id="odd-long-uid"),
    pytest.param("", "", id="empty"),
])
@pytest.mark.parametrize("cluster_uid", [CLUSTER_UID, "x" * 300, "Ü/\0"], ids=["uuid", "long", "odd"])
def test_instance_name_follows_the_api_rules(cluster: str, uid: str, cluster_uid: str) -> None:
    naming = InstanceNaming(cluster, cluster_uid)
    name = naming.name(uid)
    assert NAME_RULE.match(name), name
    assert name == InstanceNaming(cluster, cluster_uid).name(uid)  # same inputs, same name: creates stay idempotent
    assert name.startswith(naming.prefix)
    assert NAME_RULE.match(naming.prefix) and len(naming.prefix) <= 27  # room for a whole UUID


def test_instance_names_are_distinct() -> None:
    namings = [InstanceNaming(c, u) for c in ("a", "b", "A") for u in (CLUSTER_UID, OTHER_CLUSTER_UID)]
    names = {n.name(u) for n in namings for u in (UID, UID.upper().replace("6", "7"), "x", "X")}
    assert len(names) == 24
    assert InstanceNaming("a", CLUSTER_UID).name(UID).endswith(UID)


@pytest.mark.parametrize("cluster", ["spillway", "prod-idc-1", ""])
def test_two_clusters_with_one_cluster_id_never_share_a_prefix(cluster: str) -> None:
    """A config copied to a second cluster keeps clusterID; the kube-system uid tells them apart, so
    one cluster's orphan collector (which lists by prefix) never sees the other's instances."""
    ours, theirs = InstanceNaming(cluster, CLUSTER_UID), InstanceNaming(cluster, OTHER_CLUSTER_UID)
    assert ours.prefix != theirs.prefix
    assert not ours.name(UID).startswith(theirs.prefix) and not theirs.name(UID).startswith(ours.prefix)
    assert ours.prefix.split("-")[:2] == theirs.prefix.split("-")[:2]  # the readable part is the same


def test_the_pair_is_hashed_unambiguously() -> None:
    # same slug ("ab") and the same characters run together ("u-ab"): still two clusters
    assert InstanceNaming("-ab", "u").prefix != InstanceNaming("ab", "u-").prefix


def test_a_naming_without_the_cluster_uid_is_refused() -> None:
    with pytest.raises(ValueError, match="cluster's uid"):
        InstanceNaming("spillway", "")


@pytest.mark.parametrize(("code", "idempotent", "expected"), [
    pytest.param("RequestLimitExceeded", True, RetryableError, id="throttled"),
    pytest.param("RequestLimitExceeded.UinLimitExceeded", True, RetryableError, id="throttled-uin"),
    pytest.param("InternalError", True, RetryableError, id="internal-idempotent"),
    pytest.param("InternalError.UnexceptedInternal", False, CloudError, id="internal-not-idempotent"),
    pytest.param("InternalError.ContainerNotFound", True, NotFoundError, id="container-not-found"),
    pytest.param("ServerNetworkError", True, RetryableError, id="server-network"),
    pytest.param("ClientNetworkError", True, RetryableError, id="client-network"),
    pytest.param("LimitExceeded", True, QuotaError, id="quota"),
    pytest.param("ResourcesSoldOut", True, SoldOutError, id="sold-out"),
    pytest.param("ResourceInsufficient.SpecifiedInstanceType", True, SoldOutError, id="insufficient"),
    pytest.param("ResourceNotFound", True, NotFoundError, id="not-found"),
    pytest.param("AuthFailure.SignatureExpire", True, AuthError, id="auth"),
    pytest.param("UnauthorizedOperation", True, AuthError, id="unauthorized"),
    pytest.param("InvalidParameterValue.ImageNotFound", True, InvalidRequestError, id="invalid"),
    pytest.param("MissingParameter", True, InvalidRequestError, id="missing"),
    pytest.param("FailedOperation", True, CloudError, id="unmapped"),
])
def test_classify(code: str, idempotent: bool, expected: type[CloudError]) -> None:
    err = classify(code, "msg", "req-1", idempotent=idempotent)
    assert type(err) is expected
    assert (err.code, err.message, err.request_id) == (code, "msg", "req-1")


@pytest.mark.parametrize(("attempt", "error", "delay"), [
    pytest.param(1, RetryableError("InternalError"), 0.1, id="first"),
    pytest.param(3, RetryableError("InternalError"), 0.4, id="third"),
    pytest.param(20, RetryableError("InternalError"), None, id="out-of-attempts"),
    pytest.param(10, RetryableError("InternalError"), 5.0, id="capped"),
    pytest.param(1, RetryableError("RequestLimitExceeded"), 0.25, id="throttled-base"),
    pytest.param(1, QuotaError("LimitExceeded"), None, id="not-retryable"),
])
def test_backoff_with_full_jitter(attempt: int, error: CloudError, delay: float | None) -> None:
    def half() -> float:
        return 0.5

    policy = CloudRetry(backoff=Backoff(initial=0.2, cap=10, jitter=1.0, floor=0.0, rng=half),
                        throttled=Backoff(initial=0.5, cap=10, jitter=1.0, floor=0.0, rng=half), max_attempts=12)
    assert policy(attempt, error) == delay


def test_default_cloud_retry_waits_at_most_the_cap_and_can_wait_almost_nothing() -> None:
    retryable = RetryableError("InternalError")
    lowest = CloudRetry(backoff=Backoff(initial=0.2, cap=10.0, jitter=1.0, floor=0.0, rng=lambda: 1.0))
    highest = CloudRetry(backoff=Backoff(initial=0.2, cap=10.0, jitter=1.0, floor=0.0, rng=lambda: 0.0))
    assert lowest(1, retryable) == 0.0 and highest(7, retryable) == 10.0  # 0.2·2^6 = 12.8, capped
    assert CloudRetry()(8, retryable) is None  # 8 tries in all by default


async def test_retry_loop_on_virtual_time() -> None:
    clock = FakeClock(auto_advance=True)
    outcomes: list[Exception | str] = [RetryableError("InternalError"), RetryableError("RequestLimitExceeded"), "ok"]

    async def flaky() -> str:
        out = outcomes.pop(0)
        if isinstance(out, Exception):
            raise out
        return out

    assert await call_with_retry(flaky, lambda attempt, err: 1.0, retry_on=(CloudError,), clock=clock) == "ok"
    assert clock.slept == [1.0, 1.0]

    async def always() -> str:
        raise RetryableError("InternalError")

    with pytest.raises(RetryableError):
        await call_with_retry(always, lambda attempt, err: 4.0, retry_on=(CloudError,), clock=clock, max_elapsed=10.0)
    assert clock.slept[2:] == [4.0, 4.0]

    async def not_a_cloud_error() -> str:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        await call_with_retry(not_a_cloud_error, lambda attempt, err: 1.0, retry_on=(CloudError,), clock=clock)
    assert clock.slept[4:] == []  # raised at once, never retried


async def test_token_bucket_spaces_calls() -> None:
    clock = FakeClock(auto_advance=True)
    bucket = TokenBucket(rate=10, burst=2, clock=clock)
    for _ in range(6):
        await bucket.acquire()
    assert clock.now == pytest.approx(0.4)


async def test_batcher_coalesces_and_splits() -> None:
    clock = FakeClock(auto_advance=True)
    batches: list[list[int]] = []

    async def run(keys: list[int]) -> dict[int, int]:
        batches.append(keys)
        return {k: k * 2 for k in keys if k != 13}

    batcher: Batcher[int, int | None] = Batcher(run, max_items=100, default=None, idle=0.01, max_wait=1, clock=clock)
    results = await asyncio.gather(*(batcher.submit(i) for i in [*range(250), 5]))  # 5 again: a third-batch key
    assert [len(b) for b in batches] == [100, 100, 51]
    assert results[13] is None and results[7] == 14 and results[-1] == 10
    await batcher.close()


async def test_batcher_shares_a_failure() -> None:
    async def run(keys: list[str]) -> dict[str, str]:
        raise QuotaError("LimitExceeded")

    batcher: Batcher[str, str] = Batcher(run, max_items=20, default="", clock=FakeClock(auto_advance=True))
    results = await asyncio.gather(batcher.submit("a"), batcher.submit("b"), return_exceptions=True)
    assert all(isinstance(r, QuotaError) for r in results)
    await batcher.close()


def test_create_request_repr_hides_params() -> None:
    from spillway.cloud import CreateRequest

    req = CreateRequest.from_params({"EksCiName": "spw-x", "SubnetId": "subnet-1",
                                     "ImageRegistryCredentials": [{"Password": "hunter2"}]})
    assert req.name == "spw-x" and "hunter2" not in repr(req) and "hunter2" not in str(req)
