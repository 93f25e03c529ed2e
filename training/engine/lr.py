"""Learning-rate schedules as pure functions of the global step (so resume needs only the step).

* ``yoloxwarmcos``: YOLOX 0.3.0 ``yolox_warm_cos_lr`` (quadratic warm-up, cosine, then ``min_lr``
  for the last ``no_aug_epochs``). DAMO-StreamNet's configs set no_aug_epochs = max_epoch, so its
  cosine part is empty: warm-up, then a constant 5 % of the base lr (spec §6, "the code's
  schedule"); the StreamNet experiments reproduce that by setting the same fields.
* ``step``: DETR's ``StepLR`` per epoch (x lr_drop_factor at each epoch of ``lr_drop_epochs``).
* ``constant``.

Like YOLOX's trainer, the lr used for the optimizer step with 0-based index ``i`` is the
schedule at iteration ``i + 1`` (``update_lr(progress_in_iter + 1)``).
"""
from __future__ import annotations

import math
from typing import Dict, Sequence


def yolox_warm_cos_lr(lr: float, min_lr_ratio: float, total_iters: int, warmup_total_iters: int,
                      warmup_lr_start: float, no_aug_iter: int, iters: int) -> float:
    """YOLOX 0.3.0 ``yolox/utils/lr_scheduler.py::yolox_warm_cos_lr``, line for line."""
    min_lr = lr * min_lr_ratio
    if iters <= warmup_total_iters:
        lr = (lr - warmup_lr_start) * pow(iters / float(warmup_total_iters), 2) + warmup_lr_start
    elif iters >= total_iters - no_aug_iter:
        lr = min_lr
    else:
        lr = min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(
            math.pi * (iters - warmup_total_iters)
            / (total_iters - warmup_total_iters - no_aug_iter)))
    return lr


def step_drop_lr(lr: float, drop_epochs: Sequence[int], factor: float, epoch: int) -> float:
    """DETR ``StepLR``/``MultiStepLR``: the lr is multiplied by ``factor`` at each drop epoch."""
    return lr * factor ** sum(1 for e in drop_epochs if epoch >= e)


class LRSchedule:
    """``lr_at(step)`` for 0-based optimizer step ``step``; stateless apart from its settings.

    Args:
        name: 'yoloxwarmcos', 'step' or 'constant'.
        base_lr: the lr every group's ``lr_scale`` multiplies.
        iters_per_epoch: optimizer steps per epoch (per rank; equal on every rank).
        max_epoch, warmup_epochs, warmup_lr, min_lr_ratio, no_aug_epochs: YOLOX settings.
        drop_epochs, drop_factor: step-drop settings.
    """

    def __init__(self, name: str, base_lr: float, iters_per_epoch: int, max_epoch: int,
                 warmup_epochs: float = 0.0, warmup_lr: float = 0.0, min_lr_ratio: float = 0.05,
                 no_aug_epochs: int = 0, drop_epochs: Sequence[int] = (),
                 drop_factor: float = 0.1):
        if iters_per_epoch < 1:
            raise ValueError(f'LRSchedule: iters_per_epoch must be >= 1, got {iters_per_epoch}')
        self.name = name
        self.base_lr = float(base_lr)
        self.iters_per_epoch = int(iters_per_epoch)
        self.max_epoch = int(max_epoch)
        self.warmup_iters = int(round(warmup_epochs * iters_per_epoch))
        self.warmup_lr = float(warmup_lr)
        self.min_lr_ratio = float(min_lr_ratio)
        self.no_aug_iters = int(no_aug_epochs * iters_per_epoch)
        self.drop_epochs = tuple(int(e) for e in drop_epochs)
        self.drop_factor = float(drop_factor)
        if name not in ('yoloxwarmcos', 'step', 'constant'):
            raise ValueError(f'LRSchedule: unknown schedule {name!r}; expected yoloxwarmcos, '
                             f'step or constant')

    @classmethod
    def from_config(cls, cfg, base_lr: float, iters_per_epoch: int) -> 'LRSchedule':
        return cls(cfg.scheduler, base_lr, iters_per_epoch, cfg.max_epoch, cfg.warmup_epochs,
                   cfg.warmup_lr, cfg.min_lr_ratio, cfg.no_aug_epochs, cfg.lr_drop_epochs,
                   cfg.lr_drop_factor)

    def lr_at(self, step: int) -> float:
        if self.name == 'constant':
            return self.base_lr
        if self.name == 'step':
            return step_drop_lr(self.base_lr, self.drop_epochs, self.drop_factor,
                                step // self.iters_per_epoch)
        total = self.max_epoch * self.iters_per_epoch
        if self.warmup_iters == 0:
            # YOLOX divides by the warm-up length; with none, start on the cosine directly.
            it = step + 1
            if it >= total - self.no_aug_iters:
                return self.base_lr * self.min_lr_ratio
            min_lr = self.base_lr * self.min_lr_ratio
            return min_lr + 0.5 * (self.base_lr - min_lr) * (
                1.0 + math.cos(math.pi * it / (total - self.no_aug_iters)))
        return yolox_warm_cos_lr(self.base_lr, self.min_lr_ratio, total, self.warmup_iters,
                                 self.warmup_lr, self.no_aug_iters, step + 1)

    def apply(self, optimizer, step: int) -> float:
        """Set every param group's lr to ``lr_at(step) * group['lr_scale']``; returns the base."""
        lr = self.lr_at(step)
        for group in optimizer.param_groups:
            group['lr'] = lr * group.get('lr_scale', 1.0)
        return lr

    def state_dict(self) -> Dict:
        return {k: v for k, v in vars(self).items()}

    def load_state_dict(self, state: Dict) -> None:
        mine = self.state_dict()
        diff = [k for k in mine if k in state and mine[k] != state[k]]
        if diff:
            # A resumed run must follow the schedule it started with; a silent change would
            # break exact resume. Report the first differing setting.
            k = diff[0]
            raise ValueError(f'resume: lr schedule setting {k!r} differs from the checkpoint '
                             f'({mine[k]!r} now, {state[k]!r} saved)')
