"""Lesion detection precision / recall / F1 / F2 under the two protocols of ``v2i_detr.md`` §6.3.

``centroid`` (Bernal et al. 2017, MICCAI 2015 EndoVis; STFT's
    ``cvcvideo_localization_center_eval``):
    a ground-truth lesion is a TP when at least one kept detection's box centre lies strictly
    inside its box, else an FN; several detections inside the same lesion are one TP and no FP;
    each kept detection whose centre is inside no lesion is an FP.
    P = TP / (TP + FP), R = TP / (TP + FN).
    (STFT counts FP = kept - centre hits, which differs only when one centre lies inside two
    overlapping lesions.) Frames without lesions: their detections are FPs
    (``negative_frames='count'``, Bernal), or the frames are skipped (``'skip'``, STFT).
``iou`` (YONA ``train.py``): each kept *prediction* is a TP when its IoU with any lesion of the
    frame is > 0.5. P = TP / #detections, R = TP / #lesions, F1 = 2 TP / (#detections + #lesions).
    Not one-to-one: a lesion hit by two predictions gives two TPs, so R can exceed 1.

Both: class-agnostic (a lesion is any non-crowd annotation), a detection is kept when
score >= threshold (YONA writes score > 0.3; ">=" lets a threshold equal to a detection's score
include it, which the threshold sweep relies on). F2 = 5PR / (4P + R); a ratio with a zero
denominator is 0.
"""
from __future__ import annotations

import numpy as np

from video_perception.eval.results import GroundTruth, Results

PROTOCOLS = ('centroid', 'iou')


def _iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of [N, 4] and [G, 4] xyxy boxes -> [N, G] (continuous coordinates, no +1)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


class _Scored:
    """Per-detection and per-lesion facts from which counts at any threshold follow."""

    def __init__(self, protocol: str):
        self.protocol = protocol
        self.det_scores: list[np.ndarray] = []   # scores of counted detections
        self.det_good: list[np.ndarray] = []     # centroid: centre inside a lesion; iou: IoU>0.5
        self.gt_best: list[np.ndarray] = []      # centroid: best score of a det centred inside
        self.n_gt = 0

    def add_frame(self, gt_xyxy: np.ndarray, det_xyxy: np.ndarray, scores: np.ndarray,
                  negative_frames: str) -> None:
        if len(gt_xyxy) == 0 and negative_frames == 'skip':
            return
        self.n_gt += len(gt_xyxy)
        if self.protocol == 'centroid':
            c = (det_xyxy[:, :2] + det_xyxy[:, 2:]) / 2  # [N, 2]
            inside = ((c[:, None, 0] > gt_xyxy[None, :, 0]) & (c[:, None, 0] < gt_xyxy[None, :, 2])
                      & (c[:, None, 1] > gt_xyxy[None, :, 1])
                      & (c[:, None, 1] < gt_xyxy[None, :, 3]))  # [N, G]
            best = np.where(inside, scores[:, None], -np.inf).max(0, initial=-np.inf)
            self.gt_best.append(best)
            self.det_good.append(inside.any(1))
        else:
            self.det_good.append((_iou_xyxy(det_xyxy, gt_xyxy) > 0.5).any(1))
        self.det_scores.append(scores)

    def counts(self, thresholds: np.ndarray) -> dict[str, np.ndarray]:
        """tp, fp, fn, n_dets at each threshold (detections kept when score >= threshold)."""
        s = np.concatenate(self.det_scores + [np.zeros(0)])
        good = np.concatenate(self.det_good + [np.zeros(0, bool)])

        def n_at_least(values):
            v = np.sort(values)
            return len(v) - np.searchsorted(v, thresholds, side='left')

        n_dets = n_at_least(s)
        n_good = n_at_least(s[good])
        if self.protocol == 'centroid':
            tp = n_at_least(np.concatenate(self.gt_best + [np.zeros(0)]))
            fp = n_dets - n_good
        else:
            tp, fp = n_good, n_dets - n_good
        return {'tp': tp, 'fp': fp, 'fn': np.maximum(self.n_gt - tp, 0), 'n_dets': n_dets}

    def scores(self) -> np.ndarray:
        return np.concatenate(self.det_scores + [np.zeros(0)])


