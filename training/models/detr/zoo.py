"""Named DETR-family models (v2i_detr.md) and their tiny CPU variants.

``MODELS[name](num_classes=None, **overrides) -> nn.Module``; ``num_classes`` defaults to 91
(COCO, the max-id + 1 convention) for *_r50 and 2 (one lesion class with id 1) for *_tiny.
``overrides`` replace fields of the model's config dataclass.

Tiny variants (CPU, 256x256 in tens of ms): ResNet-18-like basic blocks with one block per
stage and channels 16/32/64/128 (C5 = 128), d_model 64, 4 heads, 2 encoder + 2 decoder layers,
FFN 128 (Deformable) or 256 (DETR/SAM), 30 queries (the teacher's too, so CQD draws 10).
"""
import dataclasses
from typing import Callable, Dict, Optional

import torch.nn as nn

from .backbone import tiny_resnet_config
from .deformable_detr import DeformableDETR, DeformableDETRConfig
from .detr import DETR, DETRConfig
from .msi import MSIConfig
from .sam_detr import SAMDETR, SAMDETRConfig
from .v2i_teacher import V2ITeacher, V2ITeacherConfig

TINY = dict(d_model=64, nhead=4, enc_layers=2, dec_layers=2, num_queries=30)


def _cfg(cls, num_classes, default_classes, base: dict, overrides: dict):
    n = default_classes if num_classes is None else num_classes
    if n < 1:
        raise ValueError(f'num_classes {n}: expected >= 1')
    return dataclasses.replace(cls(**base), num_classes=n, **overrides)


def detr_r50(num_classes: Optional[int] = None, **kw) -> DETR:
    return DETR(_cfg(DETRConfig, num_classes, 91, {}, kw))


def deformable_detr_r50(num_classes: Optional[int] = None, **kw) -> DeformableDETR:
    return DeformableDETR(_cfg(DeformableDETRConfig, num_classes, 91, {}, kw))


def sam_detr_r50(num_classes: Optional[int] = None, **kw) -> SAMDETR:
    return SAMDETR(_cfg(SAMDETRConfig, num_classes, 91, {}, kw))


def v2i_teacher_r50(num_classes: Optional[int] = None, msi: Optional[MSIConfig] = None,
                    **kw) -> V2ITeacher:
    det = _cfg(DeformableDETRConfig, num_classes, 91, {}, kw)
    return V2ITeacher(V2ITeacherConfig(detector=det, msi=msi or MSIConfig()))


def detr_tiny(num_classes: Optional[int] = None, **kw) -> DETR:
    base = dict(TINY, dim_feedforward=256, backbone=tiny_resnet_config())
    return DETR(_cfg(DETRConfig, num_classes, 2, base, kw))


def _deformable_tiny_base() -> dict:
    return dict(TINY, dim_feedforward=128, backbone=tiny_resnet_config())


def deformable_detr_tiny(num_classes: Optional[int] = None, **kw) -> DeformableDETR:
    return DeformableDETR(_cfg(DeformableDETRConfig, num_classes, 2, _deformable_tiny_base(), kw))


def sam_detr_tiny(num_classes: Optional[int] = None, **kw) -> SAMDETR:
    base = dict(TINY, dim_feedforward=256, backbone=tiny_resnet_config())
    return SAMDETR(_cfg(SAMDETRConfig, num_classes, 2, base, kw))


def v2i_teacher_tiny(num_classes: Optional[int] = None, msi: Optional[MSIConfig] = None,
                     **kw) -> V2ITeacher:
    det = _cfg(DeformableDETRConfig, num_classes, 2, _deformable_tiny_base(), kw)
    return V2ITeacher(V2ITeacherConfig(detector=det, msi=msi or MSIConfig(nhead=4)))


MODELS: Dict[str, Callable[..., nn.Module]] = {
    'detr_r50': detr_r50, 'deformable_detr_r50': deformable_detr_r50,
    'sam_detr_r50': sam_detr_r50, 'v2i_teacher_r50': v2i_teacher_r50,
    'detr_tiny': detr_tiny, 'deformable_detr_tiny': deformable_detr_tiny,
    'sam_detr_tiny': sam_detr_tiny, 'v2i_teacher_tiny': v2i_teacher_tiny,
}
STUDENTS = ('detr_r50', 'deformable_detr_r50', 'sam_detr_r50', 'detr_tiny',
            'deformable_detr_tiny', 'sam_detr_tiny')


def build(name: str, num_classes: Optional[int] = None, **kw) -> nn.Module:
    if name not in MODELS:
        raise ValueError(f'model {name!r}: expected one of {sorted(MODELS)}')
    return MODELS[name](num_classes, **kw)


def count_trainable(model: nn.Module) -> int:
    """Trainable parameters, each shared tensor once (how the papers count)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def msi_overhead(model: nn.Module) -> int:
    """Trainable parameters of the teacher's MSI part."""
    if not hasattr(model, 'msi'):
        raise ValueError(f'{type(model).__name__} has no MSI part (expected a V2I teacher)')
    return count_trainable(model.msi)
