"""DCNv1 against a naive per-pixel bilinear loop written from mmcv's deformable_im2col, and
against F.conv2d with zero offsets."""
import math

import pytest
import torch
import torch.nn.functional as F

from training.models.streamnet.dcn import DeformConv2dPack, deform_conv2d


def _bilinear_mmcv(img, y, x):
    """mmcv ``deformable_im2col_bilinear`` on img [C, H, W]: corners outside count as 0."""
    c, h, w = img.shape
    if y <= -1 or y >= h or x <= -1 or x >= w:
        return img.new_zeros(c)
    y0, x0 = math.floor(y), math.floor(x)
    y1, x1 = y0 + 1, x0 + 1
    ly, lx = y - y0, x - x0
    hy, hx = 1 - ly, 1 - lx

    def at(yy, xx):
        if 0 <= yy < h and 0 <= xx < w:
            return img[:, yy, xx]
        return img.new_zeros(c)
    return (hy * hx * at(y0, x0) + hy * lx * at(y0, x1)
            + ly * hx * at(y1, x0) + ly * lx * at(y1, x1))


def naive_deform_conv(x, offset, weight, stride, pad, dil, groups):
    b, c, h, w = x.shape
    cout, _, kh, kw = weight.shape
    ho = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    wo = (w + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    cg = c // groups
    out = x.new_zeros(b, cout, ho, wo)
    for n in range(b):
        for i in range(ho):
            for j in range(wo):
                acc = x.new_zeros(cout)
                for a in range(kh):
                    for bb in range(kw):
                        k = a * kw + bb
                        for g in range(groups):
                            dy = float(offset[n, g * 2 * kh * kw + 2 * k, i, j])
                            dx = float(offset[n, g * 2 * kh * kw + 2 * k + 1, i, j])
                            y = i * stride - pad + a * dil + dy
                            xx = j * stride - pad + bb * dil + dx
                            val = _bilinear_mmcv(x[n, g * cg:(g + 1) * cg], y, xx)   # [cg]
                            acc += weight[:, g * cg:(g + 1) * cg, a, bb] @ val
                out[n, :, i, j] = acc
    return out


@pytest.mark.parametrize('stride,pad,dil,groups', [(1, 1, 1, 1), (1, 1, 1, 2), (2, 1, 1, 1),
                                                   (1, 2, 2, 1)])
def test_matches_naive_bilinear_loop(stride, pad, dil, groups):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 5, 7, generator=g, dtype=torch.float64)
    weight = torch.randn(3, 4, 3, 3, generator=g, dtype=torch.float64)
    ho = (5 + 2 * pad - dil * 2 - 1) // stride + 1
    wo = (7 + 2 * pad - dil * 2 - 1) // stride + 1
    # Offsets up to +-3 px push many taps partly or fully outside the image.
    offset = (torch.rand(2, groups * 18, ho, wo, generator=g, dtype=torch.float64) - 0.5) * 6
    offset[0, 0, 0, 0] = -1.0     # lands exactly on the -1 border (mmcv: zero)
    got = deform_conv2d(x, offset, weight, stride, pad, dil, groups)
    want = naive_deform_conv(x, offset, weight, stride, pad, dil, groups)
    assert torch.allclose(got, want, atol=1e-10), (got - want).abs().max()


def test_integer_offsets_shift_exactly():
    # A +1 px dx offset on every tap: tap b of column j reads x[j + b], i.e. a plain conv with
    # no left padding and two zero columns on the right.
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    weight = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    offset = torch.zeros(1, 18, 6, 6, dtype=torch.float64)
    offset[:, 1::2] = 1.0
    want = F.conv2d(F.pad(x, [0, 2, 1, 1]), weight)
    assert torch.allclose(deform_conv2d(x, offset, weight), want, atol=1e-10)


def test_zero_offsets_equal_plain_conv():
    x = torch.randn(2, 8, 9, 11)
    weight = torch.randn(5, 8, 3, 3)
    got = deform_conv2d(x, torch.zeros(2, 18, 9, 11), weight)
    assert torch.allclose(got, F.conv2d(x, weight, padding=1), atol=1e-5)


def test_pack_starts_as_plain_conv_and_has_mmcv_params():
    layer = DeformConv2dPack(6, 4)
    assert layer.conv_offset.out_channels == 18 and layer.conv_offset.bias is not None
    assert float(layer.conv_offset.weight.detach().abs().sum()) == 0.0
    bound = 1 / math.sqrt(6 * 9)
    assert float(layer.weight.detach().abs().max()) <= bound
    x = torch.randn(1, 6, 7, 5)
    assert torch.allclose(layer(x), F.conv2d(x, layer.weight, padding=1), atol=1e-5)
    # 4*6*9 main weights + 18*6*9 + 18 offset conv, no main bias.
    assert sum(p.numel() for p in layer.parameters()) == 4 * 6 * 9 + 18 * 6 * 9 + 18


def test_bad_offset_shape_is_named():
    with pytest.raises(ValueError, match='offset shape'):
        deform_conv2d(torch.zeros(1, 2, 4, 4), torch.zeros(1, 9, 4, 4), torch.zeros(1, 2, 3, 3))
