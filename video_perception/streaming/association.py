"""Greedy IoU association of detections with tracks, as Streamer's (mtli/sAP
``track/iou_assoc_cp.pyx``).

Detections are visited in descending score order; each takes, among the tracks not matched yet
and of its **own class**, the one with the highest IoU, if that IoU is at least the threshold
(0.3). Greedy, not Hungarian: a high-score detection is never displaced by a later one. As in
the toolkit a later track wins a tie (it compares with ``>=`` against the best so far), and an
IoU exactly at the threshold matches. IoU is COCO's box IoU (no +1 pixel), on (x, y, w, h) boxes.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

from video_perception.detections import box_iou_xyxy

IOU_THRESHOLD = 0.3


def box_ltwh_to_xyxy(boxes_ltwh: np.ndarray) -> np.ndarray:
    """[N, 4] (left, top, w, h) -> [N, 4] (x1, y1, x2, y2)."""
    b = np.asarray(boxes_ltwh, np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def box_xyxy_to_ltwh(boxes_xyxy: np.ndarray) -> np.ndarray:
    """[N, 4] (x1, y1, x2, y2) -> [N, 4] (left, top, w, h)."""
    b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)


def associate(track_boxes_ltwh: np.ndarray, track_labels: np.ndarray,
              det_boxes_ltwh: np.ndarray, det_labels: np.ndarray, det_scores: np.ndarray,
              iou_threshold: float = IOU_THRESHOLD) -> Tuple[List[Tuple[int, int]], List[int]]:
    """Matches detections to tracks.

    Args:
        track_boxes_ltwh: [M, 4] the tracks' boxes (predicted to the detections' time)
        track_labels: [M] class of each track
        det_boxes_ltwh: [N, 4], det_labels: [N], det_scores: [N]
    Returns:
        (matches as (track index, detection index) in the order they were made, the unmatched
        detection indices in score order). Tracks not in ``matches`` are unmatched.
    """
    m, n = len(track_boxes_ltwh), len(det_boxes_ltwh)
    order = np.argsort(-np.asarray(det_scores, np.float64).reshape(-1), kind='stable')
    if m == 0 or n == 0:
        return [], [int(j) for j in order]
    ious = box_iou_xyxy(box_ltwh_to_xyxy(track_boxes_ltwh), box_ltwh_to_xyxy(det_boxes_ltwh))
    same = np.asarray(track_labels).reshape(-1, 1) == np.asarray(det_labels).reshape(1, -1)
    taken = np.zeros(m, bool)
    matches, unmatched = [], []
    for j in order:
        col = np.where(~taken & same[:, j], ious[:, j], -1.0)          # [M]
        best = col.max()
        if best < iou_threshold:
            unmatched.append(int(j))
            continue
        i = m - 1 - int(np.argmax(col[::-1]))       # the last of equal IoUs, as the toolkit
        taken[i] = True
        matches.append((i, int(j)))
    return matches, unmatched
