"""chalicelib.images: checking an upload with Pillow and turning it into the model's input."""
import io

import pytest
from PIL import Image, ImageFile

from chalicelib.images import ImageRejected, PreparedImage, prepare_image

from .helpers import (
    encode_image,
    jpeg_bytes,
    noisy_jpeg,
    png_bytes,
    png_header_only,
    quadrant_image,
    with_orientation,
)

LIMITS = dict(max_bytes=10 * 1024 * 1024, max_pixels=40_000_000, input_size=32)

RED, BLUE = (255, 0, 0), (0, 0, 255)


def prepared(data: bytes, **limits) -> PreparedImage:
    return prepare_image(data, **{**LIMITS, **limits})


def rejection(data: bytes, **limits) -> str:
    with pytest.raises(ImageRejected) as raised:
        prepared(data, **limits)
    return str(raised.value)


def model_input(image: PreparedImage) -> Image.Image:
    decoded = Image.open(io.BytesIO(image.body))
    decoded.load()
    return decoded


def colours(image: Image.Image) -> set:
    return {colour for _, colour in image.getcolors(maxcolors=image.width * image.height)}


def close_to(pixel, colour, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


# --- accepted images ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, fmt, size",
    [
        (jpeg_bytes(64, 48), "JPEG", (64, 48)),
        (png_bytes(30, 70), "PNG", (30, 70)),
    ],
)
@pytest.mark.parametrize("input_size", [16, 32, 224])
def test_given_a_jpeg_or_png_when_prepared_then_an_rgb_png_of_the_input_size_and_the_original_facts(
    data, fmt, size, input_size
):
    image = prepared(data, input_size=input_size)
    assert image.content_type == "application/x-image"
    assert (image.original_format, image.original_width, image.original_height) == (fmt, *size)
    decoded = model_input(image)
    assert decoded.format == "PNG"
    assert decoded.mode == "RGB"
    assert decoded.size == (input_size, input_size)


def test_given_a_uniform_colour_when_prepared_then_the_model_sees_that_colour_exactly():
    # PNG in and out, so nothing lossy in between: the colour must survive unchanged.
    decoded = model_input(prepared(png_bytes(50, 20, color=(200, 31, 7))))
    assert colours(decoded) == {(200, 31, 7)}


