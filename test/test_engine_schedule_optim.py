"""LR schedules, parameter groups, EMA and config overrides against independent references."""
import dataclasses
import math

import pytest
import torch
from torch import nn

from training.engine.config import (TrainConfig, apply_overrides, check_config, format_config)
from training.engine.ema import ModelEMA
from training.engine.lr import LRSchedule
from training.engine.optim import build_optimizer, detr_param_groups, yolox_param_groups


def test_yoloxwarmcos_matches_hand_computed_values():
    base, ipe = 0.01, 10                        # 3 epochs, 1 warm-up, 1 no-aug
    s = LRSchedule('yoloxwarmcos', base, ipe, max_epoch=3, warmup_epochs=1, warmup_lr=0,
                   min_lr_ratio=0.05, no_aug_epochs=1)
    # YOLOX evaluates the schedule at iteration i + 1 for optimizer step i.
    assert s.lr_at(0) == pytest.approx(base * (1 / 10) ** 2)
    assert s.lr_at(4) == pytest.approx(base * (5 / 10) ** 2)
    assert s.lr_at(9) == pytest.approx(base)
    cos = 0.0005 + 0.5 * (base - 0.0005) * (1 + math.cos(math.pi * (13 - 10) / (30 - 10 - 10)))
    assert s.lr_at(12) == pytest.approx(cos)
    assert s.lr_at(19) == pytest.approx(0.0005) and s.lr_at(29) == pytest.approx(0.0005)


def test_released_streamnet_schedule_is_warmup_then_constant_five_percent():
    # spec §6: no_aug_epochs == max_epoch empties the cosine part.
    s = LRSchedule('yoloxwarmcos', 2.5e-4, 100, max_epoch=8, warmup_epochs=1,
                   min_lr_ratio=0.05, no_aug_epochs=8)
    assert s.lr_at(98) < 2.5e-4 and s.lr_at(99) == pytest.approx(2.5e-4)
    assert {round(s.lr_at(i), 12) for i in range(100, 800)} == {round(0.05 * 2.5e-4, 12)}


def test_step_drop_matches_torch_multisteplr():
    p = nn.Parameter(torch.zeros(1))
    ref_opt = torch.optim.SGD([p], lr=1e-4)
    ref = torch.optim.lr_scheduler.MultiStepLR(ref_opt, milestones=[10, 11], gamma=0.1)
    s = LRSchedule('step', 1e-4, iters_per_epoch=7, max_epoch=12, drop_epochs=(10, 11))
    for epoch in range(12):
        for it in range(7):
            assert s.lr_at(epoch * 7 + it) == pytest.approx(ref_opt.param_groups[0]['lr'])
        ref_opt.step()
        ref.step()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.stem_bn = nn.BatchNorm2d(4)
        self.sampling_offsets = nn.Linear(4, 8)
        self.head = nn.Linear(8, 2)
        self.query = nn.Parameter(torch.zeros(5, 8))
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def _yolox_reference_groups(model):
    """YOLOX 0.3.0 Exp.get_optimizer's loop, verbatim in logic."""
    pg0, pg1, pg2 = [], [], []
    for k, v in model.named_modules():
        if hasattr(v, 'bias') and isinstance(v.bias, nn.Parameter):
            pg2.append(v.bias)
        if isinstance(v, nn.BatchNorm2d) or 'bn' in k:
            pg0.append(v.weight)
        elif hasattr(v, 'weight') and isinstance(v.weight, nn.Parameter):
            pg1.append(v.weight)
    return pg0, pg1, pg2


def test_yolox_groups_match_yolox_loop_and_skip_frozen():
    model = Net()
    groups = yolox_param_groups(model, 5e-4)
    ref = _yolox_reference_groups(model)
    ids = lambda ps: {id(p) for p in ps if p.requires_grad}   # noqa: E731
    assert ids(groups[0]['params']) == ids(ref[0])
    assert ids(groups[1]['params']) == ids(ref[1]) | {id(model.query)}   # YOLOX would drop it
    assert ids(groups[2]['params']) == ids(ref[2])
    assert [g['weight_decay'] for g in groups] == [0.0, 5e-4, 0.0]
    cfg = TrainConfig(optimizer='sgd')
    opt = build_optimizer(groups, cfg, 0.01)
    assert all(g['nesterov'] and g['momentum'] == 0.9 for g in opt.param_groups)
    assert sum(len(g['params']) for g in opt.param_groups) == sum(
        1 for p in model.parameters() if p.requires_grad)


def test_detr_groups_lrs_follow_deformable_detr():
    model = Net()
    groups = detr_param_groups(model, 2e-4, 2e-5)
    cfg = TrainConfig(optimizer='adamw', weight_decay=1e-4)
    opt = build_optimizer(groups, cfg, 2e-4)
    lrs = {g['name']: g['lr'] for g in opt.param_groups}
    assert lrs == pytest.approx({'rest': 2e-4, 'backbone': 2e-5, 'linear_proj': 2e-5})
    LRSchedule('step', 2e-4, 10, 50, drop_epochs=(40,)).apply(opt, 400)
    lrs = {g['name']: g['lr'] for g in opt.param_groups}
    assert lrs == pytest.approx({'rest': 2e-5, 'backbone': 2e-6, 'linear_proj': 2e-6})
    assert isinstance(opt, torch.optim.AdamW)


def test_ema_follows_yolox_formula():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    ema = ModelEMA(model, decay=0.9998, tau=2000.0)
    ref = model.weight.detach().clone()
    for step in range(1, 4):
        with torch.no_grad():
            model.weight.add_(1.0)
        ema.update(model)
        d = 0.9998 * (1 - math.exp(-step / 2000))
        ref = d * ref + (1 - d) * model.weight.detach()
    assert torch.allclose(ema.ema.weight, ref, atol=1e-6)
    assert not ema.ema.weight.requires_grad


def test_overrides_are_type_checked():
    cfg = apply_overrides(TrainConfig(), ['max_epoch=3', 'lr=1e-3', 'ema=false',
                                          'lr_drop_epochs=10,11', 'betas=0.9,0.95',
                                          'optimizer=adamw'])
    assert (cfg.max_epoch, cfg.lr, cfg.ema, cfg.lr_drop_epochs, cfg.betas) == \
        (3, 1e-3, False, (10, 11), (0.9, 0.95))
    for bad, msg in (('max_epoch=two', 'expected int'), ('ema=maybe', 'boolean'),
                     ('lrr=1', 'no such config field'), ('betas=1', 'expected 2'),
                     ('noequals', 'key=value')):
        with pytest.raises(ValueError, match=msg):
            apply_overrides(TrainConfig(), [bad])
    with pytest.raises(ValueError, match='no_aug_epochs'):
        check_config(dataclasses.replace(TrainConfig(), max_epoch=4, no_aug_epochs=15))
    assert 'batch_size' in format_config(TrainConfig())
