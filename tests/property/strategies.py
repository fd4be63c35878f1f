"""Hypothesis strategies shared by the property tests: product ids, capture ids, keys and S3 records."""
from __future__ import annotations

import string

from hypothesis import strategies as st

from chalicelib.keys import IMAGE_EXTENSIONS

ID_FIRST = string.ascii_letters + string.digits
ID_REST = ID_FIRST + "._-"


def _without_double_dots(text: str) -> bool:
    return ".." not in text


# Exactly the documented alphabet and length: a letter or digit, then up to 127 of letters, digits, '.', '_', '-'.
product_ids = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(ID_FIRST),
    st.text(alphabet=ID_REST, max_size=127),
).filter(_without_double_dots)

# Capture ids as clients may send them: anything a file stem may be (no '/', not empty).
capture_ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=40
).filter(lambda text: not text.startswith(".") and "." not in text)

extensions = st.sampled_from(sorted(IMAGE_EXTENSIONS)).flatmap(
    lambda ext: st.sampled_from([ext, ext.upper(), ext.capitalize()])
)

prefixes = st.sampled_from(["uploads/", "in/cameras/", "u-"])

# Printable-ish object keys, including spaces, '+', '%', unicode: what URL-encoding must carry intact.
raw_keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60)
