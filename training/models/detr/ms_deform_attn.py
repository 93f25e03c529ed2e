"""Multi-scale deformable attention (Zhu et al. 2021) in pure PyTorch via ``grid_sample``.

No CUDA op: the sampling is one ``F.grid_sample`` per level (v2i_detr.md §3.2), differentiable,
exportable to ONNX (GridSample, opset >= 16) and numerically equal to the official kernel.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


def ms_deform_attn_core(value: torch.Tensor, spatial_shapes: Sequence[Tuple[int, int]],
                        sampling_locations: torch.Tensor,
                        attention_weights: torch.Tensor) -> torch.Tensor:
    """Bilinear sampling and weighted sum.

    Args:
        value: [B, S, M, D] per-head values of all levels, flattened (S = sum h_l * w_l).
        spatial_shapes: L (h, w) pairs (python ints, so shapes stay static for export).
        sampling_locations: [B, Lq, M, L, K, 2] in [0, 1] (x, y), pixel i covering [i, i+1)/w.
        attention_weights: [B, Lq, M, L, K], softmax-ed over L * K.

    Returns:
        [B, Lq, M * D].
    """
    b, _, m, d = value.shape
    _, lq, _, n_levels, k, _ = sampling_locations.shape
    sizes = [h * w for h, w in spatial_shapes]
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    values = [value[:, s0:s0 + n] for s0, n in zip(starts, sizes)]
    grids = 2 * sampling_locations - 1                                  # align_corners=False
    sampled = []
    for lvl, (h, w) in enumerate(spatial_shapes):
        v_l = values[lvl].flatten(2).transpose(1, 2).reshape(b * m, d, h, w)
        g_l = grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)          # [B*M, Lq, K, 2]
        sampled.append(F.grid_sample(v_l, g_l, mode='bilinear', padding_mode='zeros',
                                     align_corners=False))               # [B*M, D, Lq, K]
    a = attention_weights.transpose(1, 2).reshape(b * m, 1, lq, n_levels * k)
    out = (torch.stack(sampled, dim=-2).flatten(-2) * a).sum(-1)         # [B*M, D, Lq]
    return out.view(b, m * d, lq).transpose(1, 2)


class MSDeformAttn(nn.Module):
    """MSDA with L levels, M heads, K points; parameter names as in the official module.

    Args:
        d_model: channels (256); n_levels: L (4); n_heads: M (8); n_points: K (4).
    """

    def __init__(self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8, n_points: int = 4):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f'MSDeformAttn: d_model {d_model} not divisible by {n_heads} heads')
        self.d_model, self.n_levels, self.n_heads, self.n_points = d_model, n_levels, n_heads, \
            n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self._reset_parameters()

    def _reset_parameters(self):
        nn.init.constant_(self.sampling_offsets.weight, 0.0)
        thetas = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        grid = torch.stack([thetas.cos(), thetas.sin()], -1)
        grid = grid / grid.abs().max(-1, keepdim=True)[0]                # max |component| = 1
        grid = grid.view(self.n_heads, 1, 1, 2).repeat(1, self.n_levels, self.n_points, 1)
        for i in range(self.n_points):
            grid[:, :, i, :] *= i + 1
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.view(-1))
        nn.init.constant_(self.attention_weights.weight, 0.0)
        nn.init.constant_(self.attention_weights.bias, 0.0)
        for lin in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.constant_(lin.bias, 0.0)

    def sampling(self, query: torch.Tensor, reference_points: torch.Tensor,
                 spatial_shapes: Sequence[Tuple[int, int]]):
        """query [B, Lq, C], reference [B, Lq, L, 2|4] -> (locations [B, Lq, M, L, K, 2],
        weights [B, Lq, M, L, K])."""
        b, lq, _ = query.shape
        m, n_l, k = self.n_heads, self.n_levels, self.n_points
        off = self.sampling_offsets(query).view(b, lq, m, n_l, k, 2)
        attn = self.attention_weights(query).view(b, lq, m, n_l * k).softmax(-1)
        attn = attn.view(b, lq, m, n_l, k)
        if reference_points.shape[-1] == 2:
            # offsets are in pixels of their level: normalise by (w_l, h_l)
            normalizer = torch.tensor([[w, h] for h, w in spatial_shapes], dtype=query.dtype,
                                      device=query.device)
            loc = (reference_points[:, :, None, :, None, :]
                   + off / normalizer[None, None, None, :, None, :])
        elif reference_points.shape[-1] == 4:
            loc = (reference_points[:, :, None, :, None, :2]
                   + off / k * reference_points[:, :, None, :, None, 2:] * 0.5)
        else:
            raise ValueError(f'MSDeformAttn: reference_points last dim must be 2 or 4, got '
                             f'{reference_points.shape[-1]}')
        return loc, attn

    def forward(self, query: torch.Tensor, reference_points: torch.Tensor,
                input_flatten: torch.Tensor, spatial_shapes: Sequence[Tuple[int, int]],
                input_padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """query [B, Lq, C], reference_points [B, Lq, L, 2|4], input_flatten [B, S, C],
        spatial_shapes L x (h, w), input_padding_mask [B, S] (True on padding) -> [B, Lq, C]."""
        b, s, _ = input_flatten.shape
        if sum(h * w for h, w in spatial_shapes) != s:
            raise ValueError(f'MSDeformAttn: spatial_shapes {list(spatial_shapes)} do not sum to '
                             f'S = {s}')
        value = self.value_proj(input_flatten)
        if input_padding_mask is not None:
            value = value.masked_fill(input_padding_mask[..., None], 0.0)
        value = value.view(b, s, self.n_heads, self.d_model // self.n_heads)
        loc, attn = self.sampling(query, reference_points, spatial_shapes)
        return self.output_proj(ms_deform_attn_core(value, spatial_shapes, loc, attn))


def level_shapes(srcs: List[torch.Tensor]) -> List[Tuple[int, int]]:
    """Static (h, w) per level from feature maps [B, C, h, w]."""
    return [(int(s.shape[-2]), int(s.shape[-1])) for s in srcs]
