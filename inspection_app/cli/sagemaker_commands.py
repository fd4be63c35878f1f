"""`inspection-app sagemaker train | deploy | package`.

torch and the SageMaker SDK load inside the commands, so `inspection-app --help` stays fast and works
without the optional `sagemaker` extra.
"""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from training.options import add_training_options, given_training_options
from training.sagemaker import defaults

from ..errors import InputError

INSTALL_HINT = "pip install -e '.[sagemaker]'"
ROLE_HELP = ("ARN of the SageMaker execution role: one whose trust policy lets sagemaker.amazonaws.com assume it, "
             "with access to the bucket (see docs/sagemaker.md, Prerequisites)")


def _sdk_available() -> bool:
    """Whether the 3.x SDK is installed (2.x has no sagemaker.train); found, not imported, because
    importing sagemaker.serve already needs a region."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in ("sagemaker.train", "sagemaker.serve"))
    except (ImportError, ValueError):  # no `sagemaker` at all, or a module blocked in sys.modules
        return False


def _require_sdk() -> None:
    if not _sdk_available():
        raise InputError(f"this command needs the SageMaker Python SDK 3.x, an optional extra: {INSTALL_HINT}")


def _session(args):
    """The boto3 session of --profile / --region, with the region every command finds the same way."""
    from ..aws_session import aws_session  # noqa: PLC0415 - boto3 only for the commands that call AWS

    return aws_session(args.profile, args.region)


def cmd_train(args) -> int:
    from training.sagemaker.launcher import train_job  # noqa: PLC0415

    _require_sdk()
    result = train_job(args.dataset, args.bucket, args.role, algorithm=args.algorithm, instance_type=args.instance_type,
                       session=_session(args), options=given_training_options(args), wait=not args.no_wait)
    print(f"Training job {result.job_name} ({result.algorithm}): {result.status}")
    print(f"  dataset     {result.dataset_uri}")
    print(f"  model data  {result.model_data}")
    builtin = " --algorithm builtin" if result.algorithm == "builtin" else ""
    print(f"Deploy it: inspection-app sagemaker deploy --model-data {result.model_data} "
          f"--endpoint-name NAME --role {args.role}{builtin} [--serverless]")
    return 0 if result.status in ("Completed", "InProgress") else 1


def cmd_deploy(args) -> int:
    from training.sagemaker.launcher import deploy_endpoint  # noqa: PLC0415

    _require_sdk()
    result = deploy_endpoint(args.model_data, args.endpoint_name, serverless=args.serverless,
                             instance_type=args.instance_type, memory_size_in_mb=args.memory_size,
                             max_concurrency=args.max_concurrency, role=args.role, session=_session(args),
                             algorithm=args.algorithm, wait=not args.no_wait, input_size=args.input_size)
    placement = (f"serverless, {args.memory_size} MB, up to {args.max_concurrency} concurrent requests"
                 if result.serverless else f"real-time, 1 x {args.instance_type}")
    state = "is being created" if args.no_wait else "is in service"
    print(f"Endpoint {result.endpoint_name} {state} ({placement}; model {result.model_name}, "
          f"{result.input_size} px input, tagged {defaults.INPUT_SIZE_TAG}).")
    print("Point the app at it:")
    print(f"  SAGEMAKER_ENDPOINT_NAME={result.endpoint_name}")
    print(f"  inspection-app deploy --stage dev --endpoint-name {result.endpoint_name}")
    return 0


def cmd_package(args) -> int:
    from training.sagemaker.package import build_model_archive  # noqa: PLC0415

    archive = build_model_archive(args.model_dir, args.out)
    print(f"{archive} ({archive.stat().st_size / 1e6:.1f} MB): upload it to S3 and run "
          "`inspection-app sagemaker deploy --model-data s3://BUCKET/KEY/model.tar.gz --endpoint-name NAME`")
    return 0


def _aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="AWS region (default: the profile's or AWS_REGION)")
    parser.add_argument("--profile", help="AWS profile (default: the standard credential chain)")
    parser.add_argument("--no-wait", action="store_true", help="return once the job or endpoint is created")


def add_sagemaker_commands(subparsers) -> None:
    """Register `sagemaker` with its sub-commands in an argparse subparsers object."""
    sagemaker = subparsers.add_parser(
        "sagemaker", help="train on SageMaker, deploy an endpoint, package a model (see docs/sagemaker.md)",
        description=f"Train and serve the classifier on Amazon SageMaker. train and deploy need the optional "
                    f"SageMaker SDK: {INSTALL_HINT}",
    )
    commands = sagemaker.add_subparsers(dest="sagemaker_command", required=True)

    train = commands.add_parser("train", help="upload a class-folder dataset and run a training job")
    train.add_argument("--dataset", type=Path, required=True, help="folder with defect_free/ and defective/")
    train.add_argument("--bucket", required=True, help="S3 bucket for the dataset, the code and the model")
    train.add_argument("--role", required=True, help=ROLE_HELP)
    train.add_argument("--algorithm", choices=defaults.ALGORITHMS, default="pytorch",
                       help="pytorch: our training code in script mode, taking the training options below "
                            "(default); builtin: the built-in image-classification algorithm, as in the reference "
                            f"notebook: only --epochs applies (default {defaults.BUILTIN_EPOCHS})")
    train.add_argument("--instance-type", help="default: " + ", ".join(
        f"{instance} ({algorithm})" for algorithm, instance in defaults.DEFAULT_TRAINING_INSTANCE.items()))
    add_training_options(train)
    _aws_options(train)
    train.set_defaults(func=cmd_train)

    deploy = commands.add_parser("deploy", help="deploy a model.tar.gz to a real-time or serverless endpoint")
    deploy.add_argument("--model-data", required=True, help="s3://.../model.tar.gz (training job output or "
                                                            "`sagemaker package` uploaded)")
    deploy.add_argument("--endpoint-name", required=True, help=f"{defaults.ENDPOINT_NAME_RULE}; "
                                                                "`inspection-app deploy` takes the same names")
    deploy.add_argument("--serverless", action="store_true", help="serverless inference instead of an instance")
    deploy.add_argument("--instance-type", default=defaults.DEFAULT_INFERENCE_INSTANCE,
                        help=f"real-time instance type (default {defaults.DEFAULT_INFERENCE_INSTANCE})")
    deploy.add_argument("--memory-size", type=int, default=defaults.DEFAULT_SERVERLESS_MEMORY_MB,
                        help=f"serverless memory in MB (default {defaults.DEFAULT_SERVERLESS_MEMORY_MB})")
    deploy.add_argument("--max-concurrency", type=int, default=defaults.DEFAULT_SERVERLESS_CONCURRENCY,
                        help=f"serverless concurrent requests (default {defaults.DEFAULT_SERVERLESS_CONCURRENCY})")
    deploy.add_argument("--role", help=f"{ROLE_HELP}; default: the SDK config's default role, else the role "
                                       "your AWS identity assumed")
    deploy.add_argument("--algorithm", choices=defaults.ALGORITHMS, default="pytorch",
                        help="builtin for models of `sagemaker train --algorithm builtin`")
    deploy.add_argument("--input-size", type=int,
                        help="the model's input size in pixels, only for a model that does not tell (a built-in "
                             "model not trained by `sagemaker train`); read from model.json or image_shape otherwise")
    _aws_options(deploy)
    deploy.set_defaults(func=cmd_deploy)

    package = commands.add_parser("package",
                                  help="build model.tar.gz (model + code/inference.py) from a model directory")
    package.add_argument("--model-dir", type=Path, required=True)
    package.add_argument("--out", type=Path, required=True, help="where to write model.tar.gz")
    package.set_defaults(func=cmd_package)
