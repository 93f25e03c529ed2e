"""V2I training data: the student's key frame and the teacher's T-frame clip (v2i_detr.md §5.2).

One sample is a key frame t of a CocoVID video and its teacher clip (``teacher_clip``: causal
{t-2s, t-s, t} by default, key frame last; ``centred`` {t-s, t, t+s} as CVA-Net), clamped to
the video. Every frame of the clip gets the same augmentation (one flip / scale decision per
clip, drawn from ``sample_rng(seed, epoch, index)`` so it survives resume and DDP). Frames are
resized to fit ``input_size`` keeping the aspect ratio (letterbox top-left, as the V2I node
does), converted BGR -> RGB, scaled to [0, 1] and ImageNet-normalised.

Batches (``collate_v2i``) are padded DETR-style (NestedTensor): images to the largest height and
width in the batch with a mask that is True on padding. Targets are per image
{'labels' [n] int64 (contiguous 0..C-1 in sorted category-id order), 'boxes' [n, 4] normalised
cxcywh relative to the unpadded image, 'image_id', 'size' (h, w) of the unpadded resized image,
'scale' (resized / original pixels)}. GT is needed only for the key frame.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from training.data.clips import ClipAug, clip_targets, draw_clip_aug, load_clip_images, \
    teacher_clip
from training.engine.exp import sample_rng
from video_perception.dataset import load_video_dataset

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def box_xyxy_to_cxcywh_norm(boxes_xyxy: np.ndarray, height: int, width: int) -> np.ndarray:
    """[n, 4] pixel xyxy -> [n, 4] cxcywh normalised by the (unpadded) image size."""
    b = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
    out = np.stack([(b[:, 0] + b[:, 2]) / 2 / width, (b[:, 1] + b[:, 3]) / 2 / height,
                    (b[:, 2] - b[:, 0]) / width, (b[:, 3] - b[:, 1]) / height], 1)
    return out.astype(np.float32)


def normalise_image(bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 [H, W, 3] -> RGB float32 [3, H, W], ImageNet mean/std."""
    rgb = bgr[..., ::-1].astype(np.float32) / 255.0
    return np.ascontiguousarray(((rgb - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))


class V2IClips(Dataset):
    """Key frames with their teacher clips from a CocoVID JSON.

    Args:
        json_path: the canonical dataset JSON.
        input_size: (height, width) every frame is fitted into (aspect kept).
        clip_len: T (3); clip_stride: s in frames; clip_mode: 'causal' or 'centred'.
        videos: video names (or ids) to use; None = all (vocalfolds: seq1 to train, seq2 to test).
        flip_prob, scale_range: the per-clip augmentation (scale multiplies the fit scale and
            must stay <= 1 so the frame still fits ``input_size``).
        seed: the augmentation stream (``sample_rng(seed, epoch, index)``).
        class_ids: category ids in label order (default: the dataset's, sorted).
    """

    def __init__(self, json_path: str, input_size: Tuple[int, int] = (256, 256),
                 clip_len: int = 3, clip_stride: int = 1, clip_mode: str = 'causal',
                 videos: Optional[Sequence] = None, flip_prob: float = 0.0,
                 scale_range: Tuple[float, float] = (1.0, 1.0), seed: int = 0,
                 class_ids: Optional[Sequence[int]] = None):
        if clip_mode not in ('causal', 'centred'):
            raise ValueError(f"clip_mode {clip_mode!r}: expected 'causal' or 'centred'")
        if clip_len < 1 or clip_stride < 1:
            raise ValueError(f'clip_len {clip_len} / clip_stride {clip_stride}: expected >= 1')
        if not 0 < scale_range[0] <= scale_range[1] <= 1.0:
            raise ValueError(f'scale_range {scale_range}: expected 0 < lo <= hi <= 1')
        self.ds = load_video_dataset(json_path)
        self.input_size = tuple(int(v) for v in input_size)
        self.clip_len, self.clip_stride, self.clip_mode = clip_len, clip_stride, clip_mode
        self.flip_prob, self.scale_range, self.seed = flip_prob, tuple(scale_range), seed
        self.epoch = 0
        self.video_ids = self._select_videos(videos)
        self.class_ids = list(class_ids) if class_ids is not None else sorted(self.ds.categories)
        self.class_names = [self.ds.categories[c]['name'] for c in self.class_ids]
        self.label_of = {c: i for i, c in enumerate(self.class_ids)}
        self.items = [(v, p) for v in self.video_ids for p in range(len(self.ds.frames[v]))]
        if not self.items:
            raise ValueError(f'{json_path}: no frames in videos {videos!r}')

    def _select_videos(self, videos) -> List[int]:
        if videos is None or len(videos) == 0:
            return sorted(self.ds.frames)
        by_name = {v.get('name'): vid for vid, v in self.ds.videos.items()}
        out = []
        for v in videos:
            if v in self.ds.videos:
                out.append(v)
            elif v in by_name:
                out.append(by_name[v])
            else:
                raise ValueError(f'{self.ds.name}: video {v!r} not found (known: '
                                 f'{", ".join(sorted(str(n) for n in by_name))})')
        return out

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def image_ids(self) -> List[int]:
        """The key frames' image ids, in index order (the evaluation's GT subset)."""
        return [self.ds.frames[v][p] for v, p in self.items]

    def _fit_scale(self, image_id: int) -> float:
        im = self.ds.images[image_id]
        return min(self.input_size[0] / im['height'], self.input_size[1] / im['width'])

    def __getitem__(self, index: int) -> Dict:
        vid, pos = self.items[index]
        clip = teacher_clip(self.ds.frames[vid], pos, self.clip_len, self.clip_stride,
                            self.clip_mode, vid)
        rng = sample_rng(self.seed, self.epoch, index)
        drawn = draw_clip_aug(rng, self.flip_prob, self.scale_range)
        scale = self._fit_scale(clip.key) * drawn.scale
        aug = ClipAug(drawn.flip, scale)
        frames = load_clip_images(self.ds, clip.frames, aug)
        h, w = frames[clip.key_index].shape[:2]
        h, w = min(h, self.input_size[0]), min(w, self.input_size[1])
        # Every frame takes the key frame's geometry (frames of one video share a size; the
        # crop only trims a rounding pixel).
        frames = [f[:h, :w] for f in frames]
        boxes, cats = clip_targets(self.ds, clip.key, aug, min_size=1.0)
        boxes = np.minimum(boxes, np.array([w, h, w, h], np.float32))
        labels = np.array([self.label_of[int(c)] for c in cats], np.int64)
        clip_arr = np.stack([normalise_image(f) for f in frames])          # [T, 3, h, w]
        return {'clip': torch.from_numpy(clip_arr), 'key_index': clip.key_index,
                'target': {'labels': torch.from_numpy(labels),
                           'boxes': torch.from_numpy(box_xyxy_to_cxcywh_norm(boxes, h, w)),
                           'image_id': int(clip.key), 'size': torch.tensor([h, w]),
                           'scale': float(scale)}}


def collate_v2i(samples: List[Dict]) -> Dict:
    """Pad to the batch's largest (h, w): {'clips' [B, T, 3, H, W], 'images' [B, 3, H, W] (the
    key frames), 'masks' [B, H, W] bool (True = padding), 'targets' list}."""
    if not samples:
        raise ValueError('collate_v2i: empty batch')
    t = samples[0]['clip'].shape[0]
    hmax = max(s['clip'].shape[-2] for s in samples)
    wmax = max(s['clip'].shape[-1] for s in samples)
    clips = torch.zeros(len(samples), t, 3, hmax, wmax)
    masks = torch.ones(len(samples), hmax, wmax, dtype=torch.bool)
    keys = []
    for i, s in enumerate(samples):
        _, _, h, w = s['clip'].shape
        clips[i, :, :, :h, :w] = s['clip']
        masks[i, :h, :w] = False
        keys.append(s['key_index'])
    if len(set(keys)) != 1:
        raise ValueError(f'collate_v2i: key frames at different clip positions {keys}')
    return {'clips': clips, 'images': clips[:, keys[0]], 'masks': masks,
            'targets': [s['target'] for s in samples]}
