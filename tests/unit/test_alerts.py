"""chalicelib.alerts: the text of the alerts, and the structured message SNS publishes."""
import json
import re
from decimal import Decimal

import pytest

from chalicelib.alerts import defect_alert

from .helpers import stored_record


def stored(**changes) -> dict:
    return stored_record(inspection_id="PCB-0042-4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e", **changes)


def confidence_in(message: str) -> float:
    match = re.search(r"^Confidence: (\S+)$", message, re.MULTILINE)
    assert match, message
    return float(match.group(1))


def test_given_a_defective_record_when_alerted_then_message_names_file_s3_url_and_confidence():
    alert = defect_alert(stored())
    message = alert["message"]
    assert "File name: 20240514T092107532000Z-0a1b2c3d.jpg" in message
    assert "S3 URL path: s3://quality-inspection-test-uploads/uploads/PCB-0042/20240514T092107532000Z-0a1b2c3d.jpg" in message
    assert "PCB-0042" in message
    assert "Model: effnet-lite0-2024-05-10" in message
    assert "Inspection: PCB-0042-4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e" in message
    assert "Uploaded at: 2024-05-14T09:21:07.532Z" in message
    assert confidence_in(message) == pytest.approx(0.91834, abs=5e-5)


@pytest.mark.parametrize("confidence", [0.75, 1.0, 0.999999, 0.5000001])
def test_given_any_confidence_when_alerted_then_it_reads_back_as_a_fraction_between_0_and_1(confidence):
    value = confidence_in(defect_alert(stored(confidence=confidence))["message"])
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(confidence, abs=5e-5)
    assert "%" not in defect_alert(stored(confidence=confidence))["message"]


def test_given_a_confidence_read_back_from_the_store_as_decimal_or_int_when_alerted_then_still_a_float_text():
    assert confidence_in(defect_alert(stored(confidence=Decimal("0.8125")))["message"]) == 0.8125
    assert confidence_in(defect_alert(stored(confidence=1))["message"]) == 1.0


@pytest.mark.parametrize("product_id", ["PCB-0042", "P" * 128, "line-3." + "x" * 121])
def test_given_any_product_id_when_alerted_then_subject_fits_sns_limit(product_id):
    subject = defect_alert(stored(product_id=product_id))["subject"]
    assert subject.startswith("Defect detected: ")
    assert len(subject) <= 100
    assert subject.isascii()
    assert "\n" not in subject


def test_given_a_camera_style_key_when_alerted_then_file_name_is_the_last_part():
    alert = defect_alert(stored(key="uploads/CELL-0815.png"))
    assert "File name: CELL-0815.png" in alert["message"]
    assert "s3://quality-inspection-test-uploads/uploads/CELL-0815.png" in alert["message"]


def test_given_an_error_verdict_when_alerted_then_the_whole_not_inspected_message_tells_what_to_do():
    from chalicelib.alerts import alert_for

    record = stored_record(verdict="error", reason="ModelEndpointUnavailable: throttled", version_id="v-7")
    alert = alert_for(record)
    assert alert["subject"] == f"Not inspected: {record['product_id']}"
    assert alert["message"].split("\n") == [
        f"Product {record['product_id']} was NOT inspected.",
        f"File name: {record['key'].rsplit('/', 1)[-1]}",
        f"S3 URL path: s3://{record['bucket']}/{record['key']}",
        "S3 version: v-7",
        "Reason: ModelEndpointUnavailable: throttled",
        f"Inspection: {record['inspection_id']}",
        f"Uploaded at: {record['uploaded_at']}",
        "Once the cause is fixed, inspect it again with:",
        f"  inspection-app reinspect --verdict error --since {record['uploaded_at']} --api API_URL",
    ]


def test_given_an_error_verdict_without_reason_or_version_when_alerted_then_unknown_and_no_version_line():
    from chalicelib.alerts import alert_for

    record = {k: v for k, v in stored_record(verdict="error").items() if k not in ("reason", "version_id")}
    lines = alert_for(record)["message"].split("\n")
    assert "Reason: unknown" in lines
    assert not any(line.startswith("S3 version") for line in lines)


