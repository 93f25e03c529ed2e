"""The V2I distillation run on the shared engine: two gloo DDP ranks equal one process, and a run
stopped and resumed ends with the same weights as one that never stopped.

H6's engine tests prove both generically on a toy MLP; these run the real thing: the tiny
Deformable DETR student distilled (TFD + CQD) from a frozen tiny teacher, clips read from disk,
flip augmentation, AdamW with the DETR lr groups, grad clipping 0.1 and the step lr drop.
Dropout is 0 (each DDP rank draws its own masks otherwise); the models have no BatchNorm
statistics (frozen BN, GroupNorm), so DDP can match one process.
"""
import sys

import pytest
import torch

from v2i_train_fixtures import write_tiny_video

from engine_subprocess import run_ok


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('v2i_engine')
    data = write_tiny_video(root / 'data', videos=1, frames=8)
    from training.models.detr import zoo
    torch.manual_seed(5)
    teacher = zoo.build('v2i_teacher_tiny', 1, dropout=0.0)
    ckpt = root / 'teacher.pt'
    torch.save(teacher.state_dict(), ckpt)
    common = ['v2i_distill_tiny_synth', f'train_json={data}', f'val_json={data}',
              f'test_json={data}', 'input_size=64,64', f'teacher_checkpoint={ckpt}',
              'dropout=0', 'batch_size=4', 'num_workers=0', 'progress=false',
              'tensorboard=false', 'eval_every=0', 'lr_drop_epochs=1', 'flip_prob=0.5']
    return root, common


def _load(path):
    return torch.load(path, weights_only=True)


def _initial_student():
    from training.models.detr import zoo
    torch.manual_seed(0)                                   # the engine seeds with cfg.seed
    return zoo.build('deformable_detr_tiny', 1, dropout=0.0).state_dict()


@pytest.mark.xdist_group('engine_subprocess')
def test_v2i_distill_ddp_two_ranks_equal_one_process(setup):
    root, common = setup
    run = common + ['max_steps=3']
    run_ok([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
            '-m', 'training.train'] + run + [f'output_dir={root / "ddp"}'])
    run_ok([sys.executable, '-m', 'training.train'] + run + [f'output_dir={root / "one"}'])
    ddp = _load(root / 'ddp' / 'v2i_distill_tiny_synth' / 'last.pt')
    one = _load(root / 'one' / 'v2i_distill_tiny_synth' / 'last.pt')
    assert ddp['world_size'] == 2 and one['world_size'] == 1 and ddp['step'] == one['step'] == 3
    assert not any(k.startswith('teacher') for k in one['model'])  # a plain student state
    init = _initial_student()
    assert set(one['model']) == set(init)
    worst = max((ddp['model'][k] - v).abs().max().item() for k, v in one['model'].items())
    moved = max((one['model'][k] - v).abs().max().item() for k, v in init.items())
    assert moved > 1e-4                                    # training moved the weights
    assert worst <= 1e-5, worst
    # the logged distillation terms agree too (all-reduced means over the ranks)
    import json
    logs = [[json.loads(x) for x in open(root / r / 'v2i_distill_tiny_synth' / 'log.jsonl')]
            for r in ('ddp', 'one')]
    last = [[e for e in lg if e['kind'] == 'train'][-1] for lg in logs]
    for key in ('loss_tfd', 'loss_cqd', 'loss_det'):
        assert abs(last[0][key] - last[1][key]) <= 1e-4 * max(1.0, abs(last[1][key])), key


@pytest.mark.slow
@pytest.mark.xdist_group('engine_subprocess')
def test_v2i_distill_resume_continues_exactly(setup):
    root, common = setup
    straight = root / 'straight'
    split = root / 'split'
    run_ok([sys.executable, '-m', 'training.train'] + common
           + ['max_steps=4', f'output_dir={straight}'])
    run_ok([sys.executable, '-m', 'training.train'] + common
           + ['max_steps=3', f'output_dir={split}'])                # stops mid-epoch 1
    run_ok([sys.executable, '-m', 'training.train'] + common
           + ['max_steps=4', 'resume=auto', f'output_dir={split}'])
    a = _load(straight / 'v2i_distill_tiny_synth' / 'last.pt')
    b = _load(split / 'v2i_distill_tiny_synth' / 'last.pt')
    assert a['step'] == b['step'] == 4
    for k, v in a['model'].items():
        assert torch.equal(v, b['model'][k]), k
    for ga, gb in zip(a['optimizer']['param_groups'], b['optimizer']['param_groups']):
        assert ga['lr'] == gb['lr']
    assert a['optimizer']['param_groups'][0]['lr'] == pytest.approx(2e-5)   # dropped at ep 1
