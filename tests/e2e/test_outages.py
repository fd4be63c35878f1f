"""Outages rehearsed on the embedded stack: photos keep arriving while one service fails.

The stack runs with `--retry-window 6` (every Retry: one attempt a second for 6 s instead of the
definition's 12 minutes), so an outage of 3 s must be ridden out and one of 16 s outlasts the retries.
benchmarks/faults.py runs the same drills with the real retries and 10-minute outages.
"""
from __future__ import annotations

import numpy as np
import pytest

from inspection_app.stack.outage_drill import Drill

from conftest import running_stack, synthetic_photo

pytestmark = pytest.mark.e2e

RETRY_WINDOW = 6


@pytest.fixture(scope="module")
def drill_stack(model_dir, tmp_path_factory):
    yield from running_stack(model_dir, tmp_path_factory.mktemp("drill-home"), "--retry-window", str(RETRY_WINDOW))


@pytest.fixture(scope="module")
def drill(drill_stack) -> Drill:
    return Drill(drill_stack.info)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list:
    """Four photos, two of them with a blemish (so both alerts and quiet verdicts are exercised)."""
    folder, rng = tmp_path_factory.mktemp("drill-photos"), np.random.default_rng(11)
    paths = []
    for index in range(4):
        path = folder / f"photo-{index}.jpg"
        synthetic_photo(rng, defective=index % 2 == 1).save(path, quality=92)
        paths.append(path)
    return paths


@pytest.mark.parametrize("service", ["model", "dynamodb", "s3", "sns"])
def test_given_a_service_down_shorter_than_the_retries_when_photos_arrive_then_each_is_stored_once_without_error(
        drill, photos, service):
    # GIVEN photos arriving every 0.5 s, WHEN the service fails for 3 s from the second photo on
    result = drill.run(f"short-{service}", service, 3, photos, interval=0.5, fault_after=0.6, timeout=60)
    # THEN every photo has exactly one result, none of them `error`, nothing parked or to reinspect
    assert (result.photos, result.stored, result.lost, result.duplicated) == (4, 4, 0, 0), result
    assert (result.error, result.parked, result.reinspected) == (0, 0, 0), result
    # AND one alert per defective verdict, no more
    assert result.alerts == result.due, result


def test_given_the_model_down_past_the_retries_when_photos_arrive_then_error_results_alerts_and_reinspection(
        drill, photos):
    # GIVEN the model endpoint down for 16 s while photos arrive
    result = drill.run("long-model", "model", 16, photos, interval=0.5, fault_after=0.2, timeout=60)
    # THEN nothing is lost: the photos it hit got an `error` result and a not-inspected alert each,
    assert (result.stored, result.lost, result.duplicated) == (4, 0, 0), result
    assert result.error >= 1, result
    # AND `reinspect` inspected each of them again once the endpoint was back
    assert result.reinspected == result.error, result
    assert result.verdicts.get("error", 0) == result.error
    assert sum(result.verdicts.values()) == 4 + result.reinspected
    assert result.alerts == result.due, result


def test_given_the_results_store_down_past_the_retries_when_photos_arrive_then_verdicts_are_parked_and_redriven(
        drill, photos):
    # GIVEN DynamoDB down for 16 s while photos arrive
    result = drill.run("long-dynamodb", "dynamodb", 16, photos, interval=0.5, fault_after=0.2, timeout=60)
    # THEN the verdicts that could not be stored were parked, and `redrive` stored each exactly once
    assert result.parked >= 1, result
    assert (result.stored, result.lost, result.duplicated, result.error) == (4, 0, 0, 0), result
    assert result.alerts == result.due, result
