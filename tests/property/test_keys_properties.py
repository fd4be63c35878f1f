"""Properties of the S3 key scheme (chalicelib/keys.py) and of the product-id rule."""
from __future__ import annotations

import string

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from chalicelib.keys import (
    PRODUCT_ID_RULE,
    InvalidProductId,
    UnmatchedUpload,
    UploadedImage,
    read_upload_key,
    upload_key,
    validate_product_id,
)

from .strategies import ID_FIRST, ID_REST, capture_ids, extensions, prefixes, product_ids, raw_keys


def documented_rule(text: str) -> bool:
    """PRODUCT_ID_RULE, written out independently of the module's regular expression."""
    return (
        1 <= len(text) <= 128
        and text[0] in ID_FIRST
        and all(character in ID_REST for character in text)
        and ".." not in text
    )


@given(prefixes, product_ids, capture_ids, extensions)
def test_given_any_valid_upload_when_its_key_is_read_back_then_product_and_capture_come_back(prefix, product, capture, ext):
    key = upload_key(prefix, product, capture, ext)
    assert key == f"{prefix}{product}/{capture}.{ext}"
    assert read_upload_key(prefix, key) == UploadedImage(product_id=product, capture_id=capture)


@given(prefixes, product_ids, capture_ids, extensions)
def test_given_a_camera_writing_straight_under_the_prefix_when_read_then_the_stem_is_the_product(prefix, product, capture, ext):
    assume("." not in product)  # the stem of "a.b.jpg" is "a.b": covered by the round trip above
    assert read_upload_key(prefix, f"{prefix}{product}.{ext}") == UploadedImage(product_id=product, capture_id=product)


@given(st.text(max_size=140))
@example("a" * 128)
@example("a" * 129)
@example("a..b")
@example("a.b")
@example("-a")
@example("a\n")
def test_given_any_text_when_validated_then_accepted_exactly_by_the_documented_rule(text):
    if documented_rule(text):
        assert validate_product_id(text) == text
    else:
        with pytest.raises(InvalidProductId) as raised:
            validate_product_id(text)
        message = str(raised.value)
        assert PRODUCT_ID_RULE in message
        if text:
            assert repr(text if len(text) <= 40 else text[:40] + "...") in message
        else:
            assert message.startswith("product_id is required")


@given(st.integers(min_value=1, max_value=160), st.sampled_from(ID_FIRST), st.sampled_from(ID_REST))
def test_given_ids_of_every_length_when_validated_then_up_to_128_characters_pass(length, first, rest):
    text = first + rest * (length - 1)
    assume(".." not in text)
    if length <= 128:
        assert validate_product_id(text) == text
    else:
        with pytest.raises(InvalidProductId, match="is not allowed"):
            validate_product_id(text)


@given(st.one_of(st.none(), st.integers(), st.floats(), st.lists(st.text()), st.binary()))
def test_given_a_product_id_that_is_no_string_when_validated_then_it_is_required(value):
    with pytest.raises(InvalidProductId, match="product_id is required"):
        validate_product_id(value)


@given(prefixes, product_ids.map(lambda p: p + "!"), capture_ids, extensions)
def test_given_an_invalid_product_when_a_key_is_made_then_no_key_is_made(prefix, product, capture, ext):
    with pytest.raises(InvalidProductId):
        upload_key(prefix, product, capture, ext)


@given(prefixes, raw_keys)
def test_given_any_key_when_read_then_it_is_an_upload_an_unmatched_upload_or_none_never_a_crash(prefix, key):
    result = read_upload_key(prefix, key)
    relative = key[len(prefix):] if key.startswith(prefix) else None
    if relative is None or not relative or relative.endswith("/"):
        assert result is None
    elif isinstance(result, UploadedImage):
        assert validate_product_id(result.product_id) == result.product_id
        assert key.endswith(result.capture_id + key[key.rfind("."):])
    else:
        assert isinstance(result, UnmatchedUpload)
        assert result.reason and result.capture_id
        assert result.product_id == "_unmatched"


@given(prefixes, product_ids, capture_ids, st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=5))
def test_given_a_file_that_is_no_photo_when_read_then_unmatched_with_the_reason(prefix, product, capture, ext):
    assume(ext not in {"jpg", "jpeg", "png", "tif", "tiff", "bmp"})
    result = read_upload_key(prefix, f"{prefix}{product}/{capture}.{ext}")
    assert isinstance(result, UnmatchedUpload)
    assert result.capture_id == capture
    assert f"the file '{capture}.{ext}' is not a photo" in result.reason or "is not a photo" in result.reason
