"""Blocks against independent references: Focus phase order, SPP pooling, legacy nearest
upsampling to an explicit size, pyramid sizes, and the still teacher's DFP fusion."""
import torch
import torch.nn.functional as F

from training.models.streamnet.blocks import Focus, SPPBottleneck
from training.models.streamnet.drfpn import upsample_to
from training.models.streamnet.model import pyramid_sizes
from training.models.streamnet.pafpn import DFPReduce
from training.models.streamnet.zoo import MODELS


def test_focus_phase_order_tl_bl_tr_br():
    focus = Focus(1, 4, ksize=1)
    with torch.no_grad():
        focus.conv.conv.weight.copy_(torch.eye(4)[:, :, None, None])
        focus.conv.bn.eval()
        focus.conv.bn.eps = 0.0
    focus.conv.act = torch.nn.Identity()
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = focus(x)
    # Pixel (0, 0) of each phase: TL x[0,0]=0, BL x[1,0]=4, TR x[0,1]=1, BR x[1,1]=5.
    assert out[0, :, 0, 0].tolist() == [0.0, 4.0, 1.0, 5.0]


def test_spp_pools_are_same_size_stride_one():
    spp = SPPBottleneck(4, 4).eval()
    feats = []
    spp.conv2.register_forward_hook(lambda m, i, o: feats.append(i[0]))
    spp(torch.randn(1, 4, 7, 9))
    cat = feats[0]
    assert cat.shape == (1, 8, 7, 9)
    hidden = cat[:, :2]
    assert torch.equal(cat[:, 2:4], F.max_pool2d(hidden, 5, 1, 2))
    assert torch.equal(cat[:, 6:8], F.max_pool2d(hidden, 13, 1, 6))


def test_upsample_to_is_legacy_nearest_floor():
    x = torch.arange(38.0).reshape(1, 1, 38, 1).expand(1, 1, 38, 2)
    ref = torch.zeros(1, 1, 75, 4)
    out = upsample_to(x, ref)
    assert out.shape == (1, 1, 75, 4)
    assert out[0, 0, :, 0].tolist() == [float((i * 38) // 75) for i in range(75)]


def test_pyramid_sizes_600x960():
    assert pyramid_sizes(600, 960) == [(75, 120), (38, 60), (19, 30)]


def test_dfp_duplicates_the_frame():
    dfp = DFPReduce([4, 8]).eval()
    p = [torch.randn(1, 4, 3, 3), torch.randn(1, 8, 2, 2)]
    out = dfp(p)
    r0 = dfp.jian[0](p[0])
    assert torch.allclose(out[0], torch.cat([r0, r0], 1) + p[0])


def test_teacher_outputs_cover_the_student_anchors():
    teacher = MODELS['still_teacher_l'](depth=0.33, width=0.125).eval()
    student = MODELS['streamnet_tiny']().eval()
    x = torch.rand(1, 3, 64, 96) * 255
    t = teacher.teacher_outputs(x)
    with torch.no_grad():
        f = student.encode(x)
        s = student.forecast(f, [f] * 3)
    a = s.shape[1]
    assert t['boxes'].shape == (1, a, 4) and t['obj_logits'].shape == (1, a, 1)
    assert t['cls_logits'].shape == (1, a, 8)
    # Decoded teacher boxes equal its eval predictions' boxes; the logits are raw.
    with torch.no_grad():
        pred = teacher(x)
    assert torch.allclose(pred[..., :4], t['boxes'])
    assert torch.allclose(pred[..., 4:5], t['obj_logits'].sigmoid())
