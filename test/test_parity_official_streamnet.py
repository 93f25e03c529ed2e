"""Parity with the official YOLOX and DAMO-StreamNet code, kept as data (issue 19).

The fixtures in ``test/fixtures/official/{yolox,damo_streamnet}/`` hold what the official
repositories computed (Megvii-BaseDetection/YOLOX's ``yolox_nano`` and zhiqic/DAMO-StreamNet's
``cfgs/streamnet_s.py`` narrowed to our ``streamnet_tiny``; commits, configs and seeds in
meta.json) on weights regenerated here from a seed and checked by sha256. Our importer loads the
official-layout state dict into our model, and our model must give the official outputs:

* float64: |ours - official| <= 1e-6 * (1 + |official|) per element; float32: 1e-4 (boxes are in
  pixels and reach ~1800 with these unit-gain random weights, so the bound scales with them);
* DAMO-StreamNet both through the offline forward (a batch of two samples, each frame t with its
  three past frames) and frame by frame through ``StreamingRunner`` (the buffer of long-path
  reductions, filled with the first frame at the start as the release's dataset clamps it);
* the exported graphs on ONNX Runtime (encoder -> forecast, the buffer fed as the node feeds it)
  at float32 tolerance;
* every key must land: nothing skipped for shape, nothing of the file unused (the DAMO teacher
  goes into a still teacher of its size), nothing of the model left at init.
"""
import re

import numpy as np
import pytest
import torch

from official_fixtures import load_fixture, streamnet_family_checkpoint
from training.models.streamnet import zoo
from training.models.streamnet.importers import import_damo_streamnet, import_yolox
from training.models.streamnet.model import StreamingRunner

TOL = {'float64': 1e-6, 'float32': 1e-4}
SUFFIX = {'float64': 'f64', 'float32': 'f32'}


_CHECKPOINTS = {}


def _checkpoint(fx, dtype):
    """The fixture's official checkpoint (regenerated once per layout and dtype)."""
    key = (fx['dir'], dtype)
    if key not in _CHECKPOINTS:
        _CHECKPOINTS[key] = streamnet_family_checkpoint(fx, dtype)
    return {'model': dict(_CHECKPOINTS[key]['model'])}


def assert_close(ours, ref, dtype, what):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, f'{what}: shape {ours.shape} vs official {ref.shape}'
    excess = np.abs(ours - ref) - TOL[dtype] * (1 + np.abs(ref))
    worst = np.unravel_index(np.argmax(excess), excess.shape)
    assert excess.max() <= 0, (f'{what} ({dtype}): |ours - official| = '
                               f'{abs(ours[worst] - ref[worst]):.3g} at {worst} (official '
                               f'{ref[worst]:.4g}), above {TOL[dtype]} * (1 + |official|)')


def assert_complete(report):
    assert report['shape_mismatch'] == [], report['shape_mismatch'][:3]
    assert report['unmapped'] == [], report['unmapped'][:3]
    assert report['missing'] == [], report['missing'][:3]


@pytest.fixture(scope='module')
def yolox():
    return load_fixture('yolox')


@pytest.fixture(scope='module')
def damo():
    return load_fixture('damo_streamnet')


def _yolox_model(fx, dtype):
    model = zoo.MODELS[fx['meta']['our_model']]().to(getattr(torch, dtype)).eval()
    report = import_yolox(model, _checkpoint(fx, dtype))
    assert_complete(report)
    return model


def damo_keys(report):
    return report['_official_keys']


def _damo_model(fx, dtype):
    tdt = getattr(torch, dtype)
    model = zoo.MODELS[fx['meta']['our_model']]().to(tdt).eval()
    # the release's frozen still teacher, at the fixture's width (cfg depth_t / width_t)
    teacher = zoo.MODELS['still_teacher_l'](depth=0.33, width=0.125).to(tdt).eval()
    ckpt = _checkpoint(fx, dtype)
    report = import_damo_streamnet(model, ckpt, teacher=teacher)
    report['_official_keys'] = list(ckpt['model'])
    assert_complete(report)
    # the teacher's report lists the student's keys as not its own; its keys must all land
    assert report['teacher']['shape_mismatch'] == [] and report['teacher']['missing'] == []
    assert report['teacher']['loaded'] == sum(k.startswith(('backbone_t.', 'head_t.'))
                                              for k in damo_keys(report))
    return model


@pytest.mark.parametrize('dtype', ['float64', 'float32'])
def test_yolox_nano_matches_the_official_forward(yolox, dtype):
    model = _yolox_model(yolox, dtype)
    images = torch.from_numpy(yolox['inputs']['images']).to(getattr(torch, dtype))
    with torch.no_grad():
        out = model(images).numpy()
    assert_close(out, yolox['outputs'][f'outputs_{SUFFIX[dtype]}'], dtype, 'YOLOX predictions')


