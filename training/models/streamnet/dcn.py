"""DCNv1 with mmcv ``DeformConv2dPack`` semantics, written with ``grid_sample`` (no CUDA op).

mmcv layout: the offset tensor is [B, G*2*kh*kw, Ho, Wo]; for deform group g and kernel tap k
(row-major over the kernel) channel g*2*kh*kw + 2k is dy and the next one dx. Tap (a, b) of output
(i, j) samples the input at y = i*stride - pad + a*dil + dy, x = j*stride - pad + b*dil + dx with
bilinear interpolation where corners outside the image count as zero. ``grid_sample`` with
``padding_mode='zeros'`` gives exactly that; ``align_corners=False`` with the (2p + 1)/size - 1
normalisation is used because it stays exact for size-1 maps (align_corners=True would divide by
size - 1). Everything is static-shape tensor algebra, so the module exports to ONNX (GridSample,
opset >= 16) and TensorRT.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def deform_conv2d(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                  stride: int = 1, padding: int = 1, dilation: int = 1,
                  deform_groups: int = 1) -> torch.Tensor:
    """DCNv1 (no modulation mask, no bias, conv groups 1).

    Args:
        x: input [B, C, H, W].
        offset: [B, G*2*kh*kw, Ho, Wo] as (dy, dx) pairs per tap, mmcv layout.
        weight: [Cout, C, kh, kw].
    Returns:
        [B, Cout, Ho, Wo].
    """
    b, c, h, w = x.shape
    cout, cin, kh, kw = weight.shape
    g = deform_groups
    if cin != c or c % g:
        raise ValueError(f'deform_conv2d: input has {c} channels; expected {cin} divisible by '
                         f'deform_groups={g}')
    k = kh * kw
    ho = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    wo = (w + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    if tuple(offset.shape) != (b, g * 2 * k, ho, wo):
        raise ValueError(f'deform_conv2d: offset shape {tuple(offset.shape)}; expected '
                         f'{(b, g * 2 * k, ho, wo)}')
    dtype, device = x.dtype, x.device
    # Regular sampling grid of every tap: [K, Ho, Wo] in input pixel units.
    ys = torch.arange(ho, dtype=dtype, device=device) * stride - padding
    xs = torch.arange(wo, dtype=dtype, device=device) * stride - padding
    ky = (torch.arange(kh, dtype=dtype, device=device) * dilation).repeat_interleave(kw)
    kx = (torch.arange(kw, dtype=dtype, device=device) * dilation).repeat(kh)
    base_y = ky[:, None, None] + ys[None, :, None]                   # [K, Ho, 1]
    base_x = kx[:, None, None] + xs[None, None, :]                   # [K, 1, Wo]
    off = offset.reshape(b * g, k, 2, ho, wo)
    py = base_y + off[:, :, 0]                                       # [B*G, K, Ho, Wo]
    px = base_x + off[:, :, 1]
    grid = torch.stack([(2 * px + 1) / w - 1, (2 * py + 1) / h - 1], dim=-1)
    grid = grid.reshape(b * g, k * ho, wo, 2)                        # [B*G, K*Ho, Wo, 2]
    xg = x.reshape(b * g, c // g, h, w)
    cols = F.grid_sample(xg, grid, mode='bilinear', padding_mode='zeros', align_corners=False)
    cols = cols.reshape(b, c * k, ho * wo)                          # [B, C*K, Ho*Wo], c-major
    out = torch.matmul(weight.reshape(cout, c * k), cols)            # [B, Cout, Ho*Wo]
    return out.reshape(b, cout, ho, wo)


class DeformConv2dPack(nn.Module):
    """mmcv ``DeformConv2dPack`` ('DCN'): a conv with bias predicts the offsets (zero-initialised,
    so the layer starts as a plain conv); the main conv has no bias."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, stride: int = 1,
                 padding: int = 1, dilation: int = 1, deform_groups: int = 1):
        super().__init__()
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.deform_groups = deform_groups
        self.weight = nn.Parameter(torch.empty(cout, cin, kernel_size, kernel_size))
        self.conv_offset = nn.Conv2d(cin, deform_groups * 2 * kernel_size * kernel_size,
                                     kernel_size, stride, padding, dilation, bias=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        n = self.weight.shape[1] * self.weight.shape[2] * self.weight.shape[3]
        stdv = 1.0 / math.sqrt(n)
        nn.init.uniform_(self.weight, -stdv, stdv)
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offset = self.conv_offset(x)                                 # [B, G*2*K, Ho, Wo]
        return deform_conv2d(x, offset, self.weight, self.stride, self.padding,
                             self.dilation, self.deform_groups)