@pytest.mark.parametrize(
    "data, fmt",
    [
        (encode_image(Image.new("L", (40, 40), 128), "JPEG"), "JPEG"),
        (encode_image(Image.new("L", (40, 40), 128), "PNG"), "PNG"),
        (encode_image(Image.new("RGBA", (40, 40), (10, 200, 30, 90)), "PNG"), "PNG"),
        (encode_image(Image.new("LA", (40, 40), (77, 255)), "PNG"), "PNG"),
        (encode_image(Image.new("P", (40, 40), 3), "PNG"), "PNG"),
        (encode_image(Image.new("1", (40, 40), 1), "PNG"), "PNG"),
        (encode_image(Image.new("I;16", (40, 40), 40000), "PNG"), "PNG"),
        (encode_image(Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG"), "JPEG"),
    ],
    ids=["grey-jpeg", "grey-png", "rgba-png", "la-png", "palette-png", "bilevel-png", "16bit-grey-png", "cmyk-jpeg"],
)
def test_given_other_colour_modes_when_prepared_then_the_model_still_gets_rgb(data, fmt):
    image = prepared(data)
    decoded = model_input(image)
    assert image.original_format == fmt
    assert (decoded.mode, decoded.size) == ("RGB", (32, 32))


def test_given_a_greyscale_image_when_prepared_then_grey_stays_grey_in_rgb():
    decoded = model_input(prepared(encode_image(Image.new("L", (20, 20), 90), "PNG")))
    assert colours(decoded) == {(90, 90, 90)}


# --- EXIF orientation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize(
    "orientation, red_corner",
    [
        (1, "top-left"),  # as stored
        (3, "bottom-right"),  # turned 180 degrees
        (6, "top-right"),  # a phone held upright: displayed turned 90 degrees clockwise
        (8, "bottom-left"),  # displayed turned 90 degrees anticlockwise
    ],
)
def test_given_an_exif_orientation_when_prepared_then_the_model_sees_the_image_as_displayed(fmt, orientation, red_corner):
    # A 40x20 landscape photo, red in its stored top-left quadrant, blue elsewhere.
    data = with_orientation(quadrant_image(40, 20), orientation, fmt)
    decoded = model_input(prepared(data, input_size=32))

    centres = {"top-left": (8, 8), "top-right": (24, 8), "bottom-left": (8, 24), "bottom-right": (24, 24)}
    for corner, xy in centres.items():
        expected = RED if corner == red_corner else BLUE
        assert close_to(decoded.getpixel(xy), expected), (corner, decoded.getpixel(xy))


def test_given_a_rotated_portrait_when_prepared_then_rows_and_columns_really_swapped():
    # Stored 40x20 with left half red and right half blue; orientation 6 displays it 20x40 with red on top.
    stored = Image.new("RGB", (40, 20), BLUE)
    stored.paste(RED, (0, 0, 20, 20))
    decoded = model_input(prepared(with_orientation(stored, 6, "PNG"), input_size=16))
    top_row = {decoded.getpixel((x, 1)) for x in range(16)}
    bottom_row = {decoded.getpixel((x, 14)) for x in range(16)}
    assert top_row == {RED}
    assert bottom_row == {BLUE}


# --- rejections ---------------------------------------------------------------------------------------


def test_given_zero_bytes_when_prepared_then_rejected_as_empty():
    assert "empty (0 bytes)" in rejection(b"")


def test_given_more_bytes_than_allowed_when_prepared_then_rejected_with_both_sizes():
    data = jpeg_bytes(64, 64)
    message = rejection(data, max_bytes=len(data) - 1)
    assert f"{len(data)} bytes" in message
    assert f"limit is {len(data) - 1} bytes" in message


def test_given_exactly_the_allowed_bytes_when_prepared_then_accepted():
    data = jpeg_bytes(64, 64)
    assert prepared(data, max_bytes=len(data)).original_format == "JPEG"


@pytest.mark.parametrize(
    "data",
    [
        b"Inspection report for PCB-0042: no defects found.\n",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        b"\xff\xd8\xff",  # just a JPEG start-of-image marker
        b"\x89PNG\r\n\x1a\n",  # just the PNG signature
        b"\x00" * 1024,
    ],
    ids=["text", "pdf", "jpeg-marker-only", "png-signature-only", "zeros"],
)
def test_given_bytes_that_are_no_image_when_prepared_then_rejected_as_not_jpeg_or_png(data):
    assert "not a JPEG or PNG image" in rejection(data)


@pytest.mark.parametrize(
    "fmt, extra",
    [("GIF", {}), ("BMP", {}), ("TIFF", {}), ("WEBP", {"lossless": True}), ("ICO", {})],
)
def test_given_another_image_format_when_prepared_then_rejected_naming_the_format(fmt, extra):
    data = encode_image(Image.new("RGB", (32, 32), (9, 9, 9)), fmt, **extra)
    message = rejection(data)
    assert f"is a {fmt} image" in message
    assert "only JPEG and PNG" in message


@pytest.mark.parametrize("fraction", [0.5, 0.8])
def test_given_a_truncated_jpeg_when_prepared_then_rejected_as_truncated(fraction):
    data = noisy_jpeg()
    message = rejection(data[: int(len(data) * fraction)])
    assert "truncated or corrupt" in message


def test_given_a_truncated_png_when_prepared_then_rejected_as_truncated():
    data = encode_image(Image.effect_noise((64, 64), 80).convert("RGB"), "PNG")
    assert "truncated or corrupt" in rejection(data[: len(data) // 2])


def test_given_a_header_claiming_too_many_pixels_when_prepared_then_rejected_before_decoding(monkeypatch):
    def must_not_decode(self):
        raise AssertionError("pixels were decoded for an image whose header is already over the limit")

    monkeypatch.setattr(ImageFile.ImageFile, "load", must_not_decode)
    data = png_header_only(10_000, 5_000)  # 50 MP claimed in a file of a few dozen bytes
    assert len(data) < 100
    message = rejection(data, max_pixels=40_000_000)
    assert "10000x5000 pixels (50000000)" in message
    assert "limit is 40000000 pixels" in message


def test_given_a_decompression_bomb_header_when_prepared_then_rejected_without_allocating():
    message = rejection(png_header_only(20_000, 20_000))
    assert "pixels" in message
    assert "40000000" in message


@pytest.mark.parametrize("max_pixels, accepted", [(64 * 48, True), (64 * 48 - 1, False)])
def test_given_an_image_at_the_pixel_limit_when_prepared_then_the_limit_itself_is_allowed(max_pixels, accepted):
    data = png_bytes(64, 48)
    if accepted:
        assert prepared(data, max_pixels=max_pixels).original_width == 64
    else:
        assert "64x48 pixels (3072)" in rejection(data, max_pixels=max_pixels)
