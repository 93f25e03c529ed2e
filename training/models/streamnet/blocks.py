"""YOLOX 0.3.0 building blocks and DAMO-YOLO's RepConv, shared by every StreamNet-family model.

All BatchNorms use eps 1e-3 / momentum 0.03 (YOLOX ``init_yolo`` is applied to the whole model in
the released code), and RepConv fusion folds BN with that same eps.
"""
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 1e-3
BN_MOMENTUM = 0.03


def make_bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def make_act(name: str) -> nn.Module:
    if name == 'silu':
        return nn.SiLU()
    if name == 'relu':
        return nn.ReLU()
    if name == 'lrelu':
        return nn.LeakyReLU(0.1)
    raise ValueError(f'activation {name!r} unknown; expected silu, relu or lrelu')


class BaseConv(nn.Module):
    """Conv2d(bias=False, 'same' padding) -> BatchNorm -> activation (YOLOX ``BaseConv``)."""

    def __init__(self, cin: int, cout: int, ksize: int, stride: int = 1, groups: int = 1,
                 bias: bool = False, act: str = 'silu'):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, ksize, stride, (ksize - 1) // 2, groups=groups,
                              bias=bias)
        self.bn = make_bn(cout)
        self.act = make_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class DWConv(nn.Module):
    """Depthwise conv then pointwise conv, each a BaseConv (YOLOX ``DWConv``)."""

    def __init__(self, cin: int, cout: int, ksize: int, stride: int = 1, act: str = 'silu'):
        super().__init__()
        self.dconv = BaseConv(cin, cin, ksize, stride, groups=cin, act=act)
        self.pconv = BaseConv(cin, cout, 1, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pconv(self.dconv(x))


class Bottleneck(nn.Module):
    """1x1 then 3x3 BaseConv with an identity add when the shapes allow (YOLOX ``Bottleneck``)."""

    def __init__(self, cin: int, cout: int, shortcut: bool = True, expansion: float = 0.5,
                 depthwise: bool = False, act: str = 'silu'):
        super().__init__()
        hidden = int(cout * expansion)
        conv = DWConv if depthwise else BaseConv
        self.conv1 = BaseConv(cin, hidden, 1, 1, act=act)
        self.conv2 = conv(hidden, cout, 3, 1, act=act)
        self.use_add = shortcut and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return y + x if self.use_add else y


class CSPLayer(nn.Module):
    """CSP bottleneck with 3 convs (YOLOX ``CSPLayer``); the bottleneck branch comes first."""

    def __init__(self, cin: int, cout: int, n: int = 1, shortcut: bool = True,
                 expansion: float = 0.5, depthwise: bool = False, act: str = 'silu'):
        super().__init__()
        hidden = int(cout * expansion)
        self.conv1 = BaseConv(cin, hidden, 1, 1, act=act)
        self.conv2 = BaseConv(cin, hidden, 1, 1, act=act)
        self.conv3 = BaseConv(2 * hidden, cout, 1, 1, act=act)
        self.m = nn.Sequential(*[Bottleneck(hidden, hidden, shortcut, 1.0, depthwise, act=act)
                                 for _ in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(torch.cat([self.m(self.conv1(x)), self.conv2(x)], dim=1))


class Focus(nn.Module):
    """Space-to-depth (TL, BL, TR, BR phases -> 4C channels) then a BaseConv (YOLOX ``Focus``)."""

    def __init__(self, cin: int, cout: int, ksize: int = 1, stride: int = 1, act: str = 'silu'):
        super().__init__()
        self.conv = BaseConv(cin * 4, cout, ksize, stride, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tl = x[..., ::2, ::2]
        tr = x[..., ::2, 1::2]
        bl = x[..., 1::2, ::2]
        br = x[..., 1::2, 1::2]
        return self.conv(torch.cat([tl, bl, tr, br], dim=1))


class SPPBottleneck(nn.Module):
    """Parallel SPP (not SPPF): [x, pool5, pool9, pool13] at stride 1 (YOLOX ``SPPBottleneck``)."""

    def __init__(self, cin: int, cout: int, kernel_sizes: Sequence[int] = (5, 9, 13),
                 act: str = 'silu'):
        super().__init__()
        hidden = cin // 2
        self.conv1 = BaseConv(cin, hidden, 1, 1, act=act)
        self.m = nn.ModuleList([nn.MaxPool2d(k, 1, k // 2) for k in kernel_sizes])
        self.conv2 = BaseConv(hidden * (len(kernel_sizes) + 1), cout, 1, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [m(x) for m in self.m], dim=1))


def _conv_bn(cin: int, cout: int, ksize: int, stride: int, padding: int) -> nn.Sequential:
    seq = nn.Sequential()
    seq.add_module('conv', nn.Conv2d(cin, cout, ksize, stride, padding, bias=False))
    seq.add_module('bn', make_bn(cout))
    return seq


def _fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d):
    """Fold an eval-mode BN into the preceding bias-free conv -> (weight, bias)."""
    std = torch.sqrt(bn.running_var + bn.eps)
    scale = bn.weight / std                                        # [Cout]
    return conv.weight * scale.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * scale


class RepConv(nn.Module):
    """DAMO-YOLO RepConv in its training form: SiLU(BN(3x3 conv) + BN(1x1 conv)).

    The released code always sets the identity branch to None, so there is none here. After
    :meth:`fuse` the two branches become one 3x3 conv with bias (``self.fused``).
    """

    def __init__(self, cin: int, cout: int, ksize: int = 3, stride: int = 1, act: str = 'silu'):
        super().__init__()
        if ksize != 3:
            raise ValueError(f'RepConv: kernel size must be 3, got {ksize}')
        self.cin, self.cout, self.stride = cin, cout, stride
        self.rbr_dense = _conv_bn(cin, cout, 3, stride, 1)
        self.rbr_1x1 = _conv_bn(cin, cout, 1, stride, 0)
        self.act = make_act(act)
        self.fused = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused is not None:
            return self.act(self.fused(x))
        return self.act(self.rbr_dense(x) + self.rbr_1x1(x))

    @torch.no_grad()
    def fuse(self) -> None:
        """Replace both branches by one 3x3 conv with bias, using the BN running statistics."""
        if self.fused is not None:
            return
        w3, b3 = _fold_bn(self.rbr_dense.conv, self.rbr_dense.bn)
        w1, b1 = _fold_bn(self.rbr_1x1.conv, self.rbr_1x1.bn)
        conv = nn.Conv2d(self.cin, self.cout, 3, self.stride, 1, bias=True)
        conv = conv.to(device=w3.device, dtype=w3.dtype)
        conv.weight.copy_(w3 + F.pad(w1, [1, 1, 1, 1]))             # 1x1 at the 3x3 centre
        conv.bias.copy_(b3 + b1)
        self.fused = conv
        del self.rbr_dense, self.rbr_1x1


def fuse_repconv(model: nn.Module) -> nn.Module:
    """Fuse every RepConv of ``model`` in place (for deployment) and return it.

    The model should be in eval mode: fusion bakes in the BN running statistics.
    """
    for module in model.modules():
        if isinstance(module, RepConv):
            module.fuse()
    return model


def init_yolo(model: nn.Module) -> None:
    """YOLOX ``init_yolo``: every BN gets eps 1e-3 and momentum 0.03."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = BN_EPS
            m.momentum = BN_MOMENTUM


def count_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
