"""Clip sampling for training: which frames a sample reads and which ground truth it targets.

Pure data (image ids, numpy boxes) so the torch Dataset of the engine stays thin. Positions are
indexes into ``VideoDataset.frames[video_id]`` (image ids ordered by frame_id).

StreamNet (streamnet.md §3.2, ``LONGSHORT_ARGOVERSEDataset``): anchor t; history frames
t - k*dt (k = 1..N, newest first) clamped at the sequence start so the earliest frame repeats;
target = GT(t + K) clamped at the sequence end; support (TAL) = GT(t), or GT(t + K - 1) with
``support='previous'`` (DAMO's ``origin_support_step``). ``boundary='streamnet'`` reproduces the
released code at the first and last frame of a sequence: every input frame is t and the target is
GT(t) (the model is then taught to output the present; ``target_is_future`` is False so a loss may
skip or down-weight such samples). ``boundary='clamp'`` only clamps. The released code's bug
where the last two ids of a split read annotations of a non-existent id and get empty targets is
NOT reproduced: indexing is per video, never past the split.

V2I (v2i_detr.md §5.2): a teacher clip of T frames with the same stride, ``causal``
{t-2s, t-s, t} (key frame last, default) or ``centred`` {t-s, t, t+s} (CVA-Net), clamped to the
video; GT is needed only for the key frame.

One augmentation decision (flip, scale) is drawn per clip and applied identically to every frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class StreamClipConfig:
    history: int = 3  # N past frames (released models: 3)
    step: int = 1  # δt between history frames, in frames
    future: int = 1  # K: the target is frame t + K
    boundary: str = 'streamnet'  # 'streamnet' (released code) or 'clamp'
    support: str = 'current'  # TAL support GT: 'current' = GT(t), 'previous' = GT(t + K - 1)

    def check(self) -> None:
        """One-line ValueError naming the field when the sampler cannot use it."""
        if self.history < 0:
            raise ValueError(f'history {self.history}: expected N >= 0 past frames')
        if self.step < 1:
            raise ValueError(f'history step {self.step}: expected >= 1 frame')
        if self.future < 1:
            raise ValueError(f'future {self.future}: expected K >= 1 (the target is t + K)')
        if self.boundary not in ('streamnet', 'clamp'):
            raise ValueError(f"boundary {self.boundary!r}: expected 'streamnet' or 'clamp'")
        if self.support not in ('current', 'previous'):
            raise ValueError(f"support {self.support!r}: expected 'current' or 'previous'")


@dataclass
class StreamClip:
    """One StreamNet sample; every field is an image id except the flags."""

    video_id: int
    current: int  # frame t (the short path)
    history: list  # [N] frames t - dt, t - 2dt, ... (newest first, the training order)
    future: int  # the image the still teacher sees (t + K, or t at a boundary)
    target: int  # whose GT the forecast is trained against
    support: int  # whose GT the trend-aware loss compares with
    target_is_future: bool  # False when the target is the present (boundary rule)


@dataclass
class TeacherClip:
    """A V2I teacher clip: image ids in time order and where the key frame is."""

    video_id: int
    frames: list  # [T] image ids, oldest first
    key_index: int  # position of the key frame (whose GT supervises) in ``frames``

    @property
    def key(self) -> int:
        return self.frames[self.key_index]


def stream_clip(frames: list, pos: int, cfg: StreamClipConfig, video_id: int = -1) -> StreamClip:
    """The StreamNet sample anchored at position ``pos`` of a video's ordered image ids."""
    if not 0 <= pos < len(frames):
        raise IndexError(f'anchor position {pos} outside a video of {len(frames)} frames')
    cfg.check()
    last = len(frames) - 1
    t = frames[pos]
    if cfg.boundary == 'streamnet' and (pos == 0 or pos == last):
        return StreamClip(video_id, t, [t] * cfg.history, t, t, t, False)
    hist = [frames[max(pos - k * cfg.step, 0)] for k in range(1, cfg.history + 1)]
    fpos = min(pos + cfg.future, last)
    spos = min(pos + cfg.future - 1, last) if cfg.support == 'previous' else pos
    return StreamClip(video_id, t, hist, frames[fpos], frames[fpos], frames[spos], fpos > pos)


def teacher_clip(frames: list, pos: int, length: int = 3, stride: int = 1,
                 mode: str = 'causal', video_id: int = -1) -> TeacherClip:
    """The V2I teacher clip whose key frame is at position ``pos``, clamped to the video."""
    if not 0 <= pos < len(frames):
        raise IndexError(f'key position {pos} outside a video of {len(frames)} frames')
    if mode == 'causal':
        offsets = [-(length - 1 - i) * stride for i in range(length)]
    elif mode == 'centred':
        half = length // 2
        offsets = [(i - half) * stride for i in range(length)]
    else:
        raise ValueError(f"teacher clip mode {mode!r}: expected 'causal' or 'centred'")
    ids = [frames[min(max(pos + o, 0), len(frames) - 1)] for o in offsets]
    return TeacherClip(video_id, ids, offsets.index(0))


