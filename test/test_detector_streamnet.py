"""StreamNetDetector on the known-answer tiny bundle: forecasts in original pixels, the buffer's
order and step, resets on stamp jumps, run-time thresholds. The reference is the square's box
computed from the frames with numpy."""
import numpy as np
import pytest

import tiny_bundles
from video_perception.backends.base import BackendOptions
from video_perception.detector import Detector, load_detector
from video_perception.families.streamnet import StreamNetDetector

pytestmark = pytest.mark.xdist_group('h3_bundles')
PERIOD = 33_333_333
SCALE = 0.5                 # a 192 x 128 frame into 96 x 64: every even edge stays exact


def frame_with_square(i, w=192, h=128, vx=6, vy=2):
    img = np.zeros((h, w, 3), np.uint8)
    x, y = 20 + vx * i, 30 + vy * i
    img[y:y + 24, x:x + 30] = 255
    return img


def centre_of(img):
    ys, xs = np.nonzero(img.max(axis=2) > 127)
    return np.array([(xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2])


def box_centre(dets):
    b = dets.boxes_xyxy[0]
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])


@pytest.fixture(scope='module', params=['onnxruntime', 'torch'])
def detector_factory(request, tmp_path_factory):
    roots = {}

    def make(step=1, letterbox='top_left', frames=2, **kw):
        key = (step, letterbox, frames)
        if key not in roots:
            roots[key] = tiny_bundles.make_streamnet_bundle(
                str(tmp_path_factory.mktemp(f'sn{step}{letterbox}{frames}')), frames=frames,
                step=step, letterbox=letterbox)
        return load_detector(roots[key], request.param, BackendOptions(threads=1),
                             log=lambda s: None, **kw)
    return make


@pytest.mark.parametrize('letterbox', ['top_left', 'center'])
def test_forecast_is_next_frames_box_in_original_pixels(detector_factory, letterbox):
    det = detector_factory(letterbox=letterbox)
    assert isinstance(det, StreamNetDetector) and isinstance(det, Detector)
    out = [det.detect(frame_with_square(i), i * PERIOD) for i in range(6)]
    # frame 0: the buffer holds copies of frame 0, so the forecast is frame 0 itself
    np.testing.assert_allclose(box_centre(out[0]), centre_of(frame_with_square(0)), atol=0.5)
    for i in range(1, 6):
        np.testing.assert_allclose(box_centre(out[i]), centre_of(frame_with_square(i + 1)),
                                   atol=0.5)
        b = out[i].boxes_xyxy[0]
        np.testing.assert_allclose([b[2] - b[0], b[3] - b[1]], [20 / SCALE] * 2, atol=0.5)
        assert out[i].class_ids.tolist() == [0]
        assert out[i].scores[0] == pytest.approx(0.95 * 0.95, abs=1e-4)
    assert det.buffer_fill == 1.0 and det.resets == 0


def test_no_history_model_forecasts_from_the_current_frame_alone(detector_factory):
    # the N = 0 ablation: an empty buffer, a forecast graph with no history inputs
    det = detector_factory(frames=0)
    assert det.buffer.nbytes() == 0 and det.buffer_fill == 1.0
    for i in range(4):
        out = det.detect(frame_with_square(i), i * PERIOD)
        np.testing.assert_allclose(box_centre(out), centre_of(frame_with_square(i)), atol=0.5)


def test_step_two_reads_t_minus_two(detector_factory):
    det = detector_factory(step=2)
    out = [det.detect(frame_with_square(i), i * PERIOD) for i in range(6)]
    for i in range(2, 6):   # 2 c(t) - c(t-2) = c(t) + 2 v
        expected = 2 * centre_of(frame_with_square(i)) - centre_of(frame_with_square(i - 2))
        np.testing.assert_allclose(box_centre(out[i]), expected, atol=0.5)
    np.testing.assert_allclose(box_centre(out[1]), centre_of(frame_with_square(1)) * 2
                               - centre_of(frame_with_square(0)), atol=0.5)


