"""MSI: multi-scale spatiotemporal interaction of the V2I-DETR teacher (v2i_detr.md §5.2).

Per level, over the T frames of a clip: a local interactor (dense Conv3d k x k x k) at the
high-resolution levels and a global one (multi-head self-attention over all T * h * w tokens) at
the low-resolution levels, each followed by an FFN, in the pre-norm residual form

    Y = X + Inter(N(X) + P),   Z = Y + FFN(N(Y))

where P is the 3-D position (2-D sine of the level + a learned frame embedding). P enters the
interactor's input only, so the features handed to the encoder (which adds its own positions)
carry no position term. Padded locations are zeroed before each 3-D convolution.
"""
import dataclasses
from typing import List, Tuple

import torch
import torch.nn as nn

from .transformer import MultiheadAttention


@dataclasses.dataclass
class MSIConfig:
    num_frames: int = 3                        # T
    num_layers: int = 2
    local_levels: Tuple[int, ...] = (0, 1)     # Conv3d interactor (stride 8 and 16)
    global_levels: Tuple[int, ...] = (2, 3)    # self-attention interactor (stride 32 and 64)
    kernel_size: int = 3                       # dense k x k x k (§8: k = 3 fits the budget)
    nhead: int = 8
    ffn_ratio: int = 4                         # 256 -> 1024 -> 256, like the Deformable FFN
    dropout: float = 0.0


class MSILevel(nn.Module):
    """One interaction step at one level: interactor + FFN, both pre-norm residual."""

    def __init__(self, d_model: int, local: bool, cfg: MSIConfig):
        super().__init__()
        self.local = local
        self.norm1 = nn.LayerNorm(d_model)
        if local:
            k = cfg.kernel_size
            self.interactor = nn.Conv3d(d_model, d_model, k, padding=k // 2)
        else:
            self.interactor = MultiheadAttention(d_model, cfg.nhead, cfg.dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_model * cfg.ffn_ratio), nn.GELU(),
                                 nn.Dropout(cfg.dropout),
                                 nn.Linear(d_model * cfg.ffn_ratio, d_model))

    def forward(self, x: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x/pos [B, T, h, w, d] (channels last), mask [B, T, h, w] True on padding."""
        b, t, h, w, d = x.shape
        inp = self.norm1(x) + pos
        if self.local:
            inp = inp.masked_fill(mask[..., None], 0.0)
            y = self.interactor(inp.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)
        else:
            tokens = inp.reshape(b, t * h * w, d)
            y = self.interactor(tokens, tokens, self.norm1(x).reshape(b, t * h * w, d),
                                key_padding_mask=mask.reshape(b, t * h * w)).view(b, t, h, w, d)
        x = x + y
        return x + self.ffn(self.norm2(x))


class MSI(nn.Module):
    """Two MSI layers over the 4 projected levels of a T-frame clip.

    ``forward(srcs, masks, pos)`` takes per level srcs/pos [B, T, d, h, w] and masks [B, T, h, w]
    and returns the enhanced srcs [B, T, d, h, w] per level.
    """

    def __init__(self, d_model: int = 256, num_levels: int = 4, cfg: MSIConfig = MSIConfig()):
        super().__init__()
        self.cfg = cfg
        if set(cfg.local_levels) | set(cfg.global_levels) != set(range(num_levels)):
            raise ValueError(f'MSI: local_levels {cfg.local_levels} + global_levels '
                             f'{cfg.global_levels} must cover levels 0..{num_levels - 1}')
        self.frame_embed = nn.Parameter(torch.empty(cfg.num_frames, d_model))
        nn.init.normal_(self.frame_embed, std=0.02)
        self.layers = nn.ModuleList(
            nn.ModuleList(MSILevel(d_model, lvl in cfg.local_levels, cfg)
                          for lvl in range(num_levels))
            for _ in range(cfg.num_layers))

    def forward(self, srcs: List[torch.Tensor], masks: List[torch.Tensor],
                pos: List[torch.Tensor]) -> List[torch.Tensor]:
        t = srcs[0].shape[1]
        if t != self.cfg.num_frames:
            raise ValueError(f'MSI: clip has {t} frames, expected {self.cfg.num_frames}')
        xs = [s.permute(0, 1, 3, 4, 2) for s in srcs]                   # [B, T, h, w, d]
        ps = [p.permute(0, 1, 3, 4, 2) + self.frame_embed[None, :, None, None] for p in pos]
        for layer in self.layers:
            xs = [blk(x, p, m) for blk, x, p, m in zip(layer, xs, ps, masks)]
        return [x.permute(0, 1, 4, 2, 3) for x in xs]
