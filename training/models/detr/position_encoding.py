"""2-D sine position encodings (v2i_detr.md §1.3) for feature maps, points and boxes."""
import math

import torch
import torch.nn as nn


def _frequencies(num_pos_feats: int, temperature: float, device) -> torch.Tensor:
    dim_t = torch.arange(num_pos_feats, dtype=torch.float32, device=device)
    return temperature ** (2 * torch.div(dim_t, 2, rounding_mode='floor') / num_pos_feats)


def _interleave_sin_cos(pos: torch.Tensor) -> torch.Tensor:
    """[..., F] angles -> [..., F] with sin on even and cos on odd indices, interleaved."""
    return torch.stack((pos[..., 0::2].sin(), pos[..., 1::2].cos()), dim=-1).flatten(-2)


class PositionEmbeddingSine(nn.Module):
    """DETR's normalised sine encoding of a padded feature map.

    Args:
        num_pos_feats: channels per axis (d_model / 2).
        offset: Deformable DETR subtracts 0.5 from the cumulative sums (``True``); DETR does not.
        eps_after_offset: official SAM-DETR's form: both sums are shifted by -0.5 and the
            divisor is (last - 0.5) + eps + 0.5, in that float32 order (with ``offset``).
    """

    def __init__(self, num_pos_feats: int = 128, temperature: float = 10000.0,
                 normalize: bool = True, offset: bool = False, eps_after_offset: bool = False):
        super().__init__()
        if eps_after_offset and not offset:
            raise ValueError('PositionEmbeddingSine: eps_after_offset needs offset=True')
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.offset = offset
        self.eps_after_offset = eps_after_offset
        self.scale = 2 * math.pi

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        """mask [B, h, w] bool (True on padding) -> pos [B, 2 * num_pos_feats, h, w]."""
        not_mask = (~mask).to(torch.float32)
        y_embed = not_mask.cumsum(1)
        x_embed = not_mask.cumsum(2)
        if self.eps_after_offset:
            # SAM-DETR shifts before normalising (also without normalize, as the official code)
            y_embed, x_embed = y_embed - 0.5, x_embed - 0.5
            if self.normalize:
                eps = 1e-6
                y_embed = y_embed / (y_embed[:, -1:, :] + eps + 0.5) * self.scale
                x_embed = x_embed / (x_embed[:, :, -1:] + eps + 0.5) * self.scale
        elif self.normalize:
            eps = 1e-6
            off = 0.5 if self.offset else 0.0
            y_embed = (y_embed - off) / (y_embed[:, -1:, :] + eps) * self.scale
            x_embed = (x_embed - off) / (x_embed[:, :, -1:] + eps) * self.scale
        dim_t = _frequencies(self.num_pos_feats, self.temperature, mask.device)
        pos_x = _interleave_sin_cos(x_embed[..., None] / dim_t)   # [B, h, w, F]
        pos_y = _interleave_sin_cos(y_embed[..., None] / dim_t)
        return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)


def sine_embed_points(points_xy: torch.Tensor, num_pos_feats: int = 128,
                      temperature: float = 10000.0) -> torch.Tensor:
    """Conditional/SAM-DETR point embedding: [..., 2] (x, y) in [0, 1] -> [..., 2F] as (y, x)."""
    dim_t = _frequencies(num_pos_feats, temperature, points_xy.device)
    scale = 2 * math.pi
    pos_x = _interleave_sin_cos(points_xy[..., 0, None] * scale / dim_t)
    pos_y = _interleave_sin_cos(points_xy[..., 1, None] * scale / dim_t)
    return torch.cat((pos_y, pos_x), dim=-1)


def sine_embed_boxes(boxes: torch.Tensor, num_pos_feats: int = 128,
                     temperature: float = 10000.0) -> torch.Tensor:
    """Deformable two-stage proposal embedding: [..., 4] in [0, 1] -> [..., 4F], coordinate order
    kept (cx, cy, w, h) as in the official ``get_proposal_pos_embed``."""
    dim_t = _frequencies(num_pos_feats, temperature, boxes.device)
    pos = boxes[..., None] * (2 * math.pi) / dim_t                 # [..., 4, F]
    return _interleave_sin_cos(pos).flatten(-2)
