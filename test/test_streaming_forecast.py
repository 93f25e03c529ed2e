"""Streamer's pieces against known answers: the Kalman filter against the closed form of one
predict + update worked by hand, association against its rules (and pycocotools' IoU), the
forecaster's clean-up and reset, the shrinking-tail rule against the toolkit's examples and its
scheduling simulator (mtli/sAP util/schedule_sim.py, numbers in SCHEDULE_SIM_MISMATCH)."""
import math

import numpy as np
import pytest

from video_perception.replay.simulate import schedule
from video_perception.streaming import kalman
from video_perception.streaming.association import associate
from video_perception.streaming.forecaster import ForecastConfig, TrackForecaster
from video_perception.streaming.schedule import ShrinkingTail, waits

P = 1_000_000_000                 # one frame period in ns (the filter counts in periods)


def one_step_by_hand(dt, v, z0):
    """Track started at z0 (v = 0, P0 = 100 I), predicted dt periods, updated with z0 + v dt;
    per coordinate the 2x2 (position, velocity) block, R = 10, Q = dt^2 I."""
    p_pos, p_cross, p_vel = 100 + 100 * dt**2 + dt**2, 100 * dt, 100 + dt**2
    s = p_pos + 10
    k_pos, k_vel = p_pos / s, p_cross / s
    y = v * dt
    pos, vel = z0 + k_pos * y, k_vel * y
    cov = np.array([[p_pos - k_pos * p_pos, p_cross - k_pos * p_cross],
                    [p_cross - k_vel * p_pos, p_vel - k_vel * p_cross]])
    return pos, vel, cov


@pytest.mark.parametrize('dt', [1, 3])
def test_covariance_after_one_predict_and_update_is_the_hand_value(dt):
    x, p = kalman.init_tracks(np.array([[10.0, 20.0, 30.0, 40.0]]))
    x, p = kalman.predict(x, p, dt)
    x, p = kalman.update(x, p, np.array([[12.0, 20.0, 30.0, 40.0]]))
    _, _, cov = one_step_by_hand(dt, 2.0 / dt, 10.0)
    if dt == 1:      # the same numbers as fractions: 2010/211, 1000/211, 11311/211
        np.testing.assert_allclose(cov, np.array([[2010, 1000], [1000, 11311]]) / 211)
    for c in range(4):
        block = p[0][np.ix_([c, c + 4], [c, c + 4])]
        np.testing.assert_allclose(block, cov, rtol=1e-12)
    off = p[0].copy()
    for c in range(4):
        off[np.ix_([c, c + 4], [c, c + 4])] = 0
    assert np.abs(off).max() == 0          # the coordinates never mix


@pytest.mark.parametrize('dt', [1, 3])
def test_constant_velocity_forecast_after_two_observations(dt):
    """Two observations dt periods apart, forecast h periods on: the hand closed form (the
    prior P0 = 100 I pulls the velocity toward 0: 100 dt^2 / (110 + 101 dt^2) of it); with
    more observations the filter locks on and the forecast is the true box."""
    v = np.array([5.0, -2.0, 1.0, 0.5])                       # px per period
    z0 = np.array([300.0, 200.0, 120.0, 80.0])
    f = TrackForecaster()
    f.observe(z0[None], [0.9], [1], 10 * P, P)
    ids = f.observe((z0 + v * dt)[None], [0.8], [1], (10 + dt) * P, P)
    assert ids.tolist() == [0]                                # the same track
    h = 2
    got = f.forecast((10 + dt + h) * P, P).boxes_ltwh[0]
    want = []
    for c in range(4):
        pos, vel, _ = one_step_by_hand(dt, v[c], z0[c])
        want.append(pos + h * vel)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert f.forecast((10 + dt + h) * P, P).scores[0] == pytest.approx(0.8)   # the latest
    for k in range(2, 40):                                    # constant velocity: converges
        f.observe((z0 + v * dt * k)[None], [0.8], [1], (10 + dt * k) * P, P)
    got = f.forecast((10 + dt * 39 + h) * P, P).boxes_ltwh[0]
    np.testing.assert_allclose(got, z0 + v * (dt * 39 + h), atol=1e-3)


