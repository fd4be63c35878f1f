"""A deploy rehearsal, offline: what AWS would refuse or do differently, where moto accepts anything.

`python -m inspection_app.deploy.rehearsal [--stage dev]` packages the app with `chalice package` (plain and
with the merge template), lints the three templates with cfn-lint (when installed: `pip install -e .[test]`),
and checks the rules below, each one a failure moto let through and AWS did not:

- S3 refuses a bucket notification whose filters overlap for the same event; suffix filters are
  case-sensitive, so `.jpg` and `.JPG` rules still miss `.Jpg`.
- SNS refuses a subject of 100 characters or more, or one that is not one line of ASCII.
- A pre-signed POST for the global host (`<bucket>.s3.amazonaws.com`) is answered with a 307 redirect outside
  us-east-1, which browsers refuse (CORS), and opt-in regions do not serve it.
- Step Functions reports Lambda's own failures as the documented `Lambda.*` errors (a function timeout as
  `Lambda.Unknown`); a task that does not retry them fails on a Lambda hiccup.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from ..chalice_stage import PROJECT_DIR, STATE_MACHINE_DEFINITION
from ..resource_template import load_template, resource_template
from .deployment import chalice_command
from .errors import DeployError

# Step Functions' documented errors of a Lambda invocation that a retry can outlast ("Handling errors in
# Step Functions workflows"); a function that runs out of time surfaces as Lambda.Unknown.
TRANSIENT_LAMBDA_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.Unknown",
)
SNS_SUBJECT_LIMIT = 100  # characters; SNS requires fewer
# What the presigned-POST check signs for: the home region, one other, and an opt-in region.
UPLOAD_URL_REGIONS = ("us-east-1", "eu-west-1", "ap-east-1")


def _event_types_overlap(first: str, second: str) -> bool:
    # s3:ObjectCreated:* covers s3:ObjectCreated:Put; two different concrete events do not overlap.
    def covers(wide: str, narrow: str) -> bool:
        return wide == narrow or (wide.endswith(":*") and narrow.startswith(wide[:-1]))

    return covers(first, second) or covers(second, first)


def _filter_rules(configuration: dict) -> dict:
    rules = configuration.get("Filter", {}).get("S3Key", {}).get("Rules", [])
    return {rule["Name"].lower(): rule["Value"] for rule in rules}


def _notifications(properties: dict) -> list[tuple[str, dict]]:
    config = properties.get("NotificationConfiguration", {})
    return [(event, item) for kind in ("QueueConfigurations", "TopicConfigurations", "LambdaConfigurations")
            for item in config.get(kind, []) for event in [item.get("Event", "")]]


def notification_filter_problems(template: dict) -> list[str]:
    """Bucket notifications S3 would refuse (overlapping filters) or that miss objects (case variants)."""
    problems = []
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::S3::Bucket":
            continue
        notifications = _notifications(resource.get("Properties", {}))
        for index, (event, configuration) in enumerate(notifications):
            rules = _filter_rules(configuration)
            for other_event, other in notifications[index + 1:]:
                other_rules = _filter_rules(other)
                if not _event_types_overlap(event, other_event):
                    continue
                prefixes = rules.get("prefix", ""), other_rules.get("prefix", "")
                suffixes = rules.get("suffix", ""), other_rules.get("suffix", "")
                if (not isinstance(prefixes[0], str) or not isinstance(prefixes[1], str)
                        or prefixes[0].startswith(prefixes[1]) or prefixes[1].startswith(prefixes[0])) and (
                        suffixes[0].endswith(suffixes[1]) or suffixes[1].endswith(suffixes[0])):
                    problems.append(f"{name}: notifications for {event} and {other_event} overlap "
                                    f"(prefix {prefixes[0]!r}/{prefixes[1]!r}, suffix {suffixes[0]!r}/{suffixes[1]!r}); "
                                    "S3 refuses overlapping filters")
        suffixes = [_filter_rules(item).get("suffix") for _, item in notifications]
        folded = [suffix.lower() for suffix in suffixes if suffix]
        if len(set(folded)) < len({suffix for suffix in suffixes if suffix}):
            problems.append(f"{name}: suffix filters differ only in case ({', '.join(sorted(filter(None, suffixes)))}); "
                            "S3 matches suffixes case-sensitively, so other spellings are never notified")
    return problems


def _task_states(definition: dict):
    for name, state in definition.get("States", {}).items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _task_states(branch)
        if "Iterator" in state or "ItemProcessor" in state:
            yield from _task_states(state.get("ItemProcessor") or state["Iterator"])


def sns_subject_problems(definition: dict) -> list[str]:
    """SNS publish tasks whose subject SNS would refuse; a subject from the state must be the alert's, which
    chalicelib.alerts caps (tests/unit/test_alerts.py)."""
    problems = []
    for name, state in _task_states(definition):
        if not str(state.get("Resource", "")).endswith(":sns:publish"):
            continue
        parameters = state.get("Parameters", {})
        subject = parameters.get("Subject")
        if subject is not None and (len(subject) >= SNS_SUBJECT_LIMIT or not subject.isascii() or "\n" in subject):
            problems.append(f"{name}: Subject {subject!r} must be one line of fewer than {SNS_SUBJECT_LIMIT} ASCII characters")
        path = parameters.get("Subject.$")
        if path is not None and path != "$.result.alert.subject":
            problems.append(f"{name}: Subject.$ {path!r} is not the alert subject chalicelib.alerts caps at "
                            f"{SNS_SUBJECT_LIMIT - 1} characters")
    return problems


def lambda_retry_problems(definition: dict) -> list[str]:
    """Tasks that invoke a function without retrying every transient Lambda error."""
    problems = []
    for name, state in _task_states(definition):
        resource = str(state.get("Resource", ""))
        if state.get("Type") != "Task" or not (":lambda:" in resource or "FunctionArn}" in resource):
            continue
        retried = {error for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"]}
        missing = [error for error in TRANSIENT_LAMBDA_ERRORS if error not in retried and "States.ALL" not in retried]
        if missing:
            problems.append(f"{name}: does not retry {', '.join(missing)}")
    return problems


def upload_url_problems(presign) -> list[str]:
    """Regions whose pre-signed POST URL (from `presign(region)`) is not the bucket's regional host."""
    problems = []
    for region in UPLOAD_URL_REGIONS:
        host = urlsplit(presign(region)).hostname or ""
        expected = ("s3.amazonaws.com", f"s3.{region}.amazonaws.com") if region == "us-east-1" else (
            f"s3.{region}.amazonaws.com",)
        if not host.endswith(expected):
            problems.append(f"{region}: uploads are pre-signed for {host}, not {expected[-1]}")
    return problems


