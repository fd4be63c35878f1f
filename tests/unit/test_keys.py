"""chalicelib.keys: product ids and the S3 key scheme."""
import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.keys import (
    IMAGE_EXTENSIONS,
    IMAGE_EXTENSIONS_TEXT,
    UNMATCHED_PRODUCT_ID,
    InvalidProductId,
    UnmatchedUpload,
    UploadedImage,
    new_capture_id,
    read_upload_key,
    upload_key,
    validate_product_id,
)


@pytest.mark.parametrize(
    "product_id",
    ["PCB-0042", "a", "7", "cell_17.v2", "A" * 128, "line3-station.12_B", "x-", "x."],
)
def test_given_an_allowed_product_id_when_validated_then_it_is_returned_unchanged(product_id):
    assert validate_product_id(product_id) == product_id


@pytest.mark.parametrize(
    "product_id",
    [
        "A" * 129,
        "PCB/0042",
        "..",
        "PCB..0042",
        "../etc",
        "-PCB",
        ".hidden",
        "_PCB",
        "PCB 0042",
        "PCB\n",
        "PCB\x00",
        "PCB\t1",
        "Prüfling-1",
        "部品-1",
        "PCB#1",
        "PCB%2F1",
        "PCB*",
    ],
)
def test_given_a_disallowed_product_id_when_validated_then_error_states_the_rule(product_id):
    with pytest.raises(InvalidProductId) as raised:
        validate_product_id(product_id)
    message = str(raised.value)
    assert "is not allowed" in message
    assert "1 to 128 characters" in message


@pytest.mark.parametrize("product_id", [None, "", 42, 4.2, ["PCB-1"], {"id": "PCB-1"}, b"PCB-1", True])
def test_given_no_or_non_string_product_id_when_validated_then_it_is_reported_as_required(product_id):
    with pytest.raises(InvalidProductId) as raised:
        validate_product_id(product_id)
    assert "product_id is required" in str(raised.value)


def test_given_a_very_long_product_id_when_rejected_then_the_message_shows_it_shortened():
    with pytest.raises(InvalidProductId) as raised:
        validate_product_id("B" * 500)
    message = str(raised.value)
    assert "B" * 40 + "..." in message
    assert "B" * 41 not in message


@pytest.mark.parametrize("product_id, shown", [
    ("B" * 39 + "!", "B" * 39 + "!"),  # 40 characters: shown whole
    ("B" * 40 + "!", "B" * 40 + "..."),  # 41: the first 40 and an ellipsis
])
def test_given_a_rejected_product_id_of_about_40_characters_then_the_message_shows_at_most_40(product_id, shown):
    with pytest.raises(InvalidProductId) as raised:
        validate_product_id(product_id)
    assert str(raised.value).startswith(f"product_id {shown!r} is not allowed; use ")


def test_given_no_time_when_capture_id_made_then_it_is_utc_whatever_the_machine_s_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: a local time would be on another day
    time.tzset()
    try:
        before = datetime.now(timezone.utc)
        made = datetime.strptime(new_capture_id().split("-")[0], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=timezone.utc)
        after = datetime.now(timezone.utc)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert before - timedelta(seconds=1) <= made <= after


def test_given_a_time_when_capture_id_made_then_it_starts_with_the_utc_timestamp_and_is_unique():
    now = datetime(2024, 5, 14, 9, 21, 7, 532000, tzinfo=timezone.utc)
    first, second = new_capture_id(now), new_capture_id(now)
    assert re.fullmatch(r"20240514T092107532000Z-[0-9a-f]{8}", first)
    assert first != second


def test_given_capture_ids_made_later_when_sorted_then_they_sort_chronologically():
    earlier = new_capture_id(datetime(2024, 5, 14, 9, 59, 59, tzinfo=timezone.utc))
    later = new_capture_id(datetime(2024, 5, 14, 10, 0, 0, tzinfo=timezone.utc))
    assert sorted([later, earlier]) == [earlier, later]


@pytest.mark.parametrize("prefix", ["uploads/", "factory/line-3/"])
@pytest.mark.parametrize("extension", ["jpg", "png", "tif", "bmp"])
def test_given_an_upload_key_when_parsed_then_product_and_capture_come_back(prefix, extension):
    capture_id = new_capture_id()
    key = upload_key(prefix, "PCB-0042", capture_id, extension)
    assert key == f"{prefix}PCB-0042/{capture_id}.{extension}"
    assert read_upload_key(prefix, key) == UploadedImage(product_id="PCB-0042", capture_id=capture_id)


