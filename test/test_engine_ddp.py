"""Two gloo DDP ranks give the same weights as one process on the same global batch.

The toy model has no BatchNorm: with BN each DDP rank normalises with its own half-batch
statistics (YOLOX trains that way, no SyncBN), which is a different computation from one process
seeing the whole batch, so no implementation could match there. Dropout is off for the same
reason (each rank draws its own masks). Everything else (sampler order, augmentation, weight
decay, Nesterov momentum, EMA, the warm-up schedule across an epoch boundary) must agree.
"""
import sys

import pytest
import torch

from engine_subprocess import run_ok


def _ddp_vs_single(tmp_path, overrides):
    common = ['toy_mlp', 'dropout=0', 'progress=false', 'batch_size=8'] + overrides
    run_ok([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
            '-m', 'training.train'] + common + [f'output_dir={tmp_path / "ddp"}'])
    run_ok([sys.executable, '-m', 'training.train'] + common + [f'output_dir={tmp_path / "one"}'])
    ddp = torch.load(tmp_path / 'ddp' / 'toy_mlp' / 'last.pt', weights_only=True)
    one = torch.load(tmp_path / 'one' / 'toy_mlp' / 'last.pt', weights_only=True)
    assert ddp['world_size'] == 2 and one['world_size'] == 1
    assert ddp['step'] == one['step'] > 0
    for key, ref in one['model'].items():
        assert torch.allclose(ddp['model'][key], ref, rtol=0, atol=1e-6), key
        assert torch.allclose(ddp['ema']['model'][key], one['ema']['model'][key],
                              rtol=0, atol=1e-6), key
    # The comparison means something only if training moved the weights.
    init = _initial_weights()
    moved = max((one['model'][k] - init[k]).abs().max().item() for k in init)
    assert moved > 1e-3
    return ddp, one


def _initial_weights():
    from training.exps.toy_mlp import Exp
    torch.manual_seed(Exp.config.seed)
    cfg = Exp.config
    import dataclasses
    exp = Exp(dataclasses.replace(cfg, dropout=0.0))
    train, _ = exp.build_datasets()
    return exp.build_model(train).state_dict()


@pytest.mark.xdist_group('engine_subprocess')
def test_ddp_two_ranks_equal_one_process_sgd(tmp_path):
    # 10 steps = 1.25 epochs of 8 steps: warm-up, the epoch boundary and a reshuffle.
    _ddp_vs_single(tmp_path, ['optimizer=sgd', 'max_steps=10', 'weight_decay=5e-4'])


@pytest.mark.slow
@pytest.mark.xdist_group('engine_subprocess')
def test_ddp_two_ranks_equal_one_process_adamw_clip_step_drop(tmp_path):
    # The V2I recipe: AdamW, a backbone lr group, grad clipping and a step drop at epoch 1.
    _ddp_vs_single(tmp_path, ['optimizer=adamw', 'lr=1e-3', 'lr_backbone=1e-4',
                              'weight_decay=1e-4', 'grad_clip=0.1', 'scheduler=step',
                              'lr_drop_epochs=1', 'max_steps=12'])
