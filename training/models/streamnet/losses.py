"""YOLOX detection losses with StreamYOLO's Trend-Aware Loss weights (spec §4.3-4.4).

L_det = 5 * L_iou + L_obj + L_cls + L_l1, each summed and divided by num_fg (positives in the
batch, at least 1). TAL weights each positive by how fast its GT moved between frame t
(support GT) and t+1 (target GT); without support GT the weights are all 1 (plain YOLOX).
"""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F

from ..box_ops import bboxes_iou_cxcywh, iou_loss_cxcywh
from .distill import distillation_losses
from .head import decode_boxes, flatten_outputs, make_grids
from .simota import simota_assign

REG_WEIGHT = 5.0


def tal_gt_weights(gt_next_cxcywh: torch.Tensor, gt_support_cxcywh: torch.Tensor,
                   tau: float, nu: float, gamma: float = 1.0) -> torch.Tensor:
    """Raw TAL weight per target GT: 1 / (m**gamma + 1e-8), m = best IoU with a frame-t GT.

    m < tau (a new or unmatched object) is replaced by nu (> 1, so a *lower* weight); with no
    GT at frame t every m is 1. Returns [G].
    """
    g = gt_next_cxcywh.shape[0]
    if gt_support_cxcywh.shape[0] == 0:
        m = gt_next_cxcywh.new_ones(g)
    else:
        m = bboxes_iou_cxcywh(gt_next_cxcywh, gt_support_cxcywh).max(dim=1).values   # [G]
        m = torch.where(m < tau, torch.full_like(m, nu), m)
    return 1.0 / (m ** gamma + 1e-8)


