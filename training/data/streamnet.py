"""StreamNet training samples from a canonical video dataset (spec §3.2, §6).

One sample, anchored at frame t of a video (training/data/clips.py picks the frames)::

    {'frames':  uint8 [3 * (1 + N), H, W]   BGR, [t, t-dt, ..., t-N*dt] on channels,
     'future':  uint8 [3, H, W]             frame t+K (default K = 1) for the still teacher,
     'targets': float [max_labels, 5]        GT(t+K): (class, cx, cy, w, h) in input pixels,
     'support': float [max_labels, 5]        GT(t) for the trend-aware loss,
     'target_is_future': bool, 'image_id': int (frame t), 'target_id': int, 'scale': float}

Every frame is letterboxed to H x W: resized by r = min(H / h, W / w), put at the top-left and
padded with 114 (YOLOX >= 0.2 ``preproc``). One horizontal-flip decision per sample is applied
to every frame and both label sets (the released TrainTransform skips the flip for a frame
without labels; that quirk is not copied). Boxes are clipped, and boxes whose shorter side is
<= 1 px after the resize are dropped (YOLOX); zero rows pad up to ``max_labels``.

Frames stay uint8 until the batch is on the device (``StreamNetBatcher``), which also does the
multi-scale resize of the whole batch (frames and both label sets, bilinear, as YOLOX does on
the GPU) with a size drawn from the step, so every rank and a resumed run pick the same size.
"""
from __future__ import annotations

import random
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from training.data.clips import (ClipAug, StreamClipConfig, anchors, clip_targets,
                                 load_clip_images, stream_clip)
from training.engine.exp import sample_rng
from video_perception.dataset import load_video_dataset

PAD_VALUE = 114


def letterbox_top_left(img: np.ndarray, size: Tuple[int, int]) -> Tuple[np.ndarray, float]:
    """Resize keeping the aspect ratio, place at the top-left of an H x W canvas of 114."""
    h, w = size
    r = min(h / img.shape[0], w / img.shape[1])
    out = np.full((h, w, 3), PAD_VALUE, dtype=np.uint8)
    nh, nw = int(img.shape[0] * r), int(img.shape[1] * r)
    resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR) if r != 1 else img
    out[:nh, :nw] = resized
    return out, r


def labels_cxcywh(boxes_xyxy: np.ndarray, classes: np.ndarray, r: float, max_labels: int,
                  min_size: float = 1.0) -> np.ndarray:
    """[max_labels, 5] rows (class, cx, cy, w, h) in letterboxed pixels, zero padded."""
    b = boxes_xyxy * r
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    keep = np.minimum(w, h) > min_size
    rows = np.stack([classes[keep].astype(np.float32), (b[keep, 0] + b[keep, 2]) / 2,
                     (b[keep, 1] + b[keep, 3]) / 2, w[keep], h[keep]], axis=1)
    out = np.zeros((max_labels, 5), dtype=np.float32)
    out[:min(len(rows), max_labels)] = rows[:max_labels]
    return out


