"""Torch reference post-processing per output kind (mirrors video_perception/postprocess.py).

* ``detr_softmax`` (DETR): softmax, drop the no-object column, score/label = max over classes,
  one detection per query.
* ``detr_sigmoid`` (Deformable DETR, SAM-DETR, the V2I teacher): sigmoid, top-k over all
  (query x class) scores; the box of a flat index is index // C, the label index % C.

Boxes come back as xyxy in pixels of ``target_sizes`` (h, w) per image. No NMS.
"""
from typing import Dict, List

import torch

from ..box_ops import box_cxcywh_to_xyxy

KINDS = ('detr_softmax', 'detr_sigmoid')


@torch.no_grad()
def postprocess(pred_logits: torch.Tensor, pred_boxes: torch.Tensor, kind: str,
                target_sizes: torch.Tensor, top_k: int = 100) -> List[Dict[str, torch.Tensor]]:
    """pred_logits [B, Q, C'], pred_boxes [B, Q, 4] normalised cxcywh, target_sizes [B, 2] (h, w)
    -> per image {'scores' [K], 'labels' [K], 'boxes' [K, 4] xyxy pixels}, by descending score
    for ``detr_sigmoid`` and in query order for ``detr_softmax``."""
    if kind not in KINDS:
        raise ValueError(f'output kind {kind!r}: expected one of {KINDS}')
    b, q, c = pred_logits.shape
    if kind == 'detr_softmax':
        scores, labels = pred_logits.softmax(-1)[..., :-1].max(-1)
        boxes = box_cxcywh_to_xyxy(pred_boxes)
    else:
        prob = pred_logits.sigmoid().view(b, -1)
        scores, flat = prob.topk(min(top_k, q * c), dim=1)
        labels = flat % c
        boxes = torch.gather(box_cxcywh_to_xyxy(pred_boxes), 1,
                             (flat // c)[..., None].expand(-1, -1, 4))
    h, w = target_sizes.to(boxes).unbind(1)
    boxes = boxes * torch.stack([w, h, w, h], 1)[:, None]
    return [{'scores': s, 'labels': lab, 'boxes': bx} for s, lab, bx in zip(scores, labels, boxes)]
