"""Constants shared by the SageMaker tests (a module of its own: every test folder has a conftest)."""

REGION = "eu-west-1"
BUCKET = "inspection-test-bucket"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
TINY_INPUT_SIZE = 64
