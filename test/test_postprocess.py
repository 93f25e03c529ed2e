"""Network outputs -> detections: YOLOX against a per-anchor loop, DETR heads against the
published PostProcess code (written here in torch, as in the DETR / Deformable DETR repos)."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from test_nms import _naive_nms
from video_perception.letterbox import letterbox_transform
from video_perception.postprocess import decode_detr_sigmoid, decode_detr_softmax, decode_yolox


def _naive_yolox(pred, thr, nms_iou, max_det):
    """YOLOX postprocess one anchor at a time."""
    cand = []
    for a, row in enumerate(pred.tolist()):
        cls = row[5:]
        best = max(range(len(cls)), key=lambda c: (cls[c], -c))     # first index on ties
        score = float(np.float32(row[4]) * np.float32(cls[best]))
        if score >= thr:
            cx, cy, w, h = row[:4]
            cand.append(((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), score, best))
    kept = _naive_nms([c[0] for c in cand], [c[1] for c in cand], [c[2] for c in cand],
                      nms_iou, max_det)
    return [cand[i] for i in kept]


def test_yolox_hand_case():
    pred = np.array([[[50, 50, 20, 20, 0.9, 0.1, 0.8],      # score 0.72, class 1
                      [52, 50, 20, 20, 0.8, 0.1, 0.7],      # 0.56 class 1, IoU 0.82 -> dropped
                      [52, 50, 20, 20, 0.9, 0.6, 0.1],      # 0.54 class 0, kept (other class)
                      [10, 10, 4, 4, 0.5, 0.3, 0.2]]],      # 0.15 < 0.2
                    np.float32)
    dets = decode_yolox(pred, score_threshold=0.2, nms_iou=0.65, max_detections=100)
    assert dets.class_ids.tolist() == [1, 0]
    np.testing.assert_allclose(dets.scores, [0.72, 0.54], rtol=1e-6)
    np.testing.assert_allclose(dets.boxes_xyxy, [[40, 40, 60, 60], [42, 40, 62, 60]])
    t = letterbox_transform(100, 200, 64, 64, 'center')        # 64 x 32 at y 16, scale 0.32
    back = decode_yolox(pred[0], 0.2, 0.65, 100, transform=t)
    np.testing.assert_allclose(back.boxes_xyxy[1], [42 / 0.32, 24 / 0.32, 62 / 0.32, 100],
                               rtol=1e-5)                      # y2 = 137.5 clipped to 100


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10 ** 6), anchors=st.integers(0, 60), classes=st.integers(1, 4),
       thr=st.sampled_from([0.0, 0.05, 0.3]), max_det=st.integers(1, 30))
def test_yolox_matches_per_anchor_loop(seed, anchors, classes, thr, max_det):
    rng = np.random.default_rng(seed)
    pred = np.concatenate([rng.integers(5, 60, (anchors, 2)), rng.integers(1, 30, (anchors, 2)),
                           rng.choice([0.2, 0.5, 0.9, 1.0], (anchors, 1 + classes))],
                          axis=1).astype(np.float32)[None]            # [1, A, 5 + C], ties
    dets = decode_yolox(pred, thr, 0.5, max_det)
    want = _naive_yolox(pred[0], thr, 0.5, max_det)
    assert dets.class_ids.tolist() == [w[2] for w in want]
    np.testing.assert_allclose(dets.scores, [w[1] for w in want], rtol=1e-6)
    np.testing.assert_allclose(dets.boxes_xyxy, np.array([w[0] for w in want]).reshape(-1, 4),
                               atol=1e-4)


def _box_cxcywh_to_xyxy(x):
    x_c, y_c, w, h = x.unbind(-1)
    return torch.stack([x_c - 0.5 * w, y_c - 0.5 * h, x_c + 0.5 * w, y_c + 0.5 * h], dim=-1)


def _detr_postprocess(logits, boxes, w, h):
    """DETR ``PostProcess.forward`` for one image of size (h, w)."""
    prob = torch.nn.functional.softmax(logits, -1)
    scores, labels = prob[..., :-1].max(-1)
    xyxy = _box_cxcywh_to_xyxy(boxes) * torch.tensor([w, h, w, h], dtype=torch.float32)
    return scores[0], labels[0], xyxy[0]


def _deformable_postprocess(logits, boxes, w, h, k=100):
    """Deformable DETR ``PostProcess.forward`` for one image of size (h, w)."""
    prob = logits.sigmoid()
    topk_values, topk_indexes = torch.topk(prob.view(logits.shape[0], -1), k, dim=1)
    topk_boxes = topk_indexes // logits.shape[2]
    labels = topk_indexes % logits.shape[2]
    xyxy = torch.gather(_box_cxcywh_to_xyxy(boxes), 1, topk_boxes.unsqueeze(-1).repeat(1, 1, 4))
    xyxy = xyxy * torch.tensor([w, h, w, h], dtype=torch.float32)
    return topk_values[0], labels[0], xyxy[0]


@pytest.mark.parametrize('seed', range(5))
def test_detr_softmax_matches_reference(seed):
    g = torch.Generator().manual_seed(seed)
    logits, boxes = torch.randn(1, 30, 4, generator=g) * 3, torch.rand(1, 30, 4, generator=g)
    scores, labels, xyxy = _detr_postprocess(logits, boxes, 160, 96)
    thr, max_det = 0.4, 7
    dets = decode_detr_softmax(logits.numpy(), boxes.numpy(), 160, 96, thr, max_det)
    order = torch.argsort(scores, descending=True)
    order = order[scores[order] >= thr][:max_det]
    assert len(dets) == len(order) and len(order) > 0
    np.testing.assert_allclose(dets.scores, scores[order].numpy(), rtol=1e-5)
    assert dets.class_ids.tolist() == labels[order].tolist()
    np.testing.assert_allclose(dets.boxes_xyxy, xyxy[order].numpy(), atol=1e-3)


@pytest.mark.parametrize('seed', range(5))
def test_detr_sigmoid_matches_reference(seed):
    g = torch.Generator().manual_seed(seed)
    logits, boxes = torch.randn(1, 50, 3, generator=g) * 2, torch.rand(1, 50, 4, generator=g)
    k, thr = 20, 0.6
    values, labels, xyxy = _deformable_postprocess(logits, boxes, 160, 96, k)
    keep = values >= thr
    dets = decode_detr_sigmoid(logits.numpy()[0], boxes.numpy()[0], 160, 96, thr, k)
    assert len(dets) == int(keep.sum()) > 0
    np.testing.assert_allclose(dets.scores, values[keep].numpy(), rtol=1e-5)
    assert dets.class_ids.tolist() == labels[keep].tolist()
    np.testing.assert_allclose(dets.boxes_xyxy, xyxy[keep].numpy(), atol=1e-3)


def test_detr_hand_cases():
    # softmax over [2, 0, 0] -> class 0 with e^2 / (e^2 + 2); the no-object query is dropped
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 5.0]], np.float32)
    boxes = np.array([[0.5, 0.5, 0.5, 0.25], [0.1, 0.1, 0.1, 0.1]], np.float32)
    d = decode_detr_softmax(logits, boxes, 200, 100, 0.5, 10)
    assert d.class_ids.tolist() == [0]
    assert d.scores[0] == pytest.approx(math.exp(2) / (math.exp(2) + 2), rel=1e-6)
    np.testing.assert_allclose(d.boxes_xyxy, [[50, 37.5, 150, 62.5]])
    # sigmoid: one query can yield two classes; k = 2 cuts the third score
    s = decode_detr_sigmoid(np.array([[3.0, 2.0], [1.0, -9.0]], np.float32),
                            np.array([[0.5, 0.5, 0.2, 0.2], [0.2, 0.2, 0.1, 0.1]], np.float32),
                            100, 100, 0.1, 2)
    assert s.class_ids.tolist() == [0, 1]
    np.testing.assert_allclose(s.scores, [1 / (1 + math.exp(-3)), 1 / (1 + math.exp(-2))],
                               rtol=1e-6)
    np.testing.assert_allclose(s.boxes_xyxy, [[40, 40, 60, 60]] * 2)


def test_bad_shapes():
    with pytest.raises(ValueError, match='batch'):
        decode_yolox(np.zeros((2, 5, 7), np.float32))
    with pytest.raises(ValueError, match='5 \\+ C'):
        decode_yolox(np.zeros((5, 5), np.float32))
    with pytest.raises(ValueError, match='pred_boxes|logits'):
        decode_detr_softmax(np.zeros((3, 3)), np.zeros((4, 4)), 10, 10)
