"""YOLOX PAFPN (YOLOX 0.3.0 ``YOLOPAFPN`` without the backbone inside), and StreamYOLO's DFP.

Top-down upsampling is nearest to the target size, like DRFPN, so odd map sizes (600x960 gives
38 -> 75) work; at sizes divisible by 32 it equals YOLOX's scale-factor-2 upsample.
"""
from typing import Sequence, Tuple

import torch
import torch.nn as nn

from .blocks import BaseConv, CSPLayer, DWConv
from .drfpn import upsample_to


class PAFPN(nn.Module):
    """YOLOX PAFPN on backbone features (c3, c4, c5) -> (pan_out2, pan_out1, pan_out0)."""

    def __init__(self, in_channels: Sequence[int], depth: float, depthwise: bool = False,
                 act: str = 'silu'):
        super().__init__()
        c3, c4, c5 = in_channels
        conv = DWConv if depthwise else BaseConv
        n = round(3 * depth)
        self.out_channels = (c3, c4, c5)
        self.lateral_conv0 = BaseConv(c5, c4, 1, 1, act=act)
        self.C3_p4 = CSPLayer(2 * c4, c4, n, False, depthwise=depthwise, act=act)
        self.reduce_conv1 = BaseConv(c4, c3, 1, 1, act=act)
        self.C3_p3 = CSPLayer(2 * c3, c3, n, False, depthwise=depthwise, act=act)
        self.bu_conv2 = conv(c3, c3, 3, 2, act=act)
        self.C3_n3 = CSPLayer(2 * c3, c4, n, False, depthwise=depthwise, act=act)
        self.bu_conv1 = conv(c4, c4, 3, 2, act=act)
        self.C3_n4 = CSPLayer(2 * c4, c5, n, False, depthwise=depthwise, act=act)

    def forward(self, feats) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x2, x1, x0 = feats
        fpn_out0 = self.lateral_conv0(x0)                                   # [B, c4, /32]
        f_out0 = self.C3_p4(torch.cat([upsample_to(fpn_out0, x1), x1], 1))  # [B, c4, /16]
        fpn_out1 = self.reduce_conv1(f_out0)                                # [B, c3, /16]
        pan_out2 = self.C3_p3(torch.cat([upsample_to(fpn_out1, x2), x2], 1))  # [B, c3, /8]
        pan_out1 = self.C3_n3(torch.cat([self.bu_conv2(pan_out2), fpn_out1], 1))  # [B, c4, /16]
        pan_out0 = self.C3_n4(torch.cat([self.bu_conv1(pan_out1), fpn_out0], 1))  # [B, c5, /32]
        return pan_out2, pan_out1, pan_out0


class DFPReduce(nn.Module):
    """StreamYOLO DFP fusion: Concat[R(P_t), R(P_support)] + P_t, R a 1x1 BaseConv to C/2.

    The still teacher passes the same frame as current and support (spec §5).
    """

    def __init__(self, channels: Sequence[int], act: str = 'silu'):
        super().__init__()
        self.jian = nn.ModuleList([BaseConv(c, c // 2, 1, 1, act=act) for c in channels])

    def forward(self, current, support=None):
        support = current if support is None else support
        return tuple(torch.cat([r(p), r(s)], 1) + p
                     for r, p, s in zip(self.jian, current, support))
