"""One least-privilege IAM policy per Chalice function, and the `.chalice/policy-<stage>-<function>.json` files."""
from __future__ import annotations

import json
from pathlib import Path

from chalicelib.results import INSPECTION_INDEX, VERDICT_INDEX

from .names import FUNCTIONS, Names


def _statement(sid: str, actions: list[str], resources: list[str], **extra) -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def _model_statements(names: Names) -> list[dict]:
    """The classify function's rights on its model: the SageMaker endpoint (and storing its heat maps), or the
    Rekognition model version.

    Rekognition reads the upload itself with the caller's rights: ReadUploads (above) covers that."""
    if not names.project_version_arn:
        return [_statement("InvokeModelEndpoint", ["sagemaker:InvokeEndpoint"], [names.endpoint_arn]),
                # The photo + heat-map overlay, outside the upload prefix (no notification fires for it); a
                # Rekognition model gives no map.
                _statement("StoreHeatmaps", ["s3:PutObject"], [names.heatmaps_arn])]
    statements = [_statement("AskModelVersion", ["rekognition:DetectCustomLabels"], [names.project_version_arn])]
    if names.project_arn:  # a stopped version is then told apart from a starting one
        statements.append(_statement("ReadModelVersionStatus", ["rekognition:DescribeProjectVersions"],
                                     [names.project_arn]))
    return statements


def function_policies(names: Names) -> dict[str, dict]:
    """One IAM policy per Chalice function: only the actions its code calls, only on this stage's resources."""

    def logs(handler: str) -> dict:
        # The stack creates the log group, so CreateLogGroup is not needed.
        return _statement("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [names.log_group_arn(handler)])

    # The functions' tracer sends its segments itself; X-Ray has no resource-level permissions, hence "*".
    send_traces = _statement("SendTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"])
    statements = {
        "start_inspections": [
            _statement("StartInspections", ["states:StartExecution"], [names.state_machine_arn]),
            # A message that can never be parsed goes to the dead-letter queue at once.
            _statement("DeadLetterUnparseable", ["sqs:SendMessage"], [names.dead_letter_queue_arn]),
            # What the SQS event source mapping does with the function's role.
            _statement(
                "ConsumeUploadQueue",
                ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
                [names.queue_arn],
            ),
        ],
        "classify_image": [
            # The exact version the upload event names (the bucket is versioned).
            _statement("ReadUploads", ["s3:GetObject", "s3:GetObjectVersion"], [names.uploads_arn]),
            # Without ListBucket a deleted upload reads as 403 AccessDenied instead of 404 NoSuchKey, and
            # the image would be recorded as an error instead of rejected.
            _statement("TellMissingUploadsApart", ["s3:ListBucket"], [names.bucket_arn]),
            *_model_statements(names),
        ],
        "record_verdict": [
            _statement("StoreVerdicts", ["dynamodb:PutItem", "dynamodb:GetItem"], [names.table_arn]),
        ],
        "api_handler": [
            # A pre-signed POST is signed with this role: it may only put objects under the upload prefix.
            _statement("SignUploads", ["s3:PutObject"], [names.uploads_arn]),
            _statement("ReadResults", ["dynamodb:Query"], [names.table_arn, f"{names.table_arn}/index/{VERDICT_INDEX}",
                                                            f"{names.table_arn}/index/{INSPECTION_INDEX}"]),
            # The review routes: one inspection's record, by the keys its id's index entry names.
            _statement("ReadOneResult", ["dynamodb:GetItem"], [names.table_arn]),
            # POST /reinspections marks the result it re-runs; POST /inspections/{id}/review stores the review.
            _statement("MarkReinspected", ["dynamodb:UpdateItem"], [names.table_arn]),
            # A human `defective` raises the usual defect alert.
            _statement("AlertReviewedDefects", ["sns:Publish"], [names.topic_arn]),
            # GET /inspections/{id}/image: a short-lived URL of the photo (or its heat map), signed with this role.
            _statement("ShowPhotos", ["s3:GetObject", "s3:GetObjectVersion"], [names.uploads_arn, names.heatmaps_arn]),
            _statement("StartReinspections", ["states:StartExecution"], [names.state_machine_arn]),
        ],
    }
    return {
        handler: {"Version": "2012-10-17", "Statement": statements[handler] + [logs(handler), send_traces]}
        for handler in FUNCTIONS
    }


def policy_file_name(stage: str, handler: str) -> str:
    return f"policy-{stage}-{handler}.json"


def write_policy_files(chalice_dir: Path, stage: str, names: Names) -> dict[str, str]:
    """Write `.chalice/policy-<stage>-<function>.json`; returns handler -> file name (relative to .chalice)."""
    files = {}
    for handler, document in function_policies(names).items():
        name = policy_file_name(stage, handler)
        (Path(chalice_dir) / name).write_text(json.dumps(document, indent=2) + "\n")
        files[handler] = name
    return files
