"""A node process serving the shipped StreamNet bundle, checked on one synthetic driving frame.

Used by test_colcon.py (the colcon-installed node) and test_python_tiers.py (the node on Python
3.10 and 3.12). The frame is rendered by ``training.data.synth_driving`` (what
``streamnet_tiny_synth`` was trained on) at the bundle's input size; the references are the
frame's own ground-truth cars (each found with IoU >= 0.5) and the same bundle run in this
process on the same frame, repeated until its history buffer holds only that frame (the node
sees the frame again and again, so what it publishes is that steady state, whatever it drops).
An rclpy client in this process (ros_helpers.RosClient) publishes and collects.
"""
from __future__ import annotations

import pathlib
import subprocess
import time

import numpy as np

import ros_helpers

REPO = pathlib.Path(__file__).resolve().parents[1]
MODEL = 'streamnet_tiny_synth'
SEED, H, W = 2, 192, 320          # a frame at the bundle's size whose cars the bundle finds
CAR = 2                           # Argoverse-HD's car


def synth_frame():
    """(BGR frame [H, W, 3], ground-truth car boxes [x, y, w, h] over 12 px wide)."""
    from training.data.synth_driving import render_video
    (frame, objects), = render_video(np.random.default_rng(SEED), 1, H, W, 30.0)
    cars = [o['bbox'] for o in objects
            if o['category_id'] == CAR and not o.get('iscrowd') and o['bbox'][2] >= 12]
    return frame, cars


def reference(frame):
    """The shipped bundle in this process on ``frame`` repeated: its steady-state Detections."""
    from video_perception.backends.base import BackendOptions
    from video_perception.detector import load_detector
    det = load_detector(str(REPO / 'models' / MODEL), 'onnxruntime', BackendOptions(threads=1),
                        log=lambda s: None)
    try:
        for k in range(det.bundle.history_frames + 1):
            out = det.detect(frame, (k + 1) * 100_000_000)
    finally:
        det.close()
    return out


def serve(cmd, env, cwd, log_path, frame, want=2, timeout=ros_helpers.START_S):
    """Start ``cmd`` (a node remapped to /cam), publish ``frame`` at 10 Hz until ``want``
    Detection2DArray arrive on /detections, stop it with SIGTERM. (messages, exit code, log)."""
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray
    with open(log_path, 'w') as err:
        node = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        client = ros_helpers.RosClient('node_check_client')
        try:
            got = client.collect(Detection2DArray, '/detections')
            pub = client.node.create_publisher(Image, '/cam', 10)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and len(got) < want and node.poll() is None:
                msg = Image(height=H, width=W, encoding='bgr8', step=W * 3, data=frame.tobytes())
                msg.header.stamp = client.node.get_clock().now().to_msg()
                msg.header.frame_id = 'cam'
                pub.publish(msg)
                time.sleep(0.1)
        finally:
            client.close()
            if node.poll() is None:
                node.terminate()
            try:
                rc = node.wait(20)
            except subprocess.TimeoutExpired:
                node.kill()
                rc = node.wait()
    return [m for _, m in got], rc, pathlib.Path(log_path).read_text()


def check(msg, ref, cars) -> None:
    """One Detection2DArray against the in-process reference and the ground-truth cars."""
    boxes = np.array([[d.bbox.center.position.x - d.bbox.size_x / 2,
                       d.bbox.center.position.y - d.bbox.size_y / 2,
                       d.bbox.center.position.x + d.bbox.size_x / 2,
                       d.bbox.center.position.y + d.bbox.size_y / 2]
                      for d in msg.detections]).reshape(-1, 4)
    classes = [int(d.results[0].hypothesis.class_id) for d in msg.detections]
    scores = [d.results[0].hypothesis.score for d in msg.detections]
    assert msg.header.frame_id == 'cam'
    assert classes == ref.class_ids.tolist(), (classes, ref.class_ids)
    # other numpy / onnxruntime versions in the tiers: float32 rounding, not a different result
    np.testing.assert_allclose(boxes, ref.boxes_xyxy, atol=0.05)
    np.testing.assert_allclose(scores, ref.scores, atol=1e-3)
    found = boxes[np.array(classes) == CAR]
    assert len(cars) >= 2 and len(found)
    for x, y, w, h in cars:
        gt = np.array([x, y, x + w, y + h])
        lo, hi = np.maximum(found[:, :2], gt[:2]), np.minimum(found[:, 2:], gt[2:])
        inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
        union = np.prod(found[:, 2:] - found[:, :2], axis=1) + w * h - inter
        assert (inter / union).max() >= 0.5, (gt, found)
