"""Pins for the mutants a mutation spot check left alive (issue 23 item 8). Each test names the
mutant it kills; each was run against that mutant applied by hand (and failed), then reverted.
The expected values are hand-computed from the scenario, not read from the code.
"""
from __future__ import annotations

import pathlib
import types

import numpy as np
import pytest

import tiny_bundles


# ---- multi_camera: every camera its own counters ----------------------------------------------
@pytest.fixture(scope='module')
def v2i_detector(tmp_path_factory):
    from video_perception.detector import load_detector
    path = tiny_bundles.make_v2i_bundle(str(tmp_path_factory.mktemp('v2i') / 'b'))
    return load_detector(path, 'onnxruntime', log=lambda _: None)


def test_each_camera_counts_its_own_frames(v2i_detector):
    """Mutant: all cameras share one Counter (a mutable default argument). Camera 0 receives 2
    frames (the first replaced by the second: 1 dropped), camera 1 one bad frame: per camera
    received/dropped/bad must read 2/1/0 and 1/0/1 (shared: 3/1/1 for both)."""
    from test_node_e2e_dds import _image_msg
    from video_perception.multi_camera import build_multi_core
    core = build_multi_core('test', v2i_detector, ['a', 'b'], lambda *a: None,
                            {'batch_timeout_ms': 30.0}, log_warning=lambda _: None)
    image = np.zeros((128, 192, 3), np.uint8)
    core.on_image(0, _image_msg(image, 50_000_000))
    core.on_image(0, _image_msg(image, 100_000_000))
    bad = _image_msg(image, 60_000_000)
    bad.data = bad.data[:100]
    core.on_image(1, bad)
    core.process(core.next_batch())
    got = []
    for index in (0, 1):
        values = dict(core.camera_values(index))
        got.append((values['frames_received'], values['frames_dropped'], values['bad_frames']))
    assert got == [('2', '1', '0'), ('1', '0', '1')]


# ---- eval/coverage.py: a covered video is scored whole ----------------------------------------
def test_a_covered_video_is_scored_whole():
    """Mutant: only the claimed frames of a covered video are kept. GT: 2 videos x 4 frames;
    outputs for frames 0 and 2 of video 1: video 1 is scored whole, n_images 4 (mutant: 2)."""
    from video_perception.eval.coverage import covered_ground_truth
    from video_perception.eval.results import load_ground_truth, Results
    images, anns = [], []
    for v in (1, 2):
        for f in range(4):
            iid = 10 * v + f
            images.append({'id': iid, 'file_name': f'{v}/{f}.png', 'width': 64, 'height': 48,
                           'video_id': v, 'frame_id': f, 'timestamp': f / 10})
            anns.append({'id': iid, 'image_id': iid, 'category_id': 1,
                         'bbox': [1, 1, 10, 10], 'area': 100, 'iscrowd': 0})
    gt = load_ground_truth({'videos': [{'id': 1, 'name': 'a'}, {'id': 2, 'name': 'b'}],
                            'images': images, 'annotations': anns,
                            'categories': [{'id': 1, 'name': 'car'}]})
    results = Results({10: 0.05, 12: 0.25}, {10: np.zeros((0, 6)), 12: np.zeros((0, 6))})
    restricted, coverage = covered_ground_truth(gt, results)
    assert sorted(restricted.images) == [10, 11, 12, 13]
    assert coverage.images == 4 and coverage.covered == 1 and coverage.left_out == [2]
    from video_perception.eval import metrics
    scored = metrics.score_mode('offline', restricted, results, None, None, False)
    assert scored.coco.stats is not None
    from video_perception.eval.report import build_report
    assert build_report('offline', scored.coco)['n_images'] == 4


# ---- outdir.py: a stale partial folder of this pid --------------------------------------------
def test_a_stale_partial_folder_of_this_pid_is_replaced(tmp_path):
    """Mutant: ``output_dir`` does not remove a ``.OUT.partial-PID`` left by an earlier process
    with this pid (killed): the new run must start from an empty folder and OUT hold only its
    own files (mutant: mkdir fails, or the stale file ends up in OUT)."""
    import os
    from video_perception.outdir import output_dir
    stale = tmp_path / f'.OUT.partial-{os.getpid()}'
    stale.mkdir()
    (stale / 'stale.txt').write_text('a killed run')
    with output_dir(tmp_path / 'OUT') as tmp:
        (tmp / 'new.txt').write_text('this run')
    assert sorted(p.name for p in (tmp_path / 'OUT').iterdir()) == ['new.txt']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['OUT']


