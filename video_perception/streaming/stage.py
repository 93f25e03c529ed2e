"""What a detector node does for Streamer around its detector, free of ROS: the parameters, one
``TrackForecaster`` per camera, the shrinking-tail schedule, the output stamp and diagnostics.
``node_core.NodeCore`` and ``multi_camera.MultiCameraCore`` call it; it names no family.

With ``forecast:=kalman`` every output is observed by its camera's forecaster at the time its
boxes describe (the input stamp, + ``output.future_frames`` periods for a bundle that forecasts)
and the published boxes are the tracks extrapolated to the target time:

* ``forecast_target:=next_frame``: the next frame expected after the publishing moment, as the
  toolkit's Streamer queries frame fidx + 1 (fidx: the newest frame that has arrived): the
  newest input stamp plus whole periods;
* ``forecast_target:=now``: the publishing moment on the input clock, estimated as the newest
  input stamp plus the time since that frame arrived.

The output header stamp is that target time. The detector then runs with score threshold 0
(tracking needs the low-score boxes, as AP does); ``score_threshold`` and ``max_detections``
apply to the forecast. Detection2D ``id`` is the track id (``track_ids``).
"""
from __future__ import annotations

import collections
import math
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from video_perception.detections import Detections
from video_perception.streaming.association import box_ltwh_to_xyxy, box_xyxy_to_ltwh
from video_perception.streaming.forecaster import ForecastConfig, TrackForecaster
from video_perception.streaming.schedule import SCHEDULES, ShrinkingTail
from video_perception.transport.base import ParameterError, ParameterSpec

STREAMING_SPECS = [
    ParameterSpec('forecast', 'none', "Streamer's forecasting for any detector: none, or "
                  'kalman (IoU tracks, a constant-velocity Kalman filter; boxes extrapolated to '
                  'forecast_target, which becomes the output stamp whatever stamp_mode says)',
                  choices=('none', 'kalman'), read_only=True),
    ParameterSpec('forecast_target', 'next_frame', 'forecast:=kalman: extrapolate to '
                  'next_frame (the next frame expected after publishing) or now (the '
                  'publishing time)', choices=('next_frame', 'now')),
    ParameterSpec('schedule', 'immediate', 'immediate: take the newest frame when free; '
                  'shrinking_tail: wait for the next frame when free at frame phase x >= 1 - '
                  'frac(r), r the mean runtime in frame periods (never when r < 1); one '
                  'camera only', choices=SCHEDULES, read_only=True),
    ParameterSpec('track_ids', True, 'forecast:=kalman: Detection2D id is the track id '
                  '(the same object keeps it from frame to frame)'),
    ParameterSpec('track_max_age', 0, 'forecast:=kalman: outputs a track that missed its '
                  'detection is kept for association (0: it ends, as the toolkit)',
                  min_value=0, max_value=1000, read_only=True),
]
DEFAULT_RATE_HZ = 30.0


def frames_ahead(bundle) -> int:
    """Frame periods after its input frame that a bundle's boxes describe: ``future_frames``
    for a family that forecasts (its node offers ``stamp_mode:=forecast``), else 0 (a detector
    of the present frame; ``future_frames`` defaults to 1 in every bundle)."""
    from video_perception.families import bundle_family
    specs = {s.name: s for s in bundle_family(bundle).parameter_specs()}
    stamp = specs.get('stamp_mode')
    forecasts = stamp is not None and 'forecast' in (stamp.choices or ())
    return int(bundle.future_frames) if forecasts else 0


class TrackedDetections(Detections):
    """Detections with the track id [N] int64 of each box (``ros_convert`` writes it as the
    Detection2D ``id``)."""

    def __init__(self, boxes_xyxy, scores, class_ids, track_ids):
        super().__init__(boxes_xyxy, scores, class_ids)
        self.track_ids = np.asarray(track_ids, np.int64).reshape(-1)


class _Recent:
    """Median of the last values (the forecast horizon in ms)."""

    def __init__(self, window: int = 300):
        self.values: collections.deque = collections.deque(maxlen=window)

    def median(self) -> float:
        return float(np.median(self.values)) if self.values else float('nan')


