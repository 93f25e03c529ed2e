"""The streaming simulator against a naive clock-ticking reference, and the replay engine's
streams with a detector whose calls are recorded."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from video_perception.detections import Detections
from video_perception.replay.engine import LatencyModel, latest_outputs, run_replay
from video_perception.replay.simulate import schedule
from video_perception.sources import SourceFrame


def tick_reference(arrivals, latencies):
    """The vehicle, one integer time unit at a time: arrivals go into a one-frame slot (a newer
    frame overwrites it: a drop); a free detector takes the slot, busy for the frame's latency.
    The video ends one mean frame interval after its last frame (the sAP toolkit's n / fps):
    from then on nothing starts and a frame still in the slot is dropped.
    Returns ([(frame, start, finish)], dropped frames)."""
    slot, busy_until, runs, dropped = None, None, [], []
    n, j, t = len(arrivals), 0, 0
    span = arrivals[-1] - arrivals[0]
    end = arrivals[-1] + span // (n - 1) if n > 1 and span > 0 else None
    while j < n or slot is not None:
        while j < n and arrivals[j] == t:
            if slot is not None:
                dropped.append(slot)
            slot = j
            j += 1
        if end is not None and t >= end and slot is not None and j == n:
            dropped.append(slot)
            break
        while slot is not None and (busy_until is None or busy_until <= t):
            runs.append((slot, t, t + latencies[slot]))
            busy_until = t + latencies[slot]
            slot = None
            # a zero-latency run frees the detector at once, but nothing new arrives within t
        t += 1
    return runs, dropped


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=30).map(sorted),
       st.lists(st.integers(0, 25), min_size=30, max_size=30))
def test_schedule_matches_tick_reference(arrivals, lat):
    runs, dropped = schedule(arrivals, lambda j: lat[j])
    ref_runs, ref_dropped = tick_reference(arrivals, lat)
    assert [(p.item, p.start_ns, p.finish_ns) for p in runs] == ref_runs
    assert dropped == ref_dropped
    assert len(runs) + len(dropped) == len(arrivals)


def test_schedule_hand_example():
    # 30 fps, 50 ms model: frame 0 runs 0-50; at 50 frame 1 (33 ms) is the newest -> 50-100;
    # at 100 frames 2 (67) and 3 (100) have arrived: 2 is dropped, 3 runs 100-150.
    # A fifth frame at 133 ms ends the video at 167 ms; at 150 it has arrived: it runs too.
    arrivals = [round(j * 1e9 / 30) for j in range(5)]
    runs, dropped = schedule(arrivals, lambda j: 50_000_000)
    assert [p.item for p in runs] == [0, 1, 3, 4]
    assert dropped == [2]
    assert [p.finish_ns for p in runs] == [50_000_000, 100_000_000, 150_000_000, 200_000_000]
    assert [p.delay_ns for p in runs] == [50_000_000, 100_000_000 - 33_333_333, 50_000_000,
                                          200_000_000 - 133_333_333]


def test_schedule_stops_at_the_video_end_without_running_the_waiting_frame():
    # 4 frames 100 ns apart end at 400; a 250 ns model: 0 runs 0-250, 2 runs 250-500; at 500
    # the video is over: frame 3 (arrived at 300) is dropped and its latency never asked for.
    asked = []
    runs, dropped = schedule([0, 100, 200, 300], lambda j: asked.append(j) or 250)
    assert [p.item for p in runs] == [0, 2] and dropped == [1, 3] and asked == [0, 2]
    # a detector free just before the end still takes the last frame
    runs, dropped = schedule([0, 100, 200, 300], lambda j: 199)
    assert [p.item for p in runs] == [0, 1, 3] and dropped == [2]


@pytest.mark.parametrize('period_ns', [33_333_333, 50_000_000, 33_366_700, 40_000_000])
@pytest.mark.parametrize('k', [1, 2, 3, 4, 5, 7])
def test_runtime_an_exact_multiple_of_the_period_processes_every_kth_frame(period_ns, k):
    # the frame that arrives exactly when the detector frees up is taken; with float seconds
    # 2 x 33.333333 ms took frame 11 instead of 12 and 3 x 50 ms frame 8 instead of 9
    arrivals = [j * period_ns for j in range(60)]
    model = LatencyModel(k * period_ns / 1e9)
    runs, _ = schedule(arrivals, lambda j: model.latency_ns(0.0))
    assert [p.item for p in runs] == list(range(0, 60, k))   # and no run after the video's end


def test_schedule_zero_latency_processes_every_distinct_frame():
    runs, dropped = schedule([0, 100, 100, 200], lambda j: 0)
    assert [p.item for p in runs] == [0, 2, 3]   # of two equal stamps only the newest
    assert dropped == [1]
    assert [p.finish_ns for p in runs] == [0, 100, 200]


def test_schedule_rejects_time_going_back_bad_latency_and_float_times():
    with pytest.raises(ValueError, match='before the previous'):
        schedule([0, 200, 100], lambda j: 500)
    with pytest.raises(ValueError, match='latency'):
        schedule([0], lambda j: -1)
    with pytest.raises(TypeError, match='integer nanoseconds'):
        schedule([0, 100], lambda j: 0.05)
    with pytest.raises(TypeError, match='integer nanoseconds'):
        schedule([0.0, 0.1], lambda j: 5)


def test_latency_model_parse():
    # speed is the sAP toolkit's perf_factor: runtime / speed (2 = hardware twice as fast)
    assert LatencyModel.parse('measured', 0.5).latency_ns(0.01) == 20_000_000
    assert LatencyModel.parse('0.05', 0.5).latency_ns(0.01) == 100_000_000
    assert LatencyModel.parse('0.05', 0.5).latency(0.01) == pytest.approx(0.10)
    for bad in ('fast', '-1'):
        with pytest.raises(ValueError, match='--latency'):
            LatencyModel.parse(bad)
    with pytest.raises(ValueError, match='--speed'):
        LatencyModel.parse('0.1', 0.0)


class RecordingDetector:
    """A stand-in with known outputs: a box at x = stamp in ms; records what it saw."""

    def __init__(self):
        self.seen, self.resets = [], 0

    def detect(self, frame, stamp_ns):
        self.seen.append((stamp_ns, int(frame[0, 0, 0])))
        x = stamp_ns / 1e6
        return Detections(np.array([[x, 0, x + 10, 10]], np.float32), np.array([0.9]),
                          np.array([0]))

    def reset(self, reason=''):
        self.resets += 1


def _frames(stamps_ms, segments=None):
    out = []
    for i, ms in enumerate(stamps_ms):
        img = np.full((4, 4, 3), i, np.uint8)
        out.append(SourceFrame(i, int(ms * 1e6), int(ms * 1e6), 'cam', lambda img=img: img,
                               segment=None if segments is None else segments[i]))
    return out


def test_engine_detector_sees_only_processed_frames_and_streams_reset():
    det = RecordingDetector()
    # two videos on the same clock (stamps restart): the second starts a new stream
    stamps = [0, 40, 80, 120, 0, 40, 80]
    segs = [0, 0, 0, 0, 1, 1, 1]
    run = run_replay(_frames(stamps, segs), det, LatencyModel(0.07))
    # stream 0: 0 runs 0-70; at 70 newest is 40 -> 70-140; at 140: 80 dropped, 120 -> 140-210
    # (its video ends at 160); stream 1: 0 -> 0-70, 40 -> 70-140; at 140 its video, ended at
    # 120, is over: 80 is dropped without a run (the sAP toolkit's end of a video)
    assert [o.index for o in run.outputs] == [0, 1, 3, 4, 5]
    assert run.dropped == 2 and run.streams == 2 and det.resets == 1
    assert [v for _, v in det.seen] == [0, 1, 3, 4, 5]   # frames' pixels: processed only
    finish_ms = (70, 140, 210, 70, 140)
    assert [o.finish_ns for o in run.outputs] == [int(x * 1e6) for x in finish_ms]
    bag = [o.bag_ns for o in run.outputs]
    assert bag == sorted(bag) and len(set(bag)) == len(bag)   # bag receive times increase
    shown = latest_outputs(run)   # per stream: the latest output finished by the frame's stamp
    assert shown[0] is None and shown[2].index == 0 and shown[3].index == 0
    assert shown[5] is None and shown[6].index == 4


def test_engine_bad_frame_costs_nothing():
    from video_perception.image_codec import ImageDecodeError

    def broken():
        raise ImageDecodeError('Image.data: short')
    frames = _frames([0, 10, 20])
    frames[1].load = broken
    run = run_replay(frames, RecordingDetector(), LatencyModel(0.005))
    assert run.bad == 1 and [o.index for o in run.outputs] == [0, 2]


def test_engine_leaves_image_size_changes_to_the_detector():
    det = RecordingDetector()
    frames = _frames([0, 10, 20])
    big = np.zeros((8, 8, 3), np.uint8)
    frames[2].load = lambda: big
    run = run_replay(frames, det, LatencyModel(0.0))
    # one stream, served whole; a reset on the new size is the detector's decision
    # (test_detector_streamnet.py), not the engine's
    assert det.resets == 0 and len(run.outputs) == 3 and det.seen[-1][0] == 20_000_000
