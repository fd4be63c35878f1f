"""`inspection-app deploy` and `destroy`."""
from __future__ import annotations

import argparse
from pathlib import Path

from chalicelib.settings import API_AUTH_MODES, DEFAULT_CONFIDENCE_THRESHOLD, MODEL_BACKENDS
from training.sagemaker.defaults import INPUT_SIZE_TAG

from ..deploy.deployment import deploy, destroy


def _cmd_deploy(args) -> int:
    deploy(args.stage, endpoint_name=args.endpoint_name, model_backend=args.model_backend,
           project_version_arn=args.project_version_arn, confidence_threshold=args.confidence_threshold,
           alert_email=args.alert_email, access_log_bucket=args.access_log_bucket, auth=args.auth,
           model_dir=args.model_dir,
           profile=args.profile, region=args.region)
    return 0


def _cmd_destroy(args) -> int:
    return 0 if destroy(args.stage, assume_yes=args.yes, profile=args.profile, region=args.region) else 1


def _aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", default="dev", help="Chalice stage (default dev)")
    parser.add_argument("--profile", help="AWS profile (default: the standard credential chain)")
    parser.add_argument("--region", help="AWS region (default: the profile's or AWS_REGION)")


def add_deploy_commands(subparsers) -> None:
    """Register `deploy` and `destroy` in an argparse subparsers object."""
    deploy_parser = subparsers.add_parser(
        "deploy", help="deploy to AWS: resource stack, chalice deploy, partial batch failures, API key",
        description="Create or update the stage's resource stack, write its outputs into .chalice/, run "
                    "`chalice deploy`, switch on ReportBatchItemFailures and create the API key. See docs/deploy.md.",
    )
    _aws_options(deploy_parser)
    deploy_parser.add_argument("--endpoint-name", help="SageMaker endpoint to call (required the first time)")
    deploy_parser.add_argument(
        "--model-backend", choices=MODEL_BACKENDS,
        help="what classifies the photos: the SageMaker endpoint (--endpoint-name) or a Rekognition Custom Labels "
             "model version (--project-version-arn); default: the stage's, sagemaker for a new stage")
    deploy_parser.add_argument("--project-version-arn",
                               help="the Custom Labels model version, with --model-backend rekognition "
                                    "(docs/rekognition.md)")
    deploy_parser.add_argument("--confidence-threshold", type=float,
                               help=f"verdicts below it are needs_review (0.5-1, default {DEFAULT_CONFIDENCE_THRESHOLD} "
                                    "or the previous value)")
    deploy_parser.add_argument("--alert-email", help="subscribe this address to defect alerts ('' removes it)")
    deploy_parser.add_argument(
        "--access-log-bucket",
        help="an existing bucket that receives the upload bucket's S3 server access logs ('' switches them off; "
             "default: off, or the previous value)")
    deploy_parser.add_argument(
        "--auth", choices=API_AUTH_MODES,
        help="how callers authenticate: api_key (a usage plan and a default key) or iam (SigV4, per-kind IAM "
             "policies: docs/security.md); written to the stage as API_AUTH; default: the stage's, api_key")
    deploy_parser.add_argument(
        "--model-dir", type=Path,
        help="the model directory the endpoint serves: MODEL_INPUT_SIZE is its model.json input_size (needed "
             f"when the endpoint has no {INPUT_SIZE_TAG} tag, which `inspection-app sagemaker deploy` sets)")
    deploy_parser.set_defaults(func=_cmd_deploy)

    destroy_parser = subparsers.add_parser(
        "destroy", help="delete a deployed stage and its images; its results table is kept",
        description="Delete the API key and usage plan, `chalice delete`, empty the upload bucket and delete "
                    "the resource stack. The results table is kept (deletion protection); the command prints how to "
                    "delete it on purpose.",
    )
    _aws_options(destroy_parser)
    destroy_parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    destroy_parser.set_defaults(func=_cmd_destroy)

