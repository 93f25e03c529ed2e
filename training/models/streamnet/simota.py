"""SimOTA label assignment, YOLOX 0.3.0 (``get_in_boxes_info``, ``get_assignments``,
``dynamic_k_matching``), one image at a time."""
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..box_ops import bboxes_iou_cxcywh

CENTER_RADIUS = 2.5


class Assignment(NamedTuple):
    fg_mask: torch.Tensor            # [A] bool, positives
    matched_gt_inds: torch.Tensor    # [F] long, GT index of each positive (anchor order)
    matched_classes: torch.Tensor    # [F] long
    matched_ious: torch.Tensor       # [F] IoU(prediction, its GT)
    num_fg: int


def in_boxes_info(gt_cxcywh: torch.Tensor, grid_xy: torch.Tensor, stride: torch.Tensor):
    """Candidate anchors: centre (grid + 0.5) * stride inside a GT box or within +-2.5 strides
    of a GT centre.

    Args:
        gt_cxcywh: [G, 4]; grid_xy: [A, 2] cell indices; stride: [A, 1].
    Returns:
        (is_candidate [A] bool, in_box_and_center [G, M] bool over the M candidates).
    """
    centers = (grid_xy + 0.5) * stride                                 # [A, 2]
    cx, cy = centers[None, :, 0], centers[None, :, 1]                  # [1, A]
    gx, gy = gt_cxcywh[:, 0:1], gt_cxcywh[:, 1:2]                      # [G, 1]
    gw, gh = gt_cxcywh[:, 2:3], gt_cxcywh[:, 3:4]
    box_deltas = torch.stack([cx - (gx - 0.5 * gw), cy - (gy - 0.5 * gh),
                              (gx + 0.5 * gw) - cx, (gy + 0.5 * gh) - cy], 2)
    in_boxes = box_deltas.min(dim=-1).values > 0.0                     # [G, A]
    r = CENTER_RADIUS * stride[None, :, 0]                             # [1, A]
    center_deltas = torch.stack([cx - (gx - r), cy - (gy - r), (gx + r) - cx, (gy + r) - cy], 2)
    in_centers = center_deltas.min(dim=-1).values > 0.0                # [G, A]
    is_candidate = in_boxes.any(0) | in_centers.any(0)                 # [A]
    in_both = in_boxes[:, is_candidate] & in_centers[:, is_candidate]  # [G, M]
    return is_candidate, in_both


def dynamic_k_matching(cost: torch.Tensor, ious: torch.Tensor):
    """Dynamic-k matching on a [G, M] cost and IoU matrix.

    k_g = max(1, int(sum of the top-min(10, M) IoUs of GT g)); each GT takes its k_g
    cheapest candidates; a candidate claimed by several GTs keeps only its argmin-cost GT.

    Returns:
        (fg [M] bool, matched_gt [F] long, matched_ious [F]) over the positives in order.
    """
    matching = torch.zeros_like(cost, dtype=torch.uint8)               # [G, M]
    n_candidate_k = min(10, ious.size(1))
    topk_ious, _ = torch.topk(ious, n_candidate_k, dim=1)
    dynamic_ks = torch.clamp(topk_ious.sum(1).int(), min=1).tolist()
    for g, k in enumerate(dynamic_ks):
        _, pos = torch.topk(cost[g], k=k, largest=False)
        matching[g][pos] = 1
    multi = matching.sum(0) > 1
    if multi.any():
        _, cost_argmin = torch.min(cost[:, multi], dim=0)
        matching[:, multi] = 0
        matching[cost_argmin, multi] = 1
    fg = matching.sum(0) > 0
    matched_gt = matching[:, fg].argmax(0)
    matched_ious = (matching * ious).sum(0)[fg]
    return fg, matched_gt, matched_ious


def simota_cost(gt_classes: torch.Tensor, ious: torch.Tensor, cls_logits: torch.Tensor,
                obj_logits: torch.Tensor, in_both: torch.Tensor, num_classes: int):
    """Cost [G, M] = BCE(sqrt(sig(cls) sig(obj)), one-hot) summed over classes
    + 3 * -log(IoU + 1e-8) + 1e5 * not(in box and in centre region); fp32, no autocast."""
    g, m = ious.shape
    gt_onehot = F.one_hot(gt_classes.long(), num_classes).float()      # [G, C]
    gt_onehot = gt_onehot[:, None, :].expand(g, m, num_classes)
    with torch.autocast(device_type=cls_logits.device.type, enabled=False):
        scores = (cls_logits.float().sigmoid()[None] * obj_logits.float().sigmoid()[None])
        scores = scores.expand(g, m, num_classes).sqrt()
        cls_cost = F.binary_cross_entropy(scores, gt_onehot, reduction='none').sum(-1)
    iou_cost = -torch.log(ious + 1e-8)
    return cls_cost + 3.0 * iou_cost + 100000.0 * (~in_both).float()


@torch.no_grad()
def simota_assign(gt_cxcywh: torch.Tensor, gt_classes: torch.Tensor, pred_cxcywh: torch.Tensor,
                  cls_logits: torch.Tensor, obj_logits: torch.Tensor, grid_xy: torch.Tensor,
                  stride: torch.Tensor, num_classes: int) -> Assignment:
    """Assign positives for one image.

    Args:
        gt_cxcywh: [G, 4] input pixels; gt_classes: [G].
        pred_cxcywh: [A, 4] decoded predictions; cls_logits: [A, C]; obj_logits: [A, 1].
        grid_xy: [A, 2]; stride: [A, 1].
    """
    is_cand, in_both = in_boxes_info(gt_cxcywh, grid_xy, stride)
    if not bool(is_cand.any()):     # every GT outside the image: no positives (YOLOX would fail)
        empty = gt_classes.new_zeros(0).long()
        return Assignment(is_cand, empty, empty, pred_cxcywh.new_zeros(0), 0)
    ious = bboxes_iou_cxcywh(gt_cxcywh.float(), pred_cxcywh[is_cand].float())  # [G, M]
    cost = simota_cost(gt_classes, ious, cls_logits[is_cand], obj_logits[is_cand], in_both,
                       num_classes)
    fg_cand, matched_gt, matched_ious = dynamic_k_matching(cost, ious)
    fg_mask = is_cand.clone()
    fg_mask[is_cand] = fg_cand
    return Assignment(fg_mask, matched_gt, gt_classes[matched_gt].long(), matched_ious,
                      int(fg_cand.sum()))