def test_skipped_frames_predict_with_dt_from_stamps():
    """A filter fed frames 0, 1, 4 predicts 3 periods for the last step: the same state as one
    fed 0, 1 and then 4 with dt = 3 by hand; one that stepped once per call would differ."""
    z = lambda t: np.array([[100 + 4.0 * t, 50.0, 80.0, 60.0]])      # noqa: E731
    f = TrackForecaster()
    for t in (0, 1, 4):
        f.observe(z(t), [0.9], [0], t * P, P)
    x, p = kalman.init_tracks(z(0))
    for prev, t in ((0, 1), (1, 4)):
        x, p = kalman.predict(x, p, t - prev)
        x, p = kalman.update(x, p, z(t))
    np.testing.assert_allclose(f.x, x, rtol=1e-12)
    x1, p1 = kalman.init_tracks(z(0))
    for t in (1, 4):
        x1, p1 = kalman.predict(x1, p1, 1)
        x1, p1 = kalman.update(x1, p1, z(t))
    assert np.abs(f.x - x1).max() > 0.1


def test_iou_is_cocos():
    from pycocotools import mask as mask_utils
    from video_perception.detections import box_iou_xyxy
    from video_perception.streaming.association import box_ltwh_to_xyxy
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.uniform(0, 100, (7, 2)), rng.uniform(1, 60, (7, 2))], 1)
    b = np.concatenate([rng.uniform(0, 100, (5, 2)), rng.uniform(1, 60, (5, 2))], 1)
    np.testing.assert_allclose(box_iou_xyxy(box_ltwh_to_xyxy(a), box_ltwh_to_xyxy(b)),
                               mask_utils.iou(a.tolist(), b.tolist(), [0] * 5), rtol=1e-9)


def test_association_takes_the_higher_score_first_and_never_crosses_classes():
    track = np.array([[0.0, 0.0, 100.0, 100.0]])
    dets = np.array([[10.0, 0.0, 100.0, 100.0],      # IoU 0.818, score 0.5
                     [0.0, 0.0, 100.0, 100.0],       # IoU 1.0, score 0.4: the better box
                     [0.0, 0.0, 100.0, 100.0]])      # IoU 1.0, class 2, score 0.9
    matches, unmatched = associate(track, np.array([1]), dets, np.array([1, 1, 2]),
                                   np.array([0.5, 0.4, 0.9]))
    assert matches == [(0, 0)]                       # score 0.5 before 0.4: greedy, not IoU
    assert unmatched == [2, 1]                       # in score order; class 2 never matched
    # two tracks, one detection: the highest IoU >= 0.3 of its class; 0.3 exactly matches
    tracks = np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 10.0, 10.0]])
    det = np.array([[0.0, 0.0, 13.0, 10.0]])         # IoU 10/13, 10/13 and 8/15
    m, _ = associate(tracks, np.array([3, 3, 3]), det, np.array([3]), np.array([1.0]))
    assert m == [(1, 0)]                             # equal IoUs: the later track, as the toolkit
    exact = np.array([[0.0, 0.0, 10.0, 3.0]])        # IoU with [0,0,10,10] = 30/100 = 0.3
    m, _ = associate(tracks[:1], np.array([3]), exact, np.array([3]), np.array([1.0]))
    assert m == [(0, 0)]
    m, u = associate(tracks[:1], np.array([3]), exact, np.array([3]), np.array([1.0]), 0.31)
    assert m == [] and u == [0]


def test_tracks_end_unless_max_age_and_ids_persist():
    box = np.array([[50.0, 50.0, 40.0, 40.0]])
    f = TrackForecaster()
    assert f.observe(box, [0.9], [0], 0, P).tolist() == [0]
    assert f.observe(box + 2, [0.9], [0], P, P).tolist() == [0]
    assert f.observe(np.zeros((0, 4)), [], [], 2 * P, P).tolist() == []
    assert f.live_tracks == 0 and len(f.forecast(3 * P, P)) == 0
    assert f.observe(box + 4, [0.9], [0], 3 * P, P).tolist() == [1]     # a new track
    g = TrackForecaster(ForecastConfig(max_age=1))
    g.observe(box, [0.9], [0], 0, P)
    g.observe(np.zeros((0, 4)), [], [], P, P)
    assert g.live_tracks == 0 and len(g.forecast(2 * P, P)) == 0   # kept, but not forecast
    assert g.observe(box, [0.9], [0], 2 * P, P).tolist() == [0]        # and matched again


