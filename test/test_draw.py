"""Drawing detections: boxes where the detections are, in their class colour; nothing else."""
import numpy as np

from video_perception.detections import Detections
from video_perception.draw import class_color, draw_detections, label_text

NAMES = ['car', 'person']


def _frame():
    return np.random.default_rng(3).integers(0, 50, (120, 160, 3), dtype=np.uint8)


def test_box_edges_have_the_class_colour_and_label_band_above():
    img = _frame()
    dets = Detections([[30, 40, 110, 100], [5, 5, 20, 20]], [0.87, 0.5], [1, 0])
    out = draw_detections(img, dets, NAMES)
    color = class_color(1)
    for y, x in [(100, 70), (70, 30), (70, 110), (41, 90)]:   # bottom, left, right, top edges
        assert tuple(out[y, x]) == color, (y, x)
    assert tuple(out[38, 31]) == color                       # the label band sits above the box
    assert np.array_equal(out[60:90, 45:95], img[60:90, 45:95])   # the inside is untouched
    assert np.array_equal(img, _frame())                      # drawn on a copy


def test_no_detections_leave_the_image_unchanged():
    img = _frame()
    out = draw_detections(img, Detections.empty(), NAMES)
    assert out is not img and np.array_equal(out, img)
    assert draw_detections(img, Detections.empty(), NAMES, copy=False) is img


def test_colours_are_stable_and_distinct():
    colors = [class_color(c) for c in range(20)]
    assert colors == [class_color(c) for c in range(20)]
    assert len(set(colors)) == 20
    assert all(max(c) > 100 for c in colors)                 # visible on dark frames
    assert class_color(3, 'rgb') == class_color(3)[::-1]


def test_rgb_frames_get_the_same_visible_colour():
    img = _frame()
    dets = Detections([[30, 40, 110, 100]], [0.9], [0])
    bgr = draw_detections(img, dets, NAMES)
    rgb = draw_detections(img[..., ::-1].copy(), dets, NAMES, pixel_order='rgb')
    assert np.array_equal(rgb[..., ::-1], bgr)


def test_labels_and_odd_boxes():
    assert label_text(1, 0.873, NAMES) == 'person 0.87'
    assert label_text(7, 0.5, NAMES) == '7 0.50'
    img = _frame()
    ro = img.copy()
    ro.flags.writeable = False
    dets = Detections([[-50, -50, 500, 500], [np.nan, 0, 1, 1], [10, 0, 40, 30]],
                      [0.3, 0.9, 0.4], [0, 1, 5])
    out = draw_detections(ro, dets, NAMES, copy=False)       # read-only input: drawn on a copy
    assert out.shape == img.shape and not np.array_equal(out, img)
    assert tuple(out[119, 80]) == class_color(0)              # clipped huge box on the border
