"""Detections in original image pixels, box helpers and class-aware NMS (numpy, no torchvision)."""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Detections:
    """Boxes of one frame.

    boxes_xyxy: [N, 4] float32, (x1, y1, x2, y2) in original image pixels (letterbox undone)
    scores:     [N] float32 in [0, 1]
    class_ids:  [N] int64, indices into the bundle's class list
    """

    boxes_xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray

    def __post_init__(self):
        self.boxes_xyxy = np.asarray(self.boxes_xyxy, dtype=np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.class_ids = np.asarray(self.class_ids, dtype=np.int64).reshape(-1)
        n = len(self.boxes_xyxy)
        if len(self.scores) != n or len(self.class_ids) != n:
            raise ValueError(f'Detections: {n} boxes but {len(self.scores)} scores and '
                             f'{len(self.class_ids)} class ids')

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> 'Detections':
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def select(self, index) -> 'Detections':
        return Detections(self.boxes_xyxy[index], self.scores[index], self.class_ids[index])

    def sorted_by_score(self) -> 'Detections':
        """The same detections ordered by decreasing score (stable for ties)."""
        return self.select(np.argsort(-self.scores, kind='stable'))


def box_cxcywh_to_xyxy(boxes_cxcywh: np.ndarray) -> np.ndarray:
    """[N, 4] (cx, cy, w, h) -> [N, 4] (x1, y1, x2, y2), same dtype."""
    b = np.asarray(boxes_cxcywh)
    half = b[..., 2:4] / 2
    return np.concatenate([b[..., 0:2] - half, b[..., 0:2] + half], axis=-1)


def box_area_xyxy(boxes_xyxy: np.ndarray) -> np.ndarray:
    """[N, 4] -> [N] areas; inverted boxes count as empty."""
    b = np.asarray(boxes_xyxy, np.float64)
    return np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)


def box_iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of [N, 4] and [M, 4] xyxy boxes -> [N, M] float64.

    A pair whose union is empty (two degenerate boxes) has IoU 0.
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])                    # [N, M, 2]
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])                    # [N, M, 2]
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]                                    # [N, M]
    union = box_area_xyxy(a)[:, None] + box_area_xyxy(b)[None, :] - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou


def nms_class_aware(boxes_xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray,
                    iou_threshold: float, max_detections: int = None) -> np.ndarray:
    """Greedy NMS run separately per class (torchvision ``batched_nms`` semantics).

    Boxes are visited by decreasing score (ties: lower index first); a box is dropped when its
    IoU with an already kept box of the same class is > ``iou_threshold``. Classes are kept
    apart by a mask rather than by offsetting coordinates per class, so IoUs are exact (and
    negative coordinates are fine).

    Returns:
        int64 indices of the kept boxes, by decreasing score, at most ``max_detections``.
    """
    boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    scores = np.asarray(scores).reshape(-1)
    class_ids = np.asarray(class_ids).reshape(-1)
    if not len(boxes) == len(scores) == len(class_ids):
        raise ValueError(f'nms_class_aware: {len(boxes)} boxes, {len(scores)} scores and '
                         f'{len(class_ids)} class ids; expected equal counts')
    limit = len(boxes) if max_detections is None else max(0, int(max_detections))
    order = np.argsort(-scores, kind='stable')
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[order, k]) for k in range(4))
    cls = class_ids[order]
    areas = box_area_xyxy(boxes[order])
    alive = np.ones(len(order), bool)
    keep = []
    i, n = 0, len(order)
    # Suppression works on the tail slice after i (views, no gathers); boxes already suppressed
    # are recomputed but never revived, which is cheaper than compacting the survivors.
    with np.errstate(divide='ignore', invalid='ignore'):
        while i < n and len(keep) < limit:
            keep.append(order[i])
            tail = slice(i + 1, n)
            iw = np.clip(np.minimum(x2[i], x2[tail]) - np.maximum(x1[i], x1[tail]), 0, None)
            ih = np.clip(np.minimum(y2[i], y2[tail]) - np.maximum(y1[i], y1[tail]), 0, None)
            inter = iw * ih
            union = areas[i] + areas[tail] - inter
            iou = np.where(union > 0, inter / union, 0.0)
            alive[tail] &= ~((iou > iou_threshold) & (cls[tail] == cls[i]))
            nxt = i + 1 + int(np.argmax(alive[tail])) if i + 1 < n else n
            i = nxt if nxt < n and alive[nxt] else n
    return np.asarray(keep, np.int64)
