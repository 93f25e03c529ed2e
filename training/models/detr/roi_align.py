"""RoIAlign with torchvision's ``aligned=True`` semantics, adaptive sampling included.

v2i_detr.md §4.1; official SAM-DETR calls ``torchvision.ops.roi_align(memory, boxes, (7, 7),
aligned=True)`` with the default ``sampling_ratio=-1``: each RoI takes ceil(roi_h / 7) x
ceil(roi_w / 7) bilinear samples per bin, a count that differs from RoI to RoI. Written here
without torchvision (DESIGN.md) and without a per-RoI loop, by separability: torchvision's
bilinear weight of a sample is w_y(y) * w_x(x) and its "outside the map" test is a test on y and
one on x, so the average over a bin's samples is

    out[q, c, i, j] = sum_{y, x} A_y[q, i, y] * F[c, y, x] * A_x[q, j, x],

with A_y[q, i, :] the mean over the bin's count_y samples of the 1-D weights on the H rows
(A_x likewise). Two batched matmuls then give every RoI its own sample count, in torch and in an
exported graph alike (MatMul, Floor, Ceil, Where, Equal: all in TensorRT 10's ONNX parser list;
no RoiAlign node, whose TensorRT plugin and ONNX Runtime semantics would have to match
torchvision's too). The samples of a RoI are laid on a grid of ``max_samples`` per bin side and
those beyond its own count weigh 0, so ``max_samples`` must be static for export: SAM-DETR's
boxes never exceed the map, whence ceil(map / output_size).
"""
import math
from typing import Optional, Tuple

import torch


def _axis_weights(start: torch.Tensor, size: torch.Tensor, n: int, count: torch.Tensor,
                  max_count: int, length: int) -> torch.Tensor:
    """1-D RoIAlign weights of one axis.

    Args:
        start, size: [B, Q] RoI start (pixel-centre coordinates) and extent.
        count: [B, Q] samples per bin along this axis (<= 0: the bin reads 0, as torchvision).
        max_count: samples laid per bin (>= count.max()).
        length: H or W of the map.

    Returns:
        [B, Q, n, length]: the mean over each bin's samples of torchvision's bilinear weights.
    """
    dtype = start.dtype
    bin_size = size / n                                                   # [B, Q]
    cnt = count.clamp(min=1).to(dtype)
    p_bin = torch.arange(n, dtype=dtype, device=start.device)
    u = torch.arange(max_count, dtype=dtype, device=start.device)
    # torchvision: start + ph * bin + (iy + .5) * bin / grid                # [B, Q, n, G]
    pos = (start[..., None, None] + p_bin[:, None] * bin_size[..., None, None]
           + (u + 0.5) * bin_size[..., None, None] / cnt[..., None, None])
    used = u < count[..., None, None].to(dtype)
    valid = used & (pos >= -1.0) & (pos <= length)                 # else the sample is 0
    pos = pos.clamp(min=0.0)
    low = pos.floor()
    at_end = low >= length - 1              # torchvision: y_low = y_high = H - 1, y = y_low
    low = torch.where(at_end, torch.full_like(low, length - 1), low)
    frac = torch.where(at_end, torch.zeros_like(pos), pos - low)
    high = torch.where(at_end, low, low + 1)
    keep = valid.to(dtype) / cnt[..., None, None]                          # mean over samples
    grid = torch.arange(length, dtype=dtype, device=start.device)
    w = ((low[..., None] == grid).to(dtype) * ((1 - frac) * keep)[..., None]
         + (high[..., None] == grid).to(dtype) * (frac * keep)[..., None])  # [B, Q, n, G, L]
    return w.sum(3)


def roi_align_xyxy(features: torch.Tensor, boxes_xyxy: torch.Tensor, output_size: int = 7,
                   sampling_ratio: int = 0,
                   max_samples: Optional[Tuple[int, int]] = None) -> torch.Tensor:
    """``torchvision.ops.roi_align(features, list(boxes), output_size, 1.0, sampling_ratio,
    aligned=True)`` reshaped per image.

    Args:
        features: [B, C, H, W].
        boxes_xyxy: [B, Q, 4] in feature pixels (spatial_scale already applied); no gradient
            flows to them (as torchvision).
        output_size: bins per side (7).
        sampling_ratio: samples per bin side; <= 0 is torchvision's adaptive
            ceil(roi_size / output_size) per RoI (the official SAM-DETR call).
        max_samples: (rows, cols) bound on the adaptive count, static for export; a RoI that
            would need more samples is averaged over this many. None: the data's own maximum
            (eager only, a traced graph would freeze it).

    Returns:
        [B, Q, C, output_size, output_size].
    """
    if features.dim() != 4 or boxes_xyxy.dim() != 3 or boxes_xyxy.shape[-1] != 4:
        raise ValueError(f'roi_align_xyxy: expected features [B, C, H, W] and boxes [B, Q, 4], '
                         f'got {list(features.shape)} and {list(boxes_xyxy.shape)}')
    h, w = features.shape[-2:]
    n = output_size
    x1, y1, x2, y2 = (boxes_xyxy.detach().to(features.dtype) - 0.5).unbind(-1)   # [B, Q]
    rh, rw = y2 - y1, x2 - x1
    if sampling_ratio > 0:
        gh = gw = torch.full_like(rh, sampling_ratio)
        max_h = max_w = sampling_ratio
    else:
        gh, gw = torch.ceil(rh / n), torch.ceil(rw / n)
        if max_samples is None:
            max_h = max(1, int(gh.max())) if gh.numel() else 1
            max_w = max(1, int(gw.max())) if gw.numel() else 1
        else:
            max_h, max_w = (max(1, int(m)) for m in max_samples)
            gh, gw = gh.clamp(max=max_h), gw.clamp(max=max_w)
    b, c = features.shape[:2]
    q = boxes_xyxy.shape[1]
    ay = _axis_weights(y1, rh, n, gh, max_h, h)                            # [B, Q, n, H]
    ax = _axis_weights(x1, rw, n, gw, max_w, w)                            # [B, Q, n, W]
    # two plain batched matmuls (a broadcast one would copy the map once per RoI)
    rows = ay.reshape(b, q * n, h) @ features.permute(0, 2, 1, 3).reshape(b, h, c * w)
    rows = rows.view(b * q, n * c, w) @ ax.reshape(b * q, n, w).transpose(1, 2)
    return rows.view(b, q, n, c, n).transpose(2, 3)                       # [B, Q, C, n, n]


def adaptive_bound(map_size: int, output_size: int = 7) -> int:
    """Adaptive samples per bin side of a RoI no larger than the map: ceil(map / output)."""
    return max(1, math.ceil(map_size / output_size))
