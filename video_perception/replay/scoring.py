"""The report of a replay with ground truth (the metrics issue's numbers, one object).

* streaming AP (top-level ``AP``, ``AP50``, ...; ``in_time``, ``mean_lag_frames``, ``n_missing``,
  ``latency_s`` = finish - frame time): every GT frame scored against the latest output finished
  by its timestamp;
* ``offline``: each output against its own frame, over the frames the detector processed (the
  detector's accuracy on what it saw; dropped frames are not misses here, they are in streaming);
* ``sap_k``: K-step sAP_K for K = 1..6 where a video has more than K frames (output of frame t
  against GT t + K; a StreamNet model forecasts t + 1, so sAP_1 is its offline number);
* ``lesion`` (single-class ground truth): P/R/F1/F2 on the streaming pairing, what the vehicle
  would have shown;
* ``replay``: frames, processed, dropped, bad, the match method and the latency model.

Each number is a registered metric (``eval.metrics``), computed and printed as ``evaluate`` does.
"""
from __future__ import annotations

from typing import Optional

from video_perception.eval import metrics
from video_perception.eval.kstep import K_RANGE
from video_perception.eval.report import build_report
from video_perception.eval.results import GroundTruth, Results


def score(gt: GroundTruth, results: Results, lesion_protocol: str = 'centroid',
          score_thr: float = 0.5, lesion: Optional[bool] = None, **replay_info):
    """Returns (report dict, streaming CocoResult, latencies in s, sap_k or None).

    The report prints with ``eval.report.markdown_table``, as ``evaluate``'s does.
    """
    scored = metrics.score_mode('streaming', gt, results)
    extra = dict(scored.extra, offline=metrics.compute('offline', scored))
    sap_k = None
    if gt.videos is not None:
        longest = max(len(ids) for ids in gt.videos.values())
        ks = [k for k in K_RANGE if k < longest]
        if ks and results.outputs:
            sap_k = extra['sap_k'] = metrics.compute('sap_k', scored, ks=ks)
    if lesion is None:
        lesion = len(gt.dataset['categories']) == 1
    if lesion:
        extra['lesion'] = metrics.compute('lesion', scored, protocol=lesion_protocol,
                                          score_thr=score_thr)
    extra['replay'] = replay_info
    report = build_report('streaming', scored.coco, **extra)
    return report, scored.coco, scored.latencies, sap_k
