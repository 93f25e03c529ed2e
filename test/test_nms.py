"""Class-aware NMS and box IoU against naive per-pair Python loops."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from video_perception.detections import (Detections, box_cxcywh_to_xyxy, box_iou_xyxy,
                                         nms_class_aware)


def _iou(a, b):
    """Plain-float IoU of two xyxy boxes (torchvision's definition, 0 for an empty union)."""
    area_a = max(a[2] - a[0], 0.0) * max(a[3] - a[1], 0.0)
    area_b = max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)
    iw = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    ih = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = iw * ih
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def _naive_nms(boxes, scores, classes, thr, max_det=None):
    """Greedy NMS per class, O(n^2): visit by decreasing score (ties: lower index first)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        if all(classes[j] != classes[i] or _iou(boxes[i], boxes[j]) <= thr for j in kept):
            kept.append(i)
    return kept if max_det is None else kept[:max_det]


coords = st.integers(0, 12).map(float)
box = st.tuples(coords, coords, st.integers(0, 8).map(float), st.integers(0, 8).map(float)) \
    .map(lambda b: (b[0], b[1], b[0] + b[2], b[1] + b[3]))


@settings(max_examples=300, deadline=None)
@given(data=st.lists(st.tuples(box, st.sampled_from([0.1, 0.5, 0.5, 0.9, 0.3]),
                               st.integers(0, 2)), max_size=40),
       thr=st.sampled_from([0.0, 0.3, 0.5, 0.65, 1.0]),
       max_det=st.one_of(st.none(), st.integers(0, 10)))
def test_nms_matches_naive_loop(data, thr, max_det):
    boxes = [d[0] for d in data]
    scores = [d[1] for d in data]
    classes = [d[2] for d in data]
    got = nms_class_aware(np.array(boxes).reshape(-1, 4), np.array(scores, np.float32),
                          np.array(classes), thr, max_det)
    assert got.dtype == np.int64
    assert got.tolist() == _naive_nms(boxes, scores, classes, thr, max_det)


@settings(max_examples=100, deadline=None)
@given(a=st.lists(box, max_size=8), b=st.lists(box, max_size=8))
def test_box_iou_matches_naive(a, b):
    got = box_iou_xyxy(np.array(a).reshape(-1, 4), np.array(b).reshape(-1, 4))
    assert got.shape == (len(a), len(b))
    want = np.array([[_iou(x, y) for y in b] for x in a]).reshape(len(a), len(b))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_hand_cases():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 10.1], [50, 50, 60, 60]],
                     np.float32)
    assert box_iou_xyxy(boxes[:1], boxes[1:2])[0, 0] == 0.5
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    # IoU exactly 0.5 is not > 0.5: box 1 survives; box 2 overlaps box 0 (IoU 0.99)
    assert nms_class_aware(boxes, scores, [0, 0, 0, 0], 0.5).tolist() == [0, 1, 3]
    # another class is never suppressed
    assert nms_class_aware(boxes, scores, [0, 0, 1, 0], 0.5).tolist() == [0, 1, 2, 3]
    assert nms_class_aware(boxes, scores, [0, 0, 1, 0], 0.5, max_detections=2).tolist() == [0, 1]
    assert nms_class_aware(np.zeros((0, 4)), [], [], 0.5).tolist() == []
    with pytest.raises(ValueError, match='scores'):
        nms_class_aware(boxes, scores[:2], [0, 0, 0, 0], 0.5)


def test_negative_coordinates_stay_per_class():
    """Coordinate offset tricks break when boxes go negative; masking does not."""
    boxes = np.array([[-30, -30, -20, -20], [-30, -30, -20, -20]], np.float32)
    assert nms_class_aware(boxes, [0.9, 0.8], [0, 1], 0.5).tolist() == [0, 1]


def test_cxcywh_and_detections_helpers():
    np.testing.assert_allclose(box_cxcywh_to_xyxy(np.array([[5, 6, 4, 2]], np.float32)),
                               [[3, 5, 7, 7]])
    d = Detections([[0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3]], [0.2, 0.9, 0.2], [0, 1, 2])
    s = d.sorted_by_score()
    assert s.scores.tolist() == pytest.approx([0.9, 0.2, 0.2])
    assert s.class_ids.tolist() == [1, 0, 2]
