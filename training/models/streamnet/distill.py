"""Asymmetric logits distillation (AK-Distillation, spec §5) from a still teacher on frame t+1.

The released code (``TALHeadODDil.get_losses``) uses MSE on raw class and objectness logits over
all anchors, and a TAL-weighted YOLOX IoU loss (1 - IoU**2, not the paper's GIoU) between the
student's boxes and the teacher's boxes on the student's SimOTA positives. One factor
(S 0.2, M 0.4, L 0.1) multiplies all three terms.
"""
from typing import Dict

import torch
import torch.nn.functional as F

from ..box_ops import iou_loss_cxcywh

KEYS = ('boxes', 'obj_logits', 'cls_logits')


def distillation_losses(student_cls: torch.Tensor, student_obj: torch.Tensor,
                        student_boxes_fg: torch.Tensor, teacher: Dict[str, torch.Tensor],
                        fg_mask: torch.Tensor, weights_fg: torch.Tensor, num_fg: int,
                        kd_weight: float) -> Dict[str, torch.Tensor]:
    """KD terms, each already multiplied by ``kd_weight``.

    Args:
        student_cls: [B, A, C] raw logits; student_obj: [B, A, 1] raw logits.
        student_boxes_fg: [F, 4] decoded cxcywh boxes of the student's positives.
        teacher: dict with KEYS: boxes [B, A, 4] cxcywh pixels, obj_logits [B, A, 1],
            cls_logits [B, A, C] (detached; the teacher is frozen).
        fg_mask: [B*A] bool positives; weights_fg: [F] TAL weights (the L_iou ones).
        num_fg: positives in the batch, at least 1.
    """
    for key in KEYS:
        if key not in teacher:
            raise ValueError(f'teacher_outputs: missing {key!r}; expected keys {KEYS}')
    t_cls = teacher['cls_logits'].detach()
    t_obj = teacher['obj_logits'].detach()
    if t_cls.shape != student_cls.shape or t_obj.shape != student_obj.shape:
        raise ValueError(f'teacher_outputs: cls/obj shapes {tuple(t_cls.shape)}/'
                         f'{tuple(t_obj.shape)}; expected the student\'s '
                         f'{tuple(student_cls.shape)}/{tuple(student_obj.shape)}')
    t_boxes = teacher['boxes'].detach().reshape(-1, 4)[fg_mask]         # [F, 4]
    kd_cls = F.mse_loss(student_cls, t_cls.to(student_cls.dtype))
    kd_obj = F.mse_loss(student_obj, t_obj.to(student_obj.dtype))
    kd_iou = iou_loss_cxcywh(student_boxes_fg, t_boxes.to(student_boxes_fg.dtype))   # [F]
    kd_reg = (weights_fg * kd_iou).sum() / num_fg
    return {'kd_cls_loss': kd_weight * kd_cls, 'kd_obj_loss': kd_weight * kd_obj,
            'kd_reg_loss': kd_weight * kd_reg}