def renormalise(weights: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
    """w_hat = w * sum(L) / sum(w * L), detached: TAL reshapes the loss but keeps its total."""
    with torch.no_grad():
        return weights * losses.sum() / (weights * losses).sum().clamp(min=1e-12)


def l1_target(gt_cxcywh: torch.Tensor, grid_xy: torch.Tensor, stride: torch.Tensor):
    """Targets for the raw reg outputs: (cx/s - gx, cy/s - gy, log(w/s), log(h/s))."""
    xy = gt_cxcywh[:, :2] / stride - grid_xy
    wh = torch.log(gt_cxcywh[:, 2:4] / stride + 1e-8)
    return torch.cat([xy, wh], 1)


def num_labels(targets: torch.Tensor) -> torch.Tensor:
    """YOLOX convention: a row is a label when its 5 values do not sum to 0. targets [B, M, 5]."""
    return (targets.sum(dim=2) > 0).sum(dim=1)


def detection_losses(outs: Sequence[torch.Tensor], strides: Sequence[int],
                     targets: torch.Tensor, support_targets: Optional[torch.Tensor] = None,
                     teacher_outputs: Optional[Dict[str, torch.Tensor]] = None,
                     kd_weight: float = 0.0, tal_tau: float = 0.5, tal_nu: float = 1.5,
                     use_l1: bool = True) -> Dict[str, torch.Tensor]:
    """YOLOX / TALHead losses (+ AK-distillation when ``teacher_outputs`` is given).

    Args:
        outs: raw head maps per level [B, 5+C, H_l, W_l] (reg, obj, cls).
        targets: [B, M, 5] (cls, cx, cy, w, h) in input pixels, zero rows are padding; the GT
            of the frame being predicted (t+1 for StreamNet).
        support_targets: same format, GT of frame t; enables TAL weights.
        teacher_outputs: {'boxes' [B, A, 4] cxcywh pixels, 'obj_logits' [B, A, 1],
            'cls_logits' [B, A, C]} of the frozen still teacher on frame t+1.
    Returns:
        dict with total_loss, iou_loss, obj_loss, cls_loss, l1_loss, kd_cls_loss,
        kd_obj_loss, kd_reg_loss (unweighted by 5.0, weighted by kd_weight), num_fg.
    """
    # fp32 under AMP too: fp16 box areas overflow above 256x256 px (600x960 inputs).
    flat = flatten_outputs(outs).float()                                # [B, A, 5+C]
    b, a, _ = flat.shape
    num_classes = flat.shape[2] - 5
    grid_xy, stride = make_grids([tuple(o.shape[-2:]) for o in outs], strides,
                                 flat.dtype, flat.device)
    raw_reg = flat[..., :4]
    boxes = decode_boxes(raw_reg, grid_xy, stride)                      # [B, A, 4]
    obj_logits, cls_logits = flat[..., 4:5], flat[..., 5:]
    if targets.dim() != 3 or targets.shape[0] != b or targets.shape[2] != 5:
        raise ValueError(f'targets: expected [B={b}, max_labels, 5] (cls, cx, cy, w, h), got '
                         f'{tuple(targets.shape)}')
    n_gt = num_labels(targets).tolist()
    n_sup = num_labels(support_targets).tolist() if support_targets is not None else None
    cls_t, reg_t, l1_t, w_t, obj_t, fg_masks = [], [], [], [], [], []
    num_fg = 0
    for i in range(b):
        g = int(n_gt[i])
        fg = torch.zeros(a, dtype=torch.bool, device=flat.device)
        if g > 0:
            gt = targets[i, :g, 1:5].float()
            gt_cls = targets[i, :g, 0]
            asg = simota_assign(gt, gt_cls, boxes[i].detach(), cls_logits[i].detach(),
                                obj_logits[i].detach(), grid_xy, stride, num_classes)
            fg = asg.fg_mask
            num_fg += asg.num_fg
            cls_t.append(F.one_hot(asg.matched_classes, num_classes).to(flat.dtype)
                         * asg.matched_ious[:, None].to(flat.dtype))
            reg_t.append(gt[asg.matched_gt_inds])
            l1_t.append(l1_target(gt[asg.matched_gt_inds], grid_xy[fg], stride[fg]))
            if n_sup is not None:
                sup = support_targets[i, :int(n_sup[i]), 1:5].float()
                w_gt = tal_gt_weights(gt, sup, tal_tau, tal_nu)
            else:
                w_gt = gt.new_ones(g)
            w_t.append(w_gt[asg.matched_gt_inds])
        fg_masks.append(fg)
        obj_t.append(fg.to(flat.dtype))
    fg_all = torch.cat(fg_masks)                                        # [B*A]
    obj_t = torch.cat(obj_t)[:, None]                                   # [B*A, 1]
    cat = (lambda ts, n: torch.cat(ts) if ts else flat.new_zeros((0, n)))
    cls_t, reg_t, l1_t = cat(cls_t, num_classes), cat(reg_t, 4), cat(l1_t, 4)
    w_t = torch.cat(w_t) if w_t else flat.new_zeros(0)
    denom = max(num_fg, 1)

    iou_each = iou_loss_cxcywh(boxes.reshape(-1, 4)[fg_all], reg_t)    # [F]
    w_iou = renormalise(w_t, iou_each) if n_sup is not None else torch.ones_like(iou_each)
    loss_iou = (w_iou * iou_each).sum() / denom
    loss_obj = F.binary_cross_entropy_with_logits(obj_logits.reshape(-1, 1), obj_t,
                                                  reduction='sum') / denom
    loss_cls = F.binary_cross_entropy_with_logits(cls_logits.reshape(-1, num_classes)[fg_all],
                                                  cls_t, reduction='sum') / denom
    if use_l1:
        l1_each = (raw_reg.reshape(-1, 4)[fg_all] - l1_t).abs()         # [F, 4]
        w4 = w_t[:, None].expand_as(l1_each)
        w_l1 = renormalise(w4, l1_each) if n_sup is not None else torch.ones_like(l1_each)
        loss_l1 = (w_l1 * l1_each).sum() / denom
    else:
        loss_l1 = flat.new_zeros(())
    losses = {'iou_loss': loss_iou, 'obj_loss': loss_obj, 'cls_loss': loss_cls,
              'l1_loss': loss_l1}
    total = REG_WEIGHT * loss_iou + loss_obj + loss_cls + loss_l1
    if teacher_outputs is not None:
        kd = distillation_losses(
            cls_logits, obj_logits, boxes.reshape(-1, 4)[fg_all], teacher_outputs,
            fg_all, w_iou, denom, kd_weight)
        losses.update(kd)
        total = total + kd['kd_cls_loss'] + kd['kd_obj_loss'] + kd['kd_reg_loss']
    losses['total_loss'] = total
    losses['num_fg'] = torch.tensor(float(num_fg), device=flat.device)
    return losses
