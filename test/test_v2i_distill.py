"""V2I distillation: CQD masking / draw / loss, TFD mask and loss, the teacher's MSI wiring."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from training.models.detr import zoo
from training.models.detr.cqd import CQD
from training.models.detr.deformable_detr import DeformableDETR
from training.models.detr.tfd import box_sigmas, gaussian_mask, tfd_loss, tfd_masks


@pytest.fixture(scope='module')
def teacher():
    torch.manual_seed(0)
    return zoo.build('v2i_teacher_tiny').eval()


@pytest.mark.parametrize('name', ['deformable_detr_tiny', 'detr_tiny', 'sam_detr_tiny'])
def test_cqd_appended_queries_leave_student_outputs_unchanged(name, teacher):
    torch.manual_seed(1)
    student = zoo.build(name).eval()
    images = torch.randn(2, 3, 128, 128)
    masks = torch.zeros(2, 128, 128, dtype=torch.bool)
    masks[1, :, 96:] = True                                     # a padded image too
    cqd = CQD(teacher.num_queries, num_frames=3)
    idx = cqd.draw()
    with torch.no_grad():
        t_out = teacher(torch.randn(2, 3, 3, 128, 128), masks)
        extra = cqd.extra_queries(teacher, idx, 2, t_out)
        plain = student(images, masks)
        appended = student(images, masks, extra_queries=extra)
    assert 'extra_queries' not in plain                         # inference has none
    assert appended['extra_queries'].shape == (2, cqd.n, 64)
    for key in ('pred_logits', 'pred_boxes', 'queries'):
        assert plain[key].shape == appended[key].shape
        assert (plain[key] - appended[key]).abs().max() <= 1e-5, key
    for a, b in zip(plain['aux_outputs'], appended['aux_outputs']):
        assert (a['pred_logits'] - b['pred_logits']).abs().max() <= 1e-5


def test_cqd_unmasked_appended_queries_do_change_outputs(teacher):
    """Control (and the "no mask" ablation): without the block mask the appended queries leak
    into the student's own outputs."""
    torch.manual_seed(1)
    student = zoo.build('deformable_detr_tiny').eval()
    images = torch.randn(1, 3, 128, 128)
    cqd = CQD(teacher.num_queries, 3, masked=False)
    extra = cqd.extra_queries(teacher, cqd.draw(), 1)
    with torch.no_grad():
        leaked = student(images, None, extra_queries=extra)['pred_logits']
        plain = student(images)['pred_logits']
    assert (leaked - plain).abs().max() > 1e-4


def test_cqd_draw_count_and_randomness():
    cqd = CQD(300, 3, generator=torch.Generator().manual_seed(0))
    draws = [cqd.draw() for _ in range(3)]
    assert all(len(d) == 100 == math.floor(300 / 3) for d in draws)
    assert all(len(set(d.tolist())) == 100 and d.max() < 300 for d in draws)
    assert not torch.equal(draws[0], draws[1])
    assert CQD(31, 3).n == 10


def test_cqd_loss_is_negative_cosine():
    gen = torch.Generator().manual_seed(2)
    hs = torch.randn(2, 4, 8, generator=gen)
    ht_all = torch.randn(2, 12, 8, generator=gen)
    idx = torch.tensor([3, 0, 7, 11])
    loss = CQD(12, 3).loss({'extra_queries': hs}, {'queries': ht_all}, idx)
    a, b = hs.numpy(), ht_all[:, idx].numpy()
    cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    assert abs(loss.item() + cos.mean()) < 1e-6


def test_tfd_mask_peaks_max_and_empty():
    boxes = torch.tensor([[0.25, 0.25, 0.4, 0.3], [0.4, 0.3, 0.5, 0.5]])
    h, w = 16, 20
    m = gaussian_mask(boxes, h, w)
    singles = [gaussian_mask(b[None], h, w) for b in boxes]
    for (cx, cy, _, _), single in zip(boxes.tolist(), singles):
        px, py = int(cx * w), int(cy * h)
        assert m[py, px] == 1.0 and single[py, px] == 1.0 and single.max() == 1.0
    assert torch.equal(m, torch.maximum(singles[0], singles[1]))
    assert (m <= 1).all() and (m >= 0).all()
    empty = tfd_masks([{'boxes': torch.zeros(0, 4)}, {'boxes': boxes}], h, w)
    assert torch.count_nonzero(empty[0]) == 0 and torch.equal(empty[1], m)


def test_tfd_sigma_is_size_adaptive_ttfnet():
    # TTFNet: r = alpha * size / 2, sigma = (2r + 1) / 6
    assert box_sigmas(10, 4) == pytest.approx(((0.54 * 10 + 1) / 6, (0.54 * 4 + 1) / 6))
    m_small = gaussian_mask(torch.tensor([[0.5, 0.5, 0.1, 0.1]]), 32, 32)
    m_large = gaussian_mask(torch.tensor([[0.5, 0.5, 0.6, 0.6]]), 32, 32)
    assert m_large.sum() > 10 * m_small.sum()
    # one pixel right of the centre: exp(-1 / (2 sigma^2)) with sigma from the box width
    s = (0.54 * 0.6 * 32 + 1) / 6
    assert m_large[16, 17].item() == pytest.approx(math.exp(-1 / (2 * s * s)), rel=1e-5)