class StreamNetClips(Dataset):
    """Every frame of the chosen videos as a StreamNet sample.

    Args:
        json_path: canonical dataset.json.
        input_size: (H, W) of the letterboxed network input.
        history: N past frames; step: dt between them.
        flip_prob: horizontal flip probability (0 for validation).
        max_labels: label rows per frame (YOLOX pads to 50).
        seed: with the epoch and the index, seeds the sample's augmentation.
        class_ids: dataset category ids in class-index order (default: sorted ids).
        boundary: clips.py rule at sequence ends ('streamnet' = the released code).
        clip: the whole sampler rule (K-step future included); replaces history/step/boundary.
    """

    def __init__(self, json_path: str, input_size: Tuple[int, int], history: int = 3,
                 step: int = 1, flip_prob: float = 0.5, max_labels: int = 50, seed: int = 0,
                 class_ids: Optional[List[int]] = None, boundary: str = 'streamnet',
                 video_ids: Optional[List[int]] = None,
                 clip: Optional[StreamClipConfig] = None):
        self.data = load_video_dataset(json_path)
        self.input_size = tuple(input_size)
        self.clip_cfg = clip or StreamClipConfig(history=history, step=step, boundary=boundary)
        self.flip_prob, self.max_labels, self.seed = flip_prob, max_labels, seed
        self.class_ids = list(class_ids) if class_ids else sorted(self.data.categories)
        self.class_names = [self.data.categories[c]['name'] for c in self.class_ids]
        self._cat_to_class = {c: i for i, c in enumerate(self.class_ids)}
        self.samples = anchors(self.data, video_ids)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def _targets(self, image_id: int, aug: ClipAug, r: float) -> np.ndarray:
        boxes, cats = clip_targets(self.data, image_id, aug)
        known = np.array([c in self._cat_to_class for c in cats], dtype=bool)
        classes = np.array([self._cat_to_class[c] for c in cats[known]], dtype=np.int64)
        return labels_cxcywh(boxes[known], classes, r, self.max_labels)

    def __getitem__(self, index: int) -> Dict:
        video_id, pos = self.samples[index]
        clip = stream_clip(self.data.frames[video_id], pos, self.clip_cfg, video_id)
        rng = sample_rng(self.seed, self.epoch, index)
        aug = ClipAug(flip=bool(rng.random() < self.flip_prob))
        ids = [clip.current] + list(clip.history) + [clip.future]
        images = load_clip_images(self.data, ids, aug)
        boxed = [letterbox_top_left(img, self.input_size) for img in images]
        r = boxed[0][1]
        frames = np.concatenate([b[0] for b in boxed[:-1]], axis=2)   # [H, W, 3 * (1 + N)]
        return {
            'frames': torch.from_numpy(np.ascontiguousarray(frames.transpose(2, 0, 1))),
            'future': torch.from_numpy(np.ascontiguousarray(boxed[-1][0].transpose(2, 0, 1))),
            'targets': torch.from_numpy(self._targets(clip.target, aug, r)),
            'support': torch.from_numpy(self._targets(clip.support, aug, r)),
            'target_is_future': clip.target_is_future,
            'image_id': clip.current, 'target_id': clip.target, 'scale': r,
        }


def multiscale_size(step: int, seed: int, input_size: Tuple[int, int],
                    scale_range: Tuple[int, int], every: int = 10) -> Tuple[int, int]:
    """YOLOX ``random_resize``: every ``every`` steps (h, w) = (16 int(a s), 16 s), s ~ U{lo..hi}
    with a = H / W (0.625 at 600x960), drawn from (seed, step // every)."""
    lo, hi = scale_range
    if lo <= 0:
        return tuple(input_size)
    s = random.Random(seed * 1000003 + step // every).randint(lo, hi)
    aspect = input_size[0] / input_size[1]
    return 16 * int(aspect * s), 16 * s


class StreamNetBatcher:
    """Moves a collated batch to the device as float and applies the multi-scale resize.

    ``fixed_from_step``: from this step on the size is the nominal one (the spec's last epoch).
    """

    def __init__(self, input_size: Tuple[int, int], scale_range: Tuple[int, int] = (0, 0),
                 every: int = 10, seed: int = 0, fixed_from_step: Optional[int] = None):
        self.input_size, self.scale_range = tuple(input_size), tuple(scale_range)
        self.every, self.seed, self.fixed_from_step = every, seed, fixed_from_step

    def size_at(self, step: int) -> Tuple[int, int]:
        if self.fixed_from_step is not None and step >= self.fixed_from_step:
            return self.input_size
        return multiscale_size(step, self.seed, self.input_size, self.scale_range, self.every)

    def __call__(self, batch: Dict, step: int, device: torch.device) -> Dict:
        out = dict(batch)
        for key in ('frames', 'future'):
            out[key] = batch[key].to(device, non_blocking=True).float()
        for key in ('targets', 'support'):
            out[key] = batch[key].to(device, non_blocking=True).clone()
        h, w = self.size_at(step)
        in_h, in_w = out['frames'].shape[-2:]
        if (h, w) != (in_h, in_w):
            sy, sx = h / in_h, w / in_w
            for key in ('frames', 'future'):
                out[key] = F.interpolate(out[key], size=(h, w), mode='bilinear',
                                         align_corners=False)
            for key in ('targets', 'support'):
                out[key][..., 1::2] *= sx       # cx, w
                out[key][..., 2::2] *= sy       # cy, h
        return out
