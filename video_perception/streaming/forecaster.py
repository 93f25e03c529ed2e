"""Tracks and forecasts of one camera's detections: Streamer's forecasting step (Li, Wang and
Ramanan, "Towards Streaming Perception", ECCV 2020; mtli/sAP ``forecast/streamer.py``), for any
detector.

``observe`` takes one detector output and the time its boxes describe (the input frame's stamp;
a detector that itself forecasts K frames ahead describes stamp + K periods):

1. every track is predicted to that time (``kalman.predict`` with dt in frame periods from the
   stamps, so a detector that skipped two frames predicts with dt = 3);
2. the detections are associated with the predicted tracks (``association.associate``: greedy by
   score, same class, IoU >= 0.3);
3. matched tracks take the measurement update; unmatched detections start tracks (zero velocity,
   P0 = 100 I); unmatched tracks end (``max_age`` > 0 keeps them for that many more outputs, for
   association only: a track that missed its detection is not forecast).

``forecast`` extrapolates every live track to a target time; score and class are those of the
track's latest detection. As the toolkit's ``extrap_clean_up``: boxes with a width or height
<= 0 are dropped, the rest clipped to the image, and a box whose whole-pixel width times height
(truncated, as the toolkit's ``astype(int)``) is under 75 px^2 is dropped. No score threshold
applies before tracking (AP needs the low-score boxes); ``min_score`` applies to the forecast.

A stamp going backwards (a bag looped, a new clip) forgets every track. Track ids count up for
the forecaster's life and are never reused, even across such a reset.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import numpy as np

from video_perception.streaming import kalman
from video_perception.streaming.association import IOU_THRESHOLD, associate

MIN_AREA = 75.0             # px^2: the toolkit's extrap_clean_up min_size


@dataclasses.dataclass
class ForecastConfig:
    iou_threshold: float = IOU_THRESHOLD
    r: float = kalman.R_VARIANCE
    p0: float = kalman.P0_VARIANCE
    min_area: float = MIN_AREA
    max_age: int = 0          # outputs an unmatched track survives (0: it ends, as the toolkit)


@dataclasses.dataclass
class Forecast:
    """Forecast boxes at one time: boxes_ltwh [N, 4] (original pixels), scores [N],
    labels [N], track_ids [N] int64; ``horizon`` = target - state time in frame periods."""

    boxes_ltwh: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    track_ids: np.ndarray
    horizon: float = 0.0

    def __len__(self) -> int:
        return len(self.scores)


class TrackForecaster:
    """One camera's (one video's) tracks; see the module docstring."""

    def __init__(self, config: Optional[ForecastConfig] = None):
        self.config = config or ForecastConfig()
        self.next_id = 0
        self.resets = 0
        self._clear()

    def _clear(self) -> None:
        self.x = np.zeros((0, kalman.N_STATE))                                   # [T, 8]
        self.p = np.zeros((0, kalman.N_STATE, kalman.N_STATE))                   # [T, 8, 8]
        self.labels = np.zeros(0, np.int64)
        self.scores = np.zeros(0, np.float64)
        self.ids = np.zeros(0, np.int64)
        self.misses = np.zeros(0, np.int64)      # outputs since the track's last detection
        self.stamp_ns: Optional[int] = None      # the time the tracks' state describes

    def reset(self) -> None:
        """Forget every track (ids keep counting)."""
        if self.stamp_ns is not None:
            self.resets += 1
        self._clear()

    @property
    def live_tracks(self) -> int:
        """Tracks that would be forecast (matched or started by the latest output)."""
        return int(np.count_nonzero(self.misses == 0))

    def observe(self, boxes_ltwh: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                stamp_ns: int, period_ns: float) -> np.ndarray:
        """Feeds one output whose boxes [N, 4] (ltwh, original pixels) describe ``stamp_ns``;
        ``period_ns`` is the frame period. Returns the track id of each detection [N]."""
        cfg = self.config
        boxes = np.asarray(boxes_ltwh, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        labels = np.asarray(labels).astype(np.int64).reshape(-1)
        if self.stamp_ns is not None and stamp_ns < self.stamp_ns:
            self.reset()
        if self.stamp_ns is not None and len(self.x):
            dt = (int(stamp_ns) - self.stamp_ns) / float(period_ns)
            self.x, self.p = kalman.predict(self.x, self.p, dt)
        self.stamp_ns = int(stamp_ns)
        matches, fresh = associate(self.x[:, :4], self.labels, boxes, labels, scores,
                                   cfg.iou_threshold)
        ids = np.full(len(boxes), -1, np.int64)
        kept_t = np.array([i for i, _ in matches], np.int64)
        kept_d = np.array([j for _, j in matches], np.int64)
        x, p = kalman.update(self.x[kept_t], self.p[kept_t], boxes[kept_d], cfg.r)
        ids[kept_d] = self.ids[kept_t]
        new_ids = np.arange(self.next_id, self.next_id + len(fresh), dtype=np.int64)
        self.next_id += len(fresh)
        ids[fresh] = new_ids
        x_new, p_new = kalman.init_tracks(boxes[fresh], cfg.p0)
        # tracks that missed their detection and may still match a later one (max_age)
        unmatched = np.setdiff1d(np.arange(len(self.x)), kept_t)
        coast = unmatched[self.misses[unmatched] < cfg.max_age]
        order = (kept_d, np.asarray(fresh, np.int64))
        self.x = np.concatenate([x, x_new, self.x[coast]])
        self.p = np.concatenate([p, p_new, self.p[coast]])
        self.labels = np.concatenate([labels[order[0]], labels[order[1]], self.labels[coast]])
        self.scores = np.concatenate([scores[order[0]], scores[order[1]], self.scores[coast]])
        self.ids = np.concatenate([ids[order[0]], new_ids, self.ids[coast]])
        self.misses = np.concatenate([np.zeros(len(kept_d) + len(fresh), np.int64),
                                      self.misses[coast] + 1])
        return ids

    def forecast(self, target_ns: int, period_ns: float,
                 image_wh: Optional[Tuple[int, int]] = None, min_score: float = 0.0) -> Forecast:
        """The live tracks extrapolated to ``target_ns``, cleaned up as the toolkit does
        (clipped to ``image_wh`` when given) and with score >= ``min_score``."""
        live = self.misses == 0
        if self.stamp_ns is None or not live.any():
            return Forecast(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64),
                            np.zeros(0, np.int64))
        dt = (int(target_ns) - self.stamp_ns) / float(period_ns)
        boxes = kalman.extrapolate(self.x[live], dt)                    # [T, 4] ltwh
        keep = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
        x1, y1 = boxes[:, 0], boxes[:, 1]
        x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
        if image_wh is not None:
            w_img, h_img = image_wh
            x1, x2 = np.clip(x1, 0, w_img), np.clip(x2, 0, w_img)
            y1, y2 = np.clip(y1, 0, h_img), np.clip(y2, 0, h_img)
        w, h = x2 - x1, y2 - y1
        keep &= np.trunc(w) * np.trunc(h) >= self.config.min_area
        keep &= self.scores[live] >= min_score
        out = np.stack([x1, y1, w, h], axis=1)[keep]
        return Forecast(out, self.scores[live][keep], self.labels[live][keep],
                        self.ids[live][keep], dt)
