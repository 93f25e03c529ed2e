"""The forecast made for each ground-truth frame from a run's outputs: Streamer's forecasting as a
post-processing step with zero runtime (mtli/sAP ``forecast/pps_forecast_kf.py``), for
``evaluate --mode streaming --forecast kalman`` and ``replay --forecast kalman``.

Per video, the outputs are fed to one ``TrackForecaster`` in the order they finished (ties as
``eval.streaming`` orders them: by input frame, then file order), each observed at its input
frame's time (+ ``offset_frames`` periods for a detector whose boxes describe a later frame). GT
frame i at time t_i gets the tracks after every output finished by t_i (the same output the
plain streaming pairing uses is the latest of them), extrapolated to t_i and cleaned up as the
toolkit does; a frame with no output yet gets no detections. Every output is fed to the tracker,
as the live Streamer associates every result (the toolkit's offline script skips outputs that
are overtaken before the next GT frame; with one worker that never happens at the same time
scale).

The frame period of a video is 1 / its ``fps`` when the GT gives one (or ``--fps``), else the
median step of its frames' timestamps.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from video_perception.streaming.forecaster import ForecastConfig, TrackForecaster

METHODS = ('none', 'kalman')


@dataclasses.dataclass
class OfflineForecast:
    """paired: GT image id -> [N, 6] forecast rows (x, y, w, h, score, category_id);
    track_ids: input image id -> [N] track id of each of its detection rows;
    horizons: frames between each scored forecast's observation and its GT frame."""

    paired: Dict[int, np.ndarray]
    track_ids: Dict[int, np.ndarray]
    horizons: List[float]
    tracks: int = 0

    def report(self, offset_frames: int = 0) -> dict:
        h = np.asarray(self.horizons, np.float64)
        return {'method': 'kalman', 'target': 'each GT frame',
                'observation_offset_frames': offset_frames, 'tracks_started': self.tracks,
                'horizon_frames_mean': float(h.mean()) if h.size else float('nan'),
                'horizon_frames_max': float(h.max()) if h.size else float('nan')}


def _ns(seconds: float) -> int:
    return int(round(float(seconds) * 1e9))


def run_sequence(outputs: Sequence[Tuple[float, int, np.ndarray]],
                 queries: Sequence[Tuple[float, Optional[Tuple[int, int]]]], period_ns: float,
                 forecaster: TrackForecaster):
    """One video: ``outputs`` (finish time s, observation stamp ns, rows [N, 6]) in finish
    order and ``queries`` (time s, image (w, h) or None) in time order. Returns (track ids of
    each output's rows, per query a Forecast or None when nothing had finished)."""
    ids: List[np.ndarray] = [np.zeros(0, np.int64)] * len(outputs)
    answers = []
    j = 0

    def feed(k):
        _, stamp, rows = outputs[k]
        ids[k] = forecaster.observe(rows[:, :4], rows[:, 4], rows[:, 5], stamp, period_ns)

    for t, size in queries:
        while j < len(outputs) and outputs[j][0] <= t:
            feed(j)
            j += 1
        answers.append(forecaster.forecast(_ns(t), period_ns, size) if j else None)
    for k in range(j, len(outputs)):
        feed(k)
    return ids, answers


def _period_s(gt, ids: List[int], vid, fps: Optional[float]) -> float:
    """The video's frame period in seconds: 1 / its fps, else the median timestamp step."""
    if gt.video_fps.get(vid):
        return 1.0 / float(gt.video_fps[vid])
    times = np.array([gt.timestamp(i, fps) for i in ids], np.float64)
    steps = np.diff(times)
    steps = steps[steps > 0]
    if not steps.size:
        raise ValueError(f'ground truth: video {vid} has fewer than two distinct frame times; '
                         'forecasting needs its frame period')
    return float(np.median(steps))