def anchors(dataset, video_ids=None) -> list[tuple[int, int]]:
    """(video_id, position) of every frame of the given videos, in dataset order."""
    vids = list(dataset.frames) if video_ids is None else list(video_ids)
    return [(v, p) for v in vids for p in range(len(dataset.frames[v]))]


# -- augmentation (one decision per clip) ---------------------------------------------------


@dataclass
class ClipAug:
    """An augmentation decision shared by every frame of a clip."""

    flip: bool = False  # horizontal flip
    scale: float = 1.0  # resize factor of the whole frame


def draw_clip_aug(rng: np.random.Generator, flip_prob: float = 0.5,
                  scale_range: tuple = (1.0, 1.0)) -> ClipAug:
    """Draw one decision; call once per clip, never per frame."""
    flip = bool(rng.random() < flip_prob)
    lo, hi = scale_range
    return ClipAug(flip, float(rng.uniform(lo, hi)) if hi > lo else float(lo))


def aug_size(height: int, width: int, aug: ClipAug) -> tuple[int, int]:
    """(height, width) of a frame after ``aug``."""
    return max(1, int(round(height * aug.scale))), max(1, int(round(width * aug.scale)))


def apply_aug_image(img: np.ndarray, aug: ClipAug) -> np.ndarray:
    """Flip then resize one frame [H, W, C] (cv2, bilinear)."""
    if aug.flip:
        img = cv2.flip(img, 1)
    if aug.scale != 1.0:
        h, w = aug_size(img.shape[0], img.shape[1], aug)
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    return img


def apply_aug_boxes_xyxy(boxes_xyxy: np.ndarray, height: int, width: int,
                         aug: ClipAug) -> np.ndarray:
    """The same flip and resize on boxes [N, 4] (x1, y1, x2, y2) of a height x width frame."""
    out = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4).copy()
    if aug.flip:
        out[:, [0, 2]] = width - out[:, [2, 0]]
    if aug.scale != 1.0:
        # Scale by the rounded output size, as cv2.resize does, so boxes stay on the pixels.
        new_h, new_w = aug_size(height, width, aug)
        out[:, [0, 2]] *= new_w / width
        out[:, [1, 3]] *= new_h / height
    return out


def clean_boxes_xyxy(boxes_xyxy: np.ndarray, height: int, width: int,
                     min_size: float = 0.0) -> np.ndarray:
    """Keep-mask [N] of boxes left with min side > ``min_size`` after clipping to the image.

    Clips ``boxes_xyxy`` in place (streamnet.md §3.2: clip, drop area 0; YOLOX then drops boxes
    whose min side is <= 1 px after resizing, i.e. ``min_size=1``).
    """
    xs, ys = boxes_xyxy[:, 0::2], boxes_xyxy[:, 1::2]  # views, so clip writes in place
    np.clip(xs, 0, width, out=xs)
    np.clip(ys, 0, height, out=ys)
    w = boxes_xyxy[:, 2] - boxes_xyxy[:, 0]
    h = boxes_xyxy[:, 3] - boxes_xyxy[:, 1]
    return np.minimum(w, h) > min_size


def load_clip_images(dataset, image_ids, aug: ClipAug | None = None) -> list:
    """Read the frames of a clip (BGR uint8), each file once even when ids repeat."""
    cache: dict = {}
    out = []
    for iid in image_ids:
        if iid not in cache:
            img = cv2.imread(str(dataset.image_path(iid)), cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(f'frame {dataset.image_path(iid)} (image {iid}) '
                                        'cannot be read')
            cache[iid] = apply_aug_image(img, aug) if aug is not None else img
        out.append(cache[iid])
    return out


def clip_targets(dataset, image_id: int, aug: ClipAug | None = None, min_size: float = 0.0):
    """GT of one frame after the clip's augmentation.

    Returns:
        (boxes_xyxy [M, 4] float32 in augmented pixels, category_ids [M] int64); ignore
        regions are left out.
    """
    im = dataset.images[image_id]
    boxes, cats, _ = dataset.frame_boxes(image_id)
    height, width = im['height'], im['width']
    if aug is not None:
        boxes = apply_aug_boxes_xyxy(boxes, height, width, aug)
        height, width = aug_size(height, width, aug)
    keep = clean_boxes_xyxy(boxes, height, width, min_size)
    return boxes[keep], cats[keep]
