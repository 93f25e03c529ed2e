"""Draw detections on a frame: the annotated image topic and annotated videos.

Each class gets a fixed colour (a golden-ratio walk around the hue circle, so neighbouring ids
differ and the colour of a class never depends on what else is in the frame). Labels read
"name 0.87" on a filled band of the class colour, above the box when there is room.
"""
from __future__ import annotations

import colorsys
from typing import Sequence, Tuple

import cv2
import numpy as np

from video_perception.detections import Detections

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def class_color(class_id: int, pixel_order: str = 'bgr') -> Tuple[int, int, int]:
    """The colour of ``class_id`` as an (r, g, b) or (b, g, r) tuple of ints in 0..255."""
    hue = (int(class_id) * 0.618033988749895) % 1.0
    r, g, b = (int(round(v * 255)) for v in colorsys.hsv_to_rgb(hue, 0.85, 0.95))
    return (b, g, r) if pixel_order == 'bgr' else (r, g, b)


def _text_color(color: Tuple[int, int, int]) -> Tuple[int, int, int]:
    """Black on light bands, white on dark ones (luma of the band colour)."""
    luma = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
    return (0, 0, 0) if luma > 150 else (255, 255, 255)


def label_text(class_id: int, score: float, class_names: Sequence[str]) -> str:
    """'name 0.87'; the id itself when it is outside ``class_names``."""
    cid = int(class_id)
    name = class_names[cid] if 0 <= cid < len(class_names) else str(cid)
    return f'{name} {float(score):.2f}'


def draw_detections(image: np.ndarray, dets: Detections, class_names: Sequence[str] = (),
                    copy: bool = True, thickness: int = 2, font_scale: float = 0.5,
                    pixel_order: str = 'bgr') -> np.ndarray:
    """Draw boxes and labels of ``dets`` (original image pixels) on ``image`` [H, W, 3] uint8.

    Args:
        copy: draw on a copy (default); with False draw in place when the array is writeable
            (a read-only view, e.g. straight from a message, is still copied).
        pixel_order: order of ``image``'s channels, so colours stay the same in rgb frames.
    Returns:
        the annotated image (the input itself when it has no detections and ``copy`` is False).
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'draw_detections: image of shape {image.shape}; expected [H, W, 3]')
    out = image.copy() if copy or not image.flags.writeable else image
    if not out.flags.c_contiguous:
        out = np.ascontiguousarray(out)
    height, width = out.shape[:2]
    for box, score, cid in zip(dets.boxes_xyxy, dets.scores, dets.class_ids):
        if not np.all(np.isfinite(box)):
            continue
        x1, y1, x2, y2 = (int(round(float(v))) for v in np.clip(box, -1, [width, height] * 2))
        color = class_color(cid, pixel_order)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness, cv2.LINE_8)
        text = label_text(cid, score, class_names)
        (tw, th), base = cv2.getTextSize(text, _FONT, font_scale, 1)
        band_h = th + base + 2
        top = y1 - band_h if y1 - band_h >= 0 else y1 + thickness  # inside the box at the top
        cv2.rectangle(out, (x1, top), (x1 + tw + 2, top + band_h), color, -1)
        cv2.putText(out, text, (x1 + 1, top + th + 1), _FONT, font_scale,
                    _text_color(class_color(cid)), 1,
                    cv2.LINE_AA)
    return out
