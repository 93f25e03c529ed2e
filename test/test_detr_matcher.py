"""Matcher and criterion against hand-made cases computed with numpy."""
import math

import numpy as np
import torch

from training.models.detr.criterion import SetCriterion
from training.models.detr.matcher import HungarianMatcher


def np_giou(a, b):
    """a, b: xyxy."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    union = area(a) + area(b) - inter
    c = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
    return inter / union - (c - union) / c


def xyxy(b):
    cx, cy, w, h = b
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


PRED_BOXES = [[0.3, 0.3, 0.2, 0.2], [0.7, 0.6, 0.3, 0.2]]
GT_BOXES = [[0.68, 0.62, 0.28, 0.2], [0.32, 0.28, 0.2, 0.24]]
LOGITS = [[2.0, 0.5, -1.0], [0.1, 1.5, 0.0]]          # 2 classes + no-object
LABELS = [1, 0]


def hand_cost(focal: bool):
    cost = np.zeros((2, 2))
    for i in range(2):
        z = np.array(LOGITS[i])
        for j in range(2):
            if focal:
                p = 1 / (1 + math.exp(-z[LABELS[j]]))
                c_cls = 0.25 * (1 - p) ** 2 * -math.log(p + 1e-8) \
                    - 0.75 * p ** 2 * -math.log(1 - p + 1e-8)
                w = 2.0
            else:
                c_cls = -np.exp(z[LABELS[j]]) / np.exp(z).sum()
                w = 1.0
            l1 = np.abs(np.array(PRED_BOXES[i]) - np.array(GT_BOXES[j])).sum()
            cost[i, j] = w * c_cls + 5 * l1 - 2 * np_giou(xyxy(PRED_BOXES[i]), xyxy(GT_BOXES[j]))
    return cost


def outputs_targets(focal=False):
    logits = torch.tensor([LOGITS])
    if focal:
        logits = logits[..., :2].contiguous()
    out = {'pred_logits': logits, 'pred_boxes': torch.tensor([PRED_BOXES])}
    tgt = [{'labels': torch.tensor(LABELS), 'boxes': torch.tensor(GT_BOXES)}]
    return out, tgt


def test_softmax_cost_and_assignment_by_hand():
    out, tgt = outputs_targets()
    m = HungarianMatcher(1, 5, 2)
    cost = m.cost_matrix(out['pred_logits'][0], out['pred_boxes'][0], tgt[0]['labels'],
                         tgt[0]['boxes'])
    hand = hand_cost(False)
    assert np.abs(cost.numpy() - hand).max() < 1e-5
    # 2x2: the better of the two permutations, by hand
    best = [0, 1] if hand[0, 0] + hand[1, 1] < hand[0, 1] + hand[1, 0] else [1, 0]
    (qi, gi), = m(out, tgt)
    assert dict(zip(qi.tolist(), gi.tolist())) == dict(zip([0, 1], best)) == {0: 1, 1: 0}


def test_focal_cost_by_hand():
    out, tgt = outputs_targets(focal=True)
    m = HungarianMatcher(2, 5, 2, focal=True)
    cost = m.cost_matrix(out['pred_logits'][0], out['pred_boxes'][0], tgt[0]['labels'],
                         tgt[0]['boxes'])
    assert np.abs(cost.numpy() - hand_cost(True)).max() < 1e-5


def test_empty_targets_give_empty_indices():
    out, _ = outputs_targets()
    (qi, gi), = HungarianMatcher()(out, [{'labels': torch.zeros(0, dtype=torch.int64),
                                          'boxes': torch.zeros(0, 4)}])
    assert len(qi) == len(gi) == 0


def test_softmax_criterion_by_hand():
    out, tgt = outputs_targets()
    crit = SetCriterion(2, HungarianMatcher(1, 5, 2), focal=False, eos_coef=0.1)
    losses = crit(out, tgt)
    # matching: query 0 -> gt 1 (label 0), query 1 -> gt 0 (label 1)
    z = np.array(LOGITS)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    ce = -(logp[0, 0] + logp[1, 1]) / 2.0                     # both weights 1
    l1 = (np.abs(np.array(PRED_BOXES[0]) - GT_BOXES[1]).sum()
          + np.abs(np.array(PRED_BOXES[1]) - GT_BOXES[0]).sum()) / 2
    giou = ((1 - np_giou(xyxy(PRED_BOXES[0]), xyxy(GT_BOXES[1])))
            + (1 - np_giou(xyxy(PRED_BOXES[1]), xyxy(GT_BOXES[0])))) / 2
    assert abs(losses['loss_ce'].item() - ce) < 1e-5
    assert abs(losses['loss_bbox'].item() - 5 * l1) < 1e-5
    assert abs(losses['loss_giou'].item() - 2 * giou) < 1e-5


def test_no_object_weight_and_aux_layers():
    out, tgt = outputs_targets()
    out['aux_outputs'] = [dict(out)]
    # only one GT: the unmatched query is "no object" with weight eos_coef
    tgt = [{'labels': torch.tensor([0]), 'boxes': torch.tensor([GT_BOXES[1]])}]
    losses = SetCriterion(2, HungarianMatcher(1, 5, 2), eos_coef=0.1)(out, tgt)
    z = np.array(LOGITS)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    ce = -(1.0 * logp[0, 0] + 0.1 * logp[1, 2]) / 1.1
    assert abs(losses['loss_ce'].item() - ce) < 1e-5
    assert abs(losses['loss_ce_0'].item() - ce) < 1e-5
    assert set(losses) == {'loss_ce', 'loss_bbox', 'loss_giou', 'loss_ce_0', 'loss_bbox_0',
                           'loss_giou_0'}


def test_focal_criterion_by_hand():
    out, tgt = outputs_targets(focal=True)
    losses = SetCriterion(2, HungarianMatcher(2, 5, 2, focal=True), focal=True)(out, tgt)
    indices = HungarianMatcher(2, 5, 2, focal=True)(out, tgt)[0]
    target = np.zeros((2, 2))
    for q, g in zip(*[t.tolist() for t in indices]):
        target[q, LABELS[g]] = 1
    z = np.array(LOGITS)[:, :2]
    p = 1 / (1 + np.exp(-z))
    ce = -(target * np.log(p) + (1 - target) * np.log(1 - p))
    pt = p * target + (1 - p) * (1 - target)
    at = 0.25 * target + 0.75 * (1 - target)
    focal = (at * ce * (1 - pt) ** 2).sum() / 2               # num_boxes = 2
    assert abs(losses['loss_ce'].item() - 2 * focal) < 1e-5
