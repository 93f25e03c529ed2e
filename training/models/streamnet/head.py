"""YOLOX decoupled head (StreamYOLO's TALHead has the same layers) and its grid decoding.

The head only predicts; assignment and losses live in simota.py / losses.py so that the raw
outputs are available in every mode (distillation needs the teacher's raw logits).
"""
import math
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn

from .blocks import BaseConv, DWConv


class YOLOXHead(nn.Module):
    """Per level: 1x1 stem, cls branch (2x 3x3 -> C logits), reg branch (2x 3x3 -> 4 box + 1 obj).

    ``forward`` returns per-level raw maps [B, 4 + 1 + C, H_l, W_l] in YOLOX order
    (reg, obj, cls); objectness comes from the reg branch.
    """

    def __init__(self, num_classes: int, width: float, in_channels: Sequence[int],
                 strides: Sequence[int] = (8, 16, 32), depthwise: bool = False,
                 act: str = 'silu', prior_prob: float = 1e-2):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f'YOLOXHead: num_classes must be >= 1, got {num_classes}')
        self.num_classes = num_classes
        self.strides = tuple(strides)
        hc = int(256 * width)
        conv = DWConv if depthwise else BaseConv
        self.stems = nn.ModuleList()
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        self.cls_preds = nn.ModuleList()
        self.reg_preds = nn.ModuleList()
        self.obj_preds = nn.ModuleList()
        for cin in in_channels:
            self.stems.append(BaseConv(cin, hc, 1, 1, act=act))
            self.cls_convs.append(nn.Sequential(conv(hc, hc, 3, 1, act=act),
                                                conv(hc, hc, 3, 1, act=act)))
            self.reg_convs.append(nn.Sequential(conv(hc, hc, 3, 1, act=act),
                                                conv(hc, hc, 3, 1, act=act)))
            self.cls_preds.append(nn.Conv2d(hc, num_classes, 1, 1, 0))
            self.reg_preds.append(nn.Conv2d(hc, 4, 1, 1, 0))
            self.obj_preds.append(nn.Conv2d(hc, 1, 1, 1, 0))
        self.initialize_biases(prior_prob)

    def initialize_biases(self, prior_prob: float) -> None:
        bias = -math.log((1 - prior_prob) / prior_prob)                 # -4.595 for 0.01
        for conv in list(self.cls_preds) + list(self.obj_preds):
            nn.init.constant_(conv.bias, bias)

    def forward(self, feats) -> List[torch.Tensor]:
        outs = []
        for k, x in enumerate(feats):
            x = self.stems[k](x)
            cls_feat = self.cls_convs[k](x)
            reg_feat = self.reg_convs[k](x)
            outs.append(torch.cat([self.reg_preds[k](reg_feat), self.obj_preds[k](reg_feat),
                                   self.cls_preds[k](cls_feat)], 1))   # [B, 5+C, H, W]
        return outs


def make_grids(level_shapes: Sequence[Tuple[int, int]], strides: Sequence[int],
               dtype=torch.float32, device=None):
    """Anchor points of all levels -> (grid_xy [A, 2] cell indices, stride [A, 1])."""
    grids, strides_out = [], []
    for (h, w), s in zip(level_shapes, strides):
        yv, xv = torch.meshgrid(torch.arange(h, device=device, dtype=dtype),
                                torch.arange(w, device=device, dtype=dtype), indexing='ij')
        grids.append(torch.stack([xv, yv], -1).reshape(-1, 2))
        strides_out.append(torch.full((h * w, 1), float(s), device=device, dtype=dtype))
    return torch.cat(grids, 0), torch.cat(strides_out, 0)


def flatten_outputs(outs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-level [B, 5+C, H, W] -> [B, A, 5+C], levels in order, row-major within a level."""
    return torch.cat([o.flatten(2) for o in outs], 2).permute(0, 2, 1)


def decode_boxes(raw_reg: torch.Tensor, grid_xy: torch.Tensor, stride: torch.Tensor):
    """Raw reg [B, A, 4] -> boxes_cxcywh [B, A, 4] in input pixels (grid without +0.5)."""
    xy = (raw_reg[..., :2] + grid_xy) * stride
    wh = torch.exp(raw_reg[..., 2:4]) * stride
    return torch.cat([xy, wh], -1)


def decode_in_inference(outs: Sequence[torch.Tensor], strides: Sequence[int]) -> torch.Tensor:
    """YOLOX ``decode_outputs``: [B, A, 5+C] = (cx, cy, w, h, sigmoid(obj), sigmoid(cls))."""
    flat = flatten_outputs(outs)
    grid_xy, stride = make_grids([tuple(o.shape[-2:]) for o in outs], strides,
                                 flat.dtype, flat.device)
    boxes = decode_boxes(flat[..., :4], grid_xy, stride)
    return torch.cat([boxes, flat[..., 4:].sigmoid()], -1)
