"""TFD: target-guided feature distillation (v2i_detr.md §5.3).

A Gaussian heatmap H from the ground-truth boxes (peak 1 at the box centre's feature pixel,
size-adaptive sigma, element-wise max over boxes, all zero on frames without lesions) weights an
L1 distance between the student's and the (detached) teacher's features, in one of two forms:

* ``'paper'`` (default; Eq. 3 of the V2I-DETR paper as written): M = H / ||H||_2 over the map's
  pixels, and the sum over pixels and channels divided by the pixel count N = h w::

    L_TFD = mean_b  sum_{c,x,y} M_b |F_S - F_T| / (h w)

* ``'spec'`` (v2i_detr.md's inference, the earlier default): the peak-1 mask as a weighted mean,
  L_TFD = mean_b sum_{c,x,y} H_b |F_S - F_T| / (C sum_{x,y} H_b + eps).

The paper is explicit about both the L2 normalisation and the 1/N, so it is the default; the
spec's form keeps the loss on the scale of a per-pixel L1 whatever the box sizes and stays a flag
(``tfd_form``) for the comparison.

The mask (``mask``, Table IV's "analysis on the region of FD"): ``'gaussian'`` is TFD (row 5);
``'none'`` is plain feature distillation, Eq. 2 (row 2): no mask, L = sum |F_S - F_T| / (h w);
``'box'`` is FD with the GT mask (row 3): the hard selection of [15], 1 on the feature pixels
inside a GT box and 0 elsewhere, in place of H in the form above.
"""
import math
from typing import Dict, List, Optional, Tuple

import torch

SIGMA_RULES = ('ttfnet', 'centernet', 'simple')
TFD_FORMS = ('paper', 'spec')
FD_MASKS = ('gaussian', 'box', 'none')