# ---- lost samples: the running total, on both transports --------------------------------------
def test_dds_lost_samples_are_the_running_total():
    """Mutant: ``total_count_change`` stored instead of ``total_count``. Two SAMPLE_LOST events,
    totals 3 then 5 (changes 3 and 2): lost must read 5 (mutant: 2). The status is Cyclone's own
    ctypes struct, as its listener passes it."""
    from cyclonedds.internal import dds_c_t
    from video_perception.transport.dds_endpoints import DdsSubscription
    sub = DdsSubscription(None, '/image', None)
    for total, change in ((3, 3), (5, 2)):
        sub.on_sample_lost(None, dds_c_t.sample_lost_status(total_count=total,
                                                            total_count_change=change))
    assert sub.lost == 5


def test_rclpy_lost_messages_are_the_running_total():
    """The rclpy path had no value test: QoSMessageLostInfo totals 3 then 5 -> lost 5. rclpy's
    rmw_message_lost_status_t cannot be filled from Python, so the two fields stand in."""
    pytest.importorskip('rclpy')
    from video_perception.transport.rclpy_transport import _Sub
    sub = _Sub(None, types.SimpleNamespace(topic_name='/image'))
    for total, change in ((3, 3), (5, 2)):
        sub.on_message_lost(types.SimpleNamespace(total_count=total, total_count_change=change))
    assert sub.lost == 5


# ---- the three boundary ties --------------------------------------------------------------------
def test_an_output_finishing_exactly_at_a_frame_time_serves_that_frame():
    """Streaming pairing (Li et al. 2020): frame i gets the newest output with finish <= t_i.
    Frames at 0, 0.5, 1.0 s (exact in binary); frame 0's output finishes at exactly 0.5 s:
    frame 0 has none, frames 1 and 2 get frame 0's (mutant side='left': frame 1 gets none)."""
    from video_perception.eval.results import load_ground_truth, Results
    from video_perception.eval.streaming import pair_streaming
    images = [{'id': i, 'file_name': f'{i}.png', 'width': 8, 'height': 8, 'video_id': 1,
               'frame_id': i, 'timestamp': i * 0.5} for i in range(3)]
    gt = load_ground_truth({'videos': [{'id': 1, 'name': 'v'}], 'images': images,
                            'annotations': [], 'categories': [{'id': 1, 'name': 'car'}]})
    pairing = pair_streaming(gt, Results({0: 0.5}, {0: np.zeros((0, 6))}))
    assert pairing.used == {0: None, 1: 0, 2: 0}


def test_iou_exactly_one_half_is_not_a_hit_in_the_lesion_iou_protocol():
    """YONA's protocol: a prediction is a TP when IoU > 0.5. Lesion [0,0,10,10], prediction
    [0,0,10,20]: IoU 100 / 200 = 0.5 exactly -> FP (mutant >=: TP)."""
    from video_perception.eval.lesion import lesion_metrics
    m = lesion_metrics([([[0, 0, 10, 10]], [[0, 0, 10, 20]], [0.9])], 'iou', 0.5)
    assert (m['tp'], m['fp']) == (0, 1)
    m = lesion_metrics([([[0, 0, 10, 10]], [[0, 0, 10, 19]], [0.9])], 'iou', 0.5)  # 100/190
    assert (m['tp'], m['fp']) == (1, 0)


@pytest.mark.parametrize('protocol', ['iou', 'centroid'])
def test_a_score_exactly_at_the_threshold_is_kept(protocol):
    """score >= threshold keeps it (the threshold sweep relies on it): 0.5 at 0.5 is a TP, at
    0.5000001 it is not there (mutant >: no TP at 0.5)."""
    from video_perception.eval.lesion import lesion_metrics
    frames = [([[0, 0, 10, 10]], [[0, 0, 10, 10]], [0.5])]
    assert lesion_metrics(frames, protocol, 0.5)['tp'] == 1
    assert lesion_metrics(frames, protocol, 0.5000001)['tp'] == 0


def test_the_detector_keeps_a_score_exactly_at_its_threshold():
    """decode_yolox keeps obj * cls >= score_threshold: 0.5 * 1.0 at 0.5 kept, at 0.51 not."""
    from video_perception.postprocess import decode_yolox
    pred = np.array([[50, 50, 20, 20, 0.5, 1.0, 0.0]], np.float32)  # [A, 5 + C]
    assert len(decode_yolox(pred, score_threshold=0.5).scores) == 1
    assert len(decode_yolox(pred, score_threshold=0.51).scores) == 0


def test_pinned_modules_exist():
    """The paths the pins above guard (a rename must move the pins with it)."""
    root = pathlib.Path(__file__).resolve().parents[1] / 'video_perception'
    for rel in ('multi_camera.py', 'eval/coverage.py', 'outdir.py', 'eval/streaming.py',
                'eval/lesion.py', 'transport/dds_endpoints.py', 'transport/rclpy_transport.py'):
        assert (root / rel).is_file(), rel
