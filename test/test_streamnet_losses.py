"""Detection losses, TAL weights and AK-distillation on hand-computed cases."""
import math
import subprocess
import sys

import pytest
import torch

from training.models.box_ops import iou_loss_cxcywh
from training.models.streamnet.losses import detection_losses, renormalise, tal_gt_weights
from training.models.streamnet.zoo import MODELS

LOG2 = math.log(2.0)


def test_tal_weights_hand_case():
    nxt = torch.tensor([[10.0, 10, 10, 10], [50, 50, 10, 10], [100, 100, 10, 10]])
    sup = torch.tensor([[10.0, 10, 10, 10], [55, 50, 10, 10], [102, 100, 10, 10]])
    # IoUs: 1 (static), 50/150 = 1/3 < tau -> nu = 1.5, 80/120 = 2/3 -> weight 1.5.
    w = tal_gt_weights(nxt, sup, tau=0.5, nu=1.5)
    assert torch.allclose(w, torch.tensor([1.0, 1 / 1.5, 1.5]), atol=1e-6)
    assert torch.allclose(tal_gt_weights(nxt, sup[:0], 0.5, 1.5), torch.ones(3))


def test_renormalise_keeps_the_total():
    w = renormalise(torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.25]))
    assert torch.allclose(w, torch.tensor([0.75, 1.5]))          # 0.75 / 1.0 * [1, 2]


def test_iou_loss_is_one_minus_iou_squared():
    pred = torch.tensor([[8.0, 8.0, 8.0, 8.0], [0.0, 0.0, 2.0, 2.0]])
    target = torch.tensor([[8.0, 8.0, 16.0, 16.0], [10.0, 10.0, 2.0, 2.0]])
    assert torch.allclose(iou_loss_cxcywh(pred, target), torch.tensor([1 - 0.25 ** 2, 1.0]))


def _hand_case():
    # One 2x2 level at stride 8, 1 class, all raw outputs 0; GT (cls 0) covers the 16x16 image.
    # SimOTA picks anchor 3 (test_streamnet_assign): IoU 0.25 with the GT.
    outs = [torch.zeros(1, 6, 2, 2, requires_grad=True)]
    targets = torch.tensor([[[0.0, 8.0, 8.0, 16.0, 16.0], [0, 0, 0, 0, 0]]])
    return outs, targets


def test_detection_losses_hand_case():
    outs, targets = _hand_case()
    losses = detection_losses(outs, [8], targets)
    assert losses['num_fg'].item() == 1
    assert math.isclose(losses['iou_loss'].item(), 1 - 0.25 ** 2, rel_tol=1e-6)
    assert math.isclose(losses['obj_loss'].item(), 4 * LOG2, rel_tol=1e-6)   # 4 anchors, logit 0
    assert math.isclose(losses['cls_loss'].item(), LOG2, rel_tol=1e-6)       # soft target 0.25
    # L1 target of anchor (1, 1): (8/8 - 1, 8/8 - 1, log 2, log 2) against raw 0.
    assert math.isclose(losses['l1_loss'].item(), 2 * LOG2, rel_tol=1e-6)
    total = 5 * (1 - 0.25 ** 2) + 7 * LOG2
    assert math.isclose(losses['total_loss'].item(), total, rel_tol=1e-6)
    losses['total_loss'].backward()
    assert outs[0].grad.abs().sum() > 0


def test_distillation_hand_case():
    outs, targets = _hand_case()
    a = 4
    teacher = {'boxes': torch.tensor([[[8.0, 8.0, 16.0, 16.0]] * a]),
               'obj_logits': torch.full((1, a, 1), 2.0),
               'cls_logits': torch.ones(1, a, 1)}
    losses = detection_losses(outs, [8], targets, teacher_outputs=teacher, kd_weight=0.2)
    assert math.isclose(losses['kd_cls_loss'].item(), 0.2 * 1.0, rel_tol=1e-6)   # MSE(0, 1)
    assert math.isclose(losses['kd_obj_loss'].item(), 0.2 * 4.0, rel_tol=1e-6)   # MSE(0, 2)
    # Positive anchor 3: student box (8, 8, 8, 8) vs teacher (8, 8, 16, 16): IoU 0.25.
    assert math.isclose(losses['kd_reg_loss'].item(), 0.2 * (1 - 0.0625), rel_tol=1e-6)
    base = 5 * (1 - 0.25 ** 2) + 7 * LOG2
    assert math.isclose(losses['total_loss'].item(), base + 0.2 * (1 + 4 + 0.9375),
                        rel_tol=1e-6)


def test_tal_single_positive_weight_renormalises_to_one():
    outs, targets = _hand_case()
    support = torch.tensor([[[0.0, 9.0, 8.0, 16.0, 16.0]]])     # moved: any weight, one positive
    plain = detection_losses(outs, [8], targets)
    tal = detection_losses(outs, [8], targets, support_targets=support)
    assert math.isclose(tal['total_loss'].item(), plain['total_loss'].item(), rel_tol=1e-6)


