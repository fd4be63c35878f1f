"""chalicelib.images: checking an upload with Pillow and turning it into the model's input."""
import io
import warnings
from pathlib import Path

import elpv_dataset
import numpy as np
import pytest
from PIL import Image, ImageFile

from chalicelib.images import ImageRejected, PreparedImage, prepare_image

from .helpers import (
    encode_image,
    jpeg_bytes,
    noisy_jpeg,
    part_photo,
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


def pixels(image: PreparedImage) -> np.ndarray:
    return np.asarray(model_input(image), dtype=int)


def grey_photo(width: int = 64, height: int = 48, seed: int = 0) -> np.ndarray:
    """8-bit greyscale pixels of a textured part: a left-to-right gradient, noise and a dark blemish."""
    rng = np.random.default_rng(seed)
    gradient = np.linspace(40, 220, width)[None, :].repeat(height, axis=0)
    grey = gradient + rng.normal(0, 6, (height, width))
    grey[height // 3 : height // 2, width // 3 : width // 2] = 15
    return grey.clip(0, 255).astype(np.uint8)


def sixteen_bit(grey: np.ndarray, mode: str = "I;16") -> Image.Image:
    """The same picture as a 16-bit camera writes it: value * 257 (255 -> 65535), in `mode`'s byte order."""
    wide = grey.astype(np.uint16) * 257
    order = ">u2" if mode == "I;16B" else "<u2"
    return Image.frombytes(mode, (grey.shape[1], grey.shape[0]), wide.astype(order).tobytes())


# --- accepted images ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, fmt, size",
    [
        (jpeg_bytes(64, 48), "JPEG", (64, 48)),
        (png_bytes(40, 70), "PNG", (40, 70)),
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


def test_given_two_colours_when_prepared_then_the_model_sees_those_colours_exactly():
    # PNG in and out, so nothing lossy in between: the colours must survive unchanged.
    image = Image.new("RGB", (64, 40), (200, 31, 7))
    image.paste((12, 140, 250), (32, 0, 64, 40))
    decoded = model_input(prepared(encode_image(image, "PNG")))
    assert decoded.getpixel((4, 16)) == (200, 31, 7)
    assert decoded.getpixel((28, 16)) == (12, 140, 250)


@pytest.mark.parametrize(
    "data, fmt",
    [
        (encode_image(part_photo(40, 40).convert("L"), "JPEG"), "JPEG"),
        (encode_image(part_photo(40, 40).convert("L"), "PNG"), "PNG"),
        (encode_image(part_photo(40, 40).convert("RGBA"), "PNG"), "PNG"),
        (encode_image(part_photo(40, 40).convert("LA"), "PNG"), "PNG"),
        (encode_image(part_photo(40, 40).convert("P"), "PNG"), "PNG"),
        (encode_image(part_photo(40, 40).convert("1"), "PNG"), "PNG"),
        (encode_image(sixteen_bit(grey_photo(40, 40)), "PNG"), "PNG"),
        (encode_image(part_photo(40, 40).convert("CMYK"), "JPEG"), "JPEG"),
    ],
    ids=["grey-jpeg", "grey-png", "rgba-png", "la-png", "palette-png", "bilevel-png", "16bit-grey-png", "cmyk-jpeg"],
)
def test_given_other_colour_modes_when_prepared_then_the_model_still_gets_rgb(data, fmt):
    image = prepared(data)
    decoded = model_input(image)
    assert image.original_format == fmt
    assert (decoded.mode, decoded.size) == ("RGB", (32, 32))


def test_given_a_greyscale_image_when_prepared_then_grey_stays_grey_in_rgb():
    grey = Image.new("L", (40, 40), 90)
    grey.paste(170, (20, 0, 40, 40))
    decoded = model_input(prepared(encode_image(grey, "PNG")))
    assert colours(decoded) <= {(value, value, value) for value in range(256)}
    assert (decoded.getpixel((2, 2)), decoded.getpixel((30, 2))) == ((90, 90, 90), (170, 170, 170))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_given_an_rgb_photo_already_of_the_input_size_when_prepared_then_its_own_bytes_go_to_the_model(fmt):
    # Nothing to turn, convert or resize: decoding the upload gives the model exactly the pixels a re-encode would.
    data = encode_image(part_photo(32, 32), fmt)
    assert prepared(data, input_size=32).body == data


def test_given_an_animated_png_of_the_input_size_when_prepared_then_the_model_gets_its_first_frame_only():
    first, second = part_photo(32, 32), part_photo(32, 32).transpose(Image.Transpose.ROTATE_180)
    body = io.BytesIO()
    first.save(body, format="PNG", save_all=True, append_images=[second])
    data = body.getvalue()
    assert Image.open(io.BytesIO(data)).is_animated
    image = prepared(data, input_size=32)
    assert image.body != data
    decoded = model_input(image)
    assert not getattr(decoded, "is_animated", False)
    assert np.array_equal(np.asarray(decoded), np.asarray(first))


def test_given_a_photo_to_resize_when_prepared_then_bilinear_pixels_in_a_fastest_level_png():
    photo = Image.effect_noise((80, 60), 60).convert("RGB")
    body = prepared(encode_image(photo, "PNG"), input_size=32).body
    expected = photo.resize((32, 32), Image.Resampling.BILINEAR)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(body))), np.asarray(expected))
    # zlib's header in the first IDAT chunk: 0x78 then 0x01, the level flags of the fastest level (1)
    idat = body.index(b"IDAT") + 4
    assert body[idat : idat + 2] == b"\x78\x01"


