"""An int8 bundle (the shipped tiny StreamNet calibrated from a rosbag2) served by
``streamnet_node`` over real DDS on loopback: publisher, node and listener in their own
processes. Reference: the same int8 bundle run in this process on the frames the node
processed, in its order (the feature buffer included); the int8 detector itself is checked
against the fp32 bundle in test_int8_bundle.py."""

import numpy as np
import pytest

import int8_bundles
from test_node_e2e_dds import publish, start_node, stamp_ns, stop_node
from test_node_e2e_real_bundles import FrameKeeper
from video_perception.backends.base import BackendOptions
from video_perception.detector import load_detector
from video_perception.ros_convert import msg_to_boxes_xyxy

pytestmark = [pytest.mark.xdist_group('h3_dds_nodes')]


def test_int8_bundle_serves_in_the_node(tmp_path, tmp_path_factory, ros_domain):
    from video_perception.cli import main
    bundle = int8_bundles.shared_int8_tiny(tmp_path_factory)
    assert main(['synth', 'driving', str(tmp_path / 'clip'), '--seed', '101', '--videos', '1',
                 '--frames', '6']) == 0
    frames = tmp_path / 'clip' / 'frames' / 'driving_000'
    listener = FrameKeeper()
    node = start_node('streamnet_node', str(bundle), 'backend:=onnxruntime',
                      'score_threshold:=0.05', 'max_detections:=50')
    try:
        listener.wait_ready(node, timeout=120)
        res = publish(frames, 2.0)
        assert res.returncode == 0, res.stderr
        listener.wait('dets', 6, 30)
    finally:
        rc, err = stop_node(node)
        listener.close()
    assert rc == 0 and 'Traceback' not in err, err
    outputs = [m for _, m in listener.dets]
    assert len(outputs) >= 5
    det = load_detector(str(bundle), 'onnxruntime', BackendOptions(threads=1),
                        log=lambda s: None, score_threshold=0.05, max_detections=50)
    total = 0
    for msg in outputs:
        s = stamp_ns(msg.header.stamp)
        ref = det.detect(listener.frames[s], s)
        got = np.array([r[:4] for r in msg_to_boxes_xyxy(msg)]).reshape(-1, 4)
        assert len(got) == len(ref)
        np.testing.assert_allclose(got, ref.boxes_xyxy, atol=1e-3)
        total += len(got)
    assert total > 0, 'no box at all: the test checks nothing'
