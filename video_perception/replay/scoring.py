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
* ``stale`` and ``deadline_miss``: GT frames served an output two or more frames old, outputs
  finished after the next frame arrived (``eval.streaming``);
* ``classes``: how the model's classes became GT categories, the model classes dropped because
  the GT lacks them and the GT categories no class maps to (``eval.categories``);
* ``replay``: frames, processed, dropped, bad, the match method and the latency model.

A latency sweep (``replay.sweep``) adds one row per speed (``sweep_point``): the runtime the
speed gives, streaming AP, offline AP, deadline-miss rate and stale share, read from the
registered metrics' headline numbers, with the zero-latency offline AP as the ceiling.

Each number is a registered metric (``eval.metrics``), computed and printed as ``evaluate`` does.
"""
from __future__ import annotations

from typing import Optional

from video_perception.eval import metrics
from video_perception.eval.latency import latency_stats
from video_perception.eval.kstep import K_RANGE
from video_perception.eval.report import build_report
from video_perception.eval.results import GroundTruth, Results


def score(gt: GroundTruth, results: Results, lesion_protocol: str = 'centroid',
          score_thr: float = 0.5, lesion: Optional[bool] = None,
          classes: Optional[dict] = None, forecast=None, **replay_info):
    """Returns (report dict, streaming CocoResult, latencies in s, sap_k or None).

    ``classes``: how the model's classes became GT categories (``ClassMapping.report``);
    ``forecast``: a ``streaming.offline.Forecaster``, the streaming AP of its forecasts.

    The report prints with ``eval.report.markdown_table``, as ``evaluate``'s does.
    """
    scored = metrics.score_mode('streaming', gt, results, forecast=forecast)
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
    if classes is not None:
        extra['classes'] = classes
    extra['replay'] = replay_info
    report = build_report('streaming', scored.coco, **extra)
    return report, scored.coco, scored.latencies, sap_k


SWEEP_HEADER = ('speed', 'runtime median (ms)', 'runtime p95 (ms)', 'streaming AP',
                'offline AP', 'deadline-miss rate', 'stale share', 'processed/frames')


def sweep_point(speed: float, run, report: dict) -> dict:
    """One speed of a sweep: its runtimes (start to finish, ms) and the report's headline
    numbers (``metrics.headline``: AP, offline_AP, deadline_miss, stale, ...)."""
    lat = latency_stats([o.latency_s for o in run.outputs])
    return dict(metrics.headline(report), speed=speed, runtime_median_ms=1000 * lat['median'],
                runtime_p95_ms=1000 * lat['p95'], processed=len(run.outputs),
                dropped=run.dropped, frames=len(run.frames))


def sweep_rows(points: list[dict]) -> list[tuple]:
    """The rows of the sweep table (``SWEEP_HEADER``), one per speed."""
    return [(f"{p['speed']:g}", f"{p['runtime_median_ms']:.1f}", f"{p['runtime_p95_ms']:.1f}",
             metrics.fmt_percent(p['AP']), metrics.fmt_percent(p['offline_AP']),
             metrics.fmt_value(p['deadline_miss']), metrics.fmt_value(p['stale']),
             f"{p['processed']}/{p['frames']}") for p in points]
