"""DETR-family set criterion: softmax CE with no-object weight or sigmoid focal; L1; GIoU; aux."""
from typing import Dict, List, Optional

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from ..box_ops import box_cxcywh_to_xyxy, generalized_box_iou_xyxy
from .matcher import HungarianMatcher


def sigmoid_focal_loss(logits: torch.Tensor, targets: torch.Tensor, num_boxes: float,
                       alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """Deformable DETR's focal loss: logits/targets [B, Q, C] -> mean over Q, sum, / num_boxes."""
    prob = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction='none')
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.mean(1).sum() / num_boxes


class SetCriterion(nn.Module):
    """Hungarian loss on the final output, every ``aux_outputs`` entry and ``enc_outputs``.

    Args:
        num_classes: C (softmax adds the no-object column C itself; sigmoid has C columns).
        matcher: the HungarianMatcher (its ``focal`` flag should equal ``focal`` here).
        focal: sigmoid focal classification (Deformable/SAM-DETR) instead of softmax CE (DETR).
        eos_coef: the no-object class weight for softmax CE (DETR 0.1).
        weights: {'loss_ce', 'loss_bbox', 'loss_giou'}: DETR 1/5/2, focal models 2/5/2.

    ``forward(outputs, targets)`` returns the *weighted* losses: keys ``loss_ce``, ``loss_bbox``,
    ``loss_giou`` for the final layer, with suffix ``_{i}`` for aux layer i and ``_enc`` for the
    two-stage proposals; their sum is the detection loss.
    """

    def __init__(self, num_classes: int, matcher: HungarianMatcher, focal: bool = False,
                 eos_coef: float = 0.1, weights: Optional[Dict[str, float]] = None,
                 alpha: float = 0.25, gamma: float = 2.0):
        super().__init__()
        self.num_classes = num_classes
        self.matcher = matcher
        self.focal, self.alpha, self.gamma = focal, alpha, gamma
        default = {'loss_ce': 2.0 if focal else 1.0, 'loss_bbox': 5.0, 'loss_giou': 2.0}
        self.weight_dict = dict(default, **(weights or {}))
        empty_weight = torch.ones(num_classes + 1)
        empty_weight[-1] = eos_coef
        self.register_buffer('empty_weight', empty_weight)

    @staticmethod
    def _src_idx(indices):
        batch = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
        return batch, torch.cat([src for src, _ in indices])

    def loss_labels(self, outputs, targets, indices, num_boxes: float) -> torch.Tensor:
        logits = outputs['pred_logits']                                   # [B, Q, C']
        idx = self._src_idx(indices)
        matched = torch.cat([t['labels'][j] for t, (_, j) in zip(targets, indices)]).to(
            logits.device)
        target_classes = torch.full(logits.shape[:2], self.num_classes, dtype=torch.int64,
                                    device=logits.device)
        target_classes[idx] = matched
        if not self.focal:
            return F.cross_entropy(logits.transpose(1, 2), target_classes,
                                   self.empty_weight.to(logits.dtype))
        onehot = torch.zeros(logits.shape[0], logits.shape[1], logits.shape[2] + 1,
                             dtype=logits.dtype, device=logits.device)
        onehot.scatter_(2, target_classes.unsqueeze(-1), 1)
        return sigmoid_focal_loss(logits, onehot[..., :-1], num_boxes, self.alpha,
                                  self.gamma) * logits.shape[1]

    def loss_boxes(self, outputs, targets, indices, num_boxes: float):
        idx = self._src_idx(indices)
        src = outputs['pred_boxes'][idx]                                  # [M, 4]
        tgt = torch.cat([t['boxes'][j] for t, (_, j) in zip(targets, indices)]).to(src)
        l1 = F.l1_loss(src, tgt, reduction='none').sum() / num_boxes
        if len(src) == 0:
            return l1, src.sum() * 0
        giou = torch.diag(generalized_box_iou_xyxy(box_cxcywh_to_xyxy(src),
                                                   box_cxcywh_to_xyxy(tgt)))
        return l1, (1 - giou).sum() / num_boxes

    def _single(self, outputs, targets, num_boxes: float, suffix: str) -> Dict[str, torch.Tensor]:
        indices = self.matcher(outputs, targets)
        ce = self.loss_labels(outputs, targets, indices, num_boxes)
        l1, giou = self.loss_boxes(outputs, targets, indices, num_boxes)
        w = self.weight_dict
        return {'loss_ce' + suffix: w['loss_ce'] * ce, 'loss_bbox' + suffix: w['loss_bbox'] * l1,
                'loss_giou' + suffix: w['loss_giou'] * giou}

    def num_boxes(self, targets, device) -> float:
        """GT count over the batch, averaged over DDP workers, clamped >= 1."""
        n = torch.as_tensor([float(sum(len(t['labels']) for t in targets))], device=device)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(n)
            n = n / dist.get_world_size()
        return max(float(n.item()), 1.0)

    def forward(self, outputs: Dict, targets: List[Dict[str, torch.Tensor]]):
        """outputs: 'pred_logits', 'pred_boxes', optional 'aux_outputs' (list of the same) and
        'enc_outputs'; targets: per image {'labels' [n] int64, 'boxes' [n, 4] cxcywh}."""
        num_boxes = self.num_boxes(targets, outputs['pred_logits'].device)
        losses = self._single(outputs, targets, num_boxes, '')
        for i, aux in enumerate(outputs.get('aux_outputs', [])):
            losses.update(self._single(aux, targets, num_boxes, f'_{i}'))
        if 'enc_outputs' in outputs:
            binary = [dict(t, labels=torch.zeros_like(t['labels'])) for t in targets]
            losses.update(self._single(outputs['enc_outputs'], binary, num_boxes, '_enc'))
        return losses
