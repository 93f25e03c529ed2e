"""A third family from the test folder alone (``toy_family.py``): registered from outside the
package, it runs in the detector, replay (in-process and the CLI), the node bench and a node over
real DDS in its own process, with no change to a shared module. The reference is the bright
square's centre, computed here with numpy from the frames."""
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import toy_family
from test_node_e2e_dds import BIN, W0, _run_pipeline, node_env, square_box, write_frames
from video_perception.backends.base import BackendError, BackendOptions
from video_perception.bundle import BundleError, load_bundle
from video_perception.detector import Detector, load_detector
from video_perception.families import (UnknownFamilyError, get_family, known_families,
                                       register_family)

pytestmark = [pytest.mark.xdist_group('h3_dds_nodes')]
SCALE = toy_family.W / W0          # 192 x 128 frames into 96 x 64: 0.5, exact
PLUGIN_ENV = {'VIDEO_PERCEPTION_FAMILIES': 'toy_family'}


@pytest.fixture(scope='module')
def bundle(tmp_path_factory):
    register_family(toy_family)
    return toy_family.make_bundle(str(tmp_path_factory.mktemp('toy')))


def centre(box):
    return (np.asarray(box[:2]) + np.asarray(box[2:])) / 2


def test_registry_knows_it_and_names_the_known_ones_for_an_unknown(bundle, tmp_path):
    assert get_family('toy_centroid') is toy_family
    assert {'streamnet', 'v2i', 'toy_centroid'} <= set(known_families())
    register_family(toy_family)                    # the same module again: a no-op
    with pytest.raises(ValueError, match='already registered'):
        register_family(type('Other', (), {a: getattr(toy_family, a) for a in dir(toy_family)
                                           if not a.startswith('__')}))
    with pytest.raises(TypeError, match='lacks'):
        register_family(type('Half', (), {'NAME': 'half'}))
    with pytest.raises(UnknownFamilyError, match='family "yolo" unknown; expected one of '
                       'streamnet, toy_centroid, v2i'):
        get_family('yolo')
    meta = json.loads(pathlib.Path(bundle, 'model.json').read_text())
    meta['family'] = 'yolo'
    (tmp_path / 'model.json').write_text(json.dumps(meta))
    with pytest.raises(BundleError, match='family "yolo" unknown; expected one of'):
        load_bundle(str(tmp_path))
    b = load_bundle(bundle)
    assert b.graphs.keys() == {'locator'} and b.features == ()
    with pytest.raises(BackendError, match='torch'):
        load_detector(bundle, 'torch', log=lambda s: None)   # no state dict: one-line error


def test_detector_boxes_in_original_pixels_and_its_own_parameter(bundle):
    det = load_detector(bundle, 'onnxruntime', BackendOptions(threads=1), log=lambda s: None,
                        box_size=16.0, nms_iou=0.5)     # nms_iou: not its parameter, ignored
    assert isinstance(det, toy_family.ToyDetector) and det.box_size == 16.0
    assert isinstance(det, Detector)            # every member of the written Protocol
    frames = [_frame(i) for i in range(3)]
    for i, frame in enumerate(frames):
        (box,) = det.detect(frame, i * 10**8).boxes_xyxy
        np.testing.assert_allclose(centre(box), centre(square_box(frame)), atol=1e-3)
        np.testing.assert_allclose(box[2:] - box[:2], [16 / SCALE] * 2, atol=1e-3)
    assert len(det.detect(np.zeros_like(frames[0]), 10**9)) == 0
    det.configure(score_threshold=0.95)
    assert len(det.detect(frames[0], 2 * 10**9)) == 0
    det.close()


def _frame(i):
    from test_node_e2e_dds import _frame as square_frame
    return square_frame(i)


def test_replay_in_process_and_cli(bundle, tmp_path):
    from video_perception.replay.engine import LatencyModel, run_replay
    from video_perception.sources import open_source
    folder = write_frames(tmp_path / 'frames', 5)
    det = load_detector(bundle, 'onnxruntime', BackendOptions(threads=1), log=lambda s: None)
    run = run_replay(open_source(str(folder), None, 10.0).frames(), det, LatencyModel(0.0))
    assert [o.index for o in run.outputs] == list(range(5)) and run.dropped == 0
    for o in run.outputs:
        np.testing.assert_allclose(centre(o.dets.boxes_xyxy[0]),
                                   centre(square_box(_frame(o.index))), atol=1e-3)
    # the CLI in its own process: the family comes from VIDEO_PERCEPTION_FAMILIES
    out = tmp_path / 'out'
    res = subprocess.run([str(BIN / 'video-perception'), 'replay', str(folder), '--model',
                          bundle, '--out', str(out), '--latency', '0', '--backend',
                          'onnxruntime'], env=node_env(PLUGIN_ENV), capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    rows = json.loads((out / 'results.json').read_text())['detections']
    assert sorted(r['input_image_id'] for r in rows) == list(range(5))
    for r in rows:
        x, y, w, h = r['bbox']
        np.testing.assert_allclose([x + w / 2, y + h / 2],
                                   centre(square_box(_frame(r['input_image_id']))), atol=1e-3)


def test_node_bench_runs_it(bundle):
    from video_perception.node_bench import bench_node
    r = bench_node(bundle, 'onnxruntime', width=W0, height=128, frames=4, warmup=1,
                   options=BackendOptions(threads=1))
    assert r['total_ms'] > r['model_ms'] > 0 and 'buffer_ms' not in r


def test_node_over_dds_in_its_own_process(bundle, tmp_path, ros_domain):
    # what a plugin family's entry point is: the generic node with the family named
    entry = tmp_path / 'toy_node'
    entry.write_text(f'#!/bin/sh\nVIDEO_PERCEPTION_FAMILIES=toy_family exec {sys.executable} '
                     '-m video_perception.node_runner --family toy_centroid "$@"\n')
    entry.chmod(0o755)
    n = 6
    listener, _ = _run_pipeline(tmp_path, str(entry), bundle,
                                ['backend:=onnxruntime', 'box_size:=16.0'], n=n, rate=5.0)
    diag = listener.last_diag_values()
    assert listener.labels[0][1].class_map[0].class_name == 'blob'
    assert len(listener.dets) >= n - 1 and diag['frames_processed'] == str(len(listener.dets))
    assert 'buffer_fill' not in diag       # the toy keeps no state, reports none
    from video_perception.ros_convert import msg_to_boxes_xyxy
    for _, msg in listener.dets:
        s = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        (box,) = [np.array(r[:4]) for r in msg_to_boxes_xyxy(msg)]
        np.testing.assert_allclose(centre(box), centre(listener.inputs[s]), atol=1e-3)
        np.testing.assert_allclose(box[2:] - box[:2], [16 / SCALE] * 2, atol=1e-3)


def test_unknown_family_node_is_one_line_and_exit_2(ros_domain):
    res = subprocess.run([sys.executable, '-m', 'video_perception.node_runner', '--family',
                          'yolo', '--ros-args', '-p', 'model_path:=/nope'],
                         env=node_env(), capture_output=True, text=True, timeout=60)
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert 'family "yolo" unknown; expected one of streamnet, v2i' in lines[0]
