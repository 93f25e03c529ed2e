"""COCO box AP through pycocotools (COCOeval, iouType 'bbox'), with its printing silenced.

Every AP number of the project comes from here so that offline, K-step and streaming AP differ
only in which detections are paired with which ground-truth frame.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from video_perception.eval.results import GroundTruth

# Order of COCOeval.stats for bbox.
STAT_KEYS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100', 'ARs', 'ARm',
             'ARl')


@dataclasses.dataclass
class CocoResult:
    """AP numbers (fractions, -1 where pycocotools has no ground truth for them) and the
    accumulated COCOeval (``coco_eval.eval['precision']`` is [T=10, R=101, K, A=4, M=3])."""

    stats: dict[str, float]
    coco_eval: COCOeval
    n_images: int


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())


def _coco_from_dict(dataset: dict) -> COCO:
    coco = COCO()
    coco.dataset = dataset
    with _quiet():
        coco.createIndex()
    return coco


def evaluate_coco(gt: GroundTruth, dets: dict[int, np.ndarray], image_ids=None,
                  bdd_plus_one: bool = False) -> CocoResult:
    """COCO AP of ``dets`` against ``gt``.

    Args:
        gt: ground truth from ``load_ground_truth``.
        dets: GT image id -> [N, 6] rows (x, y, w, h, score, category_id) already paired with that
            frame (offline, K-step or streaming pairing).
        image_ids: the GT images that count (default all); detections on other images are
            ignored by COCOeval.
        bdd_plus_one: add 1 pixel to every predicted width and height, BDD100K's inclusive-pixel
            convention (its evaluator turns x1, y1, x2, y2 into w = x2 - x1 + 1).

    pycocotools averages precision over all categories that have ground truth, which is the mean
    of per-category AP (BDD100K averages per category the same way).
    """
    unknown = sorted(set(dets) - set(gt.images))
    if unknown:
        raise ValueError(f'results: detections for image id {unknown[0]} which is not in the '
                         f'ground truth ({len(unknown)} such ids)')
    cat_ids = {c['id'] for c in gt.dataset['categories']}
    anns = []
    for iid, rows in dets.items():
        for x, y, w, h, score, cat in rows:
            if int(cat) not in cat_ids:
                raise ValueError(f'results: detection on image {iid} has unknown category_id '
                                 f'{int(cat)}; expected one of {sorted(cat_ids)}')
            if bdd_plus_one:
                w, h = w + 1.0, h + 1.0
            # Same fields as COCO.loadRes gives a bbox result (area = w * h, never crowd).
            anns.append({'id': len(anns) + 1, 'image_id': int(iid), 'category_id': int(cat),
                         'bbox': [float(x), float(y), float(w), float(h)], 'area': float(w * h),
                         'score': float(score), 'iscrowd': 0})
    coco_gt = _coco_from_dict(gt.dataset)
    # A dt COCO built directly also works when there are no detections (loadRes fails on []).
    coco_dt = _coco_from_dict({'images': gt.dataset['images'], 'annotations': anns,
                               'categories': gt.dataset['categories']})
    ev = COCOeval(coco_gt, coco_dt, 'bbox')
    if image_ids is not None:
        ev.params.imgIds = sorted(int(i) for i in image_ids)
    with _quiet():
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = {k: float(v) for k, v in zip(STAT_KEYS, ev.stats)}
    return CocoResult(stats, ev, len(ev.params.imgIds))


def precision_recall_curves(result: CocoResult, iou: float = 0.5, area: str = 'all',
                            max_dets: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Category-averaged precision at COCOeval's 101 recall points for one IoU threshold.

    Returns (recall [101], precision [101]); categories without ground truth (-1) are left out
    and precision is NaN where no category has a value.
    """
    ev = result.coco_eval
    p = ev.params
    t = int(np.argmin(np.abs(p.iouThrs - iou)))
    if abs(p.iouThrs[t] - iou) > 1e-6:
        raise ValueError(f'IoU {iou}: expected one of {list(np.round(p.iouThrs, 2))}')
    a = p.areaRngLbl.index(area)
    m = p.maxDets.index(max_dets)
    prec = ev.eval['precision'][t, :, :, a, m]  # [R, K]
    valid = prec > -1
    with np.errstate(invalid='ignore'):
        mean = np.where(valid.any(1), (prec * valid).sum(1) / valid.sum(1), np.nan)
    return np.asarray(p.recThrs), mean
