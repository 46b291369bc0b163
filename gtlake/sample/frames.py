"""Synthetic frame images for a sample video (`gtlake sample --frames-images`).

Each object is drawn at its true box as a textured patch of its own (two colours, one of four
patterns, a frequency and an angle), in the object's own coordinates, so it looks the same as it
moves, grows and leaves the image, and differs from every other object. The background is a static
street-like scene (sky, road, lane marks, low-frequency texture). Objects lower in the image are
nearer and drawn last, so they hide farther ones where boxes overlap; a fully occluded object is
not drawn. Each frame gets sensor noise and a slight change of exposure, as a real camera's
frames do (without them, consecutive crops would be identical to the bit). Labels come from the annotators,
images from the truth: a planted identity swap or a box on the wrong object therefore changes what the labeled
box shows.
"""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

from gtlake.sample.scene import IMAGE_HEIGHT, IMAGE_WIDTH, Track

JPEG_QUALITY = 90
NOISE_SIGMA = 4.0  # sensor noise, grey levels
NOISE_PLANES = 4  # noise planes drawn once per video; each frame takes one, shifted (cheaper than fresh noise)


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Sky over road with lane marks and soft texture, float (h, w, 3)."""
    y = np.linspace(0.0, 1.0, h)[:, None, None]
    horizon = 0.38
    sky = np.array([150.0, 180.0, 215.0]) + rng.normal(0, 12, 3)
    road = np.array([92.0, 92.0, 96.0]) + rng.normal(0, 8, 3)
    img = np.where(y < horizon, sky * (1.0 - 0.3 * y), road * (0.8 + 0.4 * (y - horizon))).astype(np.float32)
    img = np.broadcast_to(img, (h, w, 3)).copy()
    # Low-frequency texture: a coarse random grid, smoothly upsampled.
    coarse = rng.normal(0, 14, (9, 16)).astype(np.float32)
    texture = np.asarray(Image.fromarray(coarse, mode="F").resize((w, h), Image.Resampling.BICUBIC))
    img += texture[:, :, None]
    # Dashed lane marks on the road.
    ys = np.arange(int(h * 0.6), h, 1)
    for lane in (0.3, 0.7):
        x = (lane * w + (ys - h * horizon) * (lane - 0.5) * 1.2).astype(int)
        dash = ((ys // 40) % 2 == 0) & (x >= 3) & (x < w - 3)
        for dx in range(-3, 4):
            img[ys[dash], x[dash] + dx] = 225.0
    return img


def _look(rng: np.random.Generator) -> dict:
    """An object's appearance: two well-separated colours and a pattern."""
    base = rng.uniform(20, 235, 3)
    second = rng.uniform(20, 235, 3)
    while np.abs(base - second).sum() < 180:
        second = rng.uniform(20, 235, 3)
    return {"base": base, "second": second, "pattern": int(rng.integers(4)), "freq": float(rng.uniform(2.0, 5.0)),
            "angle": float(rng.uniform(0, np.pi))}


def _texture(look: dict, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """RGB float (len(v), len(u), 3) of the object at object coordinates u (across) and v (down), in [0, 1]."""
    uu, vv = np.meshgrid(u, v)
    f, a = look["freq"], look["angle"]
    if look["pattern"] == 0:  # stripes
        p = np.sin(2 * np.pi * f * (uu * np.cos(a) + vv * np.sin(a))) > 0
    elif look["pattern"] == 1:  # checks
        p = (np.floor(f * uu) + np.floor(f * vv)) % 2 == 1
    elif look["pattern"] == 2:  # rings
        p = np.sin(2 * np.pi * f * np.hypot(uu - 0.5, vv - 0.5)) > 0
    else:  # soft blobs
        p = 0.5 + 0.5 * np.sin(2 * np.pi * f * uu) * np.sin(2 * np.pi * f * vv + a)
    p = p.astype(float)[:, :, None]
    shade = (0.8 + 0.2 * (1.0 - vv))[:, :, None]
    return (look["base"] * (1 - p) + look["second"] * p) * shade


def _draw(img: np.ndarray, look: dict, left: float, top: float, width: float, height: float) -> None:
    h, w = img.shape[:2]
    x1, x2 = max(0, int(np.floor(left))), min(w, int(np.ceil(left + width)))
    y1, y2 = max(0, int(np.floor(top))), min(h, int(np.ceil(top + height)))
    if x2 <= x1 or y2 <= y1:
        return
    u = (np.arange(x1, x2) + 0.5 - left) / width
    v = (np.arange(y1, y2) + 0.5 - top) / height
    img[y1:y2, x1:x2] = _texture(look, u, v)


def render_video(tracks: list[Track], n_frames: int, rng: np.random.Generator, folder: str,
                 width: int = IMAGE_WIDTH, height: int = IMAGE_HEIGHT) -> int:
    """Write frame_000001.jpg ... for frames 0 .. n_frames-1 under `folder`; returns the number written."""
    os.makedirs(folder, exist_ok=True)
    background = _background(rng, width, height)
    looks = [_look(rng) for _ in tracks]
    on_frame: dict[int, list[tuple[int, int]]] = {}
    for i, t in enumerate(tracks):
        for row, f in enumerate(t.frame_no.tolist()):
            on_frame.setdefault(int(f), []).append((i, row))
    noise = rng.normal(0.0, NOISE_SIGMA, (NOISE_PLANES, height, width, 1)).astype(np.float32)
    for f in range(n_frames):
        img = background.copy()
        drawn = []
        for i, row in on_frame.get(f, []):
            t = tracks[i]
            box = t.full[row] if t.full is not None else np.array([t.left[row], t.top[row], t.width[row], t.height[row]])
            drawn.append((box[1] + box[3], i, box))
        for _, i, box in sorted(drawn, key=lambda d: (d[0], d[1])):  # far (higher up) first, near last
            _draw(img, looks[i], *box)
        img *= 1.0 + rng.normal(0.0, 0.015)  # exposure flicker
        img += np.roll(noise[f % NOISE_PLANES], int(rng.integers(width)), axis=1)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
            os.path.join(folder, f"frame_{f + 1:06d}.jpg"), quality=JPEG_QUALITY)
    return n_frames
