"""The upload bucket's objects, which must all go before CloudFormation can delete the bucket."""
from __future__ import annotations

from botocore.exceptions import ClientError


def count_objects(s3, bucket: str) -> int:
    try:
        return sum(page.get("KeyCount", 0) for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket))
    except ClientError:
        return 0


def empty_bucket(s3, bucket: str) -> int:
    """Delete every object (and every version, should versioning be switched on); returns how many."""
    deleted = 0
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        objects = [{"Key": item["Key"], "VersionId": item["VersionId"]}
                   for item in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for start in range(0, len(objects), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects[start:start + 1000], "Quiet": True})
        deleted += len(objects)
    return deleted
