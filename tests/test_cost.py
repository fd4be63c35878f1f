"""inspection_app.cost and `inspection-app cost`: the per-photo counts times the prices, and the command."""
import json

import pytest

from inspection_app import cost
from inspection_app.cli.main import main

CONFIGURED = {"api_handler": 512, "start_inspections": 512, "classify_image": 1024, "record_verdict": 512}


def line(estimate, service, usage_start=""):
    [item] = [i for i in estimate.items if i.service == service and i.usage.startswith(usage_start)]
    return item


def test_given_the_dev_stage_when_memory_read_then_as_configured_in_chalice_config():
    assert cost.configured_memory() == CONFIGURED


def test_given_standard_when_estimated_then_transitions_dominate_at_their_price():
    # GIVEN 5% defects: 5 transitions per photo, 6 for a defect
    estimate = cost.estimate(cost.Assumptions(100_000, defect_rate=0.05), CONFIGURED)
    # THEN 5.05 transitions at $0.025 per 1,000 = $126.25 per million
    assert line(estimate, "Step Functions Standard").dollars_per_million == pytest.approx(126.25)
    assert estimate.per_million == pytest.approx(sum(i.dollars_per_million for i in estimate.items))
    assert estimate.per_day == pytest.approx(estimate.per_million / 10)


def test_given_express_when_estimated_then_one_request_and_duration_in_64_mb_and_100_ms_steps():
    estimate = cost.estimate(cost.Assumptions(100_000, workflow="express", express_seconds=0.42,
                                              express_memory_mb=65), CONFIGURED)
    assert line(estimate, "Step Functions Express", "1 request").dollars_per_million == pytest.approx(1.00)
    # 128 MB (two 64 MB chunks) x 0.5 s (0.42 rounded up) = 0.0625 GB-s at $0.00001667
    duration = line(estimate, "Step Functions Express", "65 MB")
    assert duration.per_photo == pytest.approx(0.0625)
    assert duration.dollars_per_million == pytest.approx(0.0625 * 16.67)
    assert not [i for i in estimate.items if i.service == "Step Functions Standard"]


def test_lambda_gb_seconds_follow_memory_and_duration():
    estimate = cost.estimate(cost.Assumptions(100_000, pipeline_seconds=1.45), CONFIGURED)
    # the API handler: 512 MB for the upload URL (0.05 s) and the wait (1.45 s) = 0.75 GB-s
    assert line(estimate, "Lambda api_handler").per_photo == pytest.approx(0.75)
    assert line(estimate, "Lambda api_handler").dollars_per_million == pytest.approx(0.75 * 16.6667)
    # classify: 1 GB x 0.3 s
    assert line(estimate, "Lambda classify_image").per_photo == pytest.approx(0.3)
    right_sized = cost.estimate(cost.Assumptions(100_000, memory_mb=cost.RIGHT_SIZED_MB), CONFIGURED)
    assert line(right_sized, "Lambda classify_image").per_photo == pytest.approx(0.15)
    assert line(right_sized, "Lambda requests").per_photo == 5


def test_request_counts_and_prices_per_million():
    estimate = cost.estimate(cost.Assumptions(100_000, defect_rate=0.1), CONFIGURED)
    assert line(estimate, "S3", "1 POST").dollars_per_million == pytest.approx(5.00)
    assert line(estimate, "S3", "1 GET").dollars_per_million == pytest.approx(0.40)
    assert line(estimate, "SQS").dollars_per_million == pytest.approx(1.20)
    assert line(estimate, "API Gateway (REST)").dollars_per_million == pytest.approx(7.00)
    assert line(estimate, "SNS", "10% of photos: e-mail").dollars_per_million == pytest.approx(2.00)
    assert line(estimate, "DynamoDB", "1 put").dollars_per_million == pytest.approx(1.25)
    # the waiting GET reads as chalicelib.result_wait pauses: 8 reads for a result stored after 1.5 s
    assert line(estimate, "DynamoDB", "8 consistent").dollars_per_million == pytest.approx(8 * 0.125)
    http = cost.estimate(cost.Assumptions(100_000, api="http"), CONFIGURED)
    assert line(http, "API Gateway (HTTP)").dollars_per_million == pytest.approx(2.00)


@pytest.mark.parametrize("photos_per_day, traces", [
    (43_200, 4.0),  # 0.5 photos/s: every request traced (1 per second reservoir)
    (864_000, (1 + 0.05 * 19) / 10 + 2 * (1 + 0.05 * 9) / 10),  # 10 photos/s: 20 API requests/s, 10/s others
])
def test_xray_default_rule_samples_one_a_second_and_5_percent_of_the_rest(photos_per_day, traces):
    estimate = cost.estimate(cost.Assumptions(photos_per_day), CONFIGURED)
    assert line(estimate, "X-Ray").per_photo == pytest.approx(traces)
    fixed = cost.estimate(cost.Assumptions(photos_per_day, trace_fraction=0.05), CONFIGURED)
    assert line(fixed, "X-Ray").per_photo == pytest.approx(0.2)


def test_the_target_configuration_is_within_25_dollars_per_million_and_standard_is_not():
    target = cost.Assumptions(100_000, workflow="express", api="http", memory_mb=cost.RIGHT_SIZED_MB,
                              trace_fraction=0.05)
    assert cost.estimate(target, CONFIGURED).per_million <= 25
    assert cost.estimate(cost.Assumptions(100_000), CONFIGURED).per_million > 150


def test_cost_command_prints_an_itemised_table_and_json(capsys):
    assert main(["cost", "--photos-per-day", "100000", "--workflow", "express"]) == 0
    out = capsys.readouterr().out
    assert "Step Functions Express" in out and "per million photos" in out and "total" in out
    assert main(["cost", "--photos-per-day", "100000", "--json", "--right-sized", "--memory",
                 "classify_image=768"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["prices_checked"] == cost.PRICES_CHECKED
    assert body["dollars_per_million"] == pytest.approx(sum(i["dollars_per_million"] for i in body["items"]), abs=0.01)
    assert any(i["usage_per_photo"].startswith("768 MB") for i in body["items"])


@pytest.mark.parametrize("argv", [["--photos-per-day", "0"], ["--photos-per-day", "10", "--defect-rate", "2"],
                                  ["--photos-per-day", "10", "--memory", "classify=512"]])
def test_cost_command_refuses_bad_input_in_one_line(argv, capsys):
    assert main(["cost", *argv]) == 2
    assert capsys.readouterr().err.startswith("error: ")
