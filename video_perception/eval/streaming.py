"""Streaming AP (Li, Wang and Ramanan 2020; the mtli/sAP toolkit's ``streaming_eval.py``).

Ground-truth frame i of a video, at time t_i (its ``timestamp``), is scored against the latest
output of that video whose finish_time <= t_i (an output finishing exactly at t_i counts). If
there is none yet, the frame gets no detections (all its objects are misses). The used output's
detections are relabelled to frame i and the whole set goes through COCOeval.

"Latest" means the largest finish_time. Ties in finish_time go to the output of the later input
frame (the most recent input), then to the later entry of the results file; mtli/sAP takes the
last of equal stamps in its (finish-ordered) list, which is the same when outputs are recorded
in input order.

Beside sAP, two timing numbers: a GT frame is matched to a *stale* output when that output's
input is more than one frame older (lag >= 2: a detector that keeps up with the camera hands
frame i the output of frame i - 1, the freshest any non-zero latency allows); an output *misses
its deadline* when it finishes after the next frame of its video arrived (strictly after: an
output finishing at that frame's time is still paired with it), so that frame is served an older
output. The last frame of a video has no next frame and is not counted.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from video_perception.eval.coco_ap import CocoResult, evaluate_coco
from video_perception.eval.latency import latencies_from_results, latency_stats
from video_perception.eval.results import GroundTruth, Results

# A finish time this much before its own input frame's timestamp is a clock error, not rounding.
_CAUSALITY_TOL_S = 1e-6


@dataclasses.dataclass
class StreamingPairing:
    """used: GT image id -> input image id of the output scored against it (None: no output yet).
    in_time: fraction of GT frames whose used output came from the same frame.
    mean_lag_frames: mean of frame_id(i) - frame_id(input of used output) over GT frames that
        have an output (NaN when none has).
    stale: fraction of GT frames whose used output is two or more frames behind.
    """

    used: dict[int, int | None]
    in_time: float
    mean_lag_frames: float
    n_missing: int
    stale: float = float('nan')
    forecast: dict[int, np.ndarray] | None = None

    def detections(self, results: Results) -> dict[int, np.ndarray]:
        """GT image id -> the [N, 6] detections scored against it: those of the output used,
        or with a forecaster the forecast made for the frame from the outputs finished by then."""
        if self.forecast is not None:
            return self.forecast
        return {gid: results.dets_of(src) for gid, src in self.used.items() if src is not None}


def pair_streaming(gt: GroundTruth, results: Results, fps: float | None = None
                   ) -> StreamingPairing:
    """Pairs every GT frame with the latest output finished by its time, per video.

    Args:
        fps: used only for images without ``timestamp`` (t = frame_id / fps).
    """
    videos = gt.require_videos('streaming')
    if not results.timed:
        raise ValueError("results: streaming mode needs 'finish_time' on every output (the "
                         'canonical results file, not a plain COCO list)')
    per_video: dict = {vid: [] for vid in videos}
    order = {iid: n for n, iid in enumerate(results.outputs)}
    for iid, finish in results.outputs.items():
        if iid not in gt.images:
            raise ValueError(f'results: input_image_id {iid} is not in the ground truth')
        img = gt.images[iid]
        if finish < gt.timestamp(iid, fps) - _CAUSALITY_TOL_S:
            raise ValueError(f'results: output of image {iid} finishes at {finish} s, before its '
                             f'input frame time {gt.timestamp(iid, fps)} s (clock mismatch?)')
        per_video[img['video_id']].append((finish, img['frame_id'], order[iid], iid))
    used: dict[int, int | None] = {}
    lags, same, missing = [], 0, 0
    for vid, gt_ids in videos.items():
        outs = sorted(per_video[vid])  # by finish, then input frame, then file order
        finish = np.array([o[0] for o in outs], dtype=np.float64)
        times = np.array([gt.timestamp(i, fps) for i in gt_ids], dtype=np.float64)
        # side='right': an output finishing exactly at t_i is available for frame i.
        idx = np.searchsorted(finish, times, side='right') - 1
        for gid, j in zip(gt_ids, idx):
            if j < 0:
                used[gid] = None
                missing += 1
                continue
            src = outs[j][3]
            used[gid] = src
            same += int(src == gid)
            lags.append(gt.images[gid]['frame_id'] - outs[j][1])
    n = len(used)
    stale = sum(lag >= 2 for lag in lags)
    return StreamingPairing(used, same / n if n else float('nan'),
                            float(np.mean(lags)) if lags else float('nan'), missing,
                            stale / n if n else float('nan'))


def deadline_misses(gt: GroundTruth, results: Results, fps: float | None = None) -> dict:
    """Outputs that finished after the next frame of their video arrived.

    Returns {'rate', 'missed', 'outputs'}: ``outputs`` counts the timed outputs whose frame has
    a next frame in the ground truth (rate NaN when there is none).
    """
    next_time: dict[int, float] = {}
    for ids in gt.require_videos('streaming').values():
        for cur, nxt in zip(ids, ids[1:]):
            next_time[cur] = gt.timestamp(nxt, fps)
    counted = [iid for iid, t in results.outputs.items() if t is not None and iid in next_time]
    missed = sum(results.outputs[iid] > next_time[iid] for iid in counted)
    return {'rate': missed / len(counted) if counted else float('nan'), 'missed': int(missed),
            'outputs': len(counted)}


def evaluate_streaming(gt: GroundTruth, results: Results, fps: float | None = None,
                       bdd_plus_one: bool = False, forecast=None
                       ) -> tuple[CocoResult, StreamingPairing, dict]:
    """Streaming AP; returns (COCO result, pairing, latency statistics in seconds).

    ``forecast``: (gt, results, fps) -> GT image id -> [N, 6] rows, the detections to score
    each GT frame against instead of the output's own (``streaming.offline.Forecaster``); the
    pairing's lag, stale share and misses still describe the outputs the forecasts came from."""
    pairing = pair_streaming(gt, results, fps)
    if forecast is not None:
        pairing.forecast = forecast(gt, results, fps)
    res = evaluate_coco(gt, pairing.detections(results), bdd_plus_one=bdd_plus_one)
    lat = latency_stats(latencies_from_results(gt, results, fps))
    return res, pairing, lat
