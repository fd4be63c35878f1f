"""`inspection-app deploy` and `destroy`; `python -m inspection_app.cli.deploy_commands merge-template`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from training.sagemaker.defaults import INPUT_SIZE_TAG

from ..chalice_stage import PROJECT_DIR
from ..deploy import DeployError, deploy, destroy, merge_template_text


def _cmd_deploy(args) -> int:
    try:
        deploy(args.stage, endpoint_name=args.endpoint_name, confidence_threshold=args.confidence_threshold,
               alert_email=args.alert_email, model_dir=args.model_dir, profile=args.profile, region=args.region)
    except (DeployError, BotoCoreError, ClientError) as error:  # no credentials, access denied, ...
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _cmd_destroy(args) -> int:
    try:
        return 0 if destroy(args.stage, assume_yes=args.yes, profile=args.profile, region=args.region) else 1
    except (DeployError, BotoCoreError, ClientError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


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
    deploy_parser.add_argument("--confidence-threshold", type=float,
                               help="verdicts below it are needs_review (0.5-1, default 0.75 or the previous value)")
    deploy_parser.add_argument("--alert-email", help="subscribe this address to defect alerts ('' removes it)")
    deploy_parser.add_argument(
        "--model-dir", type=Path,
        help="the model directory the endpoint serves: MODEL_INPUT_SIZE is its model.json input_size (needed "
             f"when the endpoint has no {INPUT_SIZE_TAG} tag, which `inspection-app sagemaker deploy` sets)")
    deploy_parser.set_defaults(func=_cmd_deploy)

    destroy_parser = subparsers.add_parser(
        "destroy", help="delete a deployed stage, its images and its results",
        description="Delete the API key and usage plan, `chalice delete`, empty the upload bucket and delete "
                    "the resource stack.",
    )
    _aws_options(destroy_parser)
    destroy_parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    destroy_parser.set_defaults(func=_cmd_destroy)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inspection_app.cli.deploy_commands", description="Deploy to AWS, take it down, regenerate the merge template.")
    commands = parser.add_subparsers(dest="command", required=True)
    add_deploy_commands(commands)
    merge = commands.add_parser("merge-template", help="regenerate statemachine/chalice-merge.json")
    merge.add_argument("--check", action="store_true", help="exit 1 if the file is out of date instead of writing")
    merge.set_defaults(func=None)
    args = parser.parse_args(argv)
    if args.command != "merge-template":
        return args.func(args)
    path = PROJECT_DIR / "statemachine" / "chalice-merge.json"
    text = merge_template_text()
    if args.check:
        current = path.read_text() if path.exists() else ""
        print(f"{path} is {'up to date' if current == text else 'out of date'}")
        return 0 if current == text else 1
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
