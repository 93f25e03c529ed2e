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
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from video_perception.eval.coco_ap import evaluate_coco
from video_perception.eval.kstep import K_RANGE, sap_k_sweep
from video_perception.eval.latency import latencies_from_results
from video_perception.eval.lesion import frames_from, lesion_metrics
from video_perception.eval.report import TABLE_KEYS, build_report, markdown_table
from video_perception.eval.results import GroundTruth, Results
from video_perception.eval.streaming import evaluate_streaming


def score(gt: GroundTruth, results: Results, lesion_protocol: str = 'centroid',
          score_thr: float = 0.5, lesion: Optional[bool] = None, **replay_info):
    """Returns (report dict, streaming CocoResult, latencies in s, sap_k or None)."""
    coco, pairing, lat = evaluate_streaming(gt, results)
    extra = {'in_time': pairing.in_time, 'mean_lag_frames': pairing.mean_lag_frames,
             'n_missing': pairing.n_missing, 'latency_s': lat, 'offline': None}
    if results.outputs:  # COCOeval needs at least one image
        offline = evaluate_coco(gt, results.detections, image_ids=sorted(results.outputs))
        extra['offline'] = dict(offline.stats, n_images=offline.n_images)
    sap_k = None
    if gt.videos is not None:
        longest = max(len(ids) for ids in gt.videos.values())
        ks = [k for k in K_RANGE if k < longest]
        if ks and results.outputs:
            sap_k = sap_k_sweep(gt, results, ks)
            extra['sap_k'] = sap_k
    if lesion is None:
        lesion = len(gt.dataset['categories']) == 1
    if lesion:
        paired = {g: results.dets_of(s) for g, s in pairing.used.items() if s is not None}
        extra['lesion'] = lesion_metrics(frames_from(gt, paired), lesion_protocol, score_thr)
    extra['replay'] = replay_info
    report = build_report('streaming', coco, **extra)
    latencies = latencies_from_results(gt, results)
    return report, coco, latencies, sap_k


def report_markdown(report: dict) -> str:
    """The evaluate tool's table (streaming) plus an offline row and the replay counts."""
    text = markdown_table(report)
    off = report.get('offline')
    if off:
        head = text.split('\n')[:3]
        if len(head) == 3 and head[0].startswith('| mode'):
            row = '| offline (processed frames) | ' + ' | '.join(
                '-' if off[k] is None or off[k] < 0 else f'{100 * off[k]:.1f}'
                for k in TABLE_KEYS) + ' |'
            lines = text.split('\n')
            lines.insert(3, row)
            text = '\n'.join(lines)
    info = report.get('replay') or {}
    if info:
        text += '\n| replay | value |\n|---|---:|\n' + '\n'.join(
            f'| {k} | {_fmt(v)} |' for k, v in info.items()) + '\n'
    return text


def _fmt(v) -> str:
    if isinstance(v, float):
        return f'{v:.4g}' if np.isfinite(v) else '-'
    return str(v)