def test_given_a_defect_when_alerted_then_email_gets_the_text_and_every_machine_protocol_the_json_body():
    from chalicelib.alerts import publish_parameters

    alert = defect_alert(stored(confidence=Decimal("0.9375"), version_id="v-3"))
    parameters = publish_parameters("arn:aws:sns:eu-west-1:123456789012:alerts", alert)
    assert (parameters["MessageStructure"], parameters["Subject"]) == ("json", "Defect detected: PCB-0042")
    per_protocol = json.loads(parameters["Message"])
    # SNS refuses a structured message without `default`; e-mail gets what an operator reads
    assert set(per_protocol) == {"default", "sqs", "lambda", "http", "https", "email"}
    assert per_protocol["email"] == alert["message"] and confidence_in(per_protocol["email"]) == 0.9375
    for protocol in ("default", "sqs", "lambda", "http", "https"):
        assert json.loads(per_protocol[protocol]) == alert["body"]
    body = alert["body"]
    assert body["alert"] == "defect_detected" and body["verdict"] == "defective"
    assert body["file_name"] == "20240514T092107532000Z-0a1b2c3d.jpg"
    assert body["s3_url"] == "s3://quality-inspection-test-uploads/uploads/PCB-0042/20240514T092107532000Z-0a1b2c3d.jpg"
    assert body["confidence"] == 0.9375 and isinstance(body["confidence"], float)
    assert (body["version_id"], body["inspection_id"]) == ("v-3", "PCB-0042-4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e")


def test_given_alerts_when_published_then_verdict_product_and_model_are_attributes_a_filter_policy_can_match():
    from chalicelib.alerts import alert_for

    defect = defect_alert(stored())
    assert defect["attributes"] == {
        "verdict": {"DataType": "String", "StringValue": "defective"},
        "product_id": {"DataType": "String", "StringValue": "PCB-0042"},
        "model_id": {"DataType": "String", "StringValue": "effnet-lite0-2024-05-10"},
    }
    # a photo that was never classified has no model: no empty attribute (SNS refuses those)
    failed = {k: v for k, v in stored_record(verdict="error", reason="Timeout").items() if k != "model_id"}
    not_inspected = alert_for(failed)
    assert set(not_inspected["attributes"]) == {"verdict", "product_id"}
    assert not_inspected["attributes"]["verdict"]["StringValue"] == "error"
    assert not_inspected["body"]["alert"] == "not_inspected" and not_inspected["body"]["reason"] == "Timeout"
    assert not_inspected["body"]["confidence"] is None or 0 <= not_inspected["body"]["confidence"] <= 1


def test_given_a_review_confirming_a_defect_when_alerted_then_the_body_carries_the_review_and_the_models_verdict():
    from chalicelib.alerts import reviewed_defect_alert

    record = stored(verdict="needs_review", confidence=0.61, reviewed_by="Ana QA", reviewed_at="2024-05-14T10:00:00.000Z",
                    review_note="")
    alert = reviewed_defect_alert(record)
    assert alert["attributes"]["verdict"]["StringValue"] == "defective"
    body = alert["body"]
    assert (body["alert"], body["verdict"], body["model_verdict"]) == ("defect_confirmed_by_review", "defective", "needs_review")
    assert (body["reviewed_by"], body["review_note"], body["confidence"]) == ("Ana QA", None, 0.61)


def test_given_a_defect_with_a_heat_map_when_alerted_then_text_and_body_link_the_overlay():
    key = "heatmaps/PCB-0042/20240514T092107532000Z-0a1b2c3d.jpg.PCB-0042-4f1c.png"
    alert = defect_alert(stored(heatmap_key=key))
    assert f"Heat map: s3://quality-inspection-test-uploads/{key}" in alert["message"]
    assert "image?kind=heatmap" in alert["message"]
    assert alert["body"]["heatmap_key"] == key
    assert alert["body"]["heatmap_s3_url"] == f"s3://quality-inspection-test-uploads/{key}"
    assert json.loads(json.loads(alert["sns_message"])["sqs"])["heatmap_key"] == key


def test_given_a_defect_without_a_heat_map_when_alerted_then_no_heat_map_line_and_null_fields():
    alert = defect_alert(stored())
    assert "Heat map" not in alert["message"]
    assert alert["body"]["heatmap_key"] is None and alert["body"]["heatmap_s3_url"] is None