class StreamingStage:
    """Streamer around one node's detector; ``params`` is the node's live parameter dict."""

    def __init__(self, params: Dict[str, Any], bundle=None, cameras: int = 1):
        self.params = params
        self.future_frames = 0 if bundle is None else frames_ahead(bundle)
        self.kalman = params.get('forecast', 'none') == 'kalman'
        config = ForecastConfig(max_age=int(params.get('track_max_age', 0)))
        self.forecasters = [TrackForecaster(config) for _ in range(cameras)] if self.kalman \
            else []
        self.horizons = [_Recent() for _ in range(cameras)]
        tail = params.get('schedule', 'immediate') == 'shrinking_tail'
        if tail and cameras > 1:
            raise ParameterError("parameter 'schedule': shrinking_tail needs one camera (a "
                                 'batch serves cameras of different frame phases); expected '
                                 'immediate with cameras')
        self.tail = ShrinkingTail() if tail else None

    def detector_settings(self, live: Dict[str, Any]) -> Dict[str, Any]:
        """The detector's live settings: with forecasting it keeps every box (threshold 0)."""
        if self.kalman and 'score_threshold' in live:
            return dict(live, score_threshold=0.0)
        return live

    def period_ns(self, measured: Optional[int]) -> float:
        if measured:
            return float(measured)
        return 1e9 / float(self.params.get('frame_rate_hint', DEFAULT_RATE_HZ))

    # -- scheduling -------------------------------------------------------------------------------
    def pick(self, item, slot, period_ns: Optional[int], t_recv: float):
        """The frame the worker serves: ``item`` (taken from ``slot``, received at ``t_recv``)
        or, when the shrinking tail says wait, the next frame to arrive (``item`` if none comes
        within a period)."""
        if self.tail is None:
            return item
        period_s = self.period_ns(period_ns) / 1e9
        if not self.tail.should_wait(time.monotonic() - t_recv, period_s):
            return item
        nxt = slot.take(timeout=1.5 * period_s)
        return item if nxt is None else nxt

    # -- forecasting ------------------------------------------------------------------------------
    def apply(self, camera: int, dets: Detections, stamp_ns: int, period_ns: Optional[int],
              image_wh: Tuple[int, int], newest: Optional[Tuple[int, float]],
              runtime_s: float, clock_ns: Optional[int] = None
              ) -> Tuple[Detections, Optional[int]]:
        """(detections to publish, their stamp or None for the usual one) of one output;
        ``newest`` = (stamp, monotonic arrival) of the newest frame received, ``runtime_s``
        the frame's processing time (the schedule's r); ``clock_ns``: the publishing time on
        the input clock where it is known (replay), instead of ``newest``."""
        if self.tail is not None:
            self.tail.observe(runtime_s)
        if not self.kalman:
            return dets, None
        period = self.period_ns(period_ns)
        fc = self.forecasters[camera]
        observed = int(stamp_ns + self.future_frames * period)
        fc.observe(box_xyxy_to_ltwh(dets.boxes_xyxy), dets.scores, dets.class_ids, observed,
                   period)
        target = self.target_ns(stamp_ns, period, newest, clock_ns)
        out = fc.forecast(target, period, image_wh,
                          min_score=float(self.params.get('score_threshold', 0.0)))
        limit = int(self.params.get('max_detections', 100))
        order = np.argsort(-out.scores, kind='stable')[:limit]
        self.horizons[camera].values.append((target - observed) / 1e6)
        boxes = box_ltwh_to_xyxy(out.boxes_ltwh[order])
        if self.params.get('track_ids', True):
            return TrackedDetections(boxes, out.scores[order], out.labels[order],
                                     out.track_ids[order]), target
        return Detections(boxes, out.scores[order], out.labels[order]), target

    def target_ns(self, stamp_ns: int, period: float,
                  newest: Optional[Tuple[int, float]], clock_ns: Optional[int] = None) -> int:
        """The forecast target on the input clock (see the module docstring)."""
        if clock_ns is not None:        # replay: frames on the period grid from this one
            last, since_ns = stamp_ns, max(0.0, float(clock_ns - stamp_ns))
        elif newest is None or newest[0] is None or newest[0] < stamp_ns:
            last, since_ns = stamp_ns, 0.0      # no newer frame known (or a new stream began)
        else:
            last, since_ns = newest[0], max(0.0, (time.monotonic() - newest[1]) * 1e9)
        if self.params.get('forecast_target', 'next_frame') == 'now':
            return int(last + since_ns)
        return int(last + (math.floor(since_ns / period) + 1) * period)

    # -- diagnostics ------------------------------------------------------------------------------
    def diagnostics(self, camera: int = 0) -> List[Tuple[str, str]]:
        values = []
        if self.kalman:
            fc = self.forecasters[camera]
            values += [('forecast', f"kalman to {self.params.get('forecast_target')}"),
                       ('live_tracks', str(fc.live_tracks)),
                       ('tracks_started', str(fc.next_id)),
                       ('tracker_resets', str(fc.resets)),
                       ('forecast_horizon_ms_median', f'{self.horizons[camera].median():.2f}')]
        if self.tail is not None:
            r = self.tail.mean_runtime()
            values += [('schedule', 'shrinking_tail'),
                       ('schedule_waits', str(self.tail.waited)),
                       ('mean_runtime_ms', 'nan' if r is None else f'{1000 * r:.2f}')]
        return values
