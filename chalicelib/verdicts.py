"""The verdict rules: what a classification (or its absence) means for the product."""
from __future__ import annotations

DEFECTIVE = "defective"
DEFECT_FREE = "defect_free"
NEEDS_REVIEW = "needs_review"
REJECTED = "rejected"
ERROR = "error"
VERDICTS = (DEFECTIVE, DEFECT_FREE, NEEDS_REVIEW, REJECTED, ERROR)


def decide(classification: dict, threshold: float) -> str:
    """`defective`/`defect_free` when the model is sure enough, `needs_review` when its top
    probability is below `threshold`, `rejected` for an image that could not be inspected."""
    if classification["status"] == "rejected":
        return REJECTED
    if classification["confidence"] < threshold:
        return NEEDS_REVIEW
    return classification["label"]
