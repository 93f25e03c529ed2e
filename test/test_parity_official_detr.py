"""Parity with the official DETR, Deformable-DETR and SAM-DETR code (issue 19).

The reference is the official code itself (facebookresearch/detr, fundamentalvision/Deformable-
DETR, ZhangGongjie/SAM-DETR at the commits in each fixture's meta.json), run beside the project
at full R50 size with weights regenerated from a seed (test/official_fixtures.py): its outputs
are stored in test/fixtures/official/<layout>/. Each test loads the official-layout state dict
through the project's importer, with no key skipped or left missing, and compares our model's
logits and boxes: float64 within 1e-6, float32 within 1e-4, torch and the exported ONNX graph on
ONNX Runtime (float32).
"""
import functools
import os

import numpy as np
import pytest
import torch

from official_fixtures import fixture_state_dict, load_fixture
from training.models.detr import zoo
from training.models.detr.importers import import_official_checkpoint

MODELS = {'detr': 'detr_r50', 'deformable_detr': 'deformable_detr_r50',
          'sam_detr': 'sam_detr_r50'}
TOL = {'f64': 1e-6, 'f32': 1e-4}
TRT_OPS = '/work/shared/data/tensorrt10_onnx_ops.json'


@functools.lru_cache(maxsize=1)
def _fixture(layout):
    fx = load_fixture(layout)
    return fx, fixture_state_dict(fx)


def _check_config(layout, model, official):
    """The model we compare is the official config, not merely one the weights fit."""
    cfg = model.cfg
    assert (cfg.d_model, cfg.nhead, cfg.enc_layers, cfg.dec_layers, cfg.dim_feedforward,
            cfg.num_queries) == (official['hidden_dim'], official['nheads'],
                                 official['enc_layers'], official['dec_layers'],
                                 official['dim_feedforward'], official['num_queries'])
    if layout == 'deformable_detr':
        assert (cfg.num_feature_levels, cfg.enc_n_points, cfg.dec_n_points, cfg.with_box_refine,
                cfg.two_stage) == (official['num_feature_levels'], official['enc_n_points'],
                                   official['dec_n_points'], official['with_box_refine'],
                                   official['two_stage'])
    if layout == 'sam_detr':
        # official fast_detr.py: input_proj has a GroupNorm when epochs < 25 (the 12-epoch model)
        assert cfg.input_group_norm == (official['epochs'] < 25)
        assert not official['multiscale'] and not official['smca']


def imported_model(layout, dtype):
    """Our model with the fixture's official weights through the importer; every official key
    is loaded, or is an alias of a loaded key (same tensor in the official model)."""
    fx, state = _fixture(layout)
    model = zoo.build(MODELS[layout]).eval().to(dtype)
    _check_config(layout, model, fx['meta']['official_config'])
    ckpt = {'model': {k: torch.from_numpy(v).to(dtype) for k, v in state.items()}}
    report = import_official_checkpoint(model, ckpt)
    assert report['skipped'] == [] and report['missing'] == []
    loaded = set(report['loaded'])
    same = {}                                  # key -> keys sharing its tensor (official)
    for a, b in fx['meta']['aliases'].items():
        same.setdefault(a, set()).add(b)
        same.setdefault(b, set()).add(a)
    not_loaded = [k for k in state if k not in loaded]
    # not applicable, each named: SAM-DETR's transformer.decoder.bbox_embed.* is bbox_embed.*
    # (the decoder's reference to the same modules), so only one copy is loaded
    assert all(same.get(k, set()) & loaded for k in not_loaded), not_loaded
    if layout == 'sam_detr':
        assert sorted(not_loaded) == sorted(k for k in state
                                            if k.startswith('transformer.decoder.bbox_embed.'))
    else:
        assert not_loaded == []
    return model, fx


def _inputs(fx, dtype):
    return (torch.from_numpy(fx['inputs']['images']).to(dtype),
            torch.from_numpy(fx['inputs']['masks']))