@pytest.mark.parametrize(
    "data",
    [
        encode_image(part_photo(40, 40), "PNG"),  # another size: resized
        encode_image(part_photo(32, 32).convert("L"), "PNG"),  # greyscale: converted to RGB
        with_orientation(quadrant_image(32, 32), 6, "JPEG"),  # to be turned
        encode_image(part_photo(32, 32), "BMP"),  # not a format the bytes are passed on in
    ],
    ids=["other-size", "grey", "rotated", "bmp"],
)
def test_given_a_photo_that_needs_work_when_prepared_then_the_model_gets_a_new_rgb_png(data):
    image = prepared(data, input_size=32)
    assert image.body != data
    decoded = model_input(image)
    assert (decoded.format, decoded.mode, decoded.size) == ("PNG", "RGB", (32, 32))


# --- EXIF orientation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF"])
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
    # An 80x40 landscape photo, red in its stored top-left quadrant, blue elsewhere.
    data = with_orientation(quadrant_image(80, 40), orientation, fmt)
    decoded = model_input(prepared(data, input_size=32))

    centres = {"top-left": (8, 8), "top-right": (24, 8), "bottom-left": (8, 24), "bottom-right": (24, 24)}
    for corner, xy in centres.items():
        expected = RED if corner == red_corner else BLUE
        assert close_to(decoded.getpixel(xy), expected), (corner, decoded.getpixel(xy))


def test_given_a_rotated_portrait_when_prepared_then_rows_and_columns_really_swapped():
    # Stored 80x40 with left half red and right half blue; orientation 6 displays it 40x80 with red on top.
    stored = Image.new("RGB", (80, 40), BLUE)
    stored.paste(RED, (0, 0, 40, 40))
    decoded = model_input(prepared(with_orientation(stored, 6, "PNG"), input_size=16))
    top_row = {decoded.getpixel((x, 1)) for x in range(16)}
    bottom_row = {decoded.getpixel((x, 14)) for x in range(16)}
    assert top_row == {RED}
    assert bottom_row == {BLUE}


# --- rejections ---------------------------------------------------------------------------------------


def test_given_zero_bytes_when_prepared_then_rejected_as_empty():
    assert rejection(b"") == "The file is empty (0 bytes); upload the photo again."


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
def test_given_bytes_that_are_no_image_when_prepared_then_rejected_naming_the_accepted_formats(data):
    assert rejection(data) == (
        "The file is not an image in an accepted format (JPEG, PNG, MPO, TIFF and BMP): Pillow cannot identify "
        "it. Upload the photo in one of those formats."
    )


@pytest.mark.parametrize(
    "fmt, extra",
    [("GIF", {}), ("WEBP", {"lossless": True}), ("ICO", {}), ("PPM", {})],
)
def test_given_another_image_format_when_prepared_then_rejected_naming_the_format(fmt, extra):
    data = encode_image(part_photo(32, 32), fmt, **extra)
    assert rejection(data) == (
        f"The file is a {fmt} image; the accepted formats are JPEG, PNG, MPO, TIFF and BMP. "
        "Save the photo in one of those formats."
    )


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
    # 400 MP: Pillow's own guard refuses it at open; the message still names *our* limit (a number Pillow's
    # text cannot contain), so a person knows what the pipeline accepts.
    message = rejection(png_header_only(20_000, 20_000), max_pixels=12_345_678)
    assert message.startswith("The image is far too large (")
    assert message.endswith("; the limit is 12345678 pixels.")


@pytest.mark.parametrize("orientation, size", [(1, (80, 40)), (3, (80, 40)), (6, (40, 80)), (8, (40, 80))])
def test_given_an_exif_rotation_when_prepared_then_width_and_height_are_recorded_as_displayed(orientation, size):
    image = prepared(with_orientation(quadrant_image(80, 40), orientation, "JPEG"), input_size=16)
    assert (image.original_width, image.original_height) == size


