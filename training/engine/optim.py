"""Optimizers and their parameter groups.

* SGD (momentum 0.9, Nesterov) with YOLOX's three groups: BN weights without decay, conv/linear
  weights with decay, biases without decay (YOLOX 0.3.0 ``Exp.get_optimizer``).
* AdamW with (Deformable) DETR's lr groups: the backbone at ``lr_backbone``, the deformable
  attention's ``sampling_offsets`` / ``reference_points`` at lr x ``lr_linear_proj_mult``, the rest
  at ``lr`` (Deformable DETR ``main.py`` with ``match_name_keywords``).

Every group carries ``lr_scale`` (its lr over the base lr) so one schedule drives all groups.
Frozen parameters (a distillation teacher) never enter a group.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import torch
from torch import nn

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.GroupNorm,
          nn.LayerNorm)


def _match_name_keywords(name: str, keywords: Sequence[str]) -> bool:
    return any(k in name for k in keywords)


def yolox_param_groups(model: nn.Module, weight_decay: float) -> List[Dict]:
    """YOLOX's split: [BN weights (no decay), weights (decay), biases (no decay)].

    YOLOX tests ``isinstance(v, nn.BatchNorm2d) or 'bn' in k`` per module; any trainable tensor
    its loop would miss (a bare ``nn.Parameter``) goes to the decay group when it is a matrix and
    to the no-decay group otherwise, so nothing trainable is silently left out.
    """
    norm_w, weights, biases = [], [], []
    seen = set()
    for mod_name, mod in model.named_modules():
        bias = getattr(mod, 'bias', None)
        if isinstance(bias, nn.Parameter) and bias.requires_grad and id(bias) not in seen:
            biases.append(bias)
            seen.add(id(bias))
        weight = getattr(mod, 'weight', None)
        if not (isinstance(weight, nn.Parameter) and weight.requires_grad) or id(weight) in seen:
            continue
        seen.add(id(weight))
        if isinstance(mod, _NORMS) or 'bn' in mod_name.split('.')[-1]:
            norm_w.append(weight)
        else:
            weights.append(weight)
    for p in model.parameters():
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            (weights if p.ndim > 1 else biases).append(p)
    return [{'params': norm_w, 'weight_decay': 0.0, 'lr_scale': 1.0, 'name': 'norm'},
            {'params': weights, 'weight_decay': weight_decay, 'lr_scale': 1.0, 'name': 'decay'},
            {'params': biases, 'weight_decay': 0.0, 'lr_scale': 1.0, 'name': 'bias'}]


def detr_param_groups(model: nn.Module, lr: float, lr_backbone: float,
                      backbone_names: Sequence[str] = ('backbone.',),
                      linear_proj_names: Sequence[str] = ('reference_points', 'sampling_offsets'),
                      linear_proj_mult: float = 0.1) -> List[Dict]:
    """Deformable DETR's groups: rest at lr, backbone at lr_backbone, linear_proj at lr x mult.

    With ``linear_proj_names=()`` this is plain DETR's two groups. Weight decay comes from the
    optimizer default (DETR decays every parameter, biases and norms included).
    """
    rest, backbone, proj = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if _match_name_keywords(name, backbone_names):
            backbone.append(p)
        elif linear_proj_names and _match_name_keywords(name, linear_proj_names):
            proj.append(p)
        else:
            rest.append(p)
    groups = [{'params': rest, 'lr_scale': 1.0, 'name': 'rest'},
              {'params': backbone, 'lr_scale': lr_backbone / lr if lr > 0 else 0.0,
               'name': 'backbone'}]
    if linear_proj_names:
        groups.append({'params': proj, 'lr_scale': linear_proj_mult, 'name': 'linear_proj'})
    return groups


def default_param_groups(model: nn.Module, cfg, base_lr: float) -> List[Dict]:
    """The groups the config's optimizer expects (what ``Exp.param_groups`` returns by default)."""
    if cfg.optimizer == 'sgd':
        return yolox_param_groups(model, cfg.weight_decay)
    lr_backbone = cfg.lr_backbone if cfg.lr_backbone >= 0 else base_lr
    return detr_param_groups(model, base_lr, lr_backbone, cfg.backbone_names,
                             cfg.lr_linear_proj_names, cfg.lr_linear_proj_mult)


def build_optimizer(groups: List[Dict], cfg, base_lr: float) -> torch.optim.Optimizer:
    """SGD-Nesterov or AdamW over ``groups``; empty groups are dropped, lrs set from lr_scale."""
    groups = [dict(g) for g in groups if len(g['params'])]
    if not groups:
        raise ValueError('optimizer: the model has no trainable parameters')
    for g in groups:
        g.setdefault('lr_scale', 1.0)
        g['lr'] = base_lr * g['lr_scale']
    if cfg.optimizer == 'sgd':
        return torch.optim.SGD(groups, lr=base_lr, momentum=cfg.momentum,
                               nesterov=cfg.nesterov, weight_decay=cfg.weight_decay)
    if cfg.optimizer == 'adamw':
        return torch.optim.AdamW(groups, lr=base_lr, betas=tuple(cfg.betas),
                                 weight_decay=cfg.weight_decay)
    raise ValueError(f'optimizer: unknown {cfg.optimizer!r}; expected sgd or adamw')
