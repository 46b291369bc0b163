"""Ground-truth motion of objects in a synthetic video (pure numpy, no I/O).

A scene is a camera view of `width` x `height` pixels. Each object moves smoothly: its centre follows a
velocity with varying acceleration, and its size changes as it comes closer or moves away. Objects enter and
leave the image, and some are fully occluded for a few frames (a legitimate gap in the track, not a labeling
mistake).

A `Regime` is a kind of footage, with what real footage has and a clean street scene does not: small fast
objects that turn sharply (sports), small slow ones (aerial or far traffic), a camera that pans, shakes and
zooms (every box of a frame moves together: not a labeling error), low frame rates, annotators who key every
few frames and let the tool interpolate, objects partly hidden for a while (their box shrinks to the visible
part). `REGIMES` names them; a sample mixes them by default, one per video.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMAGE_WIDTH = 1920
IMAGE_HEIGHT = 1080
FPS = 25

# (class label, share of objects, typical full-box height in px, aspect w/h, speed px/frame)
CLASSES = (
    ("Vehicle", 0.55, (60.0, 320.0), (1.1, 2.2), (1.0, 12.0)),
    ("Pedestrian", 0.35, (70.0, 360.0), (0.32, 0.48), (0.3, 3.0)),
    ("Cyclist", 0.10, (80.0, 300.0), (0.45, 0.75), (1.0, 6.0)),
)
VEHICLE_TYPES = ("Car", "Car", "Car", "Van", "Truck", "Bus")
MIN_VISIBLE_SHARE = 0.3  # below this share of its full box inside the image, an object is not labeled
MIN_LABELED_HEIGHT = 16.0  # pixels: annotators skip objects smaller than this
MIN_TRACK_FRAMES = 8  # shorter-lived objects are not simulated


@dataclass(frozen=True)
class Regime:
    """A kind of footage: its objects, how they move, the camera, and how annotators key it."""

    name: str
    classes: tuple = CLASSES  # (label, share, full-box height range px, aspect w/h range, speed range px/frame)
    speed_scales_with_size: bool = True  # perspective: nearer (bigger) objects move more pixels a frame
    agility: float = 1.0  # scale of the objects' acceleration
    turn_span: int = 25  # frames over which an object's acceleration stays about the same (shorter: sharper turns)
    band: tuple[float, float] = (0.45, 0.8)  # where object centres start, as shares of the image height
    vertical_motion: float = 0.35  # vertical speed as a share of horizontal (on a road objects move across)
    frame_step: float = 1.0  # real time between frames, in frames of 25 fps (a 6 fps video: 25 / 6)
    pan_px: float = 0.0  # camera pan: typical speed, px a frame (it follows the action, speeding up and slowing)
    shake_px: float = 0.0  # camera shake: the whole picture jitters this much a frame (px, std)
    zoom: float = 0.0  # camera zoom: typical change of log scale a frame
    keyframe_factor: float = 1.0  # annotators' keyframe spacing, times their usual habit
    partial_occlusion: float = 0.0  # share of objects passing partly behind something for a while
    min_labeled_height: float = MIN_LABELED_HEIGHT  # annotators skip smaller objects

    @property
    def fps(self) -> float:
        """Frames per second of the video."""
        return FPS / self.frame_step


REGIMES = {r.name: r for r in (
    Regime("street"),
    # Sports broadcast: 20 helmets of ~30 px (down to 4), running 3-12 px a frame and turning sharply; the camera
    # follows the play.
    Regime("sports", classes=(("Helmet", 1.0, (4.0, 52.0), (0.8, 1.2), (3.0, 12.0)),), speed_scales_with_size=False,
           agility=6.0, turn_span=8, band=(0.15, 0.85), vertical_motion=1.0, pan_px=5.0, shake_px=1.2,
           min_labeled_height=4.0),
    # Aerial or far traffic: small, slow objects, a drifting camera.
    Regime("aerial", classes=(("Vehicle", 0.8, (8.0, 30.0), (1.2, 2.2), (0.2, 2.0)),
                              ("Pedestrian", 0.2, (5.0, 12.0), (0.35, 0.5), (0.05, 0.5))),
           speed_scales_with_size=False, band=(0.1, 0.9), vertical_motion=1.0, pan_px=0.4, shake_px=0.3,
           min_labeled_height=4.0),
    Regime("pan_zoom", pan_px=6.0, shake_px=1.0, zoom=0.004),
    Regime("low_fps", frame_step=25.0 / 6.0, keyframe_factor=0.35),
    Regime("keyframes", keyframe_factor=2.5),
    Regime("occlusion", partial_occlusion=0.6),
)}
REGIME_NAMES = tuple(REGIMES)
STREET = REGIMES["street"]


@dataclass(frozen=True)
class Camera:
    """Where the camera is on each frame: the picture is scaled by `scale` about its centre, then shifted."""

    scale: np.ndarray
    dx: np.ndarray
    dy: np.ndarray

    def apply(self, t: np.ndarray, x1: np.ndarray, y1: np.ndarray, w: np.ndarray,
              h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The boxes (world coordinates, on frames t) as the camera shows them."""
        s, cx, cy = self.scale[t], IMAGE_WIDTH / 2, IMAGE_HEIGHT / 2
        return cx + s * (x1 - cx) + self.dx[t], cy + s * (y1 - cy) + self.dy[t], s * w, s * h


