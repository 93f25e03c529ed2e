"""A node resolves its family once and hands the object down (issue 22 item 5).

Two checks. (1) A family object that no registry knows (``toy_family``, never registered, in a
fresh process) serves a node end to end: parameters, bundle, bundle check, backend, detector and
core all take the handed-down object, since any lookup by name would fail with "family
unknown". The reference is the bright square's centre, computed with numpy. (2) A node of a
built-in family asks the registry exactly once from construction through serving a frame.
"""
import pathlib
import subprocess
import sys

import numpy as np

import tiny_bundles
from test_node_lifecycle import MemoryTransport, _image, _wait
from video_perception import families
from video_perception.node_runner import DetectorNode

TEST_DIR = pathlib.Path(__file__).resolve().parent
REPO = TEST_DIR.parent

UNREGISTERED = r'''
import sys, time
import numpy as np
import toy_family
from test_node_lifecycle import MemoryTransport, _image, _wait
from video_perception import families
from video_perception.detector import load_detector
from video_perception.node_runner import DetectorNode

bundle = toy_family.make_bundle(sys.argv[1])
assert 'toy_centroid' not in families.known_families()
t = MemoryTransport({'model_path': bundle, 'backend': 'onnxruntime', 'reliability': 'reliable',
                     'box_size': 10.0})
node = DetectorNode(t, toy_family)
node.configure()
node.activate()
t.subs['image'][1](_image(3))
assert _wait(lambda: t.published['detections'])
box = t.published['detections'][0].detections[0].bbox
print(box.center.position.x, box.center.position.y, box.size_x, box.size_y)
node.shutdown()
det = load_detector(bundle, 'onnxruntime', family=toy_family, log=lambda s: None)
frame = np.zeros((128, 192, 3), np.uint8)
frame[30:54, 20:50] = 255
print(*det.detect(frame, 1).boxes_xyxy[0])
assert 'toy_centroid' not in families.known_families()
'''


def test_an_unregistered_family_object_serves_a_node(tmp_path):
    res = subprocess.run([sys.executable, '-c', UNREGISTERED, str(tmp_path / 'toy')],
                         cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={'PYTHONPATH': f'{REPO}:{TEST_DIR}', 'PATH': '/usr/bin:/bin',
                              'OMP_NUM_THREADS': '1'})
    assert res.returncode == 0, res.stderr[-3000:]
    node_line, det_line = res.stdout.split('\n')[-3:-1]
    frame = np.zeros((128, 192), bool)                 # _image's square, as a mask
    frame[30:54, 20:50] = True
    ys, xs = np.nonzero(frame)
    cx, cy = xs.mean() + 0.5, ys.mean() + 0.5          # pixel centres: (35, 42)
    side = 10.0 * 2                                    # box_size in network px, 192 -> 96
    x, y, w, h = (float(v) for v in node_line.split())
    assert (x, y, w, h) == (cx, cy, side, side)
    # load_detector: the family's default box_size, 20 network px = 40 image px
    assert [float(v) for v in det_line.split()] == [cx - 20, cy - 20, cx + 20, cy + 20]


def test_a_node_asks_the_registry_once(tmp_path, monkeypatch):
    bundle = tiny_bundles.make_v2i_bundle(str(tmp_path / 'v2i'))
    calls = []
    real = families.get_family

    def counting(name, what='model'):
        calls.append(name)
        return real(name, what)
    monkeypatch.setattr(families, 'get_family', counting)
    t = MemoryTransport({'model_path': bundle, 'backend': 'onnxruntime',
                         'reliability': 'reliable'})
    node = DetectorNode(t, 'v2i')
    node.configure()
    node.activate()
    t.subs['image'][1](_image(7))
    assert _wait(lambda: t.published['detections'])
    node.publish_diagnostics()
    assert node.detector.bundle.family_module is node.family
    node.shutdown()
    assert calls == ['v2i']
    assert node.family is real('v2i')
