"""Named StreamNet-family configs (plain dataclasses) and their builders.

``MODELS[name](num_classes=None, **overrides) -> nn.Module``; the default class count is 8
(Argoverse-HD) for streamnet_* and still_teacher_l and 80 (COCO) for yolox_*.
"""
import dataclasses
from typing import Callable, Dict, Optional, Tuple

import torch.nn as nn

from .model import StillDetector, StreamNet

ARGOVERSE_CLASSES = ('person', 'bicycle', 'car', 'motorcycle', 'bus', 'truck', 'traffic_light',
                     'stop_sign')


@dataclasses.dataclass
class StreamNetConfig:
    depth: float = 0.33                     # backbone depth multiplier
    width: float = 0.50                     # backbone/head width multiplier
    num_classes: int = 8
    neck_depth: float = 1.0                 # DRFPN: round(3 * 1.0) = 3 blocks for every size
    hidden_ratio: float = 0.75              # DRM block hidden width (S 0.75, M/L 1.0)
    dcn: bool = True
    short_channels: Tuple[int, ...] = (64, 128, 256)
    # ((frames, per-level channels), ...): S/M share one conv over the 3 history frames.
    long_groups: Tuple = ((3, (21, 42, 85)),)
    fusion: str = 'long_fusion'             # or 'pure_concat'
    shortcut: bool = True                   # + current frame's un-reduced P_l
    history_step: int = 1                   # dt in frames (for the buffer and the data)
    strides: Tuple[int, ...] = (8, 16, 32)
    act: str = 'silu'
    tal_tau: float = 0.5
    tal_nu: float = 1.5
    kd_weight: float = 0.2                  # AK-distillation factor (S 0.2, M 0.4, L 0.1)
    input_size: Tuple[int, int] = (600, 960)  # (height, width)
    neck: str = 'drfpn'                     # 'drfpn' (DAMO-StreamNet) or YOLOX 'pafpn'
    # StreamYOLO's DFP: the support frame is reduced by the current frame's short conv (one
    # 1x1 per level shared by both, ``jian2/1/0``); needs one history frame of short width
    shared_reduction: bool = False

    @property
    def history_frames(self) -> int:
        return sum(n for n, _ in self.long_groups)


@dataclasses.dataclass
class StillConfig:
    depth: float = 1.0
    width: float = 1.0
    num_classes: int = 80
    dfp: bool = False                       # StreamYOLO DFP (the 'still' teacher)
    depthwise: bool = False
    strides: Tuple[int, ...] = (8, 16, 32)
    act: str = 'silu'
    tal_tau: float = 0.5
    tal_nu: float = 1.6
    history_step: int = 1                   # served as an N = 0 bundle
    input_size: Tuple[int, int] = (640, 640)


STREAMNET_CONFIGS: Dict[str, StreamNetConfig] = {
    # CPU-sized: 0.33 depth, 0.125 width, DRFPN with 1 block per stage.
    'streamnet_tiny': StreamNetConfig(
        depth=0.33, width=0.125, neck_depth=1 / 3, hidden_ratio=1.0,
        short_channels=(16, 32, 64), long_groups=((3, (5, 10, 21)),), input_size=(192, 320)),
    'streamnet_s': StreamNetConfig(),
    'streamnet_m': StreamNetConfig(
        depth=0.67, width=0.75, hidden_ratio=1.0, short_channels=(96, 192, 384),
        long_groups=((3, (32, 64, 128)),), kd_weight=0.4),
    'streamnet_l': StreamNetConfig(
        depth=1.0, width=1.0, hidden_ratio=1.0, short_channels=(128, 256, 512),
        long_groups=((2, (42, 85, 170)), (1, (44, 86, 172))), kd_weight=0.1),
}


def _baseline(base: str, **overrides) -> StreamNetConfig:
    return dataclasses.replace(STREAMNET_CONFIGS[base], **overrides)