def test_empty_targets_give_only_objectness_loss():
    outs, _ = _hand_case()
    losses = detection_losses(outs, [8], torch.zeros(1, 3, 5))
    assert losses['num_fg'].item() == 0
    assert math.isclose(losses['obj_loss'].item(), 4 * LOG2, rel_tol=1e-6)    # / max(0, 1)
    assert losses['iou_loss'].item() == 0 and losses['cls_loss'].item() == 0


def test_bad_targets_shape_is_named():
    outs, _ = _hand_case()
    with pytest.raises(ValueError, match='targets: expected'):
        detection_losses(outs, [8], torch.zeros(1, 3, 4))


def test_training_forward_with_self_teacher_has_zero_kd():
    torch.manual_seed(0)
    model = MODELS['streamnet_tiny']()
    teacher = MODELS['streamnet_tiny']().eval()
    teacher.load_state_dict(model.state_dict())
    frames = [torch.rand(2, 3, 64, 96) * 255 for _ in range(4)]
    targets = torch.zeros(2, 4, 5)
    targets[:, 0] = torch.tensor([2.0, 40.0, 30.0, 20.0, 16.0])
    model.eval()                     # BN in eval for both so the logits are identical
    with torch.no_grad():
        outs = teacher.head_outputs(teacher.encode(frames[0]),
                                    [teacher.encode(f) for f in frames[1:]])
        flat = torch.cat([o.flatten(2) for o in outs], 2).permute(0, 2, 1)
    from training.models.streamnet.head import decode_boxes, make_grids
    grid, stride = make_grids([tuple(o.shape[-2:]) for o in outs], [8, 16, 32])
    t_out = {'boxes': decode_boxes(flat[..., :4], grid, stride),
             'obj_logits': flat[..., 4:5], 'cls_logits': flat[..., 5:]}
    model.training = True            # loss path, BN still in eval
    losses = model(frames[0], frames[1:], targets, support_targets=targets,
                   teacher_outputs=t_out)
    assert losses['kd_cls_loss'].item() == pytest.approx(0, abs=1e-6)
    assert losses['kd_obj_loss'].item() == pytest.approx(0, abs=1e-6)
    assert losses['kd_reg_loss'].item() == pytest.approx(0, abs=1e-5)
    assert losses['num_fg'].item() >= 2
    losses['total_loss'].backward()
    assert model.backbone.stem.conv.conv.weight.grad.abs().sum() > 0


def test_tal_reweights_the_iou_gradient_per_object():
    # Two images, the same hand case in each (one positive, IoU loss 0.9375 each). Image 0's
    # object did not move (m = 1 -> w = 1); image 1's has no match at t (m = nu = 1.5 ->
    # w = 2/3). Renormalised: w_hat = w * (2 * 0.9375) / (0.9375 * 5/3) = [1.2, 0.8], so the
    # total is unchanged and the gradients are scaled by 1.2 and 0.8.
    outs = [torch.zeros(2, 6, 2, 2, requires_grad=True)]
    targets = torch.tensor([[[0.0, 8.0, 8.0, 16.0, 16.0]]] * 2)
    support = torch.tensor([[[0.0, 8.0, 8.0, 16.0, 16.0]], [[0.0, 100.0, 100.0, 16.0, 16.0]]])
    plain = detection_losses(outs, [8], targets)['iou_loss']
    (g_plain,) = torch.autograd.grad(plain, outs)
    tal = detection_losses(outs, [8], targets, support_targets=support)['iou_loss']
    (g_tal,) = torch.autograd.grad(tal, outs)
    assert math.isclose(tal.item(), plain.item(), rel_tol=1e-6)
    ratio0 = g_tal[0, :4, 1, 1] / g_plain[0, :4, 1, 1]
    ratio1 = g_tal[1, :4, 1, 1] / g_plain[1, :4, 1, 1]
    nz = g_plain[0, :4, 1, 1].abs() > 0
    assert nz.any()
    assert torch.allclose(ratio0[nz], torch.full_like(ratio0[nz], 1.2), rtol=1e-5)
    assert torch.allclose(ratio1[nz], torch.full_like(ratio1[nz], 0.8), rtol=1e-5)


@pytest.mark.parametrize('order', [('losses', 'distill'), ('distill', 'losses')])
def test_losses_and_distill_import_in_either_order(order):
    # A fresh interpreter: in this one both modules are already imported. distill.py used to
    # import losses.py (lazily) while losses.py imported distill.py: a loop. Now distill needs
    # only the box ops, so importing it must not pull losses in.
    code = '\n'.join([
        'import sys',
        f'import training.models.streamnet.{order[0]}',
        "assert 'training.models.streamnet.losses' not in sys.modules or "
        f"{order[0]!r} == 'losses', 'distill imported losses'",
        f'import training.models.streamnet.{order[1]}',
        'from training.models import box_ops',
        'from training.models.streamnet import distill, losses',
        'assert distill.iou_loss_cxcywh is losses.iou_loss_cxcywh is box_ops.iou_loss_cxcywh'])
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
