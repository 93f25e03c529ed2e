"""The multi-camera serving loop without ROS: camera lists, when a batch leaves, bad frames.

Real detectors (the tiny V2I bundle on ONNX Runtime) and real time: a batch waits for a camera
whose next frame is due before ``batch_timeout_ms`` runs out, and not at all for one that
stopped; a bad frame of one camera never costs another its output.
"""
import pathlib
import time

import numpy as np
import pytest

import tiny_bundles
from test_node_e2e_dds import _image_msg
from video_perception.detector import load_detector
from video_perception.multi_camera import build_multi_core
from video_perception.multi_camera_plan import camera_layout
from video_perception.transport.base import ParameterError

PERIOD_S = 0.2


@pytest.fixture(scope='module')
def detector(tmp_path_factory):
    path = tiny_bundles.make_v2i_bundle(str(tmp_path_factory.mktemp('v2i') / 'b'))
    return load_detector(path, 'onnxruntime', log=lambda _: None)


def test_camera_layout():
    assert camera_layout([], []) == []
    assert camera_layout(['/a', '/b'], []) == [('/a', 'cam0'), ('/b', 'cam1')]
    assert camera_layout(['/a'], ['/front/']) == [('/a', 'front')]
    with pytest.raises(ParameterError, match="'camera_names': 1 names for 2 cameras"):
        camera_layout(['/a', '/b'], ['x'])
    with pytest.raises(ParameterError, match='distinct'):
        camera_layout(['/a', '/b'], ['x', 'x'])
    with pytest.raises(ParameterError, match="'cameras' is empty"):
        camera_layout([], ['x'])


def _core(detector, timeout_ms=30.0):
    published = []
    core = build_multi_core('test', detector, ['a', 'b'],
                            lambda i, d, h, f: published.append((i, h.frame_id, len(d))),
                            {'batch_timeout_ms': timeout_ms}, log_warning=lambda _: None)
    return core, published


def _frame():
    img = np.zeros((128, 192, 3), np.uint8)
    img[30:60, 40:80] = 255
    return img


def _send(core, cam, k):
    core.on_image(cam, _image_msg(_frame(), (k + 1) * 50_000_000))


def _both_running(core, frames=4):
    for k in range(frames):
        _send(core, 0, k)
        _send(core, 1, k)
        assert len(core.next_batch()) == 2           # both pending: leaves at once
        time.sleep(PERIOD_S)


def test_batch_waits_for_a_due_camera_but_not_for_a_dead_one(detector):
    core, _ = _core(detector, timeout_ms=100.0)
    _both_running(core)
    # camera b's next frame is due within the timeout: the batch waits for it, then leaves
    time.sleep(PERIOD_S - 0.05)
    _send(core, 0, 10)
    t0 = time.monotonic()
    batch = core.next_batch()
    waited = time.monotonic() - t0
    assert [i for i, *_ in batch] == [0] and 0.08 <= waited < 0.3
    assert core.cameras[1].counts['skipped'] == 1
    # camera b stopped: after three of its periods nobody waits for it
    time.sleep(4 * PERIOD_S)
    _send(core, 0, 11)
    t0 = time.monotonic()
    batch = core.next_batch()
    assert [i for i, *_ in batch] == [0] and time.monotonic() - t0 < 0.05
    assert core.cameras[1].counts['skipped'] == 1
    level, message = core.camera_level(1)
    assert level == 1 and 'silent' in message
    values = dict(core.batch_values())
    assert 0.5 <= float(values['batch_fill_ratio_mean']) < 1.0


def test_newest_frame_wins_and_a_bad_frame_costs_only_its_camera(detector):
    core, published = _core(detector)
    _send(core, 0, 0)
    _send(core, 0, 1)                                  # replaces the first: a drop
    bad = _image_msg(_frame(), 60_000_000)
    bad.data = bad.data[:100]
    core.on_image(1, bad)
    batch = core.next_batch()
    assert len(batch) == 2 and core.cameras[0].counts['dropped'] == 1
    assert core.process(batch) == 1
    assert published == [(0, 'camera', 1)]
    assert core.cameras[1].counts['bad_frames'] == 1 and core.cameras[1].last_error
    values = dict(core.camera_values(1))
    assert values['bad_frames'] == '1' and 'last_error' in values
    assert dict(core.camera_values(0))['frames_dropped'] == '1'


def test_multicam_bench_runs_both_layouts(tmp_path):
    """scripts/bench_multicam.py on a small bundle: every row served frames in both layouts,
    none beyond what was offered, and the ratio column is the ratio of the frames/s."""
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / 'scripts'))
    import batch_bundles
    from bench_multicam import bench_multicam
    bundle = batch_bundles.make_streamnet_bundle(str(tmp_path / 'sn'))
    text, data = bench_multicam([('conv', bundle)], (1, 2), rate_hz=20.0, seconds=1.0,
                                rounds=1, width=320, height=200, plot=str(tmp_path / 'p.png'))
    for k in (1, 2):
        b, s = data[f'conv/K={k}/batched'], data[f'conv/K={k}/separate']
        for row in (b, s):
            assert 0 < row['fps'] <= row['offered'] * 1.05 and row['n'] > 0
        line = next(ln for ln in text.splitlines() if ln.startswith(f'| conv | {k} |'))
        assert f"| {b['fps'] / s['fps']:.2f} |" in line
    # where the time goes: the wait and the processing of a frame lie within its latency
    for layout in ('batched', 'per_camera', 'separate'):
        row = data[f'conv/K=2/{layout}']
        assert 0 <= row['wait_median'] and 0 < row['process_median'] <= row['median'] + 5.0
        assert row['process_p95'] <= row['p95'] + 10.0
        assert f'| conv | 2 | {layout} |' in text.split('Where the time goes')[1]
    assert (tmp_path / 'p.png').stat().st_size > 1000


def test_frames_waiting_at_stop_are_dropped_not_served_after_the_restart(detector):
    """Lifecycle deactivate / activate of the multi-camera node: each camera's waiting frame is
    counted as dropped at the stop; after the restart only new frames are published."""
    core, published = _core(detector)
    _send(core, 0, 0)
    _send(core, 1, 0)                                # no worker yet: both wait
    core.stop()
    assert [c.counts['dropped'] for c in core.cameras] == [1, 1]
    core.start()
    try:
        _send(core, 1, 5)
        deadline = time.monotonic() + 10
        while not published:
            assert time.monotonic() < deadline, 'the restarted worker served nothing'
            time.sleep(0.005)
        time.sleep(0.1)
    finally:
        core.stop()
    assert [i for i, *_ in published] == [1]
    assert [c.counts['processed'] for c in core.cameras] == [0, 1]