def forecast_pairing(gt, results, fps: Optional[float] = None,
                     config: Optional[ForecastConfig] = None,
                     offset_frames: int = 0) -> OfflineForecast:
    """The forecast for every GT frame of ``gt`` from the timed ``results`` (see the module)."""
    videos = gt.require_videos('streaming')
    if not results.timed:
        raise ValueError("results: forecasting needs 'finish_time' on every output")
    order = {iid: n for n, iid in enumerate(results.outputs)}
    per_video: dict = {vid: [] for vid in videos}
    for iid, finish in results.outputs.items():
        if iid not in gt.images:
            raise ValueError(f'results: input_image_id {iid} is not in the ground truth')
        img = gt.images[iid]
        per_video[img['video_id']].append((finish, img['frame_id'], order[iid], iid))
    out = OfflineForecast({}, {}, [])
    for vid, gt_ids in videos.items():
        period_s = _period_s(gt, gt_ids, vid, fps)
        outs = sorted(per_video[vid])
        seq = [(finish, _ns(gt.timestamp(iid, fps) + offset_frames * period_s),
                results.dets_of(iid)) for finish, _, _, iid in outs]
        queries = []
        for gid in gt_ids:
            img = gt.images[gid]
            size = (img['width'], img['height']) if img.get('width') and img.get('height') \
                else None
            queries.append((gt.timestamp(gid, fps), size))
        forecaster = TrackForecaster(config)
        ids, answers = run_sequence(seq, queries, period_s * 1e9, forecaster)
        out.tracks += forecaster.next_id
        for (_, _, _, iid), track in zip(outs, ids):
            out.track_ids[iid] = track
        for gid, fc in zip(gt_ids, answers):
            if fc is None:
                continue
            rows = np.concatenate([fc.boxes_ltwh, fc.scores[:, None],
                                   fc.labels[:, None].astype(np.float64)], axis=1)
            out.paired[gid] = rows.reshape(-1, 6)
            out.horizons.append(fc.horizon)
    return out


class Forecaster:
    """The ``forecast`` hook of ``eval.streaming.evaluate_streaming``: (gt, results, fps) ->
    GT image id -> rows; keeps its last ``OfflineForecast`` (track ids, horizons) in ``last``."""

    def __init__(self, config: Optional[ForecastConfig] = None, offset_frames: int = 0):
        self.config, self.offset_frames = config, int(offset_frames)
        self.last: Optional[OfflineForecast] = None

    def __call__(self, gt, results, fps=None) -> Dict[int, np.ndarray]:
        self.last = forecast_pairing(gt, results, fps, self.config, self.offset_frames)
        return self.last.paired

    def report(self) -> dict:
        return self.last.report(self.offset_frames) if self.last else {'method': 'kalman'}


def track_run(run, offset_frames: int = 0, config: Optional[ForecastConfig] = None
              ) -> Dict[int, np.ndarray]:
    """Track ids of a replay run's outputs without ground truth: output index -> [N] ids of its
    detections (in their order), per stream, on the input's clock."""
    from video_perception.streaming.association import box_xyxy_to_ltwh
    by_stream: dict = {}
    for o in run.outputs:
        by_stream.setdefault(o.stream, []).append(o)
    stamps = {}
    for f in run.frames:
        stamps.setdefault(f.stream, []).append(f.stamp_ns)
    ids = {}
    for stream, outs in by_stream.items():
        steps = np.diff(np.array(stamps[stream], np.int64))
        steps = steps[steps > 0]
        period = float(np.median(steps)) if steps.size else 1e9 / 30.0
        outs = sorted(outs, key=lambda o: (o.finish_ns, o.stamp_ns))
        seq = []
        for o in outs:
            rows = np.concatenate([box_xyxy_to_ltwh(o.dets.boxes_xyxy),
                                   o.dets.scores[:, None].astype(np.float64),
                                   o.dets.class_ids[:, None].astype(np.float64)], axis=1)
            seq.append((o.finish_ns / 1e9, int(o.stamp_ns + offset_frames * period), rows))
        got, _ = run_sequence(seq, [], period, TrackForecaster(config))
        ids.update({o.index: track for o, track in zip(outs, got)})
    return ids
