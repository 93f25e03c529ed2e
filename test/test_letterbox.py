"""Letterbox geometry measured from the pixels it produces, and the input tensor vs YOLOX."""
import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from video_perception.letterbox import letterbox, letterbox_transform, preprocess

sizes = st.tuples(st.integers(20, 320), st.integers(20, 320))
net_sizes = st.tuples(st.integers(16, 192), st.integers(16, 192))
modes = st.sampled_from(['top_left', 'center'])


@settings(max_examples=60, deadline=None)
@given(src=sizes, dst=net_sizes, mode=modes)
def test_pasted_region_measured_from_pixels(src, dst, mode):
    """A flat image lands on the canvas where the transform says; mapped back it is the full
    image (the pad is 114, the image 240, so the region is read off the canvas exactly)."""
    (h, w), (nh, nw) = src, dst
    canvas, t = letterbox(np.full((h, w, 3), 240, np.uint8), nh, nw, mode)
    assert canvas.shape == (nh, nw, 3) and canvas.dtype == np.uint8
    ys, xs = np.nonzero(canvas[..., 0] == 240)
    assert set(np.unique(canvas)) <= {114, 240}
    measured = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float64)
    assert (ys.max() + 1 - ys.min()) * (xs.max() + 1 - xs.min()) == len(xs)   # a rectangle
    np.testing.assert_allclose(t.to_network([[0, 0, w, h]]), measured, atol=1e-3)
    np.testing.assert_allclose(t.boxes_to_original(measured), [[0, 0, w, h]], atol=0.5)
    # fills one side exactly (no upscale limit), like YOLOX's r = min(nh / h, nw / w)
    assert measured[0, 2] - measured[0, 0] == nw or measured[0, 3] - measured[0, 1] == nh
    if mode == 'top_left':
        assert measured[0, 0] == 0 and measured[0, 1] == 0


def _ramp_image(h, w, box, ramp):
    """20 outside, 220 inside box (x1, y1, x2, y2), linear edges ``ramp`` px wide centred on
    the box edges (pixel i covers [i, i + 1], sampled at its centre)."""
    def profile(n, lo, hi):
        c = np.arange(n) + 0.5
        return np.clip(np.minimum((c - lo) / ramp + 0.5, (hi - c) / ramp + 0.5), 0, 1)
    x1, y1, x2, y2 = box
    level = np.minimum(profile(h, y1, y2)[:, None], profile(w, x1, x2)[None, :])
    return np.repeat((20 + 200 * level).round().astype(np.uint8)[..., None], 3, axis=2)


def _crossings(values, level=120.5):
    """Sub-pixel positions (pixel-centre convention) where ``values`` cross ``level`` (a level
    between integers, so no sample sits on it; 0.5 above mid-ramp moves an edge < 0.02 px)."""
    v = values.astype(np.float64)
    idx = np.nonzero((v[:-1] - level) * (v[1:] - level) < 0)[0]
    return idx + 0.5 + (level - v[idx]) / (v[idx + 1] - v[idx])


@settings(max_examples=60, deadline=None)
@given(src=sizes, dst=net_sizes, mode=modes, frac=st.tuples(*[st.floats(0.0, 1.0)] * 4))
def test_box_edges_found_in_the_canvas_map_back(src, dst, mode, frac):
    """Draw a soft-edged box, letterbox, find its edges in the canvas, map them back: they are
    within 0.5 original pixels of where the box was drawn."""
    (h, w), (nh, nw) = src, dst
    t = letterbox_transform(h, w, nh, nw, mode)
    ramp = max(4.0, 3.0 / min(t.scale_x, t.scale_y))      # >= 3 network px per edge
    margin = ramp + 2
    if min(h, w) < 4 * margin + 2:
        return
    x1 = margin + frac[0] * (w / 2 - 2 * margin)
    y1 = margin + frac[1] * (h / 2 - 2 * margin)
    x2 = w / 2 + margin + frac[2] * (w / 2 - 2 * margin)
    y2 = h / 2 + margin + frac[3] * (h / 2 - 2 * margin)
    canvas, t2 = letterbox(_ramp_image(h, w, (x1, y1, x2, y2), ramp), nh, nw, mode)
    assert t2 == t
    cy = int((t.to_network([[0, y1, 0, y2]])[0, 1::2]).mean())
    cx = int((t.to_network([[x1, 0, x2, 0]])[0, 0::2]).mean())
    xs = _crossings(canvas[cy, :, 1])
    ys = _crossings(canvas[:, cx, 1])
    xs, ys = xs[(xs > t.pad_left + 1) & (xs < t.pad_left + t.new_width - 1)], \
        ys[(ys > t.pad_top + 1) & (ys < t.pad_top + t.new_height - 1)]
    assert len(xs) == 2 and len(ys) == 2
    back = t.boxes_to_original([[xs[0], ys[0], xs[1], ys[1]]])[0]
    np.testing.assert_allclose(back, [x1, y1, x2, y2], atol=0.5)


