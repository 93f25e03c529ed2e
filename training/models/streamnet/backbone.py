"""YOLOX CSPDarknet-53 ('CSPDarknet'), stages named stem, dark2..dark5 as in YOLOX 0.3.0."""
from typing import Tuple

import torch
import torch.nn as nn

from .blocks import BaseConv, CSPLayer, DWConv, Focus, SPPBottleneck


class CSPDarknet(nn.Module):
    """Backbone returning (dark3, dark4, dark5) at strides 8/16/32.

    Channels are int(64*width) * (4, 8, 16): S [128, 256, 512], L [256, 512, 1024].
    """

    def __init__(self, depth: float, width: float, depthwise: bool = False, act: str = 'silu'):
        super().__init__()
        conv = DWConv if depthwise else BaseConv
        base_ch = int(width * 64)                     # 64 for L
        base_depth = max(round(depth * 3), 1)         # 3 for L (Python round, as YOLOX)
        self.out_channels = (base_ch * 4, base_ch * 8, base_ch * 16)
        self.stem = Focus(3, base_ch, ksize=3, act=act)
        self.dark2 = nn.Sequential(
            conv(base_ch, base_ch * 2, 3, 2, act=act),
            CSPLayer(base_ch * 2, base_ch * 2, n=base_depth, depthwise=depthwise, act=act))
        self.dark3 = nn.Sequential(
            conv(base_ch * 2, base_ch * 4, 3, 2, act=act),
            CSPLayer(base_ch * 4, base_ch * 4, n=base_depth * 3, depthwise=depthwise, act=act))
        self.dark4 = nn.Sequential(
            conv(base_ch * 4, base_ch * 8, 3, 2, act=act),
            CSPLayer(base_ch * 8, base_ch * 8, n=base_depth * 3, depthwise=depthwise, act=act))
        self.dark5 = nn.Sequential(
            conv(base_ch * 8, base_ch * 16, 3, 2, act=act),
            SPPBottleneck(base_ch * 16, base_ch * 16, act=act),
            CSPLayer(base_ch * 16, base_ch * 16, n=base_depth, shortcut=False,
                     depthwise=depthwise, act=act))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.dark2(self.stem(x))                  # [B, 2c, H/4, W/4]
        c3 = self.dark3(x)                            # [B, 4c, H/8, W/8]
        c4 = self.dark4(c3)                           # [B, 8c, H/16, W/16]
        c5 = self.dark5(c4)                           # [B, 16c, H/32, W/32]
        return c3, c4, c5
