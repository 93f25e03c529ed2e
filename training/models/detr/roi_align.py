"""RoIAlign with torchvision's ``aligned=True`` semantics through one ``grid_sample`` per batch.

v2i_detr.md §4.1: boxes in feature-pixel xyxy (pixel i spans [i, i+1)), a fixed sampling ratio
(static shapes for export; torchvision's adaptive ratio is data dependent), samples beyond one
pixel outside the map read 0 and samples within that pixel read the border (torchvision clamps).
"""
import torch
import torch.nn.functional as F


def roi_align_xyxy(features: torch.Tensor, boxes_xyxy: torch.Tensor, output_size: int = 7,
                   sampling_ratio: int = 2) -> torch.Tensor:
    """Average of bilinear samples per bin.

    Args:
        features: [B, C, H, W].
        boxes_xyxy: [B, Q, 4] in feature pixels (spatial_scale already applied); no gradient
            flows to them (as torchvision).
        output_size: bins per side (7).
        sampling_ratio: samples per bin side (2).

    Returns:
        [B, Q, C, output_size, output_size].
    """
    if features.dim() != 4 or boxes_xyxy.dim() != 3 or boxes_xyxy.shape[-1] != 4:
        raise ValueError(f'roi_align_xyxy: expected features [B, C, H, W] and boxes [B, Q, 4], '
                         f'got {list(features.shape)} and {list(boxes_xyxy.shape)}')
    b, c, h, w = features.shape
    q = boxes_xyxy.shape[1]
    n, s = output_size, sampling_ratio
    boxes = boxes_xyxy.detach()
    # sample offsets within the box, in units of the box size: (j + (u + 0.5) / s) / n
    steps = (torch.arange(n * s, dtype=features.dtype, device=features.device) + 0.5) / (n * s)
    x1, y1, x2, y2 = boxes.unbind(-1)                                   # [B, Q]
    xs = x1[..., None] + (x2 - x1)[..., None] * steps                   # [B, Q, n*s]
    ys = y1[..., None] + (y2 - y1)[..., None] * steps
    # torchvision (aligned) reads pixel-centre coordinates x - 0.5: zero below -1 or above size
    valid_x = ((xs - 0.5) >= -1) & ((xs - 0.5) <= w)
    valid_y = ((ys - 0.5) >= -1) & ((ys - 0.5) <= h)
    gx = (2 * xs / w - 1)[:, :, None, :].expand(b, q, n * s, n * s)
    gy = (2 * ys / h - 1)[:, :, :, None].expand(b, q, n * s, n * s)
    grid = torch.stack([gx, gy], -1).reshape(b, q * n * s, n * s, 2)
    sampled = F.grid_sample(features, grid, mode='bilinear', padding_mode='border',
                            align_corners=False)                        # [B, C, Q*n*s, n*s]
    sampled = sampled.view(b, c, q, n * s, n * s).transpose(1, 2)       # [B, Q, C, ns, ns]
    valid = (valid_y[..., :, None] & valid_x[..., None, :]).to(features.dtype)
    sampled = sampled * valid[:, :, None]
    pooled = F.avg_pool2d(sampled.reshape(b * q, c, n * s, n * s), kernel_size=s, stride=s)
    return pooled.view(b, q, c, n, n)
