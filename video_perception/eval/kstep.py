"""Offline AP and K-step sAP_K: the output of frame t scored against ground truth t + K.

``offline`` is K = 0 (each output against its own frame). K = 1 is the "1-step" sAP that the
StreamYOLO / DAMO-StreamNet READMEs report (``streamnet.md`` §8.1); for K > 1 it is the streaming
metric of a model whose latency lies in ((K-1)/fps, K/fps] (§8.1, our reading).

Frames at the edges: the outputs of the last K frames of each video have no t + K and are dropped;
the first K ground-truth frames of each video have no source output and are left out of the
evaluation (``image_ids``), not counted as misses, so that AP measures the forecast only.
(StreamNet's own evaluator keeps the first frame's ground truth with no predictions.)
"""
from __future__ import annotations

import dataclasses

from video_perception.eval.coco_ap import CocoResult, evaluate_coco
from video_perception.eval.results import GroundTruth, Results

K_RANGE = tuple(range(1, 7))


@dataclasses.dataclass
class KStepPairing:
    """dets: GT image id -> detections; image_ids: GT frames evaluated; dropped: output ids
    without a frame t + K."""

    dets: dict
    image_ids: list[int]
    dropped: list[int]


def pair_kstep(gt: GroundTruth, results: Results, k: int) -> KStepPairing:
    """Relabels the detections of input frame t to GT frame t + k of the same video."""
    if k < 0:
        raise ValueError(f'kstep: K must be >= 0, got {k}')
    if k == 0:
        return KStepPairing(dict(results.detections), sorted(gt.images), [])
    videos = gt.require_videos('kstep')
    by_frame = {}
    for vid, ids in videos.items():
        for iid in ids:
            by_frame[(vid, gt.images[iid]['frame_id'])] = iid
    dets, dropped = {}, []
    for iid in results.outputs:
        if iid not in gt.images:
            raise ValueError(f'results: input_image_id {iid} is not in the ground truth')
        img = gt.images[iid]
        target = by_frame.get((img['video_id'], img['frame_id'] + k))
        if target is None:
            dropped.append(iid)
            continue
        dets[target] = results.dets_of(iid)
    # Evaluated frames: every GT frame that has a frame t = frame - k in its video.
    image_ids = []
    for vid, ids in videos.items():
        for iid in ids:
            if (vid, gt.images[iid]['frame_id'] - k) in by_frame:
                image_ids.append(iid)
    return KStepPairing(dets, sorted(image_ids), sorted(dropped))


def evaluate_offline(gt: GroundTruth, results: Results, bdd_plus_one: bool = False
                     ) -> CocoResult:
    """Each output against its own frame; all GT frames count (frames without output = misses)."""
    return evaluate_coco(gt, results.detections, bdd_plus_one=bdd_plus_one)


def evaluate_kstep(gt: GroundTruth, results: Results, k: int, bdd_plus_one: bool = False
                   ) -> tuple[CocoResult, KStepPairing]:
    """K-step sAP_K: output(t) against GT(t + k) within each video."""
    pairing = pair_kstep(gt, results, k)
    res = evaluate_coco(gt, pairing.dets, image_ids=pairing.image_ids, bdd_plus_one=bdd_plus_one)
    return res, pairing


def sap_k_sweep(gt: GroundTruth, results, ks=K_RANGE, bdd_plus_one: bool = False
                ) -> dict[int, float]:
    """AP for K = 1..6.

    Args:
        results: one ``Results`` scored against t + K for every K (how fast a single model's
            output goes stale), or a mapping K -> ``Results`` (a model trained to forecast K
            steps, evaluated at its own K).
    """
    out = {}
    for k in ks:
        res = results[k] if isinstance(results, dict) else results
        out[int(k)] = evaluate_kstep(gt, res, int(k), bdd_plus_one)[0].stats['AP']
    return out
