"""Detections in original image pixels, and class-aware NMS in numpy (no torchvision)."""
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