def camera_path(rng: np.random.Generator, n_frames: int, regime: Regime) -> Camera:
    """A camera over `n_frames`: a pan whose speed drifts (and sometimes changes abruptly), shake, and zoom."""
    n = max(1, n_frames)
    if not (regime.pan_px or regime.shake_px or regime.zoom):
        return Camera(np.ones(n), np.zeros(n), np.zeros(n))

    def unit(span: int) -> np.ndarray:
        v = _smooth_noise(rng, n, 1.0, span)
        return v / (v.std() or 1.0)

    vx = regime.pan_px * unit(30) + regime.pan_px * np.repeat(rng.normal(0, 0.6, n // 40 + 1), 40)[:n]
    vy = 0.3 * regime.pan_px * unit(30)
    dx = np.cumsum(vx) + rng.normal(0, regime.shake_px, n)
    dy = np.cumsum(vy) + rng.normal(0, regime.shake_px, n)
    scale = np.exp(np.clip(np.cumsum(regime.zoom * unit(40)), -0.7, 0.7))
    return Camera(scale, dx - dx[0], dy - dy[0])


@dataclass(frozen=True)
class Track:
    """True path of one object: boxes for the frames where it is labelable."""

    label: str
    vehicle_type: str | None
    frame_no: np.ndarray  # int, 0-based
    left: np.ndarray
    top: np.ndarray
    width: np.ndarray
    height: np.ndarray
    occluded: np.ndarray  # "none" | "partial" per frame (fully occluded frames are absent)
    full: np.ndarray | None = None  # (n, 4) left, top, width, height of the whole object, before clipping


def _smooth_noise(rng: np.random.Generator, n: int, scale: float, span: int = 25) -> np.ndarray:
    """Low-frequency noise: white noise smoothed by a moving average of `span` frames."""
    raw = rng.normal(0.0, scale, n + span)
    kernel = np.ones(span) / span
    return np.convolve(raw, kernel, mode="valid")[:n]


def simulate_track(rng: np.random.Generator, n_frames: int, regime: Regime = STREET,
                   camera: Camera | None = None) -> Track | None:
    """Simulate one object's true path over a video of `n_frames` (of footage `regime`, seen by `camera`); None
    if it is never labelable."""
    if n_frames < MIN_TRACK_FRAMES:
        return None
    classes = regime.classes
    shares = np.array([c[1] for c in classes])
    label, _, (h_lo, h_hi), (a_lo, a_hi), (v_lo, v_hi) = classes[rng.choice(len(classes), p=shares)]
    k = regime.frame_step  # motion per frame grows with the time between frames (accelerations with its square)
    full_h0 = rng.uniform(h_lo, h_hi)
    aspect = rng.uniform(a_lo, a_hi)

    # Life span in the scene: most objects are there from the start or appear part-way.
    start = 0 if rng.random() < 0.6 else int(rng.integers(0, max(1, n_frames // 2)))
    length = int(rng.integers(max(MIN_TRACK_FRAMES, n_frames // 4), n_frames + 1))
    end = min(n_frames, start + length)
    t = np.arange(start, end)
    n = t.size
    if n < MIN_TRACK_FRAMES:
        return None

    # Perspective: apparent size changes as the object approaches (>0) or recedes (<0), within
    # a factor 2.5 over its life, and its speed in pixels scales with its apparent size.
    growth = float(np.clip(rng.normal(0.0, 0.003 * k), -np.log(2.5) / n, np.log(2.5) / n))
    scale = np.exp(growth * np.arange(n) + np.cumsum(_smooth_noise(rng, n, 0.0008 * k)))
    full_h = full_h0 * scale
    full_w = full_h * aspect
    # Motion: a heading plus smooth acceleration.
    speed = rng.uniform(v_lo, v_hi) * ((full_h0 / 200.0) ** 0.5 if regime.speed_scales_with_size else 1.0) * k
    heading = rng.uniform(-np.pi, np.pi) if label != "Vehicle" else rng.choice([0.0, np.pi]) + rng.normal(0, 0.15)
    span = max(3, int(round(regime.turn_span / k)))
    accel = regime.agility * k * k
    vx = speed * np.cos(heading) + np.cumsum(_smooth_noise(rng, n, 0.08 * accel, span))
    vy = (regime.vertical_motion * speed * np.sin(heading)
          + np.cumsum(_smooth_noise(rng, n, 0.03 * accel * (1 + 2 * (regime.vertical_motion == 1)), span)))
    if regime.speed_scales_with_size:
        vx, vy = vx * scale, vy * scale

    # Start inside the image, or just outside an edge when entering part-way.
    cx0 = rng.uniform(0.1, 0.9) * IMAGE_WIDTH
    if start > 0 and rng.random() < 0.5:
        cx0 = -0.45 * full_w[0] if vx[0] > 0 else IMAGE_WIDTH + 0.45 * full_w[0]
    cy0 = rng.uniform(*regime.band) * IMAGE_HEIGHT
    cx = cx0 + np.concatenate([[0.0], np.cumsum(vx[:-1])])
    cy = cy0 + np.concatenate([[0.0], np.cumsum(vy[:-1])])

    # What the camera shows: the full box, then clipped to the image.
    x1, y1, full_w, full_h = (cx - full_w / 2, cy - full_h / 2, full_w, full_h) if camera is None else \
        camera.apply(t, cx - full_w / 2, cy - full_h / 2, full_w, full_h)
    x2, y2 = x1 + full_w, y1 + full_h
    cx1, cy1 = np.clip(x1, 0, IMAGE_WIDTH), np.clip(y1, 0, IMAGE_HEIGHT)
    cx2, cy2 = np.clip(x2, 0, IMAGE_WIDTH), np.clip(y2, 0, IMAGE_HEIGHT)
    visible_share = ((cx2 - cx1) * (cy2 - cy1)) / (full_w * full_h)
    occluded = np.where(visible_share < 0.95, "partial", "none").astype(object)
    # Partly hidden for a while (passing behind a parked car, a player in front): one side of the visible box
    # is covered, the cover growing and shrinking smoothly; annotators box only what they see.
    if regime.partial_occlusion and n > 30 and rng.random() < regime.partial_occlusion:
        p_len = int(rng.integers(10, min(40, n - 10)))
        p_start = int(rng.integers(5, n - p_len - 4))
        cover = np.zeros(n)
        cover[p_start:p_start + p_len] = rng.uniform(0.25, 0.6) * np.sin(np.linspace(0, np.pi, p_len)) ** 2
        side = rng.integers(4)
        if side == 0:
            cx1 = np.maximum(cx1, cx1 + cover * (cx2 - cx1))
        elif side == 1:
            cx2 = np.minimum(cx2, cx2 - cover * (cx2 - cx1))
        elif side == 2:
            cy1 = np.maximum(cy1, cy1 + cover * (cy2 - cy1))
        else:
            cy2 = np.minimum(cy2, cy2 - cover * (cy2 - cy1))
        visible_share = ((cx2 - cx1) * (cy2 - cy1)) / (full_w * full_h)
        occluded[cover > 0.08] = "partial"
    keep = ((visible_share >= MIN_VISIBLE_SHARE) & ((cy2 - cy1) >= regime.min_labeled_height)
            & ((cx2 - cx1) >= min(6.0, regime.min_labeled_height)))

    # Full occlusion for a few frames mid-track (a parked truck, a pedestrian behind a pole).
    if n > 40 and rng.random() < 0.3:
        o_len = int(max(2, rng.integers(3, 13) / k))
        o_start = int(rng.integers(10, n - o_len - 10))
        keep[o_start:o_start + o_len] = False
        occluded[max(0, o_start - 4):o_start] = "partial"
        occluded[o_start + o_len:o_start + o_len + 4] = "partial"

    if keep.sum() < MIN_TRACK_FRAMES:
        return None
    return Track(
        label=label,
        vehicle_type=str(rng.choice(VEHICLE_TYPES)) if label == "Vehicle" else None,
        frame_no=t[keep],
        left=cx1[keep],
        top=cy1[keep],
        width=(cx2 - cx1)[keep],
        height=(cy2 - cy1)[keep],
        occluded=occluded[keep],
        full=np.stack([x1, y1, full_w, full_h], axis=1)[keep],
    )
