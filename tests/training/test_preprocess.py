import io

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

from training.preprocess import load_image, preprocess_bytes, to_input_array


def test_given_jpeg_with_exif_rotation_when_loaded_then_pixels_are_upright(image_bytes):
    # GIVEN a 40x20 photo stored sideways: left half red, right half blue, with EXIF
    # orientation 6 ("rotate 90 degrees clockwise to display")
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, :20] = (255, 0, 0)
    pixels[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = image_bytes(Image.fromarray(pixels), "JPEG", quality=95, exif=exif)
    # WHEN it is loaded
    image = load_image(data)
    # THEN it is upright: 20 wide, 40 high, red on top, blue below
    assert image.size == (20, 40)
    upright = np.asarray(image).astype(int)
    assert upright[5, 10, 0] > 200 and upright[5, 10, 2] < 60
    assert upright[35, 10, 2] > 200 and upright[35, 10, 0] < 60


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK"])
def test_given_any_colour_mode_when_loaded_then_image_is_rgb(mode, image_bytes):
    image = Image.new("RGB", (30, 20), (90, 90, 90)).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    assert load_image(image_bytes(image, fmt)).mode == "RGB"


def test_given_greyscale_image_when_preprocessed_then_three_equal_channels(image_bytes):
    grey = Image.fromarray(np.arange(50 * 70, dtype=np.uint32).reshape(50, 70).astype(np.uint8), "L")
    array = preprocess_bytes(image_bytes(grey), 32)
    assert array.shape == (3, 32, 32)
    np.testing.assert_array_equal(array[0], array[1])
    np.testing.assert_array_equal(array[1], array[2])


def test_given_non_square_image_when_converted_then_float32_square_in_network_range():
    image = Image.new("RGB", (300, 100), (255, 255, 255))
    image.paste((0, 0, 0), (0, 0, 150, 100))  # left half black
    array = to_input_array(image, 64)
    assert array.shape == (3, 64, 64)
    assert array.dtype == np.float32
    assert array.flags["C_CONTIGUOUS"]
    # (x - 127) / 128: white -> 1.0, black -> -127/128
    assert array.max() == pytest.approx(1.0)
    assert array.min() == pytest.approx(-127 / 128)
    assert array[:, :, 0].max() == pytest.approx(-127 / 128)  # channel-first: the left column is black


def test_given_bytes_that_are_not_an_image_when_loaded_then_pillow_error():
    with pytest.raises(UnidentifiedImageError):
        load_image(b"this is a text file")


def _grey_photo(synthetic_image) -> np.ndarray:
    """8-bit greyscale pixels of a textured part with a dark defect."""
    return np.asarray(synthetic_image(np.random.default_rng(5), defective=True, size=(80, 60)).convert("L"))


@pytest.mark.parametrize("fmt, mode", [("PNG", "I;16"), ("TIFF", "I;16"), ("TIFF", "I;16B")])
def test_given_a_16bit_greyscale_photo_when_loaded_then_the_same_image_as_the_8bit_photo(
    synthetic_image, image_bytes, fmt, mode
):
    # GIVEN one photo as 8-bit PNG and as a 16-bit camera file (value * 257)
    grey = _grey_photo(synthetic_image)
    wide = (grey.astype(np.uint16) * 257).astype(">u2" if mode == "I;16B" else "<u2")
    sixteen = Image.frombytes(mode, (grey.shape[1], grey.shape[0]), wide.tobytes())
    # WHEN both are loaded
    from_8bit = np.asarray(load_image(image_bytes(Image.fromarray(grey))), dtype=int)
    from_16bit = np.asarray(load_image(image_bytes(sixteen, fmt)), dtype=int)
    # THEN training sees the same pixels (before: the 16-bit one was clipped to all-white)
    assert from_16bit.shape == from_8bit.shape == (60, 80, 3)
    assert np.abs(from_16bit - from_8bit).max() <= 1


def test_given_an_mpo_when_loaded_then_the_first_frame(image_bytes):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 20, 20)).save(
        buffer, "MPO", save_all=True, append_images=[Image.new("RGB", (40, 30), (20, 200, 20))])
    assert Image.open(io.BytesIO(buffer.getvalue())).format == "MPO"
    red, green, _ = np.asarray(load_image(buffer.getvalue()), dtype=int)[15, 20]
    assert red > 180 and green < 40
