"""The results table outlives its stack: `DeletionPolicy: Retain` and deletion protection (statemachine/resources.yaml).

`inspection-app destroy` therefore keeps every verdict, and says how to delete them on purpose; a later
`inspection-app deploy` of the same stage would collide with the kept table, so it stops first and says the same.
"""
from __future__ import annotations

from botocore.exceptions import ClientError


def delete_table_commands(table: str, region: str) -> list[str]:
    """The AWS CLI commands that delete the kept table on purpose: a last backup, protection off, delete."""
    return [
        f"aws dynamodb create-backup --region {region} --table-name {table} --backup-name {table}-final",
        f"aws dynamodb update-table --region {region} --table-name {table} --no-deletion-protection-enabled",
        f"aws dynamodb delete-table --region {region} --table-name {table}",
    ]


def kept_table_notice(table: str, region: str) -> str:
    """What `destroy` prints about the table it kept."""
    commands = "\n".join(f"    {command}" for command in delete_table_commands(table, region))
    return (f"Kept the results table {table} with every verdict (deletion protection is on, and the stack retains "
            f"it). To delete the verdicts on purpose (the backup is optional, and billed while it is kept):\n{commands}")


def table_exists(dynamodb, table: str) -> bool:
    try:
        dynamodb.describe_table(TableName=table)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise
    return True


def kept_table_problem(table: str, region: str, stage: str) -> str:
    """Why the first deployment of a stage cannot create its table, and what to do."""
    commands = "\n".join(f"  {command}" for command in delete_table_commands(table, region)[1:])
    return (f"The results table {table} already exists, kept with its verdicts when stage {stage} was destroyed; "
            f"the new stack cannot create it again. Deploy under another stage name, or delete the old verdicts "
            f"on purpose (optionally after `aws dynamodb create-backup`):\n{commands}")
