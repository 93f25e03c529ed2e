"""The node's Streamer stage without ROS: the target time of ``next_frame`` and ``now`` from the
newest frame's stamp and arrival, one tracker per camera, the threshold moved after tracking,
track ids as Detection2D ids, and the shrinking tail letting a frame go for the next one."""
import threading
import time

import numpy as np
import pytest

from video_perception.detections import Detections
from video_perception.node_core import LatestSlot
from video_perception.ros_convert import detections_to_msg
from video_perception.streaming.stage import StreamingStage
from video_perception import msgs

P = 100_000_000                   # 100 ms frame period


def params(**kw):
    base = {'forecast': 'kalman', 'forecast_target': 'next_frame', 'schedule': 'immediate',
            'track_ids': True, 'track_max_age': 0, 'score_threshold': 0.3,
            'max_detections': 100}
    return dict(base, **kw)


def test_target_is_the_next_frame_after_now_or_now():
    stage = StreamingStage(params())
    t0 = 5_000 * P
    newest = (t0 + 2 * P, time.monotonic() - 0.25)   # frame t0 + 2P arrived 250 ms ago
    assert stage.target_ns(t0, P, newest) == t0 + 5 * P       # 2P + 250 ms -> the frame at 5P
    stage.params['forecast_target'] = 'now'
    got = stage.target_ns(t0, P, newest)
    assert t0 + 2 * P + 250_000_000 <= got < t0 + 2 * P + 300_000_000
    stage.params['forecast_target'] = 'next_frame'
    assert stage.target_ns(t0, P, None) == t0 + P                # nothing newer known


def test_one_tracker_per_camera_threshold_after_tracking_and_ids_in_messages():
    p = params()
    stage = StreamingStage(p, cameras=2)
    assert stage.detector_settings({'score_threshold': 0.3}) == {'score_threshold': 0.0}
    t0 = 1_000 * P
    for k in range(3):
        dets = Detections([[10 + 5 * k, 10, 60 + 5 * k, 50], [200, 100, 240, 140]],
                          [0.9, 0.1], [0, 1])
        now = (t0 + k * P, time.monotonic())
        out0, stamp0 = stage.apply(0, dets, t0 + k * P, P, (320, 240), now, 0.01)
        out1, _ = stage.apply(1, dets.select([1]), t0 + k * P, P, (320, 240), now, 0.01)
    assert stamp0 == t0 + 3 * P
    assert out0.track_ids.tolist() == [0] and len(out1) == 0   # 0.1 < 0.3 after tracking
    assert stage.forecasters[0].next_id == 2 and stage.forecasters[1].next_id == 1
    assert [kv for kv in stage.diagnostics(0) if kv[0] == 'live_tracks'] == [('live_tracks', '2')]
    msg = detections_to_msg(out0, msgs.Header())
    assert [d.id for d in msg.detections] == ['0']
    p['track_ids'] = False
    out, _ = stage.apply(0, dets, t0 + 3 * P, P, (320, 240), (t0 + 3 * P, time.monotonic()), 0)
    assert [d.id for d in detections_to_msg(out, msgs.Header()).detections] == ['']


def test_shrinking_tail_lets_a_late_frame_go_for_the_next():
    stage = StreamingStage(params(forecast='none', schedule='shrinking_tail'))
    dets = Detections.empty()
    stage.apply(0, dets, 0, P, (10, 10), None, 0.17)          # r = 1.7 frame periods
    slot = LatestSlot()
    # the frame in hand arrived 50 ms ago: phase 0.5 >= 1 - 0.7, so wait for the next one
    threading.Timer(0.05, lambda: slot.put('next')).start()
    assert stage.pick('late', slot, P, time.monotonic() - 0.05) == 'next'
    # arrived 10 ms ago: phase 0.1 < 0.3, served at once
    assert stage.pick('fresh', slot, P, time.monotonic() - 0.01) == 'fresh'
    assert stage.tail.waited == 1
    with pytest.raises(ValueError, match='one camera'):
        StreamingStage(params(schedule='shrinking_tail'), cameras=2)
    assert np.isfinite(float(dict(stage.diagnostics())['mean_runtime_ms']))
