"""One model for several cameras: a batch equals each camera run alone, frame for frame.

Real ONNX Runtime on bundles exported at batch sizes 1, 2, 4 (``batch_bundles``), cameras of
different frame sizes; the reference is one single-camera detector per camera, each on its own
backend with the batch-1 graphs, fed the same frames one at a time (a naive loop).
"""
import json
import os
import shutil

import numpy as np
import pytest

import batch_bundles
import tiny_bundles
from video_perception.backends.base import BackendError, batch_plan
from video_perception.bundle import BundleError, load_bundle
from video_perception.detector import CameraBatch, load_detector

SIZES = [(120, 180), (64, 96), (200, 150)]      # (h, w) of cameras 0, 1, 2: three letterboxes
PERIOD = 33_000_000


@pytest.fixture(scope='module')
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp('batch')
    return {'streamnet': batch_bundles.make_streamnet_bundle(str(root / 'sn')),
            'v2i': batch_bundles.make_v2i_bundle(str(root / 'v2i')),
            'tiny': tiny_bundles.make_streamnet_bundle(str(root / 'tiny'))}


def _frames(steps, seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in SIZES]
            for _ in range(steps)]


def _load(path, backend='onnxruntime'):
    return load_detector(path, backend, log=lambda _: None, score_threshold=0.2)


def _same(a, b):
    assert len(a) == len(b)
    np.testing.assert_allclose(a.boxes_xyxy, b.boxes_xyxy, atol=1e-3)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
    np.testing.assert_array_equal(a.class_ids, b.class_ids)


@pytest.mark.parametrize('name,backend', [('streamnet', 'onnxruntime'), ('v2i', 'onnxruntime'),
                                          ('tiny', 'onnxruntime'), ('tiny', 'torch')])
def test_batched_equals_single_camera_frame_for_frame(bundles, name, backend):
    resets = _batched_equals_single(bundles[name], backend)
    if name != 'v2i':
        assert resets == [0, 0, 1]


@pytest.mark.slow
@pytest.mark.parametrize('model', ['streamnet_tiny', 'detr_tiny'])
def test_exported_bundle_batched_equals_single(tmp_path, model):
    """The project's exporter with --batch 1,2: a real StreamNet / DETR student, three cameras
    (a batch of 2 and one of 1)."""
    import training.export as ex
    out = str(tmp_path / model)
    assert ex.main([model, '--size', '64x96', '--batch', '1,2', '--out', out]) == 0
    assert load_bundle(out).batch_sizes == (1, 2)
    _batched_equals_single(out)


def _batched_equals_single(path, backend='onnxruntime'):
    """Six steps of three cameras through one CameraBatch and through three single-camera
    detectors; returns the resets per camera (equal in both)."""
    batch = CameraBatch(_load(path, backend), len(SIZES))
    singles = [_load(path, backend) for _ in SIZES]
    # camera 1 skips a step (a dead slot); camera 2's stamps jump back at step 4 (its reset)
    schedule = [[0, 1, 2], [0, 1, 2], [0, 2], [0, 1, 2], [0, 1, 2], [2, 0]]
    stamps = [[k * PERIOD] * 3 for k in range(len(schedule))]
    for cam in range(3):
        stamps[4][cam] = 4 * PERIOD if cam != 2 else 0
        stamps[5][cam] = 5 * PERIOD if cam != 2 else PERIOD
    frames = _frames(len(schedule))
    for step, cams in enumerate(schedule):
        got = batch.detect(cams, [frames[step][c] for c in cams], [stamps[step][c] for c in cams])
        for c, dets in zip(cams, got):
            want = singles[c].detect(frames[step][c], stamps[step][c])
            _same(dets, want)
            for key, value in singles[c].last_outputs.items():
                np.testing.assert_allclose(batch.detectors[c].last_outputs[key], value,
                                           atol=1e-5, rtol=1e-5)
    # each camera's state is its own: only camera 2 saw its stamps jump back
    assert [d.resets for d in batch.detectors] == [s.resets for s in singles]
    return [d.resets for d in batch.detectors]


