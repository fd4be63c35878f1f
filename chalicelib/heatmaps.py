"""The heat-map overlay the classify step stores next to an upload (docs/heatmaps.md). Pillow only: the Lambda
bundle has no numpy.

The model's map is a small grid (its last feature map: 5x5 at 160 px input) of log-odds of `defective`, one per
cell of the square picture the model saw, top row first. That square is the upright photo resized, so stretching
the grid over the upright photo puts every cell back over the part of the photo it describes, whatever the
photo's aspect ratio or EXIF orientation. Each cell is shown by its probability (the logistic of its log-odds):
transparent where the cell speaks against a defect, blue -> yellow -> red, and more opaque, as it speaks for one.

Stored as `heatmaps/<upload key under the upload prefix>.<inspection id>.png` in the upload bucket: outside the
upload prefix, so the bucket's notification (prefix `uploads/`) never starts an inspection of it, and one per
inspection, so a reinspection never replaces the map an earlier result shows.
"""
from __future__ import annotations

import io
import math

from PIL import Image, ImageOps

HEATMAP_PREFIX = "heatmaps/"
# The overlay's longest side: enough to see where on the part, small enough to store and show at once.
OVERLAY_MAX_SIDE = 768
# Opacity of the colour where the map is certain of a defect (0..255); the photo stays visible under it.
MAX_OPACITY = 170
_MAX_KEY_BYTES = 1024  # S3's limit


def heatmap_key(upload_key: str, upload_prefix: str, inspection_id: str) -> str:
    """Where the overlay of this inspection of `upload_key` is stored."""
    relative = upload_key[len(upload_prefix):] if upload_key.startswith(upload_prefix) else upload_key
    key = f"{HEATMAP_PREFIX}{relative}.{inspection_id}.png"
    return key if len(key.encode()) <= _MAX_KEY_BYTES else f"{HEATMAP_PREFIX}{inspection_id}.png"


def cell_probabilities(heatmap: list[list[float]]) -> list[list[float]]:
    """Log-odds cells -> probabilities (0..1), computed without overflow."""
    return [[_logistic(value) for value in row] for row in heatmap]


def _logistic(value: float) -> float:
    if value >= 0:
        return 1 / (1 + math.exp(-value))
    exp = math.exp(value)
    return exp / (1 + exp)


def render_overlay(photo: Image.Image, heatmap: list[list[float]], max_side: int = OVERLAY_MAX_SIDE) -> bytes:
    """PNG bytes of the upright RGB `photo` (shrunk to `max_side`) with the heat map stretched over it."""
    base = photo.convert("RGB")
    base.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    rows, columns = len(heatmap), len(heatmap[0])
    grid = Image.new("F", (columns, rows))
    grid.putdata([255 * value for row in cell_probabilities(heatmap) for value in row])
    # Bilinear between cell centres, as the cells tile the picture (Pillow samples pixel centres).
    level = grid.resize(base.size, Image.Resampling.BILINEAR).convert("L")
    colour = ImageOps.colorize(level, black=(0, 0, 255), mid=(255, 255, 0), white=(255, 0, 0))
    opacity = level.point(lambda value: value * MAX_OPACITY // 255)
    body = io.BytesIO()
    Image.composite(colour, base, opacity).save(body, format="PNG", compress_level=3)
    return body.getvalue()
