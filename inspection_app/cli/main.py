"""`inspection-app`: try the pipeline on one machine, train models, inspect images, read results."""
from __future__ import annotations

import argparse
import os
import sys

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from training.errors import TrainingInputError

from ..errors import InputError, UserError
from .cost_commands import add_cost_commands
from .deploy_commands import add_deploy_commands
from .inspection_commands import add_inspection_commands
from .model_commands import add_model_commands
from .review_commands import add_review_commands
from .sagemaker_commands import add_sagemaker_commands
from .stack_commands import add_stack_commands
from .watch_commands import add_watch_commands

NO_CREDENTIALS = ("no AWS credentials found: run `aws configure` (or `aws sso login`), choose a profile with "
                  "--profile or AWS_PROFILE, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
NO_REGION = "no AWS region: pass --region, set AWS_REGION, or set a region in your AWS profile"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inspection-app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_stack_commands(commands)
    add_model_commands(commands)
    add_inspection_commands(commands)
    add_review_commands(commands)
    add_watch_commands(commands)
    add_deploy_commands(commands)
    add_sagemaker_commands(commands)
    add_cost_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as error:
        return _fail(str(error), error.exit_code)
    # training cannot depend on inspection_app: it has its own base for what the user must fix.
    except TrainingInputError as error:
        return _fail(str(error), InputError.exit_code)
    except NoCredentialsError:
        return _fail(NO_CREDENTIALS, UserError.exit_code)
    except NoRegionError:
        return _fail(NO_REGION, UserError.exit_code)
    except ClientError as error:  # access denied, a resource that does not exist, expired credentials ...
        return _fail(f"{error}; check that --profile, --region and --stage name the account and stage you mean",
                     UserError.exit_code)
    except BotoCoreError as error:  # an endpoint that cannot be reached, a profile that does not exist ...
        return _fail(f"AWS: {error}", UserError.exit_code)
    except BrokenPipeError:  # the reader of our output left (`inspect --json ... | head`): stop quietly, as cat does
        # Python would report the pipe again when it flushes stdout at exit; point stdout at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1  # as rich's console does when its reader leaves


def _fail(message: str, exit_code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return exit_code
