"""The V2I distillation step: the frozen teacher gets no gradient and never changes, the appended
CQD queries leave L_det as it is, and the ablation flags switch exactly their term."""
import copy

import pytest
import torch

from training.models.detr import zoo
from training.models.detr.tfd import tfd_loss, tfd_masks
from training.models.detr.distill import DistillConfig, V2IDistiller, build_criterion


def _batch(b=2, size=64):
    gen = torch.Generator().manual_seed(0)
    clips = torch.randn(b, 3, 3, size, size, generator=gen)
    masks = torch.zeros(b, size, size, dtype=torch.bool)
    masks[1, :, 48:] = True                                          # second image 64x48
    targets = [{'labels': torch.tensor([0]), 'boxes': torch.tensor([[0.5, 0.4, 0.3, 0.3]]),
                'size': torch.tensor([size, size])},
               {'labels': torch.tensor([0, 0]),
                'boxes': torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.7, 0.6, 0.3, 0.2]]),
                'size': torch.tensor([size, 48])}]
    return {'clips': clips, 'images': clips[:, -1], 'masks': masks, 'targets': targets}


@pytest.fixture(scope='module')
def teacher():
    torch.manual_seed(0)
    return zoo.build('v2i_teacher_tiny', 1, dropout=0.0)


@pytest.mark.parametrize('name', ['deformable_detr_tiny', 'detr_tiny', 'sam_detr_tiny'])
def test_frozen_teacher_gets_zero_gradient_and_does_not_move(name, teacher):
    torch.manual_seed(1)
    student = zoo.build(name, 1, dropout=0.0).train()
    t = copy.deepcopy(teacher)
    before = {k: v.clone() for k, v in t.state_dict().items()}
    dist = V2IDistiller(t, build_criterion(student, 1), DistillConfig())
    opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], 1e-2)
    for step in range(2):
        losses = dist(student, _batch(), step)
        assert {'loss_tfd', 'loss_cqd'} <= set(losses)
        opt.zero_grad()
        losses['total_loss'].backward()
        assert all(p.grad is None and not p.requires_grad for p in t.parameters())
        opt.step()
    assert not t.training
    for k, v in t.state_dict().items():
        assert torch.equal(v, before[k]), k
    # gradients did reach the student through both distillation terms
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())


def test_terms_and_flags(teacher):
    torch.manual_seed(2)
    student = zoo.build('deformable_detr_tiny', 1, dropout=0.0).eval()
    crit = build_criterion(student, 1)
    batch = _batch()
    plain = V2IDistiller(None, crit)(student, batch)
    assert 'loss_tfd' not in plain and 'loss_cqd' not in plain
    # L_det alone equals the criterion on a plain forward (no teacher anywhere)
    ref = sum(crit(student(batch['images'], batch['masks']), batch['targets']).values())
    assert torch.allclose(plain['total_loss'], ref, atol=1e-5)
    full = V2IDistiller(copy.deepcopy(teacher), crit, DistillConfig())(student, batch, step=3)
    # the appended (masked) queries change nothing in the detection losses
    for k, v in plain.items():
        if k.startswith('loss_') and k != 'loss_det':
            assert torch.allclose(full[k], v, atol=1e-5), k
    # TFD by hand from the mask builder and the L1 on the teacher's key-frame feature
    with torch.no_grad():
        t_out = teacher(batch['clips'], batch['masks'])
        s_out = student(batch['images'], batch['masks'])
    fs = s_out['features']
    vr = torch.tensor([[1.0, 1.0], [0.75, 1.0]])
    mask = tfd_masks(batch['targets'], fs.shape[-2], fs.shape[-1], valid_ratios=vr)
    want_tfd = tfd_loss(fs, t_out['features'], mask)
    assert torch.allclose(full['loss_tfd'], want_tfd, atol=1e-5)
    assert -5.0 <= full['loss_cqd'].item() <= 5.0                   # 5 * (-cos)
    assert torch.allclose(full['total_loss'],
                          full['loss_det'] + full['loss_tfd'] + full['loss_cqd'], atol=1e-5)
    tfd_only = V2IDistiller(copy.deepcopy(teacher), crit,
                            DistillConfig(use_cqd=False))(student, batch)
    cqd_only = V2IDistiller(copy.deepcopy(teacher), crit,
                            DistillConfig(use_tfd=False))(student, batch, step=3)
    assert 'loss_cqd' not in tfd_only and 'loss_tfd' not in cqd_only
    assert torch.allclose(cqd_only['loss_cqd'], full['loss_cqd'], atol=1e-6)  # same step draw


def test_cqd_draw_is_a_function_of_seed_and_step(teacher):
    crit = build_criterion(teacher, 1)
    a = V2IDistiller(copy.deepcopy(teacher), crit, DistillConfig(seed=4))
    b = V2IDistiller(copy.deepcopy(teacher), crit, DistillConfig(seed=4))
    torch.manual_seed(123)                                            # global RNG is not used
    da = [a.draw(s) for s in range(3)]
    torch.manual_seed(999)
    db = [b.draw(s) for s in range(3)]
    for x, y in zip(da, db):
        assert torch.equal(x, y)
        assert len(x) == teacher.num_queries // 3 == len(set(x.tolist()))
    assert not torch.equal(da[0], da[1])
