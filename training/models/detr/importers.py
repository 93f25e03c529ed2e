"""Checkpoint importers: torchvision ResNet-50 and official DETR / Deformable DETR / SAM-DETR.

Our models keep the official key layout (``backbone.0.body.*``, ``transformer.*``,
``class_embed``...), so importing is mostly renaming-free; what differs is handled here:
the DDP ``module.`` prefix, ``num_batches_tracked`` counters, the torchvision ``fc`` head,
SAM-DETR's duplicate ``transformer.decoder.bbox_embed.*`` alias, and class heads whose class
count differs from the model's (skipped and reported, as when fine-tuning from COCO).
"""
from typing import Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn as nn

BACKBONE_PREFIX = 'backbone.0.body.'


class ImportReport(dict):
    """{'loaded': [...], 'skipped': [(key, reason)], 'missing': [...]} of an import."""


def _unwrap(checkpoint) -> Dict[str, torch.Tensor]:
    if isinstance(checkpoint, Mapping) and 'model' in checkpoint and isinstance(
            checkpoint['model'], Mapping):
        checkpoint = checkpoint['model']
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f'checkpoint: expected a state dict or {{"model": state dict}}, got '
                         f'{type(checkpoint).__name__}')
    out = {}
    for k, v in checkpoint.items():
        out[k[len('module.'):] if k.startswith('module.') else k] = v
    return out


def _load(model: nn.Module, mapped: Dict[str, torch.Tensor], expected_missing_prefixes=(),
          skip_mismatched: bool = True) -> ImportReport:
    own = model.state_dict()
    loaded, skipped = [], []
    to_load = {}
    for k, v in mapped.items():
        if k.endswith('num_batches_tracked'):
            continue
        if k not in own:
            skipped.append((k, 'not in model'))
        elif tuple(own[k].shape) != tuple(v.shape):
            if not skip_mismatched:
                raise ValueError(f'checkpoint key {k}: shape {list(v.shape)}, model expects '
                                 f'{list(own[k].shape)}')
            skipped.append((k, f'shape {list(v.shape)} != {list(own[k].shape)}'))
        else:
            to_load[k] = v
            loaded.append(k)
    model.load_state_dict(to_load, strict=False)
    missing = [k for k in own if k not in to_load
               and not any(k.startswith(p) for p in expected_missing_prefixes)]
    return ImportReport(loaded=loaded, skipped=skipped, missing=missing)


def detect_detr_layout(state_dict: Mapping[str, torch.Tensor]) -> Optional[str]:
    """'detr', 'deformable-detr' or 'sam-detr' for an official DETR-family state dict (a
    ResNet under ``backbone.0.body.`` and a ``transformer``), else None. Deformable DETR has
    ``transformer.level_embed`` and MSDeformAttn ``sampling_offsets``; SAM-DETR's decoder its
    conditional self-attention projections (``sa_qcontent_proj``); DETR the plain
    ``multihead_attn`` decoder with ``query_embed``."""
    keys = list(state_dict)
    if not any(k.startswith(BACKBONE_PREFIX) for k in keys) or not any(
            k.startswith('transformer.') for k in keys):
        return None
    if 'transformer.level_embed' in state_dict or any('.sampling_offsets.' in k for k in keys):
        return 'deformable-detr'
    if any('.sa_qcontent_proj.' in k for k in keys):
        return 'sam-detr'
    if 'query_embed.weight' in state_dict and any('.multihead_attn.' in k for k in keys):
        return 'detr'
    return None


def load_torchvision_resnet50(model: nn.Module, state_dict) -> ImportReport:
    """Load a torchvision ``resnet50`` ImageNet state dict (keys ``conv1.weight``,
    ``layer1.0.bn1.running_mean``...) into ``model.backbone``; ``fc.*`` is dropped."""
    sd = _unwrap(state_dict)
    mapped = {BACKBONE_PREFIX + k: v for k, v in sd.items() if not k.startswith('fc.')}
    report = _load(model, mapped, skip_mismatched=False)
    report['missing'] = [k for k in report['missing'] if k.startswith(BACKBONE_PREFIX)]
    if report['missing']:
        raise ValueError(f'torchvision ResNet-50 state dict lacks {len(report["missing"])} '
                         f'backbone keys, e.g. {report["missing"][0]}')
    return report


def import_official_checkpoint(model: nn.Module, checkpoint,
                               skip_class_head: bool = False) -> ImportReport:
    """Load an official DETR / Deformable DETR / SAM-DETR checkpoint (``{'model': sd}``).

    Args:
        skip_class_head: drop ``class_embed`` weights (different classes); otherwise heads of a
            different shape are skipped anyway and reported in ``skipped``.

    Returns the report; ``missing`` lists model keys the checkpoint did not provide (other than
    class heads when they were skipped).
    """
    sd = _unwrap(checkpoint)
    own = model.state_dict()
    mapped = {}
    for k, v in sd.items():
        # SAM-DETR registers its box heads twice (model.bbox_embed and the decoder's alias)
        if k.startswith('transformer.decoder.bbox_embed.') and k not in own:
            continue
        if skip_class_head and 'class_embed' in k:
            continue
        mapped[k] = v
    heads = ('class_embed', 'transformer.decoder.class_embed')
    report = _load(model, mapped)
    skipped_heads = skip_class_head or any('class_embed' in k for k, _ in report['skipped'])
    if skipped_heads:
        report['missing'] = [k for k in report['missing'] if not k.startswith(heads)]
    return report


def official_key_shapes_detr(num_classes: int = 91) -> List[Tuple[str, Tuple[int, ...]]]:
    """A sample of the official DETR-R50 checkpoint's keys and shapes (facebookresearch/detr)."""
    return [
        ('backbone.0.body.conv1.weight', (64, 3, 7, 7)),
        ('backbone.0.body.layer1.0.downsample.1.running_var', (256,)),
        ('backbone.0.body.layer4.2.conv3.weight', (2048, 512, 1, 1)),
        ('input_proj.weight', (256, 2048, 1, 1)),
        ('query_embed.weight', (100, 256)),
        ('transformer.encoder.layers.5.self_attn.in_proj_weight', (768, 256)),
        ('transformer.decoder.layers.0.multihead_attn.out_proj.weight', (256, 256)),
        ('transformer.decoder.layers.3.linear1.weight', (2048, 256)),
        ('transformer.decoder.norm.weight', (256,)),
        ('class_embed.weight', (num_classes + 1, 256)),
        ('bbox_embed.layers.2.weight', (4, 256)),
    ]
