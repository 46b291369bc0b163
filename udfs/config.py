"""Thresholds of the label-quality checks: one typed, documented place (`gtlake quality --config FILE`)."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import ClassVar


def number_overrides(cls, text: str, what: str) -> dict:  # noqa: ANN001 - a dataclass of numbers
    """The overrides in `text` (a JSON object) for the numeric fields of `cls`, each cast to its field's type;
    ValueError for anything else: not an object, an unknown key, a non-number, a fraction for a whole number."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"the {what} config must be a JSON object")
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} settings: {', '.join(unknown)} (known: {', '.join(known)})")
    defaults = asdict(cls())
    out = {}
    for key, value in data.items():
        want = type(defaults[key])
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or (want is int and value != int(value)):
            raise ValueError(f"{key} must be a number ({'whole, ' if want is int else ''}finite), got {value!r}")
        out[key] = want(value)
    return out


def check_ranges(config, ranges: dict[str, tuple[float, float, bool]]) -> None:  # noqa: ANN001 - a settings dataclass
    """ValueError naming the first setting outside its range: `ranges` maps a field to (low, high, low
    excluded); every value must also be finite."""
    for key, (lo, hi, open_lo) in ranges.items():
        value = getattr(config, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value > hi or value < lo or (open_lo and value == lo):
            span = f"{'(' if open_lo else '['}{lo:g}, {hi:g}]"
            raise ValueError(f"{key} must be in {span}, got {value!r}")


@dataclass(frozen=True)
class QualityConfig:
    """Tolerances of the per-track checks. Defaults start from the original method (IoU 0.5, size 25%)."""

    iou_min: float = 0.6  # IoU with the box the track's motion predicts (its neighbours) below this: the box jumped
    size_change_max: float = 0.25  # size (area) off its rolling median by more than 25%: size jump
    window: int = 5  # frames in the rolling median (the original method's rolling average); odd
    baseline_window: int = 11  # frames in the wider robust baseline: catches mistakes lasting up to 5 frames; odd
    residual_rel: float = 0.15  # an edge off the line through its neighbours by this share of the box size...
    residual_px: float = 4.0  # ... plus this many pixels (annotators' pixel noise; dominates for small boxes)
    residual_track_k: float = 4.0  # ... and by this many times the track's own typical residual
    residual_steady: float = 0.75  # ... and by this share of (residual_rel * size + residual_px): on a steady track
    # (small typical residual) an edge off by 0.75 of that tolerance counts; a steady hand shows smaller mistakes
    fps: float = 25.0  # tolerances grow with 25 / fps: objects move further between frames at lower rates
    max_missing_gap: int = 2  # a track absent this many frames or fewer mid-track: missing box; longer: occlusion
    edge_frames: int = 3  # the first and last boxes of a track or of a stretch between occlusions (entering/leaving view)
    border_px: float = 3.0  # a box this close to the image edge may be clipped: size changes there are legit
    iou_track_k: float = 2.0  # ... and its IoU miss (1 - IoU) this many times the track's typical one
    quant_px: float = 2.0  # an edge within this many pixels of where it should be is never evidence (whole pixels)
    camera_min_tracks: int = 3  # tracks on a frame needed to tell the camera's jerks from an object's own motion
    duplicate_iou: float = 0.7  # two boxes of one class overlapping this much on one frame...
    duplicate_share: float = 0.8  # ... on this share of the shorter track's frames: duplicate (crossing objects overlap briefly)
    broken_gap_frames: int = 5  # a new id starting within this many frames of where a track of its class ended...
    broken_iou: float = 0.3  # ... overlapping the old track carried on at its last velocity this much: broken track
    reentry_frames: int = 50  # ... or, the old one having left through the image border, coming back there this soon
    attribute_flip_frames: int = 3  # an attribute changing for at most this many frames and changing back...
    attribute_context: int = 3  # ... between runs of at least this many boxes: attribute flip
    swap_gain: float = 0.5  # exchanging two tracks' boxes must improve their summed IoU with the previous frame this much
    track_outlier_z: float = 3.5  # a track's low-percentile IoU this many robust deviations below its class peers
    min_peers: int = 5  # tracks of a class needed before comparing a track with its peers
    # The peers' spread (MAD of their 10th-percentile iou_pred) counted as at least this: where a class's tracks all
    # follow their motion almost perfectly (slow vehicles: MAD 0.008), a track 0.05 below them is still a good track.
    track_outlier_min_spread: float = 0.05

    # Every setting's range, (low, high, low excluded): a value outside is refused, never run with.
    RANGES: ClassVar[dict[str, tuple[float, float, bool]]] = {
        "iou_min": (0, 1, True), "size_change_max": (0, 100, True), "window": (3, 1001, False),
        "baseline_window": (3, 1001, False), "residual_rel": (0, 10, False), "residual_px": (0, 1000, False),
        "residual_track_k": (0, 100, True), "residual_steady": (0, 10, True), "fps": (0, 1000, True),
        "max_missing_gap": (0, 100000, False),
        "edge_frames": (0, 100000, False), "border_px": (0, 10000, False), "iou_track_k": (0, 100, True),
        "quant_px": (0, 100, False), "camera_min_tracks": (1, 100000, False), "duplicate_iou": (0, 1, True),
        "duplicate_share": (0, 1, True), "broken_gap_frames": (0, 100000, False), "broken_iou": (0, 1, True),
        "reentry_frames": (0, 100000, False), "attribute_flip_frames": (1, 100000, False),
        "attribute_context": (1, 100000, False), "swap_gain": (0, 10, False), "track_outlier_z": (0, 100, True),
        "min_peers": (1, 1000000, False), "track_outlier_min_spread": (0, 1, True)}

    def __post_init__(self) -> None:
        check_ranges(self, self.RANGES)

    @property
    def motion_scale(self) -> float:
        """How much more objects move between frames than at 25 fps."""
        return max(1.0, 25.0 / self.fps)

    @classmethod
    def recorded(cls, entries) -> "QualityConfig":  # noqa: ANN001 - iterable of quality ledger entries
        """The settings recorded in quality ledger entries when they all agree, else the defaults."""
        seen = {json.dumps(e["config"], sort_keys=True) for e in entries if isinstance(e.get("config"), dict)}
        if len(seen) != 1:
            return cls()
        data = json.loads(seen.pop())
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> "QualityConfig":
        """A config from a JSON object of overrides; unknown keys or wrong types raise ValueError."""
        out = number_overrides(cls, text, "quality")
        for key in ("window", "baseline_window"):
            if key in out and (out[key] < 3 or out[key] % 2 == 0):
                raise ValueError(f"{key} must be an odd number of frames >= 3, got {out[key]}")
        return cls(**out)
