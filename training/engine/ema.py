"""Exponential moving average of the weights: YOLOX 0.3.0 ``yolox/utils/ema.py::ModelEMA``.

decay(updates) = decay * (1 - exp(-updates / tau)), which ramps the average in over the first
few thousand steps; BN buffers are averaged like weights (every floating state-dict entry).
Sub-modules named by ``exclude_prefixes`` (a frozen distillation teacher) are left out: they are
constant, and copying them would double the teacher's memory for nothing.
"""
from __future__ import annotations

import copy
import math
from typing import Dict, Sequence

import torch
from torch import nn


def unwrap(model: nn.Module) -> nn.Module:
    """The bare module under DistributedDataParallel / DataParallel."""
    return model.module if hasattr(model, 'module') and isinstance(
        model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model


class ModelEMA:
    """Keeps ``self.ema``, an averaged copy of the model in eval mode without gradients."""

    def __init__(self, model: nn.Module, decay: float = 0.9998, tau: float = 2000.0,
                 updates: int = 0, exclude_prefixes: Sequence[str] = ()):
        self.ema = copy.deepcopy(unwrap(model)).eval()
        self.updates = updates
        self.base_decay = decay
        self.tau = tau
        self.exclude_prefixes = tuple(exclude_prefixes)
        for p in self.ema.parameters():
            p.requires_grad_(False)

    def decay(self, updates: int) -> float:
        return self.base_decay * (1 - math.exp(-updates / self.tau))

    def _included(self, key: str) -> bool:
        return not any(key.startswith(p) for p in self.exclude_prefixes)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.decay(self.updates)
        msd = unwrap(model).state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point and self._included(k):
                v *= d
                v += (1.0 - d) * msd[k].detach()

    def state_dict(self) -> Dict:
        return {'updates': self.updates,
                'model': {k: v for k, v in self.ema.state_dict().items() if self._included(k)}}

    def load_state_dict(self, state: Dict) -> None:
        self.updates = int(state['updates'])
        missing, unexpected = self.ema.load_state_dict(state['model'], strict=False)
        missing = [k for k in missing if self._included(k)]
        if missing or unexpected:
            raise ValueError(f'EMA state: missing keys {missing[:3]}, unexpected '
                             f'{list(unexpected)[:3]}')
