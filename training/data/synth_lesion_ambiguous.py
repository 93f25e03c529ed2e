"""The ``lesion_ambiguous`` preset: lesions that one frame cannot tell, and three frames can.

Built to test the claim of V2I-DETR (and of StreamNet's long path) where it must hold: the
information that separates a lesion from its look-alikes is in time, not in the frame. The tissue,
camera and optics are the ``lesion`` preset's (training.data.synth_lesion); on top:

* **Lesions persist** on the tissue (they move with the camera) but **fade**: in short windows of
  1 to 3 frames their contrast drops to 5-12 % of its level, i.e. below the texture's own
  variation, so a faded frame alone shows nothing while its two predecessors show the lesion
  where the camera's slow motion keeps it.
* **Look-alikes are transient**: in each frame, 0 to 2 bumps with the lesions' colour shift, size
  and soft edge appear at random places for exactly one frame (bubbles, mucus, reflections).
  Only their texture differs slightly (a lesion is mottled, a look-alike is smooth), so a single
  frame holds a weak cue and a clip a strong one (was it there before, at the same place on the
  tissue?). Look-alikes are never annotated.

Every box keeps ``contrast`` and ``faded`` (True inside a fade window), so results can be split
into faded and visible frames. Deterministic in ``rng`` like every preset.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from training.data.synth_lesion import (CATEGORIES, MIN_IN_VIEW, TEX_SCALE, _camera,
                                        _motion_blur, _noise, _tissue)

__all__ = ['CATEGORIES', 'render_video']

FADE_PROB = 0.12          # chance per frame that a fade window starts (per lesion)
FADE_LEN = (1, 3)         # frames
FADE_LEVEL = (0.05, 0.12)  # contrast multiplier inside a window
MAX_DISTRACTORS = 2       # per frame


def _fade_mask(rng, frames: int) -> np.ndarray:
    """[F] contrast multipliers: 1 outside fade windows; the first frame never fades (a clip
    clamped at the sequence start has nothing earlier to show)."""
    mult = np.ones(frames, np.float32)
    f = 1
    while f < frames:
        if rng.random() < FADE_PROB:
            n = int(rng.integers(FADE_LEN[0], FADE_LEN[1] + 1))
            mult[f:f + n] = rng.uniform(*FADE_LEVEL)
            f += n + 2  # two visible frames between windows: the clip can always see one
        else:
            f += 1
    return mult


def _ellipse(centre, axes, angle) -> np.ndarray:
    """Polygon [P, 2] float64 of an ellipse (cv2 degrees)."""
    return cv2.ellipse2Poly((int(centre[0]), int(centre[1])), (int(axes[0]), int(axes[1])),
                            int(angle), 0, 360, 10).astype(np.float64)


def _bump(height: int, width: int, poly: np.ndarray, soften: float):
    """Soft alpha [H, W] (peak ~1) and the hard pixel mask [H, W] of polygon ``poly``."""
    mask = np.zeros((height, width), np.float32)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1.0)
    return cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.15 * soften)), mask


def render_video(rng, frames: int, height: int, width: int, fps: float):
    """Yield (frame BGR uint8 [H, W, 3], objects) per frame, as synth_lesion.render_video."""
    size = TEX_SCALE * max(height, width)
    tex = _tissue(rng, size)
    mats, speeds = _camera(rng, frames, size, height, width)
    lesions = []
    for k in range(1 + int(rng.random() < 0.4)):
        cx, cy = cv2.invertAffineTransform(mats[int(rng.integers(0, frames))]) @ \
            np.array([rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height, 1.0])
        lesions.append({'id': k, 'c': (float(cx), float(cy)),
                        'axes': rng.uniform(0.06, 0.13, 2) * height,
                        'angle': float(rng.uniform(0, 180)), 'level': rng.uniform(0.45, 0.8),
                        'fade': _fade_mask(rng, frames)})
    # one colour shift per video for lesions and look-alikes alike: colour is no cue
    shift = np.array([rng.uniform(-25, 5), rng.uniform(-30, -5), rng.uniform(5, 30)],
                     np.float32)
    spots = rng.uniform(0, size, (int(rng.integers(15, 30)), 2))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((xx - width / 2) / (0.6 * width)) ** 2 + ((yy - height / 2) / (0.6 * height)) ** 2
    vignette = np.clip(1.05 - 0.55 * r2, 0.25, 1.0)[..., None]
    mottle = _noise(rng, size, size, ((32, 1.0), (96, 0.6)))
    for f in range(frames):
        m = mats[f]
        frame = cv2.warpAffine(tex, m, (width, height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        texture = 0.8 + 0.4 * cv2.warpAffine(mottle, m, (width, height),
                                             flags=cv2.INTER_LINEAR,
                                             borderMode=cv2.BORDER_REFLECT)
        anns = []
        for les in lesions:
            contrast = float(les['level'] * les['fade'][f])
            poly = _ellipse(les['c'], les['axes'], les['angle'])       # tissue pixels
            img_pts = poly @ m[:, :2].T + m[:, 2]                     # [P, 2] frame pixels
            soft, mask = _bump(height, width, img_pts, float(les['axes'].min()))
            full = cv2.contourArea(img_pts.astype(np.float32))
            inside = float(mask.sum())
            if full <= 0 or inside < 1:
                continue
            frame = frame + (contrast * soft * texture)[..., None] * shift
            if inside / full >= MIN_IN_VIEW:
                ys, xs = np.nonzero(mask)
                anns.append({'category_id': 1, 'instance_id': les['id'],
                             'bbox': [float(xs.min()), float(ys.min()),
                                      float(xs.max() - xs.min() + 1),
                                      float(ys.max() - ys.min() + 1)],
                             'contrast': round(contrast, 4),
                             'faded': bool(les['fade'][f] < 1.0)})
        for _ in range(int(rng.integers(0, MAX_DISTRACTORS + 1))):
            axes = rng.uniform(0.06, 0.13, 2) * height
            centre = (rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height)
            soft, _ = _bump(height, width, _ellipse(centre, axes, rng.uniform(0, 180)),
                            float(axes.min()))
            frame = frame + (rng.uniform(0.45, 0.8) * soft)[..., None] * shift
        frame *= vignette
        spot_pts = spots @ m[:, :2].T + m[:, 2]
        for k, (sx, sy) in enumerate(spot_pts):
            if -10 < sx < width + 10 and -10 < sy < height + 10 and (k + f // 5) % 3:
                r = 1.5 + (k % 4)
                cv2.ellipse(frame, (int(sx), int(sy)), (int(r * 1.6), int(r)), (k * 37) % 180,
                            0, 360, (255, 255, 255), -1)
        if speeds[f] > 3.0:
            d = mats[f][:, 2] - mats[f - 1][:, 2] if f else np.zeros(2)
            frame = _motion_blur(frame, min(speeds[f] * 1.5, 21), math.atan2(d[1], d[0]))
        frame += rng.normal(0, 2.5, frame.shape).astype(np.float32)
        yield np.clip(frame, 0, 255).astype(np.uint8), anns