def test_stamp_jump_back_and_leap_reset_the_buffer(detector_factory):
    det = detector_factory(leap_threshold_periods=5.0)
    for i in range(4):
        det.detect(frame_with_square(i), 100 * PERIOD + i * PERIOD)
    # a bag loop: stamps go back; the buffer restarts from this frame (forecast = itself)
    out = det.detect(frame_with_square(10), 50 * PERIOD)
    assert det.resets == 1
    np.testing.assert_allclose(box_centre(out), centre_of(frame_with_square(10)), atol=0.5)
    det.detect(frame_with_square(11), 51 * PERIOD)
    det.detect(frame_with_square(12), 52 * PERIOD)
    # 20 periods later: a stalled camera; history is stale, reset again
    out = det.detect(frame_with_square(13), 72 * PERIOD)
    assert det.resets == 2 and det.last_reset_reason == 'stamp leapt forward'
    np.testing.assert_allclose(box_centre(out), centre_of(frame_with_square(13)), atol=0.5)
    # a threshold change at run time makes the same leap acceptable
    det.configure(leap_threshold_periods=100.0)
    det.detect(frame_with_square(14), 73 * PERIOD)
    det.detect(frame_with_square(15), 93 * PERIOD)
    assert det.resets == 2


def test_new_image_size_resets_the_buffer(detector_factory):
    """A new camera (another size): the history of the old one is not this frame's past."""
    det = detector_factory()
    for i in range(3):
        det.detect(frame_with_square(i), i * PERIOD)
    big = frame_with_square(3, w=96, h=64)          # scale 1; the same square position
    out = det.detect(big, 3 * PERIOD)
    assert det.resets == 1 and det.last_reset_reason == 'image size changed'
    np.testing.assert_allclose(box_centre(out), centre_of(big), atol=0.5)   # forecast = itself
    out = det.detect(frame_with_square(4, w=96, h=64), 4 * PERIOD)
    assert det.resets == 1
    np.testing.assert_allclose(box_centre(out), centre_of(frame_with_square(5, w=96, h=64)),
                               atol=0.5)


def test_threshold_and_max_detections_apply_on_next_frame(detector_factory):
    det = detector_factory(score_threshold=0.3)
    assert len(det.detect(frame_with_square(0), 0)) == 1
    det.configure(score_threshold=0.95)
    assert len(det.detect(frame_with_square(1), PERIOD)) == 0
    det.configure(score_threshold=0.5, max_detections=1)
    assert len(det.detect(frame_with_square(2), 2 * PERIOD)) == 1


def test_no_square_gives_no_nan_boxes(detector_factory):
    det = detector_factory()
    dets = det.detect(np.zeros((128, 192, 3), np.uint8), 0)
    assert np.isfinite(dets.boxes_xyxy).all()
    assert (dets.boxes_xyxy >= 0).all() and (dets.boxes_xyxy[:, [0, 2]] <= 192).all()


def test_bad_frame_shape_is_one_line(detector_factory):
    det = detector_factory()
    with pytest.raises(ValueError, match=r'frame of shape \(10, 10\)'):
        det.detect(np.zeros((10, 10), np.uint8), 0)


def test_simulated_latency_is_per_frame_not_per_graph(detector_factory):
    import time
    det = detector_factory(simulate_latency_ms=80.0)
    det.detect(frame_with_square(0), 0)
    t0 = time.perf_counter()
    det.detect(frame_with_square(1), PERIOD)
    assert 0.08 <= time.perf_counter() - t0 < 0.16     # two graphs, one sleep


def test_future_frames_read_from_model_json_and_checked(tmp_path):
    """``output.future_frames`` (K of a K-step model) reaches the bundle; a bad one is one line."""
    import json
    from video_perception.bundle import BundleError, load_bundle
    root = tiny_bundles.make_streamnet_bundle(str(tmp_path / 'sn'))
    assert load_bundle(root).future_frames == 1                  # older bundles: one frame
    path = tmp_path / 'sn' / 'model.json'
    meta = json.loads(path.read_text())
    meta['output']['future_frames'] = 2
    path.write_text(json.dumps(meta))
    assert load_bundle(root).future_frames == 2
    meta['output']['future_frames'] = -1
    path.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r'output\.future_frames is -1; expected an integer'):
        load_bundle(root)
