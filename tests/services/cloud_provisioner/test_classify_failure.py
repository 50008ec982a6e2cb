"""classify_failure as a table: every kind of create error → what the provisioner does (retry the
delivery, cool the zone down, or fail the pod for good), with which reasons and code, and a
message that names the cloud's code, text and request."""

from __future__ import annotations

import pytest

from services.cloud_provisioner.failures import (
    CLOUD_MESSAGE_LIMIT,
    EVENT_PROVISIONING_FAILED,
    EVENT_ZONE_SOLD_OUT,
    Failure,
    classify_failure,
    scrub,
)
from spillway.cloud import (
    AuthError,
    CloudError,
    InvalidRequestError,
    QuotaError,
    RetryableError,
    SoldOutError,
)
from spillway.cloud.errors import NotFoundError, classify
from spillway.translate import MissingReference, NotEligible, TranslationError, UnsupportedVolume
from spillway.translate.errors import InvalidContext, InvalidPod, InvalidReference, ResolvConfError

RETRY, COOL_DOWN, PERMANENT = "retry", "cool-down", "permanent"
ZONE = "ap-guangzhou-3"


def outcome(failure: Failure) -> str:
    if failure.retry:
        return RETRY
    return COOL_DOWN if failure.zone else PERMANENT


KINDS = [
    # (id, error, outcome, pod reason, event reason, code)
    ("sold out in a zone", SoldOutError("ResourcesSoldOut", "no stock", "req-1", zone=ZONE), COOL_DOWN,
     "ZoneSoldOut", EVENT_ZONE_SOLD_OUT, "ResourcesSoldOut"),
    ("sold out, zone unknown", SoldOutError("ResourceInsufficient.SpecifiedInstanceType", "no stock"), PERMANENT,
     "ZoneSoldOut", EVENT_ZONE_SOLD_OUT, "ResourceInsufficient.SpecifiedInstanceType"),
    ("quota", QuotaError("LimitExceeded", "quota used up"), PERMANENT, "QuotaExceeded", EVENT_PROVISIONING_FAILED,
     "LimitExceeded"),
    ("credentials", AuthError("AuthFailure.SignatureFailure", "bad signature"), PERMANENT, "CloudAuthFailed",
     EVENT_PROVISIONING_FAILED, "AuthFailure.SignatureFailure"),
    ("refused request", InvalidRequestError("InvalidParameterValue", "bad spec"), PERMANENT, "InstanceCreateFailed",
     EVENT_PROVISIONING_FAILED, "InvalidParameterValue"),
    ("transient cloud error", RetryableError("RequestLimitExceeded", "slow down"), RETRY, "CloudUnavailable",
     EVENT_PROVISIONING_FAILED, "RequestLimitExceeded"),
    ("other cloud error", CloudError("FailedOperation", "failed"), PERMANENT, "InstanceCreateFailed",
     EVENT_PROVISIONING_FAILED, "FailedOperation"),
    ("not found on create is a plain cloud failure", NotFoundError("ResourceNotFound", "gone"), PERMANENT,
     "InstanceCreateFailed", EVENT_PROVISIONING_FAILED, "ResourceNotFound"),
    ("missing secret may heal", MissingReference("secret default/db not found"), RETRY,
     "CreateContainerConfigError", EVENT_PROVISIONING_FAILED, "MissingReference"),
    ("too big", NotEligible("pod needs 128 cores"), PERMANENT, "NotEligible", EVENT_PROVISIONING_FAILED,
     "NotEligible"),
    ("volume", UnsupportedVolume("volume data: cephfs"), PERMANENT, "UnsupportedVolume", EVENT_PROVISIONING_FAILED,
     "UnsupportedVolume"),
    ("inconsistent pod", InvalidPod("mount of undeclared volume x"), PERMANENT, "InvalidPodSpec",
     EVENT_PROVISIONING_FAILED, "InvalidPod"),
    ("bad referenced object", InvalidReference("secret s key k is not UTF-8"), PERMANENT, "InvalidPodSpec",
     EVENT_PROVISIONING_FAILED, "InvalidReference"),
    ("bad context", InvalidContext("no security group"), PERMANENT, "InvalidPodSpec", EVENT_PROVISIONING_FAILED,
     "InvalidContext"),
    ("resolv.conf", ResolvConfError("line 2: nameserver"), PERMANENT, "InvalidPodSpec", EVENT_PROVISIONING_FAILED,
     "ResolvConfError"),
    ("base translation error", TranslationError("cannot translate"), PERMANENT, "InvalidPodSpec",
     EVENT_PROVISIONING_FAILED, "TranslationError"),
]


@pytest.mark.parametrize(("exc", "kind", "pod_reason", "event_reason", "code"), [c[1:] for c in KINDS],
                         ids=[c[0] for c in KINDS])
def test_each_kind(exc: Exception, kind: str, pod_reason: str, event_reason: str, code: str) -> None:
    failure = classify_failure(exc, cooldown_seconds=300)
    assert failure is not None
    assert (outcome(failure), failure.pod_reason, failure.event_reason, failure.code) == (
        kind, pod_reason, event_reason, code)
    if isinstance(exc, CloudError):
        assert f"{exc.code}: {exc.message}" in failure.message
    else:
        assert str(exc) in failure.message


