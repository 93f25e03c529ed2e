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

import numpy as np

from training.data.synth_lesion import (CATEGORIES, MIN_IN_VIEW, _bbox_xywh, _bump, _ellipse,
                                        _in_view, _noise, _on_path, _optics, _scene,
                                        _vignette, _warp)

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


def render_video(rng, frames: int, height: int, width: int, fps: float):
    """Yield (frame BGR uint8 [H, W, 3], objects) per frame, as synth_lesion.render_video."""
    size, tex, mats, speeds = _scene(rng, frames, height, width)
    lesions = []
    for k in range(1 + int(rng.random() < 0.4)):
        lesions.append({'id': k, 'c': _on_path(rng, mats, height, width),
                        'axes': rng.uniform(0.06, 0.13, 2) * height,
                        'angle': float(rng.uniform(0, 180)), 'level': rng.uniform(0.45, 0.8),
                        'fade': _fade_mask(rng, frames)})
    # one colour shift per video for lesions and look-alikes alike: colour is no cue
    shift = np.array([rng.uniform(-25, 5), rng.uniform(-30, -5), rng.uniform(5, 30)],
                     np.float32)
    spots = rng.uniform(0, size, (int(rng.integers(15, 30)), 2))
    vignette = _vignette(height, width)
    mottle = _noise(rng, size, size, ((32, 1.0), (96, 0.6)))
    for f in range(frames):
        m = mats[f]
        frame = _warp(tex, m, height, width)
        texture = 0.8 + 0.4 * _warp(mottle, m, height, width)        # a lesion is mottled
        anns = []
        for les in lesions:
            contrast = float(les['level'] * les['fade'][f])
            poly = _ellipse(les['c'], les['axes'], les['angle'])       # tissue pixels
            img_pts = poly @ m[:, :2].T + m[:, 2]                     # [P, 2] frame pixels
            soft, mask = _bump(height, width, img_pts, float(les['axes'].min()))
            in_view = _in_view(img_pts, mask)
            if in_view == 0:
                continue
            frame = frame + (contrast * soft * texture)[..., None] * shift
            if in_view >= MIN_IN_VIEW:
                anns.append({'category_id': 1, 'instance_id': les['id'],
                             'bbox': _bbox_xywh(mask), 'contrast': round(contrast, 4),
                             'faded': bool(les['fade'][f] < 1.0)})
        for _ in range(int(rng.integers(0, MAX_DISTRACTORS + 1))):
            axes = rng.uniform(0.06, 0.13, 2) * height
            centre = (rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height)
            soft, _ = _bump(height, width, _ellipse(centre, axes, rng.uniform(0, 180)),
                            float(axes.min()))
            frame = frame + (rng.uniform(0.45, 0.8) * soft)[..., None] * shift
        yield _optics(rng, frame, f, mats, speeds, spots, vignette), anns
