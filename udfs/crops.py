"""Box crops of a frame image, ready for the embedding model (PIL + numpy; no torch).

    crops, clipped, ok = crop_boxes(image, left, top, width, height, size=224)

Each box is clipped to the image (a box partly outside keeps its inside part; `clipped` says what
share of its area was outside) and resized to `size` x `size` by PIL's antialiased bilinear filter
(a reduction averages all source pixels under each output pixel, as torchvision's Resize does on
PIL images), reading sub-pixel box edges exactly. A box with less than one pixel inside the image
has ok=False and a zero crop.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

MIN_INSIDE_PX = 1.0


def clip_boxes(left: np.ndarray, top: np.ndarray, width: np.ndarray, height: np.ndarray, image_w: int,
               image_h: int) -> tuple[np.ndarray, np.ndarray]:
    """(x1, y1, x2, y2) stacked as (n, 4) clipped to the image, and the share of each box's area outside it."""
    x1, y1 = np.clip(left, 0, image_w), np.clip(top, 0, image_h)
    x2, y2 = np.clip(left + width, 0, image_w), np.clip(top + height, 0, image_h)
    inside = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    area = width * height
    with np.errstate(invalid="ignore", divide="ignore"):
        clipped = np.where(area > 0, 1.0 - inside / area, 1.0)
    return np.stack([x1, y1, x2, y2], axis=1), np.clip(clipped, 0.0, 1.0)


def crop_boxes(image: Image.Image, left: np.ndarray, top: np.ndarray, width: np.ndarray, height: np.ndarray,
               size: int = 224) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uint8 crops (n, size, size, 3), clipped share (n,), ok (n,)) for the boxes on one image."""
    left, top, width, height = (np.asarray(a, dtype=float) for a in (left, top, width, height))
    boxes, clipped = clip_boxes(left, top, width, height, image.width, image.height)
    ok = ((boxes[:, 2] - boxes[:, 0]) >= MIN_INSIDE_PX) & ((boxes[:, 3] - boxes[:, 1]) >= MIN_INSIDE_PX)
    crops = np.zeros((len(boxes), size, size, 3), np.uint8)
    for i in np.flatnonzero(ok):  # one PIL call per box: crop and resample in one step, in C
        crops[i] = np.asarray(image.resize((size, size), Image.Resampling.BILINEAR, box=tuple(boxes[i])))
    return crops, clipped, ok
