"""Per-camera execution of the multi-camera node (``batch_mode`` per_camera): the same detections
as a batch and as single-camera detectors, each camera's StreamNet history its own.

Real ONNX Runtime on a StreamNet-shaped bundle whose output depends on the buffered history
(``batch_bundles``); the reference is K separate detectors, each on its own backend, fed the same
frames one camera after another (a naive loop), and the batch mode of the same node.
"""
import threading
import time

import numpy as np
import pytest

import batch_bundles
from test_node_e2e_dds import _image_msg
from video_perception.backends.base import BackendOptions
from video_perception.detector import load_detector
from video_perception.multi_camera import build_multi_core
from video_perception.multi_camera_plan import resolve_batch_mode

SIZES = [(120, 180), (64, 96), (200, 150)]      # (h, w) of cameras 0, 1, 2
PERIOD = 33_000_000
STEPS = 5


@pytest.fixture(scope='module')
def bundle(tmp_path_factory):
    return batch_bundles.make_streamnet_bundle(str(tmp_path_factory.mktemp('pc') / 'sn'))


def _load(path, threads=1):
    return load_detector(path, 'onnxruntime', BackendOptions(device='cpu', threads=threads),
                         log=lambda _: None, score_threshold=0.2)


def _messages():
    rng = np.random.default_rng(3)
    # camera 2's stamps jump back at step 3: its reset, nobody else's
    stamps = [[k * PERIOD + c for c in range(3)] for k in range(STEPS)]
    stamps[3][2], stamps[4][2] = 2, PERIOD + 2
    return [[_image_msg(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), stamps[k][c])
             for c, (h, w) in enumerate(SIZES)] for k in range(STEPS)]


def _same(a, b):
    assert len(a) == len(b) and len(a) > 0
    np.testing.assert_allclose(a.boxes_xyxy, b.boxes_xyxy, atol=1e-3)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
    np.testing.assert_array_equal(a.class_ids, b.class_ids)


def test_auto_mode_rule(bundle):
    det = _load(bundle)
    assert resolve_batch_mode('auto', det.backend) == 'per_camera'        # a CPU backend
    det.backend.device = 'cuda'
    assert resolve_batch_mode('auto', det.backend) == 'batch'
    assert resolve_batch_mode('per_camera', det.backend) == 'per_camera'
    with pytest.raises(ValueError, match="'batch_mode': 'x'"):
        resolve_batch_mode('x', det.backend)


def test_per_camera_equals_batch_and_single_detectors(bundle):
    messages = _messages()
    out = {mode: [[] for _ in SIZES] for mode in ('per_camera', 'batch')}
    workers_seen = {i: set() for i in range(len(SIZES))}     # camera -> its worker threads

    def publisher(mode):
        def publish(i, dets, header, frame):
            out[mode][i].append((header.stamp.sec * 10 ** 9 + header.stamp.nanosec, dets))
            if mode == 'per_camera':
                workers_seen[i].add(threading.current_thread().name)
        return publish

    cores = {mode: build_multi_core(f'pc_{mode}', _load(bundle), ['a', 'b', 'c'],
                                    publisher(mode), {'batch_mode': mode, 'score_threshold': 0.2},
                                    log_warning=lambda _: None)
             for mode in out}
    pc = cores['per_camera']
    assert pc.mode == 'per_camera' and cores['batch'].mode == 'batch'
    assert pc.workers == 3            # 1 thread per inference: one worker per camera
    pc.start()
    try:
        for k, step in enumerate(messages):
            for cam, msg in enumerate(step):
                pc.on_image(cam, msg)
            deadline = time.monotonic() + 30
            while sum(c.counts['processed'] for c in pc.cameras) < 3 * (k + 1):
                assert time.monotonic() < deadline, 'per-camera workers stalled'
                time.sleep(0.005)
            # the batch mode of the same node, served step by step without its thread
            for cam, msg in enumerate(step):
                cores['batch'].on_image(cam, msg)
            assert cores['batch'].process(cores['batch'].next_batch()) == 3
    finally:
        pc.stop()
    assert all(c.counts['dropped'] == 0 for c in pc.cameras)
    # one worker per camera, each woken by its own camera only (as K single-camera nodes): a
    # camera's frames all ran on its worker, and no two cameras shared one
    pinned = [[f'pc_per_camera-worker{i}'] for i in range(3)]
    assert [sorted(workers_seen[i]) for i in range(3)] == pinned
    # the reference: one detector per camera on its own backend, fed one frame at a time
    singles = [_load(bundle) for _ in SIZES]
    for k, step in enumerate(messages):
        for cam, msg in enumerate(step):
            want = singles[cam].detect(pc.decode(msg), msg.header.stamp.sec * 10 ** 9
                                       + msg.header.stamp.nanosec)
            (s_pc, got), (s_b, got_b) = out['per_camera'][cam][k], out['batch'][cam][k]
            assert s_pc == s_b                   # the same output stamp
            _same(got, want)
            _same(got_b, want)
    # each camera's state is its own: only camera 2's stamps jumped back
    assert [d.resets for d in pc.detector.detectors] == [s.resets for s in singles] == [0, 0, 1]
    values = dict(pc.batch_values())
    assert values['batch_mode'] == 'per_camera' and values['batches'] == str(3 * STEPS)


def test_one_worker_serves_every_camera_oldest_first(bundle):
    """``threads`` 0 (the runtime's default, every core): one worker for all cameras, taking the
    oldest pending frame first, none dropped when it keeps up."""
    order = []
    core = build_multi_core('pc_one', _load(bundle, threads=0), ['a', 'b', 'c'],
                            lambda i, dets, header, frame: order.append(i),
                            {'batch_mode': 'per_camera'}, log_warning=lambda _: None)
    assert core.workers == 1
    messages = _messages()
    for cam in (2, 0, 1):                   # pending before the worker starts: oldest first
        core.on_image(cam, messages[0][cam])
    core.start()
    try:
        deadline = time.monotonic() + 30
        while len(order) < 3:
            assert time.monotonic() < deadline, 'the one worker stalled'
            time.sleep(0.005)
    finally:
        core.stop()
    assert order == [2, 0, 1] and core.batches == 3
    assert all(c.counts['dropped'] == 0 for c in core.cameras)
