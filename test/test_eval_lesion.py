"""Lesion P/R/F1/F2 under both protocols on hand-made frames; answers worked out by hand."""
import numpy as np
import pytest

from video_perception.eval.lesion import lesion_metrics

# Frame A: two lesions; d1 and d2 centred in g1, d3 in nothing, d4 (low score) centred in g2.
# Frame B: no lesion, one confident detection. Frame C: a detection centred exactly on the
# lesion's right edge (not strictly inside).
FRAMES = [
    ([[0, 0, 10, 10], [20, 20, 30, 30]],
     [[2, 2, 8, 8], [0, 0, 10, 10], [40, 40, 50, 50], [18, 18, 32, 32]], [0.9, 0.7, 0.8, 0.4]),
    ([], [[0, 0, 4, 4]], [0.95]),
    ([[0, 0, 10, 10]], [[8, 0, 12, 10]], [0.9]),
]


def test_centroid_counts_negative_frames():
    # kept: d1 d2 d3 d5 d6; TP = g1 only (two hits, one TP); FP = d3, d5, d6; FN = g2, g3
    m = lesion_metrics(FRAMES, 'centroid', 0.5)
    assert (m['tp'], m['fp'], m['fn']) == (1, 3, 2)
    assert m['precision'] == pytest.approx(1 / 4)
    assert m['recall'] == pytest.approx(1 / 3)
    assert m['f1'] == pytest.approx(2 / 7)
    assert m['f2'] == pytest.approx(0.3125)
    # sweep: t=0.95 F1 0; 0.9 -> 1/3; 0.8, 0.7 -> 2/7; 0.4 -> TP 2 FP 3: P .4, R 2/3, F1 .5
    assert m['best_f1_threshold'] == pytest.approx(0.4)
    assert m['best_f1'] == pytest.approx(0.5)
    assert m['best_f1_precision'] == pytest.approx(0.4)
    assert m['best_f1_recall'] == pytest.approx(2 / 3)


def test_centroid_skips_negative_frames():
    m = lesion_metrics(FRAMES, 'centroid', 0.5, negative_frames='skip')
    assert (m['tp'], m['fp'], m['fn']) == (1, 2, 2)
    assert m['f1'] == pytest.approx(1 / 3)
    assert m['f2'] == pytest.approx(1 / 3)


def test_iou_protocol():
    # only d2 overlaps a lesion with IoU > 0.5 (d1: 36/100; d6: 20/120)
    m = lesion_metrics(FRAMES, 'iou', 0.5)
    assert (m['tp'], m['n_dets'], m['n_gt']) == (1, 5, 3)
    assert m['precision'] == pytest.approx(0.2)
    assert m['recall'] == pytest.approx(1 / 3)
    assert m['f1'] == pytest.approx(2 * 1 / (5 + 3))
    assert m['f2'] == pytest.approx(5 / 17)
    m = lesion_metrics(FRAMES, 'iou', 0.5, negative_frames='skip')
    assert m['f1'] == pytest.approx(2 / 7)


def test_iou_protocol_is_per_prediction():
    # two predictions on one lesion (IoU 1 and 0.9): two TPs, recall 2 (YONA's rule)
    frames = [([[0, 0, 10, 10]], [[0, 0, 10, 10], [0, 0, 10, 9]], [0.9, 0.8])]
    m = lesion_metrics(frames, 'iou', 0.5)
    assert (m['tp'], m['precision'], m['recall']) == (2, 1.0, 2.0)
    assert m['f1'] == pytest.approx(4 / 3)
    c = lesion_metrics(frames, 'centroid', 0.5)
    assert (c['tp'], c['fp'], c['fn'], c['f1']) == (1, 0, 0, 1.0)


def test_threshold_is_inclusive_and_empty_is_zero():
    frames = [([[0, 0, 10, 10]], [[0, 0, 10, 10]], [0.5])]
    assert lesion_metrics(frames, 'centroid', 0.5)['tp'] == 1
    m = lesion_metrics(frames, 'centroid', 0.51)
    assert (m['tp'], m['fn'], m['precision'], m['f1']) == (0, 1, 0.0, 0.0)
    m = lesion_metrics([(np.zeros((0, 4)), np.zeros((0, 4)), [])], 'iou', 0.5)
    assert m['f1'] == 0.0 and m['n_gt'] == 0


def test_bad_protocol():
    with pytest.raises(ValueError, match='lesion protocol'):
        lesion_metrics(FRAMES, 'centre', 0.5)