BUCKET = "quality-inspection-test-uploads"
KEY = "uploads/PCB-0042/20240514T092107532000Z-0a1b2c3d.jpg"
PHOTO_FIELDS = {"product_id": "PCB-0042", "inspection_id": "PCB-0042-4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
                "file_name": "20240514T092107532000Z-0a1b2c3d.jpg", "s3_url": f"s3://{BUCKET}/{KEY}",
                "bucket": BUCKET, "key": KEY, "uploaded_at": "2024-05-14T09:21:07.532Z"}


def test_given_each_kind_of_alert_then_its_json_body_is_exactly_the_documented_fields():
    # GIVEN a defect, a photo that went uninspected (no reason recorded) and a defect a person confirmed
    from chalicelib.alerts import not_inspected_alert, reviewed_defect_alert

    defect = defect_alert(stored(version_id="v-3"))
    failed = not_inspected_alert({k: v for k, v in stored(verdict="error", version_id="v-3").items()
                                  if k not in ("reason", "confidence", "model_id")})
    reviewed = reviewed_defect_alert(stored(verdict="needs_review", confidence=0.61, version_id="v-3",
                                            reviewed_by="Ana QA", reviewed_at="2024-05-14T10:00:00.000Z",
                                            review_note="crack at the edge"))
    # THEN each body is every field a machine subscriber reads (docs/alerts.md), no more, no less
    assert {k: v for k, v in defect["body"].items() if k not in ("subject", "text")} == {
        **PHOTO_FIELDS, "alert": "defect_detected", "verdict": "defective", "version_id": "v-3",
        "confidence": 0.91834, "model_id": "effnet-lite0-2024-05-10", "heatmap_key": None, "heatmap_s3_url": None}
    assert {k: v for k, v in failed["body"].items() if k not in ("subject", "text")} == {
        **PHOTO_FIELDS, "alert": "not_inspected", "verdict": "error", "version_id": "v-3", "confidence": None,
        "model_id": None, "reason": "unknown"}
    assert {k: v for k, v in reviewed["body"].items() if k not in ("subject", "text")} == {
        **PHOTO_FIELDS, "alert": "defect_confirmed_by_review", "verdict": "defective", "version_id": "v-3",
        "confidence": 0.61, "model_id": "effnet-lite0-2024-05-10", "model_verdict": "needs_review",
        "reviewed_by": "Ana QA", "reviewed_at": "2024-05-14T10:00:00.000Z", "review_note": "crack at the edge"}
    # AND the body's subject and text are the e-mail's
    for alert in (defect, failed, reviewed):
        assert (alert["body"]["subject"], alert["body"]["text"]) == (alert["subject"], alert["message"])


def test_given_a_confirmed_defect_when_alerted_then_the_whole_text_names_reviewer_note_and_models_verdict():
    from chalicelib.alerts import reviewed_defect_alert

    unsure = stored(verdict="needs_review", confidence=0.61, version_id="v-3", reviewed_by="Ana QA",
                    reviewed_at="2024-05-14T10:00:00.000Z", review_note="crack at the edge")
    assert reviewed_defect_alert(unsure)["message"].split("\n") == [
        "Defect confirmed by review on product PCB-0042.",
        "File name: 20240514T092107532000Z-0a1b2c3d.jpg",
        f"S3 URL path: s3://{BUCKET}/{KEY}",
        "S3 version: v-3",
        "Reviewed by: Ana QA at 2024-05-14T10:00:00.000Z",
        "Note: crack at the edge",
        "Model verdict: needs_review, confidence 0.6100",
        "Inspection: PCB-0042-4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
        "Uploaded at: 2024-05-14T09:21:07.532Z",
    ]
    # a result the model never judged (an error) has no confidence to show, and no note line without a note
    failed = {k: v for k, v in unsure.items() if k not in ("confidence", "review_note")} | {"verdict": "error"}
    lines = reviewed_defect_alert(failed)["message"].split("\n")
    assert "Model verdict: error" in lines and not any(line.startswith("Note:") for line in lines)
