"""Hypothesis settings for the property tests: modest example counts and no deadline (a shared CI machine's
scheduling jitter is no failure), so the whole folder runs in seconds. Derandomized and without an example
database: the same examples on every run (`make mutation` compares runs) and nothing written to the checkout."""
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

# Hypothesis keeps a few files of its own even without a database: under var/ (ignored), not in the checkout.
set_hypothesis_home_dir(Path(__file__).resolve().parents[2] / "var" / "hypothesis")

settings.register_profile(
    "property", max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("property")