def centernet_radius(h: float, w: float, min_overlap: float = 0.7) -> float:
    """CornerNet/CenterNet ``gaussian_radius`` (min of the three quadratic solutions)."""
    b1, c1 = h + w, w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (h + w), (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def box_sigmas(bw: float, bh: float, rule: str = 'ttfnet', alpha: float = 0.54) -> Tuple[float,
                                                                                         float]:
    """(sigma_x, sigma_y) in feature pixels for a box of bw x bh feature pixels."""
    if rule == 'ttfnet':
        return (2 * alpha * bw / 2 + 1) / 6, (2 * alpha * bh / 2 + 1) / 6
    if rule == 'centernet':
        r = max(0.0, math.floor(centernet_radius(bh, bw)))
        return (2 * r + 1) / 6, (2 * r + 1) / 6
    if rule == 'simple':
        return max(bw / 6, 1e-3), max(bh / 6, 1e-3)
    raise ValueError(f'TFD sigma rule {rule!r}: expected one of {SIGMA_RULES}')


def gaussian_mask(boxes_cxcywh: torch.Tensor, height: int, width: int, rule: str = 'ttfnet',
                  alpha: float = 0.54, valid_hw: Optional[Tuple[float, float]] = None,
                  box_norm: bool = False) -> torch.Tensor:
    """One image's mask [h, w] from boxes [n, 4] normalised cxcywh (relative to the valid image,
    which covers ``valid_hw`` feature pixels; the whole map by default). The Gaussian of a box is
    centred on the feature pixel holding its centre, so the mask is exactly 1 there.
    ``box_norm`` divides each Gaussian by its mass before the max (FGD-style option, so large
    lesions do not dominate; the peak is then no longer 1)."""
    mask = torch.zeros(height, width)
    vh, vw = valid_hw if valid_hw is not None else (height, width)
    ys = torch.arange(height, dtype=torch.float32)[:, None]
    xs = torch.arange(width, dtype=torch.float32)[None, :]
    for cx, cy, bw, bh in boxes_cxcywh.detach().float().cpu().tolist():
        px = min(max(int(math.floor(cx * vw)), 0), width - 1)
        py = min(max(int(math.floor(cy * vh)), 0), height - 1)
        sx, sy = box_sigmas(bw * vw, bh * vh, rule, alpha)
        g = torch.exp(-((xs - px) ** 2 / (2 * sx ** 2) + (ys - py) ** 2 / (2 * sy ** 2)))
        if box_norm:
            g = g / g.sum()
        mask = torch.maximum(mask, g)
    return mask


def box_mask(boxes_cxcywh: torch.Tensor, height: int, width: int,
             valid_hw: Optional[Tuple[float, float]] = None) -> torch.Tensor:
    """One image's hard GT mask [h, w]: 1 on every feature pixel whose centre lies inside a box
    (normalised cxcywh relative to the valid image of ``valid_hw`` feature pixels), else 0."""
    vh, vw = valid_hw if valid_hw is not None else (height, width)
    ys = torch.arange(height, dtype=torch.float32)[:, None] + 0.5
    xs = torch.arange(width, dtype=torch.float32)[None, :] + 0.5
    mask = torch.zeros(height, width)
    for cx, cy, bw, bh in boxes_cxcywh.detach().float().cpu().tolist():
        inside = ((xs >= (cx - bw / 2) * vw) & (xs <= (cx + bw / 2) * vw)
                  & (ys >= (cy - bh / 2) * vh) & (ys <= (cy + bh / 2) * vh))
        mask = torch.maximum(mask, inside.float())
    return mask


def tfd_masks(targets: List[Dict[str, torch.Tensor]], height: int, width: int,
              rule: str = 'ttfnet', alpha: float = 0.54, valid_ratios=None,
              box_norm: bool = False, kind: str = 'gaussian') -> torch.Tensor:
    """Batch masks [B, h, w]; ``valid_ratios`` [B, 2] (w, h) for padded batches; ``kind``
    'gaussian' (TFD) or 'box' (the hard GT mask)."""
    masks = []
    for i, t in enumerate(targets):
        vhw = None
        if valid_ratios is not None:
            vhw = (float(valid_ratios[i, 1]) * height, float(valid_ratios[i, 0]) * width)
        masks.append(box_mask(t['boxes'], height, width, vhw) if kind == 'box' else
                     gaussian_mask(t['boxes'], height, width, rule, alpha, vhw, box_norm))
    return torch.stack(masks)


def tfd_loss(student_feat: torch.Tensor, teacher_feat: torch.Tensor, mask: torch.Tensor,
             eps: float = 1e-6, form: str = 'paper') -> torch.Tensor:
    """student/teacher [B, C, h, w], heatmap [B, h, w] (peak 1) -> scalar (teacher detached);
    ``form`` as in the module docstring."""
    if student_feat.shape != teacher_feat.shape:
        raise ValueError(f'TFD: student feature {list(student_feat.shape)} and teacher feature '
                         f'{list(teacher_feat.shape)} must have the same shape')
    if form not in TFD_FORMS:
        raise ValueError(f'TFD form {form!r}: expected one of {TFD_FORMS}')
    mask = mask.to(student_feat)
    b, c, h, w = student_feat.shape
    if form == 'paper':
        norm = mask.flatten(1).norm(dim=1)                              # [B]; 0 without boxes
        mask = mask / norm.clamp(min=eps)[:, None, None]
    diff = (student_feat - teacher_feat.detach()).abs() * mask[:, None]
    if form == 'paper':
        return (diff.sum((1, 2, 3)) / (h * w)).mean()
    per_image = diff.sum((1, 2, 3)) / (c * mask.sum((1, 2)) + eps)
    return per_image.mean()


class TFDLoss(torch.nn.Module):
    """``TFDLoss()(student_out, teacher_out, targets)``: masks from the targets at the
    features' resolution, then ``tfd_loss`` on ``student_out['features']``."""

    def __init__(self, rule: str = 'ttfnet', alpha: float = 0.54, box_norm: bool = False,
                 form: str = 'paper', mask: str = 'gaussian'):
        super().__init__()
        if mask not in FD_MASKS:
            raise ValueError(f'FD mask {mask!r}: expected one of {FD_MASKS}')
        self.mask = mask
        if rule not in SIGMA_RULES:
            raise ValueError(f'TFD sigma rule {rule!r}: expected one of {SIGMA_RULES}')
        if form not in TFD_FORMS:
            raise ValueError(f'TFD form {form!r}: expected one of {TFD_FORMS}')
        self.rule, self.alpha, self.box_norm, self.form = rule, alpha, box_norm, form

    def forward(self, student_out: Dict, teacher_out: Dict, targets, valid_ratios=None):
        fs, ft = student_out['features'], teacher_out['features']
        if self.mask == 'none':   # Eq. 2: every pixel, sum over pixels and channels / (h w)
            if fs.shape != ft.shape:
                raise ValueError(f'FD: student feature {list(fs.shape)} and teacher feature '
                                 f'{list(ft.shape)} must have the same shape')
            return ((fs - ft.detach()).abs().sum((1, 2, 3)) / (fs.shape[-2] * fs.shape[-1])).mean()
        mask = tfd_masks(targets, fs.shape[-2], fs.shape[-1], self.rule, self.alpha,
                         valid_ratios, self.box_norm, self.mask).to(fs.device)
        return tfd_loss(fs, ft, mask, form=self.form)
