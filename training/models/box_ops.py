"""Box utilities in torch (replace torchvision.ops); the box format is in every name.

Copied in spirit from DETR's util/box_ops.py; the YOLOX-style element-wise IoU lives here too so
that SimOTA, the IoU loss and the DETR matcher share one implementation.
"""
import torch


def box_cxcywh_to_xyxy(boxes_cxcywh: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = boxes_cxcywh.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def box_xyxy_to_cxcywh(boxes_xyxy: torch.Tensor) -> torch.Tensor:
    x0, y0, x1, y1 = boxes_xyxy.unbind(-1)
    return torch.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], dim=-1)


def box_area_xyxy(boxes_xyxy: torch.Tensor) -> torch.Tensor:
    return (boxes_xyxy[..., 2] - boxes_xyxy[..., 0]) * (boxes_xyxy[..., 3] - boxes_xyxy[..., 1])


def box_iou_xyxy(boxes1: torch.Tensor, boxes2: torch.Tensor):
    """Pairwise IoU. boxes1 [N, 4], boxes2 [M, 4] xyxy -> (iou [N, M], union [N, M])."""
    area1, area2 = box_area_xyxy(boxes1), box_area_xyxy(boxes2)
    lt = torch.max(boxes1[:, None, :2], boxes2[None, :, :2])   # [N, M, 2]
    rb = torch.min(boxes1[:, None, 2:], boxes2[None, :, 2:])   # [N, M, 2]
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area1[:, None] + area2[None, :] - inter
    return inter / union, union


def generalized_box_iou_xyxy(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Pairwise GIoU (Rezatofighi et al. 2019). boxes1 [N, 4], boxes2 [M, 4] xyxy -> [N, M]."""
    if not (boxes1[:, 2:] >= boxes1[:, :2]).all() or not (boxes2[:, 2:] >= boxes2[:, :2]).all():
        raise ValueError('generalized_box_iou_xyxy: boxes must have x2 >= x1 and y2 >= y1')
    iou, union = box_iou_xyxy(boxes1, boxes2)
    lt = torch.min(boxes1[:, None, :2], boxes2[None, :, :2])
    rb = torch.max(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    area = wh[..., 0] * wh[..., 1]
    return iou - (area - union) / area


def bboxes_iou_cxcywh(boxes1: torch.Tensor, boxes2: torch.Tensor, pairwise: bool = True,
                      eps: float = 0.0):
    """YOLOX ``bboxes_iou(xyxy=False)``: IoU of cxcywh boxes, pairwise [N, M] or element-wise [N].

    Like YOLOX, an empty intersection gives exactly 0 (the ``en`` mask), not a negative area.
    ``eps`` is added to the union (YOLOX's IOUloss uses 1e-16; bboxes_iou none).
    """
    if pairwise:
        b1, b2 = boxes1[:, None, :], boxes2[None, :, :]
    else:
        b1, b2 = boxes1, boxes2
    tl = torch.max(b1[..., :2] - b1[..., 2:] / 2, b2[..., :2] - b2[..., 2:] / 2)
    br = torch.min(b1[..., :2] + b1[..., 2:] / 2, b2[..., :2] + b2[..., 2:] / 2)
    area1 = b1[..., 2] * b1[..., 3]
    area2 = b2[..., 2] * b2[..., 3]
    en = (tl < br).type(tl.dtype).prod(dim=-1)
    inter = torch.prod(br - tl, -1) * en
    return inter / (area1 + area2 - inter + eps)


def iou_loss_cxcywh(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """YOLOX ``IOUloss(loss_type='iou')``: 1 - IoU**2, element-wise over [N, 4] cxcywh boxes."""
    return 1 - bboxes_iou_cxcywh(pred, target, pairwise=False, eps=1e-16) ** 2