@pytest.mark.parametrize("max_pixels, accepted", [(64 * 48, True), (64 * 48 - 1, False)])
def test_given_an_image_at_the_pixel_limit_when_prepared_then_the_limit_itself_is_allowed(max_pixels, accepted):
    data = png_bytes(64, 48)
    if accepted:
        assert prepared(data, max_pixels=max_pixels).original_width == 64
    else:
        assert "64x48 pixels (3072)" in rejection(data, max_pixels=max_pixels)


# --- camera formats and bit depths --------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt, mode",
    [("PNG", "I;16"), ("TIFF", "I;16"), ("TIFF", "I;16B")],
    ids=["16bit-png", "16bit-tiff-little-endian", "16bit-tiff-big-endian"],
)
def test_given_a_16bit_greyscale_photo_when_prepared_then_the_model_sees_the_8bit_photo(fmt, mode):
    # GIVEN one photo as an 8-bit PNG and as a machine-vision camera's 16-bit file (value * 257)
    grey = grey_photo()
    data = encode_image(sixteen_bit(grey, mode), fmt)
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    # WHEN both are prepared
    eight_bit = pixels(prepared(encode_image(Image.fromarray(grey), "PNG")))
    image = prepared(data)
    # THEN the model gets the same pixels within one level (before: clipped to all-white)
    assert (image.original_format, image.original_width, image.original_height) == (fmt, 64, 48)
    assert np.abs(pixels(image) - eight_bit).max() <= 1
    assert pixels(image).min() < 60  # the dark blemish survived


@pytest.mark.parametrize(
    "wide, top",
    [
        (lambda grey: Image.fromarray(grey.astype(np.int32) * 257, "I"), 65535),  # 16-bit data in 32-bit integers
        (lambda grey: Image.fromarray(grey.astype(np.float32) / 255, "F"), 1.0),  # normalised floats
        (lambda grey: Image.fromarray(grey.astype(np.float32), "F"), 255.0),  # floats on the 8-bit scale
    ],
    ids=["int32-16bit-range", "float-0-to-1", "float-0-to-255"],
)
def test_given_a_32bit_tiff_when_prepared_then_its_data_range_is_scaled_to_8_bits(wide, top):
    grey = grey_photo()
    image = wide(grey)
    data = encode_image(image, "TIFF")
    assert Image.open(io.BytesIO(data)).mode == image.mode
    eight_bit = pixels(prepared(encode_image(Image.fromarray(grey), "PNG")))
    assert np.abs(pixels(prepared(data)) - eight_bit).max() <= 1


@pytest.mark.parametrize(
    "image, fmt, options",
    [
        (lambda: Image.fromarray(grey_photo()), "TIFF", {}),
        (lambda: part_photo(64, 48, (90, 160, 30)), "TIFF", {}),
        (lambda: part_photo(64, 48, (90, 160, 30)), "TIFF", {"compression": "tiff_lzw"}),
        (lambda: part_photo(64, 48, (90, 160, 30)), "BMP", {}),
        (lambda: Image.fromarray(grey_photo()), "BMP", {}),
    ],
    ids=["8bit-grey-tiff", "rgb-tiff", "rgb-tiff-lzw", "24bit-bmp", "8bit-bmp"],
)
def test_given_a_tiff_or_bmp_when_prepared_then_accepted_with_the_same_pixels_as_a_png(image, fmt, options):
    picture = image()
    image = prepared(encode_image(picture, fmt, **options))
    assert (image.original_format, image.original_width, image.original_height) == (fmt, 64, 48)
    np.testing.assert_array_equal(pixels(image), pixels(prepared(encode_image(picture, "PNG"))))


def test_given_a_phones_mpo_when_prepared_then_accepted_and_the_first_frame_is_judged():
    # GIVEN an MPO (a phone's JPEG with a second view): a red part first, then a green one
    first, second = part_photo(64, 48, (200, 20, 20)), part_photo(64, 48, (20, 200, 20))
    buffer = io.BytesIO()
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    opened = Image.open(io.BytesIO(buffer.getvalue()))
    assert (opened.format, opened.n_frames) == ("MPO", 2)
    # WHEN it is prepared
    image = prepared(buffer.getvalue())
    # THEN it is accepted as MPO and the model sees the first frame
    assert image.original_format == "MPO"
    assert close_to(model_input(image).getpixel((2, 30)), (200, 20, 20), tolerance=10)


def test_given_a_multi_page_tiff_when_prepared_then_the_first_page_is_judged():
    buffer = io.BytesIO()
    part_photo(64, 48, (200, 20, 20)).save(buffer, "TIFF", save_all=True,
                                          append_images=[part_photo(64, 48, (20, 200, 20))])
    assert Image.open(io.BytesIO(buffer.getvalue())).n_frames == 2
    assert model_input(prepared(buffer.getvalue())).getpixel((2, 30)) == (200, 20, 20)