def test_a_stamp_going_backwards_resets():
    f = TrackForecaster()
    for t in range(3):
        f.observe(np.array([[10.0 + 5 * t, 10.0, 50.0, 50.0]]), [0.9], [0], (100 + t) * P, P)
    ids = f.observe(np.array([[200.0, 100.0, 30.0, 30.0]]), [0.7], [2], 5 * P, P)
    assert f.resets == 1 and ids.tolist() == [1]     # ids are never reused
    fc = f.forecast(6 * P, P)
    np.testing.assert_array_equal(fc.boxes_ltwh, [[200.0, 100.0, 30.0, 30.0]])  # v = 0
    assert fc.labels.tolist() == [2] and fc.horizon == 1.0


def test_forecast_clean_up_as_the_toolkit():
    """Clipped to the image; zero size and whole-pixel areas under 75 px^2 dropped; the score
    threshold applies after tracking."""
    f = TrackForecaster()
    boxes = np.array([[-20.0, 10.0, 50.0, 40.0],    # clipped to x 0..30
                      [630.0, 10.0, 20.0, 20.0],    # clipped to w 10 -> 10 x 20 = 200: kept
                      [100.0, 100.0, 8.9, 8.9],     # int 8 x 8 = 64 < 75: dropped
                      [200.0, 100.0, 9.0, 9.0],     # 81: kept
                      [300.0, 100.0, 50.0, 50.0]])  # low score
    f.observe(boxes, [0.9, 0.8, 0.7, 0.6, 0.05], [0, 0, 0, 0, 0], 0, P)
    fc = f.forecast(0, P, (640, 480), min_score=0.1)
    np.testing.assert_allclose(fc.boxes_ltwh, [[0, 10, 30, 40], [630, 10, 10, 20],
                                               [200, 100, 9, 9]])
    assert fc.track_ids.tolist() == [0, 1, 3]
    assert len(f.forecast(0, P, (640, 480))) == 4    # no threshold: the low score stays


def test_shrinking_tail_rule_on_the_toolkits_example():
    """r = 1.7 frames: wait iff x >= 0.3; r < 1 never waits; an integer r never waits; and
    the toolkit's srt_det.py form (wait iff r < floor(x + r)) everywhere."""
    assert [waits(x, 1.7) for x in (0.0, 0.2, 0.29, 0.3, 0.31, 0.7, 0.99)] == \
        [False, False, False, True, True, True, True]
    assert not any(waits(x, 0.9) for x in np.linspace(0, 0.999, 50))
    assert not any(waits(x, 2.0) for x in np.linspace(0, 0.999, 50))
    rng = np.random.default_rng(1)
    for x, r in zip(rng.uniform(0, 1, 500), rng.uniform(1, 4, 500)):
        assert waits(x, r) == (r < math.floor(x + r))


# mtli/sAP util/schedule_sim.py sim(policy, r, T=13, eta=0), run on its own code: cumulative
# mismatch (frames between each query t and the input of the latest result finished before t)
SCHEDULE_SIM_MISMATCH = {(1.5, 'idle_free'): 29, (1.5, 'shrinking_tail'): 27,
                         (1.7, 'idle_free'): 32, (1.7, 'shrinking_tail'): 27,
                         (2.5, 'idle_free'): 42, (2.5, 'shrinking_tail'): 39,
                         (1.3, 'idle_free'): 26, (1.3, 'shrinking_tail'): 24}


@pytest.mark.parametrize('r,policy', sorted(SCHEDULE_SIM_MISMATCH))
def test_simulator_with_shrinking_tail_matches_the_toolkits_schedule_sim(r, policy):
    n = 13
    tail = ShrinkingTail() if policy == 'shrinking_tail' else None
    runtime = int(round(r * P))                              # integer ns, as the simulator
    run = (lambda j: runtime) if tail is None else tail.timed(lambda j: runtime)
    # one more frame after the 13 queried: the toolkit's sim has no end of video
    runs, _ = schedule([t * P for t in range(n + 1)], run,
                       None if tail is None else tail.simulator_wait(P))
    mismatch = 0
    for t in range(n):
        done = [p for p in runs if p.finish_ns < t * P]
        if done:
            mismatch += t - max(done, key=lambda p: p.finish_ns).item
    assert mismatch == SCHEDULE_SIM_MISMATCH[(r, policy)]
    if tail is not None and r == 1.5:   # waits every time: frames 0, 2, 4, ... from arrival
        # (the last frame has no next one to wait for, so it is served after frame 12)
        assert [p.item for p in runs] == list(range(0, n + 1, 2)) + [n]
        assert all(p.start_ns == p.arrival_ns for p in runs[:-1])