def _ratio(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


def _prf(protocol: str, c: dict, n_gt: int) -> dict[str, np.ndarray]:
    if protocol == 'centroid':
        p = _ratio(c['tp'], c['tp'] + c['fp'])
        r = _ratio(c['tp'], c['tp'] + c['fn'])
    else:
        p = _ratio(c['tp'], c['n_dets'])
        r = _ratio(c['tp'], np.full_like(c['tp'], n_gt))
    return {'precision': p, 'recall': r, 'f1': _ratio(2 * p * r, p + r),
            'f2': _ratio(5 * p * r, 4 * p + r)}


def collect(frames, protocol: str, negative_frames: str = 'count') -> _Scored:
    """frames: iterable of (gt_xyxy [G, 4], det_xyxy [N, 4], scores [N])."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"lesion protocol '{protocol}': expected one of {PROTOCOLS}")
    if negative_frames not in ('count', 'skip'):
        raise ValueError(f"negative_frames '{negative_frames}': expected 'count' or 'skip'")
    scored = _Scored(protocol)
    for g, d, s in frames:
        scored.add_frame(np.asarray(g, np.float64).reshape(-1, 4),
                         np.asarray(d, np.float64).reshape(-1, 4),
                         np.asarray(s, np.float64).reshape(-1), negative_frames)
    return scored


def lesion_metrics(frames, protocol: str, score_thr: float,
                   negative_frames: str = 'count') -> dict:
    """Precision, recall, F1, F2 at ``score_thr`` and the best-F1 threshold.

    Args:
        frames: iterable of (gt_xyxy [G, 4], det_xyxy [N, 4], scores [N]) per frame.
        protocol: 'centroid' or 'iou' (see the module docstring).
        score_thr: detections with score >= score_thr are kept.

    Returns a dict with protocol, threshold, precision, recall, f1, f2, tp, fp, fn, n_dets,
    n_gt, and best_f1 / best_f1_threshold (over every detection score as a threshold; ties go to
    the highest threshold) with the precision / recall there.
    """
    sc = collect(frames, protocol, negative_frames)
    at = np.array([float(score_thr)])
    c = sc.counts(at)
    m = _prf(protocol, c, sc.n_gt)
    out = {'protocol': protocol, 'threshold': float(score_thr)}
    out.update({k: float(v[0]) for k, v in m.items()})
    out.update({k: int(v[0]) for k, v in c.items()})
    out['n_gt'] = int(sc.n_gt)
    out['negative_frames'] = negative_frames
    sweep = sweep_thresholds(sc)
    best = int(np.argmax(sweep['f1'][::-1]))  # reversed: ties -> highest threshold
    best = len(sweep['f1']) - 1 - best
    out['best_f1'] = float(sweep['f1'][best])
    out['best_f1_threshold'] = float(sweep['threshold'][best])
    out['best_f1_precision'] = float(sweep['precision'][best])
    out['best_f1_recall'] = float(sweep['recall'][best])
    return out


def sweep_thresholds(scored: _Scored) -> dict[str, np.ndarray]:
    """Metrics at every distinct detection score, ascending (the curve behind best-F1)."""
    thr = np.unique(scored.scores())
    if thr.size == 0:
        thr = np.array([0.0])
    c = scored.counts(thr)
    return {'threshold': thr, **_prf(scored.protocol, c, scored.n_gt), **c}


def frames_from(gt: GroundTruth, dets: dict[int, np.ndarray], image_ids=None):
    """(gt_xyxy, det_xyxy, scores) per GT image from CocoVID GT and paired [N, 6] detections
    (only ``image_ids`` when given: K-step leaves the first K frames of each video out)."""
    boxes: dict[int, list] = {i: [] for i in gt.images}
    for a in gt.dataset['annotations']:
        if not a['iscrowd']:
            x, y, w, h = a['bbox']
            boxes[a['image_id']].append([x, y, x + w, y + h])
    for iid in sorted(gt.images if image_ids is None else image_ids):
        rows = dets.get(iid, np.zeros((0, 6)))
        d = np.concatenate([rows[:, :2], rows[:, :2] + rows[:, 2:4]], 1)
        yield np.asarray(boxes[iid], np.float64).reshape(-1, 4), d, rows[:, 4]


def evaluate_lesion(gt: GroundTruth, results: Results, protocol: str, score_thr: float,
                    negative_frames: str = 'count') -> dict:
    """Lesion metrics of offline results (each output against its own frame)."""
    return lesion_metrics(frames_from(gt, results.detections), protocol, score_thr,
                          negative_frames)
