"""Helpers shared by the converters: frame placement, natural ordering, masks to boxes."""
from __future__ import annotations

import os
import pathlib
import re
import shutil

import cv2
import numpy as np

# one definition of image files, natural order and frame numbers for tools and converters
from video_perception.sources import IMAGE_SUFFIXES as IMAGE_EXTS  # noqa: F401 - re-exported
from video_perception.sources import frame_number, list_images, natural_key  # noqa: F401
from video_perception.tools.cli_common import raise_if_stopped


class FrameSink:
    """Puts source frames where the output dataset can name them relative to OUT.

    Modes: ``path`` (default: no file written, ``file_name`` is the relative path from OUT to the
    source frame, so converting costs no disk), ``symlink`` (a relative symlink under
    OUT/frames/<video>/), ``copy`` (a copy there). Frames decoded from a video or bag are always
    written as files (``write``).

    Every converter hands it each frame, so it is where a conversion meets a SIGTERM that a
    library swallowed (``raise_if_stopped``): the conversion stops at its next frame.
    """

    def __init__(self, out_dir, mode: str = 'path'):
        if mode not in ('path', 'symlink', 'copy'):
            raise ValueError(f"frame mode {mode!r}: expected 'path', 'symlink' or 'copy'")
        self.out = pathlib.Path(out_dir).resolve()
        self.mode = mode

    def place(self, src, video: str, name: str | None = None) -> str:
        """Return the ``file_name`` for a source frame (relative to OUT, '/'-separated)."""
        raise_if_stopped()
        src = pathlib.Path(src).resolve()
        if not src.is_file():
            raise FileNotFoundError(f'frame {src} not found')
        if self.mode == 'path':
            return os.path.relpath(src, self.out).replace(os.sep, '/')
        rel = pathlib.Path('frames') / safe_name(video) / (name or src.name)
        dst = self.out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_symlink() or dst.exists():
            dst.unlink()
        if self.mode == 'symlink':
            dst.symlink_to(os.path.relpath(src, dst.parent))
        else:
            shutil.copyfile(src, dst)
        return rel.as_posix()

    def write(self, image: np.ndarray, video: str, name: str) -> str:
        """Encode a decoded frame (BGR or gray) under OUT/frames/<video>/<name>."""
        raise_if_stopped()
        rel = pathlib.Path('frames') / safe_name(video) / name
        dst = self.out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(dst), image):
            raise OSError(f'could not write frame {dst}')
        return rel.as_posix()


def safe_name(name: str) -> str:
    """A video name usable as one path component."""
    return re.sub(r'[^A-Za-z0-9._-]+', '_', str(name)).strip('_') or 'video'


def image_size(path) -> tuple[int, int]:
    """(height, width) of an image file."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f'image {path}: cannot be read as an image')
    return int(img.shape[0]), int(img.shape[1])


def read_mask(path) -> np.ndarray:
    """A label map or mask as a 2-D integer array (the first channel of a colour file)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f'mask {path}: cannot be read as an image')
    return img if img.ndim == 2 else img[..., 0]


def mask_to_boxes(mask: np.ndarray, min_area: int = 0) -> list[list[float]]:
    """Bounding rectangles [x, y, w, h] of the 8-connected components of a boolean mask.

    Uses ``cv2.connectedComponentsWithStats`` with 8-connectivity; w and h count pixels
    (a one-pixel component is [x, y, 1, 1]), as pycocotools' ``toBbox`` does for masks.
    Components with fewer than ``min_area`` pixels are dropped. Ordered by (y, x).
    """
    count, _, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8)
    boxes = []
    for k in range(1, count):  # label 0 is the background
        x, y, w, h, area = (int(v) for v in stats[k])
        if area >= max(min_area, 1):
            boxes.append([float(x), float(y), float(w), float(h)])
    return sorted(boxes, key=lambda b: (b[1], b[0]))


def mask_to_whole_box(mask: np.ndarray) -> list[list[float]]:
    """One box around every foreground pixel (empty list for an empty mask)."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return []
    return [[float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
             float(ys.max() - ys.min() + 1)]]
