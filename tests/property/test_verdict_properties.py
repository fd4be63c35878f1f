"""Properties of the verdict rule (chalicelib/verdicts.py): monotone in confidence, exact at the threshold."""
from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.verdicts import DEFECT_FREE, DEFECTIVE, NEEDS_REVIEW, REJECTED, decide

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
labels = st.sampled_from([DEFECTIVE, DEFECT_FREE])


def classified(label: str, confidence: float) -> dict:
    return {"status": "classified", "label": label, "confidence": confidence}


@given(labels, unit, unit, unit)
def test_given_more_confidence_when_decided_then_never_back_to_review(label, low, high, threshold):
    low, high = sorted((low, high))
    if decide(classified(label, low), threshold) == label:
        assert decide(classified(label, high), threshold) == label
    if decide(classified(label, high), threshold) == NEEDS_REVIEW:
        assert decide(classified(label, low), threshold) == NEEDS_REVIEW


@given(labels, unit, unit)
def test_given_a_stricter_threshold_when_decided_then_never_fewer_reviews(label, confidence, threshold):
    stricter = min(1.0, threshold + 0.1)
    if decide(classified(label, confidence), threshold) == NEEDS_REVIEW:
        assert decide(classified(label, confidence), stricter) == NEEDS_REVIEW


@given(labels, unit)
def test_given_confidence_at_the_threshold_then_the_label_and_just_below_then_review(label, threshold):
    assert decide(classified(label, threshold), threshold) == label
    below = math.nextafter(threshold, -math.inf)
    assert decide(classified(label, below), threshold) == NEEDS_REVIEW
    above = math.nextafter(threshold, math.inf)
    assert decide(classified(label, above), threshold) == label


@given(labels, unit, unit)
def test_given_any_classification_when_decided_then_the_label_or_review_and_nothing_else(label, confidence, threshold):
    verdict = decide(classified(label, confidence), threshold)
    assert verdict == (label if confidence >= threshold else NEEDS_REVIEW)


@given(st.text(), unit)
def test_given_a_rejected_image_whatever_its_reason_then_rejected(reason, threshold):
    assert decide({"status": "rejected", "reason": reason}, threshold) == REJECTED
