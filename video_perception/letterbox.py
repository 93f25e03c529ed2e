"""Letterbox a frame to the network input, undo it for boxes, and build the input tensor.

YOLOX / StreamNet ``preproc``: ratio r = min(H_net / H, W_net / W) (no upscale limit), resize to
(int(W r), int(H r)) with bilinear interpolation, paste at the top-left of a canvas filled with
114. ``center`` mode pastes in the middle instead. Because the resized size is truncated to whole
pixels, the exact per-axis scale is new_w / W and new_h / H (not r); ``LetterboxTransform`` uses
those, so boxes map back to the original pixels exactly (YOLOX's ``boxes / r`` is off by up to one
network pixel at the far edge).
"""
from __future__ import annotations

import dataclasses
from typing import Tuple

import cv2
import numpy as np

LETTERBOX_MODES = ('top_left', 'center')


@dataclasses.dataclass(frozen=True)
class LetterboxTransform:
    """Where the original image sits on the network canvas.

    src_height, src_width: original image size; dst_height, dst_width: network input size;
    new_height, new_width: size of the resized image on the canvas, placed at (pad_left, pad_top);
    ratio: YOLOX's r = min(dst / src).
    """

    src_height: int
    src_width: int
    dst_height: int
    dst_width: int
    new_height: int
    new_width: int
    pad_top: int
    pad_left: int
    ratio: float

    @property
    def scale_x(self) -> float:
        return self.new_width / self.src_width

    @property
    def scale_y(self) -> float:
        return self.new_height / self.src_height

    def _affine(self):
        scale = np.array([self.scale_x, self.scale_y] * 2, np.float64)
        offset = np.array([self.pad_left, self.pad_top] * 2, np.float64)
        return scale, offset

    def boxes_to_original(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Network-input boxes [N, 4] xyxy -> original image pixels, clipped to the image.

        Returns float32 [N, 4].
        """
        boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
        scale, offset = self._affine()
        out = (boxes - offset) / scale
        np.clip(out[:, 0::2], 0.0, self.src_width, out=out[:, 0::2])
        np.clip(out[:, 1::2], 0.0, self.src_height, out=out[:, 1::2])
        return out.astype(np.float32)

    def to_network(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Original-pixel boxes [N, 4] xyxy -> network-input pixels (float32 [N, 4])."""
        boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
        scale, offset = self._affine()
        return (boxes * scale + offset).astype(np.float32)


def letterbox_transform(src_height: int, src_width: int, height: int, width: int,
                        mode: str = 'top_left') -> LetterboxTransform:
    """The transform ``letterbox`` applies to an image of this size (no pixels touched)."""
    if mode not in LETTERBOX_MODES:
        raise ValueError(f'letterbox mode "{mode}" unknown; expected one of {LETTERBOX_MODES}')
    if min(src_height, src_width, height, width) < 1:
        raise ValueError(f'letterbox: image {src_width} x {src_height} to {width} x {height}; '
                         f'expected sizes >= 1')
    ratio = min(height / src_height, width / src_width)
    # + 1e-6: r * W can land a hair below the integer it should be (960 / 1920 * 1920)
    new_w = min(width, max(1, int(src_width * ratio + 1e-6)))
    new_h = min(height, max(1, int(src_height * ratio + 1e-6)))
    top, left = ((height - new_h) // 2, (width - new_w) // 2) if mode == 'center' else (0, 0)
    return LetterboxTransform(src_height, src_width, height, width, new_h, new_w, top, left,
                              ratio)


def letterbox(image: np.ndarray, height: int, width: int, mode: str = 'top_left',
              pad_value: int = 114) -> Tuple[np.ndarray, LetterboxTransform]:
    """Resize ``image`` [h, w, 3] uint8 keeping its aspect ratio into a [height, width, 3] canvas.

    Returns:
        (canvas uint8 [height, width, 3], LetterboxTransform)
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'letterbox: image of shape {image.shape}; expected [h, w, 3]')
    t = letterbox_transform(image.shape[0], image.shape[1], height, width, mode)
    canvas = np.empty((height, width, 3), np.uint8)
    _fill_pad(canvas, t, pad_value)
    inner = canvas[t.pad_top:t.pad_top + t.new_height, t.pad_left:t.pad_left + t.new_width]
    if (t.new_height, t.new_width) == image.shape[:2]:
        inner[...] = image
    else:  # resize straight into the canvas: one pass over the output, no temporary
        out = cv2.resize(image, (t.new_width, t.new_height), dst=inner,
                         interpolation=cv2.INTER_LINEAR)
        if out is not inner and not np.shares_memory(out, inner):
            inner[...] = out
    return canvas, t


def _fill_pad(canvas: np.ndarray, t: LetterboxTransform, pad_value: int) -> None:
    """Fill only the border strips around the pasted image."""
    top, left = t.pad_top, t.pad_left
    bottom, right = top + t.new_height, left + t.new_width
    canvas[:top] = pad_value
    canvas[bottom:] = pad_value
    canvas[top:bottom, :left] = pad_value
    canvas[top:bottom, right:] = pad_value


def _spec(spec, name, default):
    if isinstance(spec, dict):
        return spec.get(name, default)
    return getattr(spec, name, default)


def preprocess(image: np.ndarray, spec, input_order: str = None
               ) -> Tuple[np.ndarray, LetterboxTransform]:
    """Frame -> network input tensor, as the bundle's ``input`` section describes.

    Args:
        image: [h, w, 3] uint8, in the spec's ``pixel_format`` order unless ``input_order``
            ('bgr' | 'rgb') says otherwise (then channels are swapped).
        spec: a ``Bundle`` or any object / dict with height, width, pixel_format, scale, mean,
            std, letterbox, pad_value; x = (pixel * scale - mean) / std per channel.
    Returns:
        (tensor float32 [1, 3, H, W], LetterboxTransform)
    """
    height, width = int(_spec(spec, 'height', 0)), int(_spec(spec, 'width', 0))
    order = _spec(spec, 'pixel_format', 'bgr')
    if input_order is not None and input_order != order:
        image = image[..., ::-1]
    canvas, t = letterbox(image, height, width, _spec(spec, 'letterbox', 'top_left'),
                          int(_spec(spec, 'pad_value', 114)))
    scale = float(_spec(spec, 'scale', 1.0))
    mean = np.asarray(_spec(spec, 'mean', (0.0, 0.0, 0.0)), np.float64).reshape(-1)
    std = np.asarray(_spec(spec, 'std', (1.0, 1.0, 1.0)), np.float64).reshape(-1)
    if mean.size not in (1, 3) or std.size not in (1, 3) or np.any(std == 0):
        raise ValueError(f'preprocess: mean {mean.tolist()} / std {std.tolist()}; expected 1 or '
                         f'3 values each and std != 0')
    mean, std = np.broadcast_to(mean, 3), np.broadcast_to(std, 3)
    tensor = np.empty((1, 3, height, width), np.float32)           # [1, 3, H, W]
    mul, add = scale / std, -mean / std
    identity = np.all(mul == 1.0) and np.all(add == 0.0)
    np.copyto(tensor[0], canvas.transpose(2, 0, 1))               # HWC -> CHW, uint8 -> f32
    if not identity:
        tensor[0] *= mul.astype(np.float32)[:, None, None]
        tensor[0] += add.astype(np.float32)[:, None, None]
    return tensor, t
