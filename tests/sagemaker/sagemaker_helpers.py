"""Constants and S3 look-ups shared by the SageMaker tests (a module of its own: every test folder has a conftest)."""

REGION = "eu-west-1"
BUCKET = "inspection-test-bucket"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
TINY_INPUT_SIZE = 64
BUILTIN_IMAGE = f"685385470294.dkr.ecr.{REGION}.amazonaws.com/image-classification:1"


def s3_object(aws, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def keys(aws, prefix: str) -> list[str]:
    """The keys under `prefix` in the test bucket, sorted."""
    response = aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for item in response.get("Contents", []))


def channels(job: dict) -> dict:
    """A described training job's input channels by name."""
    return {channel["ChannelName"]: channel for channel in job["InputDataConfig"]}