def _tfd_by_hand(fs, ft, heat, form):
    """Naive loops over images, channels and pixels (Eq. 3 of the paper, or the spec's mean)."""
    b, c, h, w = fs.shape
    total = 0.0
    for i in range(b):
        norm = math.sqrt(sum(heat[i, y, x].item() ** 2 for y in range(h) for x in range(w)))
        mass = sum(heat[i, y, x].item() for y in range(h) for x in range(w))
        acc = 0.0
        for k in range(c):
            for y in range(h):
                for x in range(w):
                    m = heat[i, y, x].item()
                    if form == 'paper':
                        m = m / norm if norm > 0 else 0.0
                    acc += m * abs(fs[i, k, y, x].item() - ft[i, k, y, x].item())
        total += acc / (h * w) if form == 'paper' else acc / (c * mass + 1e-6)
    return total / b


@pytest.mark.parametrize('form', ['paper', 'spec'])
def test_tfd_loss_by_hand_under_both_forms(form):
    gen = torch.Generator().manual_seed(4)
    fs, ft = torch.randn(2, 3, 4, 5, generator=gen), torch.randn(2, 3, 4, 5, generator=gen)
    heat = gaussian_mask(torch.tensor([[0.3, 0.4, 0.5, 0.5]]), 4, 5)
    mask = torch.stack([heat, torch.zeros(4, 5)])              # the second frame has no lesion
    want = _tfd_by_hand(fs, ft, mask, form)
    assert tfd_loss(fs, ft, mask, form=form).item() == pytest.approx(want, rel=1e-5)
    other = 'spec' if form == 'paper' else 'paper'
    assert abs(tfd_loss(fs, ft, mask, form=other).item() - want) > 1e-3
    ft.requires_grad_(True)
    tfd_loss(fs.requires_grad_(True), ft, mask, form=form).backward()
    assert ft.grad is None                                      # the teacher is detached


def test_v2i_configs_use_the_papers_choices_and_the_zoo_keeps_its_own():
    from training.engine.exp import load_exp
    from training.exps.v2i_base import model_kwargs
    cfg = load_exp('v2i_distill_r50_sun').config
    assert (cfg.num_queries, cfg.tfd_form, cfg.tfd_level) == (100, 'paper', 3)
    assert model_kwargs(cfg)['num_queries'] == 100 and model_kwargs(cfg)['tfd_level'] == 3
    sam = model_kwargs(dataclasses.replace(cfg, model='sam_detr_r50'))
    assert 'tfd_level' not in sam                              # single scale: its own C5
    assert model_kwargs(dataclasses.replace(cfg, model='sam_detr_r50'), 'v2i_teacher_r50')[
        'tfd_level'] == 2                                      # the teacher hands over C5
    assert CQD(100, 3).n == 33
    assert zoo.build('deformable_detr_r50').num_queries == 300   # the released default


def test_teacher_with_identity_msi_equals_deformable_on_key_frame():
    """Zeroing the MSI residual branches makes the teacher a Deformable DETR on the key frame."""
    torch.manual_seed(5)
    teacher = zoo.build('v2i_teacher_tiny').eval()
    for level in [blk for layer in teacher.msi.layers for blk in layer]:
        torch.nn.init.zeros_(level.ffn[-1].weight)
        torch.nn.init.zeros_(level.ffn[-1].bias)
        inter = level.interactor
        out = inter if isinstance(inter, torch.nn.Conv3d) else inter.out_proj
        torch.nn.init.zeros_(out.weight)
        torch.nn.init.zeros_(out.bias)
    student = DeformableDETR(teacher.cfg).eval()
    missing = student.load_state_dict(teacher.state_dict(), strict=False)
    assert not missing.missing_keys
    clip = torch.randn(1, 3, 3, 128, 128)
    with torch.no_grad():
        t_out = teacher(clip)
        s_out = student(clip[:, -1])
    assert (t_out['pred_logits'] - s_out['pred_logits']).abs().max() < 1e-4
    assert t_out['features'].shape == s_out['features'].shape == (1, 64, 4, 4)
    assert t_out['queries'].shape == (1, 30, 64)


def test_tfd_centernet_sigma_by_hand():
    # 10 x 10 box: radii 19.07, 36.7 and 2.73 (CenterNet's third root as published) -> r = 2
    assert box_sigmas(10, 10, 'centernet') == pytest.approx((5 / 6, 5 / 6))
    assert box_sigmas(12, 6, 'simple') == pytest.approx((2.0, 1.0))
    with pytest.raises(ValueError, match='sigma rule'):
        box_sigmas(1, 1, 'bogus')
