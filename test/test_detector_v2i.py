"""V2IDetector on the known-answer tiny bundle: the lit square's box in original pixels."""
import numpy as np
import pytest

import tiny_bundles
from video_perception.backends.base import BackendOptions
from video_perception.bundle import BundleError
from video_perception.detector import Detector, load_detector
from video_perception.families.v2i import V2IDetector

pytestmark = pytest.mark.xdist_group('h3_bundles')


@pytest.fixture(scope='module')
def roots(tmp_path_factory):
    return {lb: tiny_bundles.make_v2i_bundle(str(tmp_path_factory.mktemp(f'v2i{lb}')),
                                             letterbox=lb) for lb in ('top_left', 'center')}


@pytest.mark.parametrize('backend', ['onnxruntime', 'torch'])
@pytest.mark.parametrize('letterbox', ['top_left', 'center'])
@pytest.mark.parametrize('size', [(160, 120), (96, 200), (1920, 1200)])
def test_box_in_original_pixels(roots, backend, letterbox, size):
    det = load_detector(roots[letterbox], backend, BackendOptions(threads=1), log=lambda s: None)
    assert isinstance(det, V2IDetector) and isinstance(det, Detector)
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    x0, y0, x1, y1 = w // 4, h // 3, w // 2, h // 2
    img[y0:y1, x0:x1] = 255
    dets = det.detect(img, 0)
    assert len(dets) == 1 and dets.class_ids.tolist() == [0]
    s = min(64 / h, 96 / w)     # one network pixel in original pixels is 1 / s
    np.testing.assert_allclose(dets.boxes_xyxy[0], [x0, y0, x1, y1], atol=0.75 / s + 0.5)
    assert dets.scores[0] > 0.99


def test_threshold_at_run_time(roots):
    det = load_detector(roots['top_left'], 'onnxruntime', log=lambda s: None)
    img = np.zeros((120, 160, 3), np.uint8)
    img[20:60, 30:90] = 255
    assert len(det.detect(img)) == 1
    det.configure(score_threshold=1.0)
    assert len(det.detect(img)) == 0


def test_wrong_family_and_missing_path(roots, tmp_path):
    with pytest.raises(BundleError, match='is a "v2i" model; this node runs "streamnet"'):
        load_detector(roots['top_left'], 'onnxruntime', family='streamnet', log=lambda s: None)
    with pytest.raises(BundleError, match='model_path is empty'):
        load_detector('', 'onnxruntime')
    with pytest.raises(BundleError, match='not a directory'):
        load_detector(str(tmp_path / 'missing'), 'onnxruntime')


def test_simulated_latency_once_per_frame(roots):
    """The test-only slower model: one sleep per frame, set at run time."""
    import time
    det = load_detector(roots['top_left'], 'onnxruntime', log=lambda s: None,
                        simulate_latency_ms=60.0)
    img = np.zeros((120, 160, 3), np.uint8)
    t0 = time.perf_counter()
    det.detect(img)
    assert 0.06 <= time.perf_counter() - t0
    det.configure(simulate_latency_ms=0.0)
    t0 = time.perf_counter()
    det.detect(img)
    assert time.perf_counter() - t0 < 0.06
