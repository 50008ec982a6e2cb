"""The hostile-pod benchmark drives the real policy and translation: its pods carry the values
that broke Spillway, and no call on them raises (the figure `exceptions` is the product's promise,
checked here; the timings are only reported by `spillway bench hostile`, never asserted)."""

from __future__ import annotations

import random

from bench import hostile


def test_the_generated_pods_carry_the_values_that_once_broke_spillway() -> None:
    rng = random.Random(3)
    seen = {value for i in range(400) for value in hostile.hostile_pod(rng, i)["metadata"]["annotations"].values()}
    assert {"Infinity", "1e30000000", hostile.HUGE_DIGITS} <= seen


def test_no_call_raises_and_every_stage_is_reached() -> None:
    figures = hostile.run(pods=300, seed=5)
    assert figures["exceptions"] == 0
    assert {"review", "decide", "translate"} <= figures.keys()
    decided = [key for key in figures["outcomes"] if key.startswith("decide ")]
    assert any(key.startswith("decide cloud") for key in decided), figures["outcomes"]
    assert any("MalformedAnnotation" in key or "LocalReplicasUnset" in key for key in decided), figures["outcomes"]