def _streamyolo(base: str, neck: str, **overrides) -> StreamNetConfig:
    """StreamYOLO (spec §3, §4): one history frame, DFP (Concat[R(P_t), R(P_t-1)] + P_t with
    one R per level, to C/2), no Phi; AK-distillation off (StreamYOLO has none)."""
    half = tuple(int(64 * STREAMNET_CONFIGS[base].width) * m // 2 for m in (4, 8, 16))
    return _baseline(base, neck=neck, short_channels=half, long_groups=((1, half),),
                     fusion='pure_concat', shared_reduction=True, **overrides)


# The baselines of DAMO-StreamNet's Table 2 (Argoverse-HD, 600x960; spec §3 table and §4 TAL
# values): StreamYOLO and LongShortNet with YOLOX's PAFPN, and StreamYOLO with the DRFPN.
# LongShortNet with the DRFPN is streamnet_* itself trained without AK-distillation.
STREAMNET_CONFIGS.update({
    'longshortnet_s': _baseline('streamnet_s', neck='pafpn'),
    'longshortnet_m': _baseline('streamnet_m', neck='pafpn', fusion='pure_concat', tal_tau=0.4,
                                tal_nu=1.7),
    'longshortnet_l': _baseline('streamnet_l', neck='pafpn', fusion='pure_concat', tal_nu=1.6),
    'streamyolo_s': _streamyolo('streamnet_s', 'pafpn'),
    'streamyolo_m': _streamyolo('streamnet_m', 'pafpn', tal_tau=0.4, tal_nu=1.7),
    'streamyolo_l': _streamyolo('streamnet_l', 'pafpn', tal_nu=1.6),
    'streamyolo_drfpn_s': _streamyolo('streamnet_s', 'drfpn'),
    'streamyolo_drfpn_m': _streamyolo('streamnet_m', 'drfpn', tal_tau=0.4, tal_nu=1.7),
    'streamyolo_drfpn_l': _streamyolo('streamnet_l', 'drfpn', tal_nu=1.6),
})

STILL_CONFIGS: Dict[str, StillConfig] = {
    'still_teacher_l': StillConfig(depth=1.0, width=1.0, num_classes=8, dfp=True,
                                   input_size=(600, 960)),
    # the released YOLOX sizes (exps/default/yolox_{nano,tiny,s,m,l}.py), COCO's 80 classes
    'yolox_nano': StillConfig(depth=0.33, width=0.25, depthwise=True, input_size=(416, 416)),
    'yolox_tiny': StillConfig(depth=0.33, width=0.375, input_size=(416, 416)),
    'yolox_s': StillConfig(depth=0.33, width=0.50),
    'yolox_m': StillConfig(depth=0.67, width=0.75),
    'yolox_l': StillConfig(depth=1.0, width=1.0),
}


def make_config(name: str, num_classes: Optional[int] = None, **overrides):
    """A copy of the named config with ``num_classes`` and any field overridden."""
    if name in STREAMNET_CONFIGS:
        base = STREAMNET_CONFIGS[name]
    elif name in STILL_CONFIGS:
        base = STILL_CONFIGS[name]
    else:
        raise ValueError(f'model {name!r} unknown; expected one of '
                         f'{", ".join(list(STREAMNET_CONFIGS) + list(STILL_CONFIGS))}')
    if num_classes is not None:
        overrides['num_classes'] = num_classes
    fields = {f.name for f in dataclasses.fields(base)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f'{name}: unknown config fields {sorted(unknown)}; expected some of '
                         f'{sorted(fields)}')
    cfg = dataclasses.replace(base, **overrides)
    if (isinstance(cfg, StreamNetConfig) and not cfg.long_groups
            and 'short_channels' not in overrides):
        # N = 0: with no long path the short conv must keep the full neck width for the
        # residual add (F = S(P) + P).
        cfg.short_channels = tuple(int(64 * cfg.width) * m for m in (4, 8, 16))
    return cfg


def _builder(name: str) -> Callable[..., nn.Module]:
    def build(num_classes: Optional[int] = None, **overrides) -> nn.Module:
        cfg = make_config(name, num_classes, **overrides)
        return StreamNet(cfg) if isinstance(cfg, StreamNetConfig) else StillDetector(cfg)
    build.__name__ = f'build_{name}'
    build.__doc__ = f'Build {name} (see zoo.py for its config).'
    return build


MODELS: Dict[str, Callable[..., nn.Module]] = {
    name: _builder(name) for name in list(STREAMNET_CONFIGS) + list(STILL_CONFIGS)}
