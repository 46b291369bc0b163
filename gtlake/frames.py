"""Where a sequence's frame images are, and reading one (no Spark: the embed job and `gtlake review` share it).

Ground Truth finds a video frame at the `prefix` of its sequence file (`sequences.source_ref`) + the frame's
file name (`boxes.frame_file`). With a frames root, every `s3://<bucket>/<key>` is read as `<frames_root>/<key>`
instead (a local mirror of the input bucket, or another prefix).
"""
from __future__ import annotations

import io
import json
import os
import re

from gtlake import storage

IMAGE_MISSING, IMAGE_UNREADABLE = "image_missing", "image_unreadable"
# A frame file name (from the labels: untrusted) that could leave its sequence's prefix: absolute, with a scheme,
# a `.` or `..` segment, a backslash or a NUL. Python's and Java's regex syntax alike (the embed job uses it in
# Spark's rlike).
UNSAFE_FRAME_FILE = r"^/|^[A-Za-z][A-Za-z0-9+.-]*:|(^|/)\.\.?(/|$)|\\|\x00"
_UNSAFE = re.compile(UNSAFE_FRAME_FILE)


def frame_path(prefix: str, frame_file: str | None) -> str | None:
    """Where a frame's image is: `prefix` + `frame_file`, or None when the name is empty or could leave the prefix
    (UNSAFE_FRAME_FILE): a labels file cannot send a reader outside the root it was given."""
    if not isinstance(frame_file, str) or not frame_file or _UNSAFE.search(frame_file):
        return None
    return prefix + frame_file


def frame_location(uri: str, frames_root: str | None) -> str:
    """Where to read `uri` (a sequence file, an image, a prefix): `<frames_root>/<key>` for `s3://<bucket>/<key>`
    when a frames root is given, else `uri` itself."""
    if not frames_root or not storage.is_s3(uri):
        return uri
    _, key = storage.split_s3(uri)
    if storage.is_s3(frames_root):
        return frames_root.rstrip("/") + "/" + key
    return os.path.join(frames_root, *[k for k in key.split("/") if k]) + ("/" if key.endswith("/") else "")


def sequence_prefix(source_ref: str, frames_root: str | None) -> tuple[str, str | None]:
    """(prefix of the frame images, problem) of one sequence file: its `prefix` field, else its own folder."""
    folder = source_ref.rsplit("/", 1)[0] + "/"
    try:
        seq = json.loads(storage.read_bytes(frame_location(source_ref, frames_root)))
    except Exception as e:  # noqa: BLE001 - missing or broken: the folder is the best guess, and it is said
        return frame_location(folder, frames_root), f"{source_ref}: {type(e).__name__}"
    prefix = seq.get("prefix") if isinstance(seq, dict) else None
    if not isinstance(prefix, str) or not prefix:
        return frame_location(folder, frames_root), f"{source_ref}: no prefix"
    return frame_location(prefix if prefix.endswith("/") else prefix + "/", frames_root), None


def decode_image(data: bytes):  # noqa: ANN201 - a PIL image
    """An RGB PIL image from JPEG/PNG bytes; raises ValueError for bytes that are not an image."""
    from PIL import Image

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as e:  # noqa: BLE001 - PIL raises several kinds for a broken file
        raise ValueError(f"not a readable image: {type(e).__name__}: {e}") from None
    return img.convert("RGB") if img.mode != "RGB" else img


def load_image(uri: str):  # noqa: ANN201 - (PIL image | None, status, detail)
    """(the RGB image at `uri` (local or s3://), "ok", "") or (None, IMAGE_MISSING | IMAGE_UNREADABLE, why): no
    error of the file or of S3 (no credentials, no network, access denied) escapes."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return decode_image(storage.read_bytes(uri)), "ok", ""
    except FileNotFoundError:
        return None, IMAGE_MISSING, "no such file"
    except ClientError as e:
        code = str(e.response.get("Error", {}).get("Code", ""))
        return None, (IMAGE_MISSING if code in ("NoSuchKey", "404", "NotFound") else IMAGE_UNREADABLE), code
    except BotoCoreError as e:
        return None, IMAGE_UNREADABLE, f"{type(e).__name__}: {str(e)[:200]}"
    except (OSError, ValueError) as e:
        return None, IMAGE_UNREADABLE, f"{type(e).__name__}: {str(e)[:200]}"


def read_image(uri: str):  # noqa: ANN201 - PIL image, or IMAGE_MISSING / IMAGE_UNREADABLE
    """The RGB image at `uri` (local or s3://), or why there is none: IMAGE_MISSING, IMAGE_UNREADABLE."""
    img, status, _ = load_image(uri)
    return img if img is not None else status