@pytest.mark.parametrize("exc", [ValueError("x"), KeyError("k"), RuntimeError("bug"), OSError("io")],
                         ids=lambda e: type(e).__name__)
def test_errors_that_are_not_ours_to_judge(exc: Exception) -> None:
    assert classify_failure(exc) is None


CODES = [
    # the cloud's code as the client classifies it → what the provisioner does
    ("ResourcesSoldOut", True, COOL_DOWN, "ZoneSoldOut"),
    ("ResourceInsufficient.SpecifiedInstanceType", True, COOL_DOWN, "ZoneSoldOut"),
    ("LimitExceeded", True, PERMANENT, "QuotaExceeded"),
    ("RequestLimitExceeded", True, RETRY, "CloudUnavailable"),
    ("RequestLimitExceeded.UinLimitExceeded", True, RETRY, "CloudUnavailable"),
    ("ServerNetworkError", True, RETRY, "CloudUnavailable"),
    ("ClientNetworkError", True, RETRY, "CloudUnavailable"),
    ("InternalError", True, RETRY, "CloudUnavailable"),
    ("InternalError.CmdTimeout", True, RETRY, "CloudUnavailable"),
    ("InternalError", False, PERMANENT, "InstanceCreateFailed"),  # it may have taken effect
    ("AuthFailure.SecretIdNotFound", True, PERMANENT, "CloudAuthFailed"),
    ("UnauthorizedOperation", True, PERMANENT, "CloudAuthFailed"),
    ("InvalidParameterValue.ImageNotFound", True, PERMANENT, "InstanceCreateFailed"),
    ("MissingParameter", True, PERMANENT, "InstanceCreateFailed"),
    ("UnsupportedOperation", True, PERMANENT, "InstanceCreateFailed"),
    ("FailedOperation", True, PERMANENT, "InstanceCreateFailed"),
    ("ResourceNotFound", True, PERMANENT, "InstanceCreateFailed"),
]


@pytest.mark.parametrize(("code", "idempotent", "kind", "pod_reason"), CODES,
                         ids=[f"{c[0]}{'' if c[1] else '-not-idempotent'}" for c in CODES])
def test_cloud_codes(code: str, idempotent: bool, kind: str, pod_reason: str) -> None:
    failure = classify_failure(classify(code, "text", "req-9", idempotent=idempotent, zone=ZONE))
    assert failure is not None
    assert (outcome(failure), failure.pod_reason, failure.code) == (kind, pod_reason, code)
    assert failure.zone == (ZONE if kind == COOL_DOWN else None)


@pytest.mark.parametrize(("exc", "fragments"), [
    pytest.param(SoldOutError("ResourcesSoldOut", "no stock", "req-1", zone=ZONE),
                 [f"zone {ZONE} has no capacity", "ResourcesSoldOut: no stock, request req-1", f"avoids zone {ZONE}",
                  "for 300 s"], id="sold-out-names-zone-request-and-cooldown"),
    pytest.param(SoldOutError("ResourcesSoldOut", "no stock"),
                 ["the zone has no capacity", "(ResourcesSoldOut: no stock)", "avoids the zone"],
                 id="sold-out-without-zone-or-request"),
    pytest.param(QuotaError("LimitExceeded", "used up", "req-2"), ["request req-2", "cloud.instanceQuota"],
                 id="quota-says-what-to-do"),
    pytest.param(AuthError("AuthFailure.SignatureExpire", "expired"), ["secretID", "the clock"],
                 id="auth-says-what-to-check"),
    pytest.param(RetryableError("InternalError", "boom"), ["delete the pod to try again"], id="retry-exhausted"),
])
def test_messages_are_actionable(exc: Exception, fragments: list[str]) -> None:
    failure = classify_failure(exc, cooldown_seconds=300)
    assert failure is not None
    for fragment in fragments:
        assert fragment in failure.message


def test_a_long_cloud_message_is_cut_and_the_advice_kept() -> None:
    echoed = "x" * (CLOUD_MESSAGE_LIMIT * 5)
    failure = classify_failure(QuotaError("LimitExceeded", echoed, "req-3"))
    assert failure is not None
    assert "x" * CLOUD_MESSAGE_LIMIT not in failure.message
    assert "x" * (CLOUD_MESSAGE_LIMIT - 1) + "…, request req-3" in failure.message
    assert failure.message.endswith("keep cloud.instanceQuota below it")


@pytest.mark.parametrize(("message", "secrets", "expected"), [
    ("token hunter2 echoed", [b"hunter2"], "token <redacted> echoed"),
    ("short abc kept", [b"abc"], "short abc kept"),  # too short to redact without eating words
    ("both s3cret and t0ken!", [b"s3cret", b"t0ken!"], "both <redacted> and <redacted>"),
    ("bytes \ufffd", [b"\xff\xfe\xfd\xfc"], "bytes \ufffd"),
    ("x" * 500, [], "x" * 399 + "…"),
])
def test_scrub(message: str, secrets: list[bytes], expected: str) -> None:
    assert scrub(message, secrets) == expected