def test_given_a_colour_mode_that_cannot_become_rgb_when_prepared_then_rejected_naming_the_mode(monkeypatch):
    def cannot_convert(image):
        raise ValueError("no conversion")

    monkeypatch.setattr("chalicelib.images.to_rgb", cannot_convert)
    assert rejection(png_bytes(40, 40)) == (
        "The image's colour mode RGB cannot be converted to RGB (no conversion); save it as an "
        "ordinary RGB or greyscale photo."
    )


def test_given_another_pillow_warning_while_decoding_when_prepared_then_the_photo_is_still_inspected(monkeypatch):
    # Only Pillow's decompression-bomb warning rejects a photo; a harmless warning while decoding must not.
    load = ImageFile.ImageFile.load

    def load_with_a_warning(self):
        warnings.warn("a harmless decoder remark", UserWarning)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load_with_a_warning)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert prepared(png_bytes(40, 40)).original_width == 40


# --- too small, blank ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1, 1), (31, 200), (200, 31)])
def test_given_an_image_below_the_minimum_side_when_prepared_then_rejected_naming_the_minimum(size):
    assert rejection(encode_image(part_photo(*size), "PNG"), min_side=32) == (
        f"The image is {size[0]}x{size[1]} pixels; both sides must be at least 32 pixels. "
        "Upload the full camera photo, not a thumbnail or a crop."
    )


def test_given_an_image_of_exactly_the_minimum_side_when_prepared_then_accepted():
    assert prepared(png_bytes(32, 32), min_side=32).original_width == 32


def test_given_a_larger_configured_minimum_when_prepared_then_that_minimum_applies():
    assert "at least 100 pixels" in rejection(png_bytes(64, 480), min_side=100)


@pytest.mark.parametrize(
    "data",
    [
        encode_image(Image.new("RGB", (64, 48), (0, 0, 0)), "JPEG"),  # lens cap on
        encode_image(Image.new("RGB", (64, 48), (255, 255, 255)), "PNG"),  # blown out
        encode_image(Image.new("L", (64, 48), 128), "PNG"),
        encode_image(Image.new("I;16", (64, 48), 40000), "TIFF"),  # a 16-bit camera's flat frame
        encode_image(Image.fromarray((np.indices((48, 64)).sum(axis=0) % 3 + 100).astype(np.uint8)), "PNG"),
    ],
    ids=["black-jpeg", "white-png", "grey-png", "flat-16bit-tiff", "within-2-levels"],
)
def test_given_a_blank_image_when_prepared_then_rejected_saying_what_to_check(data):
    message = rejection(data)
    assert "blank" in message
    assert "Check the camera" in message


def test_given_a_white_frame_when_prepared_then_the_rejection_shows_each_band_s_range():
    assert rejection(encode_image(Image.new("RGB", (64, 48), (255, 250, 0)), "PNG")) == (
        "The image is blank: every pixel has practically the same colour (R 255..255, G 250..250, B 0..0). "
        "Check the camera (lens cap, exposure, lighting, cable) and upload a real photo of the part."
    )


def test_given_an_image_spanning_3_levels_when_prepared_then_it_is_not_blank():
    nearly_flat = (np.indices((48, 64)).sum(axis=0) % 4 + 100).astype(np.uint8)  # 100..103
    assert prepared(encode_image(Image.fromarray(nearly_flat), "PNG")).original_width == 64


def test_given_a_flat_part_with_one_small_defect_when_prepared_then_it_is_inspected_not_rejected():
    surface = Image.new("L", (200, 200), 140)
    surface.paste(120, (100, 100, 103, 103))  # a 3x3 pixel scratch
    assert prepared(encode_image(surface, "PNG")).original_width == 200


def test_given_a_dark_low_contrast_photo_when_prepared_then_accepted():
    rng = np.random.default_rng(3)
    dark = rng.normal(12, 1.5, (48, 64)).clip(0, 255).astype(np.uint8)
    assert prepared(encode_image(Image.fromarray(dark), "PNG")).original_format == "PNG"


# The darkest, lowest-contrast solar-cell photos of the ELPV dataset (grey spans 50 to 68 levels).
@pytest.mark.parametrize("name", ["cell1836.png", "cell1897.png", "cell1896.png", "cell1844.png", "cell1895.png"])
def test_given_a_real_low_contrast_elpv_photo_when_prepared_then_accepted(name):
    data = (Path(elpv_dataset.__file__).parent / "data" / "images" / name).read_bytes()
    assert prepared(data).original_width == 300
