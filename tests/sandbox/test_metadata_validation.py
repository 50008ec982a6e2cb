"""ObjectMeta validation as kube-apiserver does it: the name rule of each kind, generateName,
label and annotation syntax, the 256 KiB of annotations, and the pod template of workloads."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from spillway.sandbox import Sandbox, validation
from tests.sandbox.helpers import Raw, pod

SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
             "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_VALUE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
               "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
               "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


def deployment(name: str, labels: dict[str, str], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "vt"}},
                     "template": {"metadata": {"labels": {"app": "vt", **labels}, "annotations": annotations or {}},
                                  "spec": {"containers": [{"name": "c", "image": "vitess"}]}}}}


def test_messages_read_like_go() -> None:
    # Go's RegexError writes each example as "'x', " and joins them with " or "
    assert validation.is_dns1123_subdomain("Bad_Name") == [SUBDOMAIN]
    assert validation.is_dns1123_label("Bad") == [
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
        "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"]
    assert validation.is_valid_label_value("{{shard}}") == [LABEL_VALUE]
    assert validation.is_dns1123_subdomain("x" * 254) == ["must be no more than 253 characters"]


async def test_a_templated_pod_name_is_422_with_the_real_message(sandbox: Sandbox) -> None:
    status, got, _ = await Raw(sandbox).request("POST", "/api/v1/namespaces/default/pods", pod("vttablet-{{uid}}"))
    assert (status, got["reason"], got["code"]) == (422, "Invalid", 422)
    assert got["message"] == f'Pod "vttablet-{{{{uid}}}}" is invalid: metadata.name: Invalid value: ' \
                             f'"vttablet-{{{{uid}}}}": {SUBDOMAIN}'
    assert got["details"] == {"name": "vttablet-{{uid}}", "kind": "Pod", "causes": [
        {"reason": "FieldValueInvalid", "message": f'Invalid value: "vttablet-{{{{uid}}}}": {SUBDOMAIN}',
         "field": "metadata.name"}]}
    assert sandbox.store.count("pods") == 0


async def test_a_deployment_with_templated_label_values_is_refused_at_create(sandbox: Sandbox) -> None:
    status, got, _ = await Raw(sandbox).request("POST", "/apis/apps/v1/namespaces/default/deployments",
                                                deployment("vttablet", {"shard": "{{shard}}"}))
    assert (status, got["reason"]) == (422, "Invalid")
    assert got["message"] == f'Deployment.apps "vttablet" is invalid: spec.template.labels: Invalid value: ' \
                             f'"{{{{shard}}}}": {LABEL_VALUE}'
    assert [c["field"] for c in got["details"]["causes"]] == ["spec.template.labels"]
    assert sandbox.store.count("deployments") == 0


async def test_several_findings_are_all_reported(sandbox: Sandbox) -> None:
    body = pod("ok", labels={"bad key!": "x", "app": "-x-"})
    body["metadata"]["annotations"] = {"/nope": "v", "Example.COM/Fine_Key": "v"}
    status, got, _ = await Raw(sandbox).request("POST", "/api/v1/namespaces/default/pods", body)
    assert status == 422
    causes = [(c["field"], c["message"].split(":")[1].strip()) for c in got["details"]["causes"]]
    assert causes == [("metadata.labels", '"-x-"'), ("metadata.labels", '"bad key!"'),
                      ("metadata.annotations", '"/nope"')]
    assert got["message"].startswith('Pod "ok" is invalid: [metadata.labels: Invalid value: "-x-": ')


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/api/v1/namespaces", {"metadata": {"name": "team.a"}}, "must not contain dots"),
    ("/api/v1/namespaces", {"metadata": {"name": "x" * 64}}, "must be no more than 63 characters"),
    ("/api/v1/namespaces/default/services", {"metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}},
     "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
     "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
     "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"),
    ("/apis/apps/v1/namespaces/default/statefulsets",
     {"metadata": {"name": "db.primary"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "serviceName": "db",
                                                  "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
                                                      "containers": [{"name": "c", "image": "i"}]}}}},
     "must not contain dots"),
    ("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "x" * 254}}, "must be no more than 253 characters"),
    ("/api/v1/namespaces/default/events", {"metadata": {"name": "p" * 243 + ".0123456789abcdef"},
                                           "involvedObject": {"kind": "Pod", "name": "p"}},
     "must be no more than 253 characters"),
    ("/api/v1/nodes", {"metadata": {"name": "Node_1"}}, SUBDOMAIN),
])
async def test_names_follow_the_rule_of_their_kind(sandbox: Sandbox, path: str, body: dict[str, Any],
                                                   message: str) -> None:
    status, got, _ = await Raw(sandbox).request("POST", path, body)
    assert (status, got["details"]["causes"][0]["field"]) == (422, "metadata.name")
    assert got["details"]["causes"][0]["message"].endswith(": " + message)


@pytest.mark.parametrize(("path", "body"), [
    ("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "app.config-v2"}}),
    ("/api/v1/namespaces/default/services", {"metadata": {"name": "web-1"}, "spec": {"ports": [{"port": 80}]}}),
    ("/apis/rbac.authorization.k8s.io/v1/clusterroles", {"metadata": {"name": "system:controller:spillway"}}),
    ("/api/v1/namespaces/default/pods", pod("p" * 253)),
    ("/api/v1/namespaces/default/pods", pod("ok", labels={"app.kubernetes.io/name": "My_Value-1", "empty": ""})),
])
async def test_valid_names_and_labels_pass(sandbox: Sandbox, path: str, body: dict[str, Any]) -> None:
    status, got, _ = await Raw(sandbox).request("POST", path, body)
    assert status == 201, got


async def test_generate_name_is_checked_with_its_trailing_dash_allowed(sandbox: Sandbox) -> None:
    raw = Raw(sandbox)
    status, got, _ = await raw.request("POST", "/api/v1/namespaces/default/pods",
                                       {**pod(""), "metadata": {"generateName": "web-"}})
    assert status == 201 and got["metadata"]["name"].startswith("web-")
    status, got, _ = await raw.request("POST", "/api/v1/namespaces/default/pods",
                                       {**pod(""), "metadata": {"generateName": "Web_"}})
    assert status == 422
    assert [c["field"] for c in got["details"]["causes"]] == ["metadata.generateName", "metadata.name"]


async def test_label_keys_values_and_prefixes(sandbox: Sandbox) -> None:
    raw = Raw(sandbox)
    for labels, expected in [
        ({"a" * 64: "x"}, "name part must be no more than 63 characters"),
        ({"Bad_Prefix/x": "y"}, "prefix part " + SUBDOMAIN),
        ({"/x": "y"}, "prefix part must be non-empty"),
        ({"a/b/c": "y"}, "a qualified name must consist of alphanumeric characters"),
        ({"k": "v" * 64}, "must be no more than 63 characters"),
    ]:
        status, got, _ = await raw.request("POST", "/api/v1/namespaces/default/pods", pod("p", labels=labels))
        assert status == 422, labels
        assert expected in got["details"]["causes"][0]["message"], got


async def test_annotations_may_total_256_kib(sandbox: Sandbox) -> None:
    raw = Raw(sandbox)
    fits = pod("fits")
    fits["metadata"]["annotations"] = {"k": "v" * (256 * 1024 - 1)}
    status, _, _ = await raw.request("POST", "/api/v1/namespaces/default/pods", fits)
    assert status == 201
    over = pod("over")
    over["metadata"]["annotations"] = {"k": "v" * (256 * 1024 - 1), "j": ""}
    status, got, _ = await raw.request("POST", "/api/v1/namespaces/default/pods", over)
    assert status == 422
    assert got["details"]["causes"] == [{"reason": "FieldValueTooLong", "field": "metadata.annotations",
                                         "message": "Too long: may not be more than 262144 bytes"}]


async def test_updates_and_patches_are_validated_too(sandbox: Sandbox, kube_api: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_api)
    await core.create_namespaced_pod("default", pod("p"))  # type: ignore[arg-type]  # dict body
    with pytest.raises(ApiException) as err:
        await core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"shard": "{{shard}}"}}})
    assert err.value.status == 422
    with pytest.raises(ApiException) as err:
        await core.patch_namespaced_pod_status("p", "default", {"metadata": {"annotations": {"bad key": "1"}}})
    assert err.value.status == 422
    assert not (await core.read_namespaced_pod("p", "default")).metadata.labels


async def test_a_label_or_annotation_value_that_is_not_a_string_fails_the_decode(sandbox: Sandbox) -> None:
    raw = Raw(sandbox)
    body = pod("p", labels={"replicas": 3})  # type: ignore[dict-item]  # deliberately not a str
    status, got, _ = await raw.request("POST", "/api/v1/namespaces/default/pods", body)
    assert (status, got["reason"], got["message"]) == (
        400, "BadRequest", 'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number into Go '
                           "struct field ObjectMeta.metadata.labels of type string")
    template = deployment("web", {})
    template["spec"]["template"]["metadata"]["annotations"] = {"LOCAL_REPLICAS": True}
    status, got, _ = await raw.request("POST", "/apis/apps/v1/namespaces/default/deployments", template)
    assert (status, got["message"].split(": ", 1)[-1]) == (
        400, "json: cannot unmarshal bool into Go struct field ObjectMeta.spec.template.metadata.annotations of "
             "type string")
    nulls = pod("n")
    nulls["metadata"]["annotations"] = {"a": None}
    status, got, _ = await raw.request("POST", "/api/v1/namespaces/default/pods", nulls)
    assert (status, got["metadata"]["annotations"]) == (201, {"a": ""})


@pytest.mark.parametrize("check", [validation.is_dns1123_subdomain, validation.is_dns1123_label,
                                   validation.is_dns1035_label, validation.is_qualified_name,
                                   validation.is_valid_label_value])
def test_a_trailing_newline_is_no_match(check: Any) -> None:
    # Go's `$` is the end of the text; Python's also matches before a final newline
    assert check("abc") == []
    assert check("abc\n") != []