def max_diffs(got_logits, got_boxes, fx, tag):
    out = fx['outputs']
    return (float(np.abs(np.asarray(got_logits, np.float64) - out[f'pred_logits_{tag}']).max()),
            float(np.abs(np.asarray(got_boxes, np.float64) - out[f'pred_boxes_{tag}']).max()))


@pytest.mark.parametrize('layout', sorted(MODELS))
def test_torch_forward_matches_official(layout):
    model, fx = imported_model(layout, torch.float64)
    for tag, dtype in (('f64', torch.float64), ('f32', torch.float32)):
        model.to(dtype)            # the float64 weights rounded once, as the official f32 run
        with torch.no_grad():
            out = model(*_inputs(fx, dtype))
        dl, db = max_diffs(out['pred_logits'].numpy(), out['pred_boxes'].numpy(), fx, tag)
        print(f'{layout} torch {tag}: max |diff| logits {dl:.3g} boxes {db:.3g}')
        assert dl <= TOL[tag] and db <= TOL[tag], (layout, tag, dl, db)


def _valid_hw(masks: np.ndarray) -> np.ndarray:
    """[B, H, W] padding masks (picture at the top-left) -> [B, 2] float32 (rows, cols)."""
    return np.stack([(~masks[:, :, 0]).sum(1), (~masks[:, 0, :]).sum(1)], 1).astype(np.float32)


@pytest.mark.slow
@pytest.mark.parametrize('layout', sorted(MODELS))
def test_onnx_graph_matches_official(layout, tmp_path):
    import onnx
    import onnxruntime as ort
    from training.models.detr.export_onnx import OUTPUT_NAMES, export_student_onnx, graph_ops
    model, fx = imported_model(layout, torch.float32)
    images, masks = fx['inputs']['images'], fx['inputs']['masks']
    b, _, h, w = images.shape
    path = str(tmp_path / 'student.onnx')
    export_student_onnx(model, h, w, path, check=False, batch=b)
    onnx.checker.check_model(path)
    if os.path.isfile(TRT_OPS):
        import json
        with open(TRT_OPS, encoding='utf-8') as f:
            assert graph_ops(path) <= set(json.load(f))
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    valid_hw = _valid_hw(masks)
    logits, boxes = sess.run(OUTPUT_NAMES, {'image': images, 'valid_hw': valid_hw})
    # the graph's boxes are normalised to the canvas, the official ones to the valid picture
    ratio = np.tile(valid_hw[:, ::-1] / np.array([w, h], np.float32), 2)[:, None]
    dl, db = max_diffs(logits, boxes / ratio, fx, 'f32')
    print(f'{layout} onnxruntime f32: max |diff| logits {dl:.3g} boxes {db:.3g}')
    assert dl <= TOL['f32'] and db <= TOL['f32'], (layout, dl, db)


@pytest.mark.slow
def test_sam_detr_drift_of_the_old_choices():
    """What the two SAM-DETR fixes are worth, float64 against the official outputs: a fixed
    RoIAlign ratio of 2 (kept as an option) and DETR's position encoding (the old code) each move
    the outputs beyond the float64 tolerance, so the parity test sees both."""
    from training.models.detr.position_encoding import PositionEmbeddingSine
    model, fx = imported_model('sam_detr', torch.float64)
    drift = {}
    for name in ('ratio2', 'detr_pos'):
        if name == 'ratio2':
            for layer in model.transformer.decoder.layers:
                layer.sampling_ratio = 2
        else:
            for layer in model.transformer.decoder.layers:
                layer.sampling_ratio = 0
            model.backbone[1] = PositionEmbeddingSine(model.cfg.d_model // 2, offset=False)
        with torch.no_grad():
            out = model(*_inputs(fx, torch.float64))
        drift[name] = max_diffs(out['pred_logits'].numpy(), out['pred_boxes'].numpy(), fx, 'f64')
    print('SAM-DETR float64 max |diff| (logits, boxes) vs official:', drift)
    # measured: ratio 2 (1.2e-4, 1.4e-5), DETR's encoding (0.12, 0.012); the float64 test
    # (1e-6) fails on either
    assert min(max(d) for d in drift.values()) > 10 * TOL['f64'], drift
