"""DRFPN: DAMO-YOLO's RepGFPN (``GiraffeNeckV2``) with a DCNv1 in every block (spec §2).

Two changes from DAMO-YOLO's ``giraffe_fpn_btn.py``: upsampling is nearest to the target map's
size (38 -> 75 at 600x960 is not x2), and the block's second conv is a deformable conv.
"""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import BaseConv, RepConv
from .dcn import DeformConv2dPack


def upsample_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Legacy 'nearest' (src = floor(dst * in / out)) to ``ref``'s spatial size."""
    return F.interpolate(x, size=(int(ref.shape[-2]), int(ref.shape[-1])), mode='nearest')


class DRMBlock(nn.Module):
    """``BasicBlock_3x3_Reverse`` with dcn=True: x + DCN(SiLU(RepConv(x))).

    The DCN has no bias, no BN and no activation; nothing follows the residual add.
    """

    def __init__(self, channels: int, hidden_ratio: float, act: str = 'silu',
                 dcn: bool = True):
        super().__init__()
        hidden = int(channels * hidden_ratio)
        self.conv2 = RepConv(channels, hidden, 3, 1, act=act)
        if dcn:
            self.conv1 = DeformConv2dPack(hidden, channels, 3, 1, 1)
        else:
            self.conv1 = BaseConv(hidden, channels, 3, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv1(self.conv2(x))


class CSPStage(nn.Module):
    """ELAN-style fusion stage: concat [bypass, y1..yn] of a chain of n DRM blocks -> 1x1."""

    def __init__(self, cin: int, cout: int, n: int, hidden_ratio: float, act: str = 'silu',
                 dcn: bool = True):
        super().__init__()
        ch_first = cout // 2
        ch_mid = cout - ch_first
        self.conv1 = BaseConv(cin, ch_first, 1, act=act)
        self.conv2 = BaseConv(cin, ch_mid, 1, act=act)
        self.convs = nn.Sequential(*[DRMBlock(ch_mid, hidden_ratio, act, dcn) for _ in range(n)])
        self.conv3 = BaseConv(ch_first + n * ch_mid, cout, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.conv1(x)]
        y = self.conv2(x)
        for block in self.convs:
            y = block(y)
            outs.append(y)
        return self.conv3(torch.cat(outs, dim=1))


class DRFPN(nn.Module):
    """GiraffeNeckV2 graph (spec §2.3): inputs (c3, c4, c5) -> outputs (x5, x7, x6), same widths.

    The diagonal stride-2 inputs x1->x3, x2->x4 and x4->x6 are the auxiliary bottom-up links
    (the paper's BuAC, by the spec's reading).
    """

    def __init__(self, in_channels: Sequence[int], depth: float = 1.0,
                 hidden_ratio: float = 1.0, act: str = 'silu', dcn: bool = True):
        super().__init__()
        c3, c4, c5 = in_channels
        n = round(3 * depth)
        self.out_channels = (c3, c4, c5)
        self.bu_conv13 = BaseConv(c4, c4, 3, 2, act=act)
        self.merge_3 = CSPStage(c4 + c5, c5, n, hidden_ratio, act, dcn)
        self.bu_conv24 = BaseConv(c3, c3, 3, 2, act=act)
        self.merge_4 = CSPStage(c3 + c4 + c5, c4, n, hidden_ratio, act, dcn)
        self.merge_5 = CSPStage(c4 + c3, c3, n, hidden_ratio, act, dcn)
        self.bu_conv57 = BaseConv(c3, c3, 3, 2, act=act)
        self.merge_7 = CSPStage(c3 + c4, c4, n, hidden_ratio, act, dcn)
        self.bu_conv46 = BaseConv(c4, c4, 3, 2, act=act)
        self.bu_conv76 = BaseConv(c4, c4, 3, 2, act=act)
        self.merge_6 = CSPStage(c4 + c4 + c5, c5, n, hidden_ratio, act, dcn)

    def forward(self, feats) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x2, x1, x0 = feats                                              # strides 8, 16, 32
        x3 = self.merge_3(torch.cat([x0, self.bu_conv13(x1)], 1))       # [B, c5, /32]
        x4 = self.merge_4(torch.cat([x1, self.bu_conv24(x2), upsample_to(x3, x1)], 1))  # /16
        x5 = self.merge_5(torch.cat([x2, upsample_to(x4, x2)], 1))      # [B, c3, /8]
        x7 = self.merge_7(torch.cat([x4, self.bu_conv57(x5)], 1))       # [B, c4, /16]
        x6 = self.merge_6(torch.cat([x3, self.bu_conv46(x4), self.bu_conv76(x7)], 1))  # /32
        return x5, x7, x6