def test_given_an_invalid_product_id_when_making_a_key_then_no_key_is_made():
    with pytest.raises(InvalidProductId):
        upload_key("uploads/", "../other-bucket-area", "20240514T092107532000Z-0a1b2c3d", "jpg")


@pytest.mark.parametrize(
    "key",
    ["uploads/PCB-1/x.JPG", "uploads/PCB-1/x.jpeg", "uploads/PCB-1/x.Png", "uploads/PCB-1/x.tif",
     "uploads/PCB-1/x.TIFF", "uploads/PCB-1/x.bmp"],
)
def test_given_image_extensions_in_any_case_when_parsed_then_accepted(key):
    assert read_upload_key("uploads/", key) == UploadedImage(product_id="PCB-1", capture_id="x")


def test_given_a_camera_writing_straight_under_the_prefix_when_parsed_then_the_file_stem_is_the_product():
    assert read_upload_key("uploads/", "uploads/CELL-0815.jpg") == UploadedImage(
        product_id="CELL-0815", capture_id="CELL-0815"
    )


@pytest.mark.parametrize(
    "key, why",
    [
        ("images/PCB-1/x.jpg", "outside the prefix"),
        ("uploadsX/PCB-1/x.jpg", "prefix only as a string start"),
        ("PCB-1/x.jpg", "no prefix"),
        ("uploads/PCB-1/x.gif", "not an image extension"),
        ("uploads/PCB-1/x.jpg.txt", "not an image extension"),
        ("uploads/PCB-1/notes", "no extension"),
        ("uploads/PCB-1/.jpg", "hidden file without a stem"),
        ("uploads/", "the prefix itself"),
        ("uploads/line-3/PCB-1/x.jpg", "nested too deep"),
        ("uploads/a/b/c/d.png", "nested too deep"),
        ("uploads/../PCB-1/x.jpg", "'..' as product"),
        ("uploads/-PCB/x.jpg", "invalid product id"),
        ("uploads/PCB 1/x.jpg", "space in product id"),
        ("uploads//x.jpg", "empty product folder"),
        ("uploads/.jpg", "camera file without a stem"),
        ("uploads/bad name.jpg", "camera file whose stem is no product id"),
    ],
)
def test_given_a_key_that_is_no_inspectable_upload_when_parsed_then_none(key, why):
    assert not isinstance(read_upload_key("uploads/", key), UploadedImage), why


@pytest.mark.parametrize(
    "key, reason",
    [
        ("uploads/board one.jpg", "the file name 'board one' is not a valid product id (1 to 128 characters"),
        ("uploads/board one/x.jpg", "the key's folder 'board one' is not a valid product id ("),
        ("uploads/./x.jpg", "the key's folder '.' is not a valid product id ("),
        ("uploads/a/b/c.jpg", "the key is 2 folders deep under uploads/; photos go to uploads/<product_id>/<file>"),
        ("uploads/PCB-1/x.gif",
         "the file 'x.gif' is not a photo: only .jpg, .jpeg, .png, .tif, .tiff and .bmp files are inspected"),
    ],
)
def test_given_a_key_under_the_prefix_that_names_no_product_when_read_then_unmatched_with_the_reason(key, reason):
    upload = read_upload_key("uploads/", key)
    assert isinstance(upload, UnmatchedUpload)
    assert upload.product_id == UNMATCHED_PRODUCT_ID
    assert upload.reason.startswith(reason)
    assert not isinstance(read_upload_key("uploads/", key), UploadedImage)


def test_given_a_key_with_two_problems_when_read_then_both_reasons_joined():
    upload = read_upload_key("uploads/", "uploads/a/b/c.gif")
    assert upload.reason == (
        "the file 'c.gif' is not a photo: only .jpg, .jpeg, .png, .tif, .tiff and .bmp files are inspected; "
        "the key is 2 folders deep under uploads/; photos go to uploads/<product_id>/<file> or "
        "uploads/<product_id>.<ext>"
    )


def test_given_the_extensions_text_then_it_names_every_inspected_extension():
    assert set(re.findall(r"\.(\w+)", IMAGE_EXTENSIONS_TEXT)) == IMAGE_EXTENSIONS


def test_given_the_reserved_unmatched_product_id_when_validated_then_no_real_product_can_have_it():
    with pytest.raises(InvalidProductId):
        validate_product_id(UNMATCHED_PRODUCT_ID)


@pytest.mark.parametrize("key", ["images/PCB-1/x.jpg", "uploads/", "uploads/PCB-1/"])
def test_given_a_key_that_is_no_upload_when_read_then_none(key):
    assert read_upload_key("uploads/", key) is None
