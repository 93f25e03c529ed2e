"""ResNet backbones in torchvision's key layout with FrozenBatchNorm2d, and the DETR ``Joiner``.

The key names match torchvision's ``resnet50`` (``conv1``, ``bn1``,
``layer{1..4}.{i}.conv{1,2,3}``,
``.bn{1,2,3}``, ``.downsample.{0,1}``) so an ImageNet state dict loads by name (v2i_detr.md §1.1);
the model keeps the official DETR prefix ``backbone.0.body.`` so official checkpoints map 1:1.
"""
import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d with fixed statistics and affine terms, all buffers (none is trained)."""

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.register_buffer('weight', torch.ones(num_features))
        self.register_buffer('bias', torch.zeros(num_features))
        self.register_buffer('running_mean', torch.zeros(num_features))
        self.register_buffer('running_var', torch.ones(num_features))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # torchvision checkpoints carry a counter we have no use for.
        state_dict.pop(prefix + 'num_batches_tracked', None)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]


class Bottleneck(nn.Module):
    """torchvision v1.5 bottleneck: the stride sits on the 3x3 conv."""
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = FrozenBatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = FrozenBatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = FrozenBatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class BasicBlock(nn.Module):
    """torchvision ResNet-18/34 block (two 3x3 convs); used by the tiny CPU variants."""
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = FrozenBatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = FrozenBatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


@dataclasses.dataclass
class ResNetConfig:
    block: str = 'bottleneck'                      # or 'basic'
    layers: Tuple[int, ...] = (3, 4, 6, 3)         # ResNet-50
    planes: Tuple[int, ...] = (64, 128, 256, 512)
    stem_channels: int = 64
    # Parameters whose name contains none of these are frozen (DETR: stem and layer1).
    train_layers: Tuple[str, ...] = ('layer2', 'layer3', 'layer4')


class ResNet(nn.Module):
    """ResNet trunk without fc; ``forward`` returns the stages named in ``return_layers``.

    Args:
        cfg: the layer inventory (ResNet-50 by default).
        return_layers: e.g. ('layer4',) for DETR or ('layer2', 'layer3', 'layer4') for Deformable.
    """

    def __init__(self, cfg: ResNetConfig = ResNetConfig(),
                 return_layers: Sequence[str] = ('layer4',)):
        super().__init__()
        block = {'bottleneck': Bottleneck, 'basic': BasicBlock}[cfg.block]
        self.return_layers = tuple(return_layers)
        c = cfg.stem_channels
        self.conv1 = nn.Conv2d(3, c, 7, stride=2, padding=3, bias=False)
        self.bn1 = FrozenBatchNorm2d(c)
        self.inplanes = c
        self.channels: Dict[str, int] = {}
        for i, (n, p) in enumerate(zip(cfg.layers, cfg.planes)):
            name = f'layer{i + 1}'
            setattr(self, name, self._make_layer(block, p, n, 1 if i == 0 else 2))
            self.channels[name] = p * block.expansion
        self.strides = {'layer1': 4, 'layer2': 8, 'layer3': 16, 'layer4': 32}
        for name, param in self.named_parameters():
            if not any(k in name for k in cfg.train_layers):
                param.requires_grad_(False)

    def _make_layer(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                FrozenBatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    @property
    def num_channels(self) -> List[int]:
        return [self.channels[n] for n in self.return_layers]

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, stride=2, padding=1)
        outs = []
        for name in ('layer1', 'layer2', 'layer3', 'layer4'):
            x = getattr(self, name)(x)
            if name in self.return_layers:
                outs.append(x)
        return outs


class Backbone(nn.Module):
    """Wraps the trunk as ``body`` (the official ``backbone.0.body.*`` key layout)."""

    def __init__(self, body: ResNet):
        super().__init__()
        self.body = body

    @property
    def num_channels(self) -> List[int]:
        return self.body.num_channels

    def forward(self, images: torch.Tensor, mask: torch.Tensor):
        """images [B, 3, H, W], mask [B, H, W] (True on padding) -> [(feature, mask_l), ...]."""
        feats = self.body(images)
        return [(f, downsample_mask(mask, f.shape[-2:])) for f in feats]


class Joiner(nn.Sequential):
    """(backbone, position encoding) as in DETR: features, masks and positions per level."""

    def forward(self, images: torch.Tensor, mask: torch.Tensor):
        out = self[0](images, mask)
        pos = [self[1](m).to(f.dtype) for f, m in out]
        return [f for f, _ in out], [m for _, m in out], pos


def nearest_index(n_in: int, n_out: int) -> torch.Tensor:
    """torch's legacy 'nearest' source rows: min(floor(i * float32(n_in / n_out)), n_in - 1)."""
    scale = np.float32(n_in / n_out)
    idx = np.floor(np.arange(n_out, dtype=np.float32) * scale).astype(np.int64)
    return torch.from_numpy(np.minimum(idx, n_in - 1))


def downsample_mask(mask: torch.Tensor, size) -> torch.Tensor:
    """Padding mask [B, H, W] bool -> [B, h, w] bool by nearest interpolation (as DETR's
    ``F.interpolate``), written as a gather with constant indices: an exported graph whose mask
    comes in at run time then agrees with torch bit for bit (ONNX Resize rounds 5 / (8 / 120) to
    74, torch to 75)."""
    h, w = int(size[0]), int(size[1])
    rows = nearest_index(int(mask.shape[-2]), h).to(mask.device)
    cols = nearest_index(int(mask.shape[-1]), w).to(mask.device)
    return mask.index_select(1, rows).index_select(2, cols)


def empty_mask(images: torch.Tensor) -> torch.Tensor:
    """All-valid padding mask for a batch without padding: [B, H, W] False."""
    b, _, h, w = images.shape
    return torch.zeros((b, h, w), dtype=torch.bool, device=images.device)


def resnet50_config(**overrides) -> ResNetConfig:
    return dataclasses.replace(ResNetConfig(), **overrides)


def tiny_resnet_config(**overrides) -> ResNetConfig:
    """ResNet-18-like basic blocks, one block per stage, 1/4 of the channels (C5 = 128)."""
    return dataclasses.replace(ResNetConfig(block='basic', layers=(1, 1, 1, 1),
                                            planes=(16, 32, 64, 128), stem_channels=16),
                               **overrides)
