"""The synthetic *lesion* preset: endoscopy-like video where temporal context matters.

A large tissue texture (multi-octave noise, pink-red, with darker vessels) is seen through a
moving camera (smooth random walk, slight zoom and roll, warped with cv2.warpAffine). Lesions are
fixed on the tissue, so they move with it; each is a soft elliptical bump whose colour differs
from the tissue by a small, time-varying contrast, so in some frames it is barely visible.
Specular highlights (saturated white blobs, flickering) and the endoscope's vignette are added,
and fast camera moves get a linear motion blur along the motion. A lesion is annotated (class 1
'lesion', box = the clipped bounding box of its ellipse) whenever at least 30 % of it is in view,
however faint; frames where it is out of view have no box. ``contrast`` is kept on each box.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

CATEGORIES = [(1, 'lesion')]
MIN_IN_VIEW = 0.3
TEX_SCALE = 3  # the texture is this many frame sizes wide and high


OCTAVES = ((8, 1.0), (24, 0.5), (64, 0.3), (160, 0.15))  # (grid cells, amplitude)


def _noise(rng, height, width, octaves=OCTAVES) -> np.ndarray:
    """Smooth multi-octave noise in about [-1, 1], [H, W] float32."""
    out = np.zeros((height, width), np.float32)
    for cells, amp in octaves:
        grid = rng.normal(0, 1, (cells, cells)).astype(np.float32)
        out += amp * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return out / sum(a for _, a in octaves)


def _tissue(rng, size: int) -> np.ndarray:
    """The tissue texture [S, S, 3] float32 BGR."""
    n = _noise(rng, size, size)
    base = np.array([rng.uniform(70, 100), rng.uniform(80, 110), rng.uniform(170, 210)],
                    np.float32)
    tex = base[None, None, :] * (1.0 + 0.18 * n[..., None])
    vessels = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(6, 14))):
        pts = np.cumsum(rng.normal(0, size / 30, (12, 2)), axis=0) + rng.uniform(0, size, 2)
        cv2.polylines(vessels, [pts.astype(np.int32)], False, 255, int(rng.integers(1, 4)))
    vessels = cv2.GaussianBlur(vessels, (0, 0), 1.5).astype(np.float32) / 255.0
    tex *= 1.0 - 0.5 * vessels[..., None] * np.array([0.6, 0.9, 0.5], np.float32)
    return tex


def _camera(rng, frames: int, size: int, height: int, width: int):
    """Per-frame affine maps texture -> frame ([F, 2, 3]) and motion speed in px/frame [F]."""
    centre = np.array([size / 2, size / 2])
    vel = np.zeros(2)
    mats, speeds = [], []
    zoom0, roll0 = rng.uniform(0.9, 1.3), rng.uniform(-0.3, 0.3)
    for f in range(frames):
        burst = 4.0 if rng.random() < 0.08 else 1.0  # occasional quick move -> blur
        vel = 0.9 * vel + rng.normal(0, 1.0 * burst, 2)
        centre = np.clip(centre + vel, size * 0.2, size * 0.8)
        zoom = zoom0 * (1 + 0.1 * math.sin(0.05 * f))
        roll = roll0 + 0.1 * math.sin(0.03 * f)
        m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), math.degrees(roll),
                                    zoom)
        m[:, 2] += np.array([width / 2, height / 2]) - centre
        mats.append(m)
        speeds.append(float(np.hypot(*vel)) * zoom)
    return np.stack(mats), np.array(speeds)


def _motion_blur(img: np.ndarray, length: float, angle: float) -> np.ndarray:
    k = int(round(length)) | 1
    kernel = np.zeros((k, k), np.float32)
    c = k // 2
    dx, dy = math.cos(angle) * c, math.sin(angle) * c
    cv2.line(kernel, (int(round(c - dx)), int(round(c - dy))),
             (int(round(c + dx)), int(round(c + dy))), 1.0, 1)
    return cv2.filter2D(img, -1, kernel / kernel.sum())


def _scene(rng, frames: int, height: int, width: int):
    """(texture size, tissue texture, per-frame affine maps [F, 2, 3], speeds [F])."""
    size = TEX_SCALE * max(height, width)
    tex = _tissue(rng, size)
    mats, speeds = _camera(rng, frames, size, height, width)
    return size, tex, mats, speeds


def _on_path(rng, mats: np.ndarray, height: int, width: int):
    """A tissue point the camera passes over (in view at a random frame), so lesions placed
    there pass through the view."""
    cx, cy = cv2.invertAffineTransform(mats[int(rng.integers(0, len(mats)))]) @ \
        np.array([rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height, 1.0])
    return float(cx), float(cy)


def _warp(img: np.ndarray, m: np.ndarray, height: int, width: int) -> np.ndarray:
    """Texture -> frame pixels through the affine ``m`` (reflecting past the texture edge)."""
    return cv2.warpAffine(img, m, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def _ellipse(centre, axes, angle) -> np.ndarray:
    """Polygon [P, 2] float64 of an ellipse (cv2's integer centre, axes and degrees)."""
    return cv2.ellipse2Poly((int(centre[0]), int(centre[1])), (int(axes[0]), int(axes[1])),
                            int(angle), 0, 360, 10).astype(np.float64)


def _bump(height: int, width: int, poly: np.ndarray, soften: float):
    """Soft alpha [H, W] (peak ~1) and the hard pixel mask [H, W] of polygon ``poly`` (frame
    pixels); the edge blur grows with the lesion (``soften``: its smaller axis)."""
    mask = np.zeros((height, width), np.float32)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1.0)
    return cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.15 * soften)), mask