@pytest.mark.parametrize('dtype', ['float64', 'float32'])
def test_damo_streamnet_matches_the_official_offline_forward(damo, dtype):
    model = _damo_model(damo, dtype)
    frames = torch.from_numpy(damo['inputs']['frames']).to(getattr(torch, dtype))
    meta = damo['meta']
    current = frames[meta['batch_current']]                             # [2, 3, H, W]
    history = [frames[[row[k] for row in meta['batch_history']]] for k in range(3)]
    with torch.no_grad():
        out = model(current, history).numpy()
    assert_close(out, damo['outputs'][f'batch_{SUFFIX[dtype]}'], dtype, 'offline batch')


@pytest.mark.parametrize('dtype, cached', [('float64', True), ('float64', False),
                                           ('float32', True)])
def test_damo_streamnet_matches_the_official_code_frame_by_frame(damo, dtype, cached):
    model = _damo_model(damo, dtype)
    runner = StreamingRunner(model, cached=cached)
    frames = torch.from_numpy(damo['inputs']['frames']).to(getattr(torch, dtype))
    seq = np.stack([runner(f[None])[0].numpy() for f in frames])
    assert_close(seq, damo['outputs'][f'sequence_{SUFFIX[dtype]}'], dtype,
                 f'streaming ({"cached reductions" if cached else "full pyramids"})')


def _export(model, fx, out_dir):
    from training.models.streamnet.blocks import fuse_repconv
    from training.models.streamnet.export_onnx import StreamNetGraphs, export_streamnet_onnx
    h, w = fx['meta']['input_hw']
    fuse_repconv(model.float().eval())
    export_streamnet_onnx(StreamNetGraphs(model).eval(), h, w, str(out_dir), check=False)
    import onnxruntime as ort
    return [ort.InferenceSession(str(out_dir / f'{role}.onnx'),
                                 providers=['CPUExecutionProvider'])
            for role in ('encoder', 'forecast')]


def _serve(encoder, forecast, frames):
    """The node's loop on the graphs: encode each frame, buffer what the encoder gives for the
    history, forecast from the current features and the last N buffered (newest first; at the
    start the first frame's)."""
    names = [o.name for o in encoder.get_outputs()]
    buffer, outs = [], []
    for frame in frames:
        feats = dict(zip(names, encoder.run(None, {'image': frame[None]})))
        buffer.insert(0, feats)
        feed = {}
        for inp in forecast.get_inputs():
            m = re.fullmatch(r'(.+)_h(\d+)', inp.name)
            src = buffer[min(int(m.group(2)), len(buffer) - 1)] if m else feats
            feed[inp.name] = src[m.group(1) if m else inp.name]
        outs.append(forecast.run(None, feed)[0][0])
    return np.stack(outs)


@pytest.mark.slow   # the dynamo exporter: ~30 s per model on one free core
def test_exported_yolox_graphs_match_the_official_forward(yolox, tmp_path):
    encoder, forecast = _export(_yolox_model(yolox, 'float32'), yolox, tmp_path)
    out = _serve(encoder, forecast, yolox['inputs']['images'])
    assert_close(out, yolox['outputs']['outputs_f32'], 'float32', 'YOLOX on ONNX Runtime')


@pytest.mark.slow
def test_exported_damo_streamnet_graphs_match_the_official_code(damo, tmp_path):
    encoder, forecast = _export(_damo_model(damo, 'float32'), damo, tmp_path)
    assert any(i.name.endswith('_h3') for i in forecast.get_inputs())
    out = _serve(encoder, forecast, damo['inputs']['frames'])
    assert_close(out, damo['outputs']['sequence_f32'], 'float32',
                 'DAMO-StreamNet on ONNX Runtime')


def test_a_changed_weight_breaks_parity(damo):
    """The comparison can fail: one BN statistic of the DRFPN moved by 1e-3 is caught."""
    model = _damo_model(damo, 'float64')
    bn = next(m for n, m in model.named_modules()
              if n.startswith('neck.') and isinstance(m, torch.nn.BatchNorm2d))
    bn.running_mean[0] += 1e-3
    frames = torch.from_numpy(damo['inputs']['frames']).double()
    seq = np.stack([StreamingRunner(model)(f[None])[0].numpy() for f in frames[:1]])
    with pytest.raises(AssertionError, match='above'):
        assert_close(seq, damo['outputs']['sequence_f64'][:1], 'float64', 'perturbed')
