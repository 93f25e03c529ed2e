"""Hungarian matching between queries and ground truth (v2i_detr.md §1.5, §2, §3.3)."""
from typing import Dict, List, Tuple

import torch
import torch.nn as nn
from scipy.optimize import linear_sum_assignment

from ..box_ops import box_cxcywh_to_xyxy, generalized_box_iou_xyxy


class HungarianMatcher(nn.Module):
    """One-to-one assignment minimising w_cls * C_cls + w_bbox * L1 + w_giou * (-GIoU).

    Args:
        focal: False -> C_cls = -softmax(p)[gt] (DETR, weights 1/5/2); True -> the focal cost of
            Deformable DETR at alpha/gamma (weights 2/5/2).
    """

    def __init__(self, cost_class: float = 1.0, cost_bbox: float = 5.0, cost_giou: float = 2.0,
                 focal: bool = False, alpha: float = 0.25, gamma: float = 2.0):
        super().__init__()
        if cost_class == 0 and cost_bbox == 0 and cost_giou == 0:
            raise ValueError('HungarianMatcher: all costs are 0; expected at least one > 0')
        self.cost_class, self.cost_bbox, self.cost_giou = cost_class, cost_bbox, cost_giou
        self.focal, self.alpha, self.gamma = focal, alpha, gamma

    @torch.no_grad()
    def cost_matrix(self, logits: torch.Tensor, boxes_cxcywh: torch.Tensor,
                    labels: torch.Tensor, gt_cxcywh: torch.Tensor) -> torch.Tensor:
        """One image: logits [Q, C'], boxes [Q, 4], labels [n], gt [n, 4] -> cost [Q, n]."""
        logits = logits.float()
        if self.focal:
            p = logits.sigmoid()
            neg = (1 - self.alpha) * p ** self.gamma * (-(1 - p + 1e-8).log())
            pos = self.alpha * (1 - p) ** self.gamma * (-(p + 1e-8).log())
            c_cls = pos[:, labels] - neg[:, labels]
        else:
            c_cls = -logits.softmax(-1)[:, labels]
        c_l1 = torch.cdist(boxes_cxcywh.float(), gt_cxcywh.float(), p=1)
        c_giou = -generalized_box_iou_xyxy(box_cxcywh_to_xyxy(boxes_cxcywh.float()),
                                           box_cxcywh_to_xyxy(gt_cxcywh.float()))
        return self.cost_bbox * c_l1 + self.cost_class * c_cls + self.cost_giou * c_giou

    @torch.no_grad()
    def forward(self, outputs: Dict[str, torch.Tensor],
                targets: List[Dict[str, torch.Tensor]]) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """outputs: 'pred_logits' [B, Q, C'], 'pred_boxes' [B, Q, 4];
        targets: per image {'labels' [n], 'boxes' [n, 4] cxcywh}.

        Returns per image (query_idx, gt_idx) int64 tensors of equal length min(Q, n).
        """
        logits, boxes = outputs['pred_logits'], outputs['pred_boxes']
        if len(targets) != logits.shape[0]:
            raise ValueError(f'HungarianMatcher: {len(targets)} targets for a batch of '
                             f'{logits.shape[0]}; expected one dict per image')
        indices = []
        for b, t in enumerate(targets):
            if len(t['labels']) == 0:
                empty = torch.empty(0, dtype=torch.int64)
                indices.append((empty, empty.clone()))
                continue
            cost = self.cost_matrix(logits[b], boxes[b], t['labels'], t['boxes']).cpu()
            qi, gi = linear_sum_assignment(cost.numpy())
            indices.append((torch.as_tensor(qi, dtype=torch.int64),
                            torch.as_tensor(gi, dtype=torch.int64)))
        return indices