def _in_view(poly: np.ndarray, mask: np.ndarray) -> float:
    """The fraction of the polygon's area inside the frame (0 when nothing is)."""
    full = cv2.contourArea(poly.astype(np.float32))
    inside = float(mask.sum())
    return 0.0 if full <= 0 or inside < 1 else inside / full


def _bbox_xywh(mask: np.ndarray) -> list:
    """The inclusive pixel box of a mask as [x, y, w, h]."""
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
            float(ys.max() - ys.min() + 1)]


def _vignette(height: int, width: int) -> np.ndarray:
    """The endoscope's light fall-off [H, W, 1]."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((xx - width / 2) / (0.6 * width)) ** 2 + ((yy - height / 2) / (0.6 * height)) ** 2
    return np.clip(1.05 - 0.55 * r2, 0.25, 1.0)[..., None]


def _optics(rng, frame: np.ndarray, f: int, mats: np.ndarray, speeds: np.ndarray,
            spots: np.ndarray, vignette: np.ndarray) -> np.ndarray:
    """What the scope adds to the scene of frame ``f`` (float [H, W, 3]): vignette, flickering
    specular spots fixed on the tissue, motion blur on fast moves, sensor noise -> uint8."""
    height, width = frame.shape[:2]
    m = mats[f]
    frame = frame * vignette
    spot_pts = spots @ m[:, :2].T + m[:, 2]
    for k, (sx, sy) in enumerate(spot_pts):
        if -10 < sx < width + 10 and -10 < sy < height + 10 and \
                (k + f // 5) % 3:  # flicker: a third of the spots is off at any time
            r = 1.5 + (k % 4)
            cv2.ellipse(frame, (int(sx), int(sy)), (int(r * 1.6), int(r)), (k * 37) % 180,
                        0, 360, (255, 255, 255), -1)
    if speeds[f] > 3.0:
        d = mats[f][:, 2] - mats[f - 1][:, 2] if f else np.zeros(2)
        frame = _motion_blur(frame, min(speeds[f] * 1.5, 21), math.atan2(d[1], d[0]))
    frame += rng.normal(0, 2.5, frame.shape).astype(np.float32)
    return np.clip(frame, 0, 255).astype(np.uint8)


def render_video(rng, frames: int, height: int, width: int, fps: float):
    """Yield (frame BGR uint8 [H, W, 3], objects) per frame; objects are annotation dicts."""
    size, tex, mats, speeds = _scene(rng, frames, height, width)
    lesions = []
    for k in range(1 + int(rng.random() < 0.3)):
        cx, cy = _on_path(rng, mats, height, width)
        lesions.append({
            'id': k, 'c': (cx, cy), 'axes': rng.uniform(0.05, 0.13, 2) * height,
            'angle': float(rng.uniform(0, 180)),
            'shift': np.array([rng.uniform(-25, 5), rng.uniform(-30, -5), rng.uniform(5, 30)]),
            # contrast(t) = mean + amplitude * sin: dips give barely visible frames
            'contrast': (float(rng.uniform(0.35, 0.7)), float(rng.uniform(0.2, 0.45)),
                         float(rng.uniform(0.05, 0.2)), float(rng.uniform(0, 6.3)))})
    spots = rng.uniform(0, size, (int(rng.integers(15, 30)), 2))
    vignette = _vignette(height, width)
    lesion_noise = _noise(rng, size, size, ((32, 1.0), (96, 0.6)))
    for f in range(frames):
        m = mats[f]
        frame = _warp(tex, m, height, width)
        anns = []
        for les in lesions:
            mean, amp, freq, ph = les['contrast']
            contrast = float(np.clip(mean + amp * math.sin(freq * f + ph), 0.03, 1.0))
            img_pts = _ellipse(les['c'], les['axes'], les['angle']) @ m[:, :2].T + m[:, 2]
            soft, mask = _bump(height, width, img_pts, float(les['axes'].min()))
            in_view = _in_view(img_pts, mask)
            if in_view == 0:
                continue
            bump = _warp(lesion_noise, m, height, width)
            alpha = (contrast * soft * (0.8 + 0.4 * bump))[..., None]
            frame = frame + alpha * les['shift'][None, None, :].astype(np.float32)
            if in_view >= MIN_IN_VIEW:
                anns.append({'category_id': 1, 'instance_id': les['id'],
                             'bbox': _bbox_xywh(mask), 'contrast': round(contrast, 4)})
        yield _optics(rng, frame, f, mats, speeds, spots, vignette), anns
