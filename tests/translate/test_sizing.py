"""Instance size through the translation (docs/design.md §6), including annotations and init containers."""

from __future__ import annotations

from typing import Any

import pytest

from spillway.translate import InvalidPod, NotEligible, translate_pod
from tests.translate.builders import container, ctx, pod


def res(cpu: str | None = None, mem: str | None = None, kind: str = "requests") -> dict[str, Any]:
    values = {k: v for k, v in (("cpu", cpu), ("memory", mem)) if v is not None}
    return {"resources": {kind: values}}


@pytest.mark.parametrize(
    ("containers", "init", "annotations", "expected", "warned"),
    [
        pytest.param([{}], [], {}, (1.0, 2.0), False, id="0/0 → 1C/2G"),
        pytest.param([res("4", "6Gi")], [], {}, (4.0, 8.0), False, id="4C/6G → 4C/8G"),
        pytest.param([res(mem="8Gi")], [], {}, (1.0, 8.0), False, id="0C/8G → 1C/8G"),
        pytest.param([res("3", "1Gi")], [], {}, (4.0, 8.0), False, id="3C/1G → 4C/8G"),
        pytest.param([res("1", "1Gi"), res("1", "2Gi")], [], {}, (2.0, 4.0), False, id="containers add up"),
        pytest.param([res("2", "4Gi", kind="limits")], [], {}, (2.0, 4.0), False, id="limits when no request"),
        pytest.param([res("250m", "512Mi")], [], {}, (0.25, 0.5), False, id="smallest spec"),
        pytest.param([res("1", "1Gi")], [res("8", "16Gi")], {}, (8.0, 16.0), False, id="largest init container wins"),
        pytest.param(
            [res("1", "1Gi")], [{**res("1", "4Gi"), "restartPolicy": "Always"}], {}, (2.0, 5.0), False,
            id="sidecar init container adds",
        ),
        pytest.param(
            [res("1", "1Gi")], [], {"eks.tke.cloud.tencent.com/cpu": "8", "eks.tke.cloud.tencent.com/mem": "16Gi"},
            (8.0, 16.0), False, id="annotations override",
        ),
        pytest.param(
            [res("1", "1Gi")], [], {"eks.tke.cloud.tencent.com/cpu": "lots"}, (1.0, 1.0), True,
            id="bad annotation → warning + computed size",
        ),
    ],
)
def test_instance_size(
    containers: list[dict[str, Any]], init: list[dict[str, Any]], annotations: dict[str, str],
    expected: tuple[float, float], warned: bool,
) -> None:
    the_pod = pod(
        *(container(f"c{i}", **c) for i, c in enumerate(containers)),
        initContainers=[container(f"i{i}", **c) for i, c in enumerate(init)],
        annotations=annotations,
    )
    result = translate_pod(the_pod, ctx())
    assert (result.request["Cpu"], result.request["Memory"]) == expected
    assert (float(result.spec.cpu), float(result.spec.memory_gib)) == expected
    assert any("eks.tke.cloud.tencent.com/cpu" in w for w in result.warnings) is warned


@pytest.mark.parametrize(
    "resources",
    [
        pytest.param(res("65", "1Gi"), id="cpu above 64"),
        pytest.param(res("1", "513Gi"), id="memory above 512G"),
    ],
)
def test_larger_than_largest_spec_is_not_eligible(resources: dict[str, Any]) -> None:
    with pytest.raises(NotEligible, match="above the largest spec 64C/512G"):
        translate_pod(pod(container(**resources)), ctx())


def test_annotation_above_largest_spec_is_not_eligible() -> None:
    with pytest.raises(NotEligible):
        translate_pod(pod(annotations={"eks.tke.cloud.tencent.com/mem": "1024Gi"}), ctx())


@pytest.mark.parametrize(
    "value", ["Infinity", "-Infinity", "NaN", "1e99999999999", "9" * 5000, "-1", "1e"],
)
def test_unreadable_size_annotation_warns_and_the_containers_decide(value: str) -> None:
    the_pod = pod(container(**res("1", "1Gi")), annotations={"eks.tke.cloud.tencent.com/cpu": value})
    result = translate_pod(the_pod, ctx())
    assert (result.request["Cpu"], result.request["Memory"]) == (1.0, 1.0)
    warning = next(w for w in result.warnings if "eks.tke.cloud.tencent.com/cpu" in w)
    assert len(warning) < 300  # the value is quoted cut


@pytest.mark.parametrize("where", ["annotation", "request"])
def test_a_huge_exponent_is_capped_as_kubernetes_does_so_not_eligible(where: str) -> None:
    """`1e30000000` is 2^63-1 cores for Kubernetes (it caps), parsed in microseconds, not eligible."""
    if where == "annotation":
        the_pod = pod(annotations={"eks.tke.cloud.tencent.com/cpu": "1e30000000"})
    else:
        the_pod = pod(container(**res("1e30000000", "1Gi")))
    with pytest.raises(NotEligible):
        translate_pod(the_pod, ctx())


@pytest.mark.parametrize("value", ["Infinity", "NaN", "1e99999999999", "9" * 5000])
def test_an_unreadable_container_quantity_is_an_invalid_pod(value: str) -> None:
    with pytest.raises(InvalidPod, match="container resources"):
        translate_pod(pod(container(**res(value, "1Gi"))), ctx())