def test_batch_runs_the_batched_graph(bundles):
    """Three frames run as one padded batch of 4 (batch_plan), not as three batch-1 calls."""
    det = _load(bundles['v2i'])
    calls = []
    run = det.backend._run
    det.backend._run = lambda role, inputs: calls.append(inputs['image'].shape[0]) or run(
        role, inputs)
    CameraBatch(det, 3).detect([0, 1, 2], _frames(1)[0], [0, 0, 0])
    assert calls == [4]


@pytest.mark.parametrize('n,sizes,want', [
    (1, (1, 2, 4), [(0, 1, 1)]),
    (3, (1, 2, 4), [(0, 3, 4)]),
    (5, (1, 2, 4), [(0, 4, 4), (4, 1, 1)]),
    (7, (1, 4), [(0, 4, 4), (4, 3, 4)]),
    (3, (1,), [(0, 1, 1), (1, 1, 1), (2, 1, 1)]),
])
def test_batch_plan(n, sizes, want):
    assert batch_plan(n, sizes) == want


def test_bundle_batch_sizes_checked(bundles, tmp_path):
    assert load_bundle(bundles['streamnet']).batch_sizes == (1, 2, 4)
    assert load_bundle(bundles['tiny']).batch_sizes == (1,)      # an old bundle: batch 1 only
    v2i, tiny = str(tmp_path / 'v2i'), str(tmp_path / 'tiny')
    shutil.copytree(bundles['v2i'], v2i)
    shutil.copytree(bundles['tiny'], tiny)
    os.remove(os.path.join(v2i, 'student_b4.onnx'))
    with pytest.raises(BundleError, match=r"batch_sizes lists 4 but \['student_b4.onnx'\]"):
        load_bundle(v2i)
    # a twin exported for another batch than its name says: one line at load, not at run time
    shutil.copy(os.path.join(v2i, 'student_b2.onnx'), os.path.join(v2i, 'student_b4.onnx'))
    with pytest.raises(BackendError, match=r'student_b4.onnx: inputs lead with \[2\], expected '
                       r'batch 4'):
        _load(v2i)
    meta_path = os.path.join(tiny, 'model.json')
    with open(meta_path) as f:
        meta = json.load(f)
    meta['batch_sizes'] = [2, 4]
    with open(meta_path, 'w') as f:
        json.dump(meta, f)
    with pytest.raises(BundleError, match='"batch_sizes" .* that holds 1'):
        load_bundle(tiny)


def test_tensorrt_engine_per_batch_size_in_the_cache_key(bundles):
    """One engine per graph and batch size: the batch-B graph's own bytes and [B, ...] shapes
    are hashed with the batch; batch 1 keeps the key it had before batches existed."""
    import hashlib
    from video_perception.backends import tensorrt_backend as trtb
    bundle = load_bundle(bundles['v2i'])
    one = trtb.engine_path(bundle, 'student', 'fp16', '10.3.0', 'Orin')
    four = trtb.engine_path(bundle, 'student', 'fp16', '10.3.0', 'Orin', batch=4)
    sha4 = hashlib.sha256(open(bundle.graph('student', 4), 'rb').read()).hexdigest()
    key4 = trtb.engine_cache_key(sha4, 'fp16', {'image': (4, 3, 64, 96)}, '10.3.0', 'Orin', 4)
    assert os.path.basename(four) == f'student_b4-fp16-{key4}.engine'
    sha1 = hashlib.sha256(open(bundle.graph('student'), 'rb').read()).hexdigest()
    assert os.path.basename(one) == 'student-fp16-' + trtb.engine_cache_key(
        sha1, 'fp16', {'image': (1, 3, 64, 96)}, '10.3.0', 'Orin') + '.engine'
    # the batch alone changes the key, even for the same bytes and shapes
    assert key4 != trtb.engine_cache_key(sha4, 'fp16', {'image': (4, 3, 64, 96)}, '10.3.0',
                                         'Orin')
