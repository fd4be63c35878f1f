"""chalicelib.verdicts: what a classification means for the product."""
import pytest

from chalicelib.verdicts import DEFECT_FREE, DEFECTIVE, NEEDS_REVIEW, REJECTED, VERDICTS, decide

from .helpers import classified


@pytest.mark.parametrize("label", [DEFECTIVE, DEFECT_FREE])
@pytest.mark.parametrize(
    "confidence, threshold, expected",
    [
        (0.99, 0.75, "label"),
        (0.75, 0.75, "label"),  # the threshold itself is sure enough
        (0.7499, 0.75, NEEDS_REVIEW),
        (0.5, 0.75, NEEDS_REVIEW),
        (1.0, 1.0, "label"),
        (0.999, 1.0, NEEDS_REVIEW),
        (0.5, 0.5, "label"),
    ],
)
def test_given_a_classification_when_decided_then_threshold_band_means_needs_review(label, confidence, threshold, expected):
    verdict = decide(classified(label, confidence), threshold)
    assert verdict == (label if expected == "label" else expected)
    assert verdict in VERDICTS


def test_given_a_rejected_image_when_decided_then_rejected_whatever_the_threshold():
    rejection = {"status": "rejected", "reason": "The file is empty (0 bytes); upload the photo again."}
    assert decide(rejection, 0.5) == REJECTED
    assert decide(rejection, 1.0) == REJECTED