def test_argoverse_size_is_an_exact_half():
    t = letterbox_transform(1200, 1920, 600, 960)
    assert (t.new_height, t.new_width, t.ratio, t.pad_top, t.pad_left) == (600, 960, 0.5, 0, 0)
    np.testing.assert_allclose(t.boxes_to_original([[10, 20, 30, 40]]), [[20, 40, 60, 80]])


def test_boxes_are_clipped_to_the_original_image():
    t = letterbox_transform(100, 200, 64, 64, 'center')      # image 64 x 32 at y 16..48
    out = t.boxes_to_original([[-5, 0, 70, 64], [10, 20, 20, 30]])
    np.testing.assert_allclose(out[0], [0, 0, 200, 100])
    np.testing.assert_allclose(out[1], [10 * 200 / 64, 4 * 100 / 32, 20 * 200 / 64,
                                        14 * 100 / 32], rtol=1e-6)


def _yolox_preproc(img, input_size):
    """YOLOX 0.3.0 ``preproc`` (legacy=False), as published."""
    padded = np.ones((input_size[0], input_size[1], 3), dtype=np.uint8) * 114
    r = min(input_size[0] / img.shape[0], input_size[1] / img.shape[1])
    resized = cv2.resize(img, (int(img.shape[1] * r), int(img.shape[0] * r)),
                         interpolation=cv2.INTER_LINEAR).astype(np.uint8)
    padded[:int(img.shape[0] * r), :int(img.shape[1] * r)] = resized
    return np.ascontiguousarray(padded.transpose(2, 0, 1), dtype=np.float32), r


@pytest.mark.parametrize('src', [(1200, 1920), (480, 640), (333, 517), (64, 48)])
def test_preprocess_equals_yolox_preproc(src):
    img = np.random.default_rng(0).integers(0, 256, src + (3,), dtype=np.uint8)
    spec = dict(height=96, width=160, pixel_format='bgr', scale=1.0, mean=[0, 0, 0],
                std=[1, 1, 1], letterbox='top_left', pad_value=114)
    tensor, t = preprocess(img, spec)
    ref, r = _yolox_preproc(img, (96, 160))
    assert tensor.shape == (1, 3, 96, 160) and tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor[0], ref)
    assert t.ratio == pytest.approx(r)


def test_preprocess_normalisation_and_channel_order():
    img = np.random.default_rng(1).integers(0, 256, (50, 80, 3), dtype=np.uint8)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    spec = dict(height=64, width=64, pixel_format='rgb', scale=1 / 255, mean=mean, std=std,
                letterbox='center', pad_value=0)
    tensor, t = preprocess(img, spec, input_order='bgr')
    canvas = np.zeros((64, 64, 3), np.uint8)                 # 80 x 50 -> 64 x 40 at y 12
    canvas[12:52] = cv2.resize(img, (64, 40), interpolation=cv2.INTER_LINEAR)
    rgb = canvas[..., ::-1].astype(np.float64)
    ref = ((rgb / 255 - np.array(mean)) / np.array(std)).transpose(2, 0, 1)
    np.testing.assert_allclose(tensor[0], ref, atol=1e-5)
    assert (t.pad_top, t.new_height, t.new_width) == (12, 40, 64)


def test_bad_mode_and_sizes():
    with pytest.raises(ValueError, match='mode'):
        letterbox_transform(10, 10, 8, 8, 'stretch')
    with pytest.raises(ValueError, match='sizes'):
        letterbox_transform(0, 10, 8, 8)


def test_padded_message_view_letterboxes_like_a_copy():
    """Frames decoded zero-copy keep the message's row padding; the letterbox must not care."""
    from video_perception.image_codec import decode_image
    img = np.random.default_rng(2).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    data = np.concatenate([img.reshape(50, -1), np.zeros((50, 5), np.uint8)], 1).tobytes()
    view = decode_image(50, 70, 'bgr8', 0, 215, data)
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(letterbox(view, 32, 48)[0], letterbox(img, 32, 48)[0])