def presign_with_app_client(region: str) -> str:
    """The URL POST /uploads would give in `region`, from the app's own S3 client (offline: signing only)."""
    import botocore.session  # noqa: PLC0415
    from boto3.session import Session  # noqa: PLC0415

    from chalicelib.aws import AwsClients  # noqa: PLC0415 - the Lambda package, only for this check

    cloud = botocore.session.Session()
    cloud.set_config_variable("ignore_configured_endpoint_urls", True)  # AWS's endpoints, not a local stack's
    session = Session(aws_access_key_id="rehearsal", aws_secret_access_key="rehearsal", region_name=region,
                      botocore_session=cloud)
    return AwsClients(session).s3.generate_presigned_post("rehearsal-bucket", "uploads/p/a.jpg")["url"]


def rule_problems(templates: dict[str, dict], definition: dict) -> list[str]:
    """Every rule above over the named templates and the state machine definition."""
    problems = [f"{label}: {problem}" for label, template in templates.items()
                for problem in notification_filter_problems(template)]
    problems += [f"state machine: {problem}" for problem in sns_subject_problems(definition) + lambda_retry_problems(definition)]
    problems += [f"upload URLs: {problem}" for problem in upload_url_problems(presign_with_app_client)]
    return problems


def lint_problems(paths: dict[str, Path]) -> list[str]:
    """cfn-lint's errors for each template file; one line saying how to get cfn-lint when it is missing."""
    try:
        from cfnlint.api import ManualArgs, lint_file  # noqa: PLC0415 - a test dependency
    except ImportError:
        return ["cfn-lint is not installed: `pip install -e .[test]`, then rehearse again"]
    problems = []
    for label, path in paths.items():
        for match in lint_file(Path(path), ManualArgs()):
            if match.rule.id.startswith("E"):
                problems.append(f"{label}: {match.rule.id} {match.message} (line {match.linenumber})")
    return problems


def package(stage: str, out_dir: Path, project_dir: Path = PROJECT_DIR) -> dict[str, Path]:
    """`chalice package` plain (into `out_dir`/plain) and with the merge template (into `out_dir`, which must be
    directly in the project: the merged template names its nested stack ../statemachine/resources.yaml)."""
    paths = {}
    for label, target, extra in (("plain", out_dir / "plain", []),
                                 ("merged", out_dir, ["--merge-template", "statemachine/chalice-merge.json"])):
        command = [chalice_command(), "package", "--stage", stage, *extra, str(target)]
        # Packaging is offline; Chalice still wants a region to name (the template says ${AWS::Region}).
        env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"}
        result = subprocess.run(command, cwd=project_dir, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise DeployError(f"`chalice package --stage {stage}` failed:\n{result.stderr.strip()}")
        paths[label] = target / "sam.json"
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inspection_app.deploy.rehearsal", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev", help="Chalice stage to package (default dev)")
    args = parser.parse_args(argv)
    try:
        return _rehearse(args.stage)
    except DeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _rehearse(stage: str) -> int:
    with tempfile.TemporaryDirectory(dir=PROJECT_DIR, prefix=".rehearsal-") as out:
        inlined = Path(out) / "resources.json"
        inlined.write_text(json.dumps(resource_template()))
        paths = {**package(stage, Path(out)), "resources": inlined}
        templates = {label: load_template(path) for label, path in paths.items()}
        problems = lint_problems(paths) + rule_problems(templates, json.loads(STATE_MACHINE_DEFINITION.read_text()))
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    print(f"rehearsal of stage {stage}: {len(problems)} problem(s) in {', '.join(paths)} and the state machine")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
