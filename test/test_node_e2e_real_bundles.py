"""The nodes over DDS with bundles exported by the project's own exporter (``video-perception
export streamnet_tiny`` / ``detr_tiny``, random weights) on real frames: Argoverse 1920x1200 for
StreamNet, VocalFolds endoscopy for V2I.

Random weights make random boxes, so the reference is the same detector (same backend) run in
this process on the frames the node processed, in the order it processed them (the known-answer
tests in test_detector_*.py and test_node_e2e_dds.py check the detector itself). What this adds:
the real graphs, real image sizes and the feature buffer through the transport, stamps and all.
"""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from test_node_e2e_dds import Listener, node_env, publish, serving, stamp_ns
from video_perception.backends.base import BackendOptions
from video_perception.detector import load_detector
from video_perception.ros_convert import msg_to_boxes_xyxy

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group('h3_dds_nodes')]
BIN = pathlib.Path(sys.executable).parent


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp('exported')
    out = {}
    for name in ('streamnet_tiny', 'detr_tiny'):
        res = subprocess.run([str(BIN / 'video-perception'), 'export', name, '--out',
                              str(root / name)], env=node_env(), capture_output=True, text=True,
                             timeout=600)
        if res.returncode != 0:
            pytest.fail(f'export {name} failed: {res.stderr[-1500:]}')
        out[name] = str(root / name)
    return out


def _frames(src, dst, n):
    dst.mkdir()
    for p in sorted(src.iterdir())[:n]:
        os.symlink(p, dst / p.name)
    return dst


class FrameKeeper(Listener):
    """Also keeps each input frame by stamp, for the in-process replay."""

    def __init__(self):
        self.frames = {}
        super().__init__()

    def _on_image(self, msg):
        frame = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)
        with self.lock:
            self.frames[stamp_ns(msg.header.stamp)] = frame.copy()


def check_node_against_in_process(executable, bundle, backend, frames, rate, n, min_outputs,
                                  score_threshold):
    """``frames`` (a folder) published at ``rate`` Hz through ``executable`` serving ``bundle``
    until ``n`` outputs arrive; each of at least ``min_outputs`` must hold the boxes that the
    same bundle, backend and thresholds give in this process on the frame of its stamp, in the
    order the node processed them (the feature buffer included), inside the image."""
    params = (f'backend:={backend}', f'score_threshold:={score_threshold}', 'max_detections:=50')
    with serving(executable, bundle, *params, listener=FrameKeeper(), ready_s=120) as run:
        res = publish(frames, rate)
        assert res.returncode == 0, res.stderr
        run.listener.wait('dets', n, 30)
    outputs = [m for _, m in run.listener.dets]
    assert len(outputs) >= min_outputs
    det = load_detector(bundle, backend, BackendOptions(threads=1), log=lambda s: None,
                        score_threshold=score_threshold, max_detections=50)
    total = 0
    for msg in outputs:
        s = stamp_ns(msg.header.stamp)
        assert s in run.listener.frames, 'output stamp is not an input stamp'
        frame = run.listener.frames[s]
        if det.bundle.pixel_format == 'rgb':
            frame = frame[..., ::-1]
        ref = det.detect(frame, s)
        got = np.array([r[:4] for r in msg_to_boxes_xyxy(msg)]).reshape(-1, 4)
        assert len(got) == len(ref)
        # the same backend and threads as the node: near-tied random scores keep their order
        np.testing.assert_allclose(got, ref.boxes_xyxy, atol=1e-3)
        h, w = frame.shape[:2]
        assert (got >= -1e-3).all() and (got[:, [0, 2]] <= w + 1e-3).all() \
            and (got[:, [1, 3]] <= h + 1e-3).all()
        total += len(got)
    assert total > 0, 'no box at all: the test checks nothing'


@pytest.mark.parametrize('model,data,backend', [
    ('streamnet_tiny', 'argoverse_hd_sample/frames', 'onnxruntime'),
    ('streamnet_tiny', 'argoverse_hd_sample/frames', 'torch'),
    ('detr_tiny', 'vocalfolds/img/patient1/seq1', 'onnxruntime'),
])
def test_exported_bundle_through_the_node(tmp_path, ros_domain, shared_data, exported, model,
                                          data, backend):
    executable = 'streamnet_node' if model.startswith('streamnet') else 'v2i_node'
    frames = _frames(shared_data / data, tmp_path / 'frames', 8)
    check_node_against_in_process(executable, exported[model], backend, frames, rate=1.0, n=8,
                                  min_outputs=6, score_threshold=0.0)
