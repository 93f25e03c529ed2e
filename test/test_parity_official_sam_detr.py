"""SAM-DETR's RoIAlign against torchvision's own numbers (issue 19).

The official SAM-DETR calls ``torchvision.ops.roi_align(memory, boxes, (7, 7), aligned=True)``
with the default adaptive sampling (ceil(roi / 7) samples per bin side, per RoI). The reference
is torchvision 0.29.1 run beside the project (test/fixtures/official/sam_detr/roi_align.npz,
roi_align.json): 96 boxes of 0.1 to 28 feature pixels, partly outside the map, so that the
adaptive count takes 1 to 4 samples; plus fixed ratios 1 and 2.
"""
import json
import os

import numpy as np
import pytest
import torch

from official_fixtures import FIXTURES
from training.models.detr.roi_align import roi_align_xyxy

DIR = os.path.join(FIXTURES, 'sam_detr')


def _reference():
    with np.load(os.path.join(DIR, 'roi_align.npz')) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize('tag,ratio', [('adaptive', 0), ('ratio2', 2), ('ratio1', 1)])
def test_roi_align_equals_torchvision(tag, ratio):
    ref = _reference()
    with open(os.path.join(DIR, 'roi_align.json'), encoding='utf-8') as f:
        counts = json.load(f)['adaptive_samples_per_bin_side']
    assert sorted(int(k) for k in counts) == [1, 2, 3, 4]      # the adaptive path is exercised
    feats, boxes = torch.from_numpy(ref['features']), torch.from_numpy(ref['boxes_xyxy'])
    got = roi_align_xyxy(feats, boxes, 7, ratio).numpy()
    assert np.abs(got - ref[f'out_{tag}']).max() <= 1e-12
    got32 = roi_align_xyxy(feats.float(), boxes.float(), 7, ratio).numpy()
    assert np.abs(got32 - ref[f'out_{tag}']).max() <= 1e-5


def test_adaptive_differs_from_fixed_where_rois_are_large():
    """The fixed ratio 2 is not torchvision's default: it changes large RoIs (count 3-4)."""
    ref = _reference()
    diff = np.abs(ref['out_adaptive'] - ref['out_ratio2']).max(axis=(2, 3, 4))   # [B, Q]
    assert diff.max() > 1e-2


def test_bound_caps_the_adaptive_count():
    """``max_samples`` below a RoI's count averages it over fewer samples (documented)."""
    ref = _reference()
    feats, boxes = torch.from_numpy(ref['features']), torch.from_numpy(ref['boxes_xyxy'])
    h = (boxes[..., 3] - boxes[..., 1]).numpy()
    w = (boxes[..., 2] - boxes[..., 0]).numpy()
    got = roi_align_xyxy(feats, boxes, 7, 0, max_samples=(2, 2)).numpy()
    small = (np.ceil(h / 7) <= 2) & (np.ceil(w / 7) <= 2)
    err = np.abs(got - ref['out_adaptive']).max(axis=(2, 3, 4))
    assert err[small].max() <= 1e-12
    assert (err[~small] > 1e-6).mean() > 0.5      # (a RoI wholly outside the map reads 0 anyway)


class _RoIAlign(torch.nn.Module):
    def forward(self, features, boxes):
        return roi_align_xyxy(features, boxes, 7, 0, max_samples=(4, 4))


def test_exported_roi_align_adapts_per_roi_on_onnx_runtime(tmp_path):
    """Traced on other boxes, the graph still gives each RoI its own count (nothing frozen)."""
    import onnxruntime as ort
    ref = _reference()
    b, c, h, w = ref['features'].shape
    q = ref['boxes_xyxy'].shape[1]
    gen = torch.Generator().manual_seed(0)
    trace_boxes = torch.rand(b, q, 4, generator=gen).sort(-1).values * 4
    path = str(tmp_path / 'roi_align.onnx')
    torch.onnx.export(_RoIAlign(), (torch.randn(b, c, h, w), trace_boxes), path,
                      input_names=['features', 'boxes'], output_names=['out'], opset_version=17,
                      dynamo=False)
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    out, = sess.run(None, {'features': ref['features'].astype(np.float32),
                           'boxes': ref['boxes_xyxy'].astype(np.float32)})
    assert np.abs(out - ref['out_adaptive']).max() <= 1e-5


def test_position_encoding_is_sam_detrs_form():
    """SAM-DETR's models/position_encoding.py, step by step in numpy float32: sums shifted by
    0.5, divided by (last - 0.5) + eps + 0.5, x 2 pi; sin/cos interleaved, (y, x) stacked."""
    from training.models.detr.position_encoding import PositionEmbeddingSine
    mask = np.ones((2, 5, 7), bool)
    mask[0, :5, :7] = False
    mask[1, :3, :4] = False
    got = PositionEmbeddingSine(8, offset=True, eps_after_offset=True)(torch.from_numpy(mask))
    f32 = np.float32
    not_mask = (~mask).astype(f32)
    y = not_mask.cumsum(1, dtype=f32) - f32(0.5)
    x = not_mask.cumsum(2, dtype=f32) - f32(0.5)
    y = y / (y[:, -1:, :] + f32(1e-6) + f32(0.5)) * f32(2 * np.pi)
    x = x / (x[:, :, -1:] + f32(1e-6) + f32(0.5)) * f32(2 * np.pi)
    dim_t = f32(10000) ** (2 * (np.arange(8, dtype=f32) // 2) / f32(8))
    want = np.zeros((2, 16, 5, 7), f32)
    for c in range(8):
        fn = np.sin if c % 2 == 0 else np.cos
        want[:, c] = fn(y / dim_t[c])
        want[:, 8 + c] = fn(x / dim_t[c])
    assert np.abs(got.numpy() - want).max() <= 1e-6
    detr = PositionEmbeddingSine(8, offset=False)(torch.from_numpy(mask)).numpy()
    assert np.abs(detr - want).max() > 0.1        # DETR's form (the old SAM-DETR code) is not it
