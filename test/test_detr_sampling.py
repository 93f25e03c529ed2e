"""grid_sample-based MSDA and RoIAlign against naive bilinear loops."""
import math

import numpy as np
import torch

from training.models.detr.ms_deform_attn import MSDeformAttn, ms_deform_attn_core
from training.models.detr.roi_align import roi_align_xyxy


def bilinear_zero_pad(img, x, y):
    """img [C, h, w]; (x, y) in pixels with pixel centres at integers; zero outside."""
    c, h, w = img.shape
    x0, y0 = math.floor(x), math.floor(y)
    out = np.zeros(c)
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                out += wy * wx * img[:, yy, xx]
    return out


def naive_msda(value, shapes, loc, attn):
    b, _, m, d = value.shape
    _, lq, _, n_l, k, _ = loc.shape
    starts = np.cumsum([0] + [h * w for h, w in shapes])
    out = np.zeros((b, lq, m * d))
    for bi in range(b):
        for q in range(lq):
            for hd in range(m):
                acc = np.zeros(d)
                for lvl, (h, w) in enumerate(shapes):
                    img = value[bi, starts[lvl]:starts[lvl + 1], hd].T.reshape(d, h, w)
                    for p in range(k):
                        x = loc[bi, q, hd, lvl, p, 0] * w - 0.5
                        y = loc[bi, q, hd, lvl, p, 1] * h - 0.5
                        acc += attn[bi, q, hd, lvl, p] * bilinear_zero_pad(img, x, y)
                out[bi, q, hd * d:(hd + 1) * d] = acc
    return out


def test_msda_core_equals_naive_bilinear_loop():
    gen = torch.Generator().manual_seed(0)
    shapes = [(6, 5), (3, 4), (2, 2)]
    b, m, d, lq, k = 2, 2, 3, 4, 3
    s = sum(h * w for h, w in shapes)
    value = torch.randn(b, s, m, d, generator=gen, dtype=torch.float64)
    loc = torch.rand(b, lq, m, len(shapes), k, 2, generator=gen, dtype=torch.float64) * 1.2 - 0.1
    attn = torch.rand(b, lq, m, len(shapes) * k, generator=gen, dtype=torch.float64).softmax(-1)
    attn = attn.view(b, lq, m, len(shapes), k)
    got = ms_deform_attn_core(value, shapes, loc, attn).numpy()
    want = naive_msda(value.numpy(), shapes, loc.numpy(), attn.numpy())
    assert np.abs(got - want).max() < 1e-10


def test_msda_sampling_locations_by_hand():
    """2-D references move by offset / (w_l, h_l); 4-D by offset / K * wh * 0.5."""
    attn = MSDeformAttn(d_model=16, n_levels=2, n_heads=2, n_points=2)
    q = torch.randn(1, 1, 16)
    shapes = [(4, 8), (2, 4)]
    off = attn.sampling_offsets(q).view(1, 1, 2, 2, 2, 2)
    ref2 = torch.tensor([[[[0.3, 0.6], [0.3, 0.6]]]])
    loc, w = attn.sampling(q, ref2, shapes)
    assert torch.allclose(loc[0, 0, 1, 1, 0], torch.tensor([0.3, 0.6]) + off[0, 0, 1, 1, 0]
                          / torch.tensor([4.0, 2.0]))
    ref4 = torch.tensor([[[[0.3, 0.6, 0.2, 0.4]] * 2]])
    loc, _ = attn.sampling(q, ref4, shapes)
    assert torch.allclose(loc[0, 0, 0, 1, 1], torch.tensor([0.3, 0.6]) + off[0, 0, 0, 1, 1]
                          / 2 * torch.tensor([0.2, 0.4]) * 0.5)
    assert torch.allclose(w.sum((-1, -2)), torch.ones(1, 1, 2))   # softmax over L * K


def torchvision_bilinear(img, y, x):
    """torchvision's roi_align bilinear_interpolate (zero beyond one pixel, clamp within)."""
    c, h, w = img.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return np.zeros(c)
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= h - 1:
        y_high = y_low = h - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= w - 1:
        x_high = x_low = w - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    return (hy * hx * img[:, y_low, x_low] + hy * lx * img[:, y_low, x_high]
            + ly * hx * img[:, y_high, x_low] + ly * lx * img[:, y_high, x_high])


def naive_roi_align(img, box, n=7, sr=2):
    """torchvision roi_align(aligned=True, spatial_scale=1, sampling_ratio=sr) for one box."""
    x1, y1, x2, y2 = (v - 0.5 for v in box)
    bw, bh = (x2 - x1) / n, (y2 - y1) / n
    out = np.zeros((img.shape[0], n, n))
    for ph in range(n):
        for pw in range(n):
            acc = np.zeros(img.shape[0])
            for iy in range(sr):
                y = y1 + ph * bh + (iy + 0.5) * bh / sr
                for ix in range(sr):
                    x = x1 + pw * bw + (ix + 0.5) * bw / sr
                    acc += torchvision_bilinear(img, y, x)
            out[:, ph, pw] = acc / (sr * sr)
    return out


def test_roi_align_equals_torchvision_semantics():
    gen = torch.Generator().manual_seed(3)
    feats = torch.randn(2, 3, 9, 11, generator=gen, dtype=torch.float64)
    boxes = torch.tensor([[[1.0, 2.0, 6.5, 7.0], [-1.7, -0.3, 4.0, 3.0], [0.0, 0.0, 11.0, 9.0]],
                          [[8.2, 5.1, 12.6, 10.4], [3.3, 3.3, 3.6, 3.9], [-3.0, 2.0, 2.0, 4.0]]],
                         dtype=torch.float64)
    got = roi_align_xyxy(feats, boxes, 7, 2).numpy()
    for bi in range(2):
        for qi in range(3):
            want = naive_roi_align(feats[bi].numpy(), boxes[bi, qi].tolist())
            assert np.abs(got[bi, qi] - want).max() < 1e-10, (bi, qi)
