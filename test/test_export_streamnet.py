"""StreamNet bundles: ONNX Runtime on the exported graphs against the unfused torch model.

The reference is the model's offline multi-frame forward (``model(current, history)``, RepConv
unfused, no buffer), so the test covers RepConv fusion, the encoder/forecast split, the flat
input naming of bundle.py and the exporter at once. The exporter's own on-the-spot check compares
against the fused model; this one does not trust it.
"""
import json

import numpy as np
import onnx
import pytest
import torch

from training import export as ex
from training.onnx_check import ExportCheckError, check_graph, trt_supported_ops
from video_perception.bundle import load_bundle


def _ort(path):
    import onnxruntime as ort
    return ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])


@pytest.mark.xdist_group('export')
def test_streamnet_tiny_bundle_matches_offline_torch(tmp_path):
    torch.manual_seed(0)
    variant, size = 'streamnet_tiny', (192, 320)
    model = ex._build_streamnet(variant, 8, {}).eval()
    # Non-trivial BN statistics so that fusing them matters.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    ckpt = tmp_path / 'w.pt'
    torch.save(model.state_dict(), ckpt)
    out = tmp_path / 'bundle'
    rc = ex.main([variant, '--checkpoint', str(ckpt), '--out', str(out)])
    assert rc == 0
    bundle = load_bundle(str(out))
    assert (bundle.height, bundle.width) == size and bundle.history_frames == 3
    meta = json.loads((out / 'model.json').read_text())
    assert meta['torch']['builder'] == 'training.export:build_from_bundle'
    # the encoder gives the neck maps for the current step and the long-path reductions
    # (tiny: 5/10/21 channels) for the buffer
    assert [f.shape for f in bundle.current_features] == [(1, 32, 24, 40), (1, 64, 12, 20),
                                                          (1, 128, 6, 10)]
    assert [f.shape for f in bundle.features] == [(1, 5, 24, 40), (1, 10, 12, 20),
                                                  (1, 21, 6, 10)]
    assert meta['history']['current'][0] == {'name': 'f0', 'shape': [1, 32, 24, 40]}
    enc, fc = _ort(bundle.graph('encoder')), _ort(bundle.graph('forecast'))
    for path in bundle.graphs.values():
        g = onnx.load(path)
        assert max(o.version for o in g.opset_import if o.domain in ('', 'ai.onnx')) >= 17
        assert {n.op_type for n in g.graph.node} <= trt_supported_ops()
    cur = [f.name for f in bundle.current_features]
    names = [f.name for f in bundle.features]
    assert [o.name for o in enc.get_outputs()] == cur + names == ['f0', 'f1', 'f2', 'l0', 'l1',
                                                                  'l2']
    assert [i.name for i in fc.get_inputs()] == cur + [
        f'{nm}_h{k}' for k in range(1, 4) for nm in names]

    # A 6-frame sequence: ORT encodes each frame once and a FIFO keeps only the reductions;
    # the forecast reads them. Reference: the unfused offline forward that re-encodes the
    # clamped history [t-1, t-2, t-3] every step (frames move through all three slots).
    g = torch.Generator().manual_seed(5)
    frames = [torch.rand(1, 3, *size, generator=g) * 255 for _ in range(6)]
    fifo = []
    for t, frame in enumerate(frames):
        out = dict(zip(cur + names, enc.run(cur + names, {'image': frame.numpy()})))
        fifo = fifo or [out] * 3
        feeds = {nm: out[nm] for nm in cur}
        for k in range(1, 4):
            feeds.update({f'{nm}_h{k}': fifo[k - 1][nm] for nm in names})
        got = fc.run(['predictions'], feeds)[0]
        fifo = [out] + fifo[:-1]
        with torch.no_grad():
            want = model(frame, [frames[max(t - k, 0)] for k in (1, 2, 3)]).numpy()
        assert got.shape == want.shape == (1, 1260, 13)
        assert np.abs(got - want).max() <= 1e-3, f'frame {t}'

    # The torch backend's twin (fused, flat signature) agrees too.
    twin = ex.build_from_bundle(bundle)
    with torch.no_grad():
        tf = [twin.encode(f) for f in frames[2:]]                     # t-3 .. t = frames 2..5
        pred = twin.forecast(*tf[3][:3], *tf[2][3:], *tf[1][3:], *tf[0][3:]).numpy()
    assert np.abs(pred - want).max() <= 1e-3


def _tiny_onnx(path, op='Relu', dim=3, domain=''):
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, dim])
    y = helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, dim])
    node = helper.make_node(op, ['x'], ['y'], domain=domain)
    model = helper.make_model(helper.make_graph([node], 'g', [x], [y]),
                              opset_imports=[helper.make_opsetid('', 17)], ir_version=8)
    onnx.save(model, path)


def test_check_graph_rejects_unsupported_ops_dynamic_shapes_and_mismatch(tmp_path):
    x = torch.randn(1, 3)
    _tiny_onnx(tmp_path / 'ok.onnx')
    assert check_graph(str(tmp_path / 'ok.onnx'), {'x': x}, {'y': x.relu()})['max_abs'] == 0
    with pytest.raises(ExportCheckError, match='differs from torch'):
        check_graph(str(tmp_path / 'ok.onnx'), {'x': x}, {'y': x.relu() + 0.01})
    # pixel-valued outputs: 1.5e-3 off a value of 300 is within fp32 noise (allclose rtol 1e-5),
    # 1.5e-3 off a value of 0.5 is not
    big = torch.full((1, 3), 300.0)
    assert check_graph(str(tmp_path / 'ok.onnx'), {'x': big}, {'y': big + 1.5e-3})['max_abs'] \
        == pytest.approx(1.5e-3, rel=0.05)
    half = torch.full((1, 3), 0.5)
    with pytest.raises(ExportCheckError, match='differs from torch'):
        check_graph(str(tmp_path / 'ok.onnx'), {'x': half}, {'y': half + 1.5e-3})
    _tiny_onnx(tmp_path / 'neg.onnx', op='NegativeLogLikelihoodLoss')
    with pytest.raises(ExportCheckError):
        check_graph(str(tmp_path / 'neg.onnx'), {'x': x}, {'y': x})
    _tiny_onnx(tmp_path / 'dyn.onnx', dim='n')
    with pytest.raises(ExportCheckError, match='non-static'):
        check_graph(str(tmp_path / 'dyn.onnx'), {'x': x}, {'y': x.relu()})


def test_vendored_trt_op_list_equals_shared(shared_data):
    shared = set(json.loads((shared_data / 'tensorrt10_onnx_ops.json').read_text()))
    assert trt_supported_ops() == shared
    assert 'GridSample' in shared and 'NonZero' in shared


def test_export_cli_errors_are_one_line(tmp_path, capsys):
    assert ex.main(['streamnet_xl', '--out', str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'unknown model' in err[0]
    assert ex.main(['streamnet_tiny', '--size', '100x7', '--out', str(tmp_path)]) == 2
    err = [e for e in capsys.readouterr().err.splitlines() if 'video-perception export' in e]
    assert len(err) == 1 and 'must be even (Focus)' in err[0]
    assert ex.main(['streamnet_tiny', '--size', '0x64', '--out', str(tmp_path)]) == 2
    assert 'positive' in capsys.readouterr().err


def _export_checked(name, size, out, capsys):
    """``export NAME --size HxW --out OUT`` as a user types it: it succeeds and checks the
    TensorRT operator list of both graphs (encoder, forecast) on the spot; the loaded bundle."""
    assert ex.main([name, '--size', size, '--out', str(out)]) == 0
    assert capsys.readouterr().out.count('TensorRT ops ok') == 2
    return load_bundle(str(out))


@pytest.mark.xdist_group('export')
def test_streamnet_tiny_exports_at_a_non_square_non_multiple_of_32_size(tmp_path, capsys):
    """200x328: the stride-2 convs take ceil (100, 50, 25, 13, 7 and 164, 82, 41, 21, 11) and
    the neck's nearest upsampling goes to the sizes, 13 -> 25 and 7 -> 13."""
    bundle = _export_checked('streamnet_tiny', '200x328', tmp_path / 'b', capsys)
    assert [f.shape[2:] for f in bundle.features] == [(25, 41), (13, 21), (7, 11)]
    assert [f.shape[2:] for f in bundle.current_features] == [(25, 41), (13, 21), (7, 11)]
    enc = _ort(bundle.graph('encoder'))
    assert enc.get_inputs()[0].shape == [1, 3, 200, 328]
    fc = _ort(bundle.graph('forecast'))
    assert fc.get_outputs()[0].shape[1] == 25 * 41 + 13 * 21 + 7 * 11


@pytest.mark.xdist_group('export')
def test_still_yolox_exports_boxes_of_the_frame_it_saw(tmp_path):
    """A still YOLOX (no dual path) trained on the frame it sees must not be stamped one frame
    ahead: plain ``export yolox_nano`` writes future_frames 0 (only ``import`` used to), while a
    StreamNet, which forecasts t + 1, keeps 1, and a checkpoint's ``future`` K becomes K."""
    still = tmp_path / 'still'
    assert ex.main(['yolox_nano', '--size', '64x96', '--out', str(still)]) == 0
    assert load_bundle(str(still)).future_frames == 0
    assert load_bundle(str(still)).history_frames == 0
    model = ex._build_streamnet('streamnet_tiny', 8, {})
    assert ex._future_frames(model, {}) == 1
    assert ex._future_frames(model, {'future': 2}) == 2
    assert ex._future_frames(ex._build_streamnet('yolox_nano', 8, {}), {'future': 2}) == 0


@pytest.mark.slow
@pytest.mark.xdist_group('export')
def test_streamnet_s_600x960_bundle_runs_in_onnxruntime(tmp_path, capsys):
    # the command a user types: operator list, static shapes and ONNX Runtime checked on the spot
    bundle = _export_checked('streamnet_s', '600x960', tmp_path / 's', capsys)
    assert [f.shape for f in bundle.current_features] == [(1, 128, 75, 120), (1, 256, 38, 60),
                                                          (1, 512, 19, 30)]
    assert [f.shape for f in bundle.features] == [(1, 21, 75, 120), (1, 42, 38, 60),
                                                  (1, 85, 19, 30)]
    fc = _ort(bundle.graph('forecast'))
    assert fc.get_outputs()[0].shape == [1, 11850, 13]


@pytest.mark.slow
@pytest.mark.xdist_group('export')
def test_streamnet_l_1200x1920_bundle_passes_the_checks(tmp_path, capsys):
    bundle = _export_checked('streamnet_l', '1200x1920', tmp_path / 'l', capsys)
    assert [f.shape[2:] for f in bundle.features] == [(150, 240), (75, 120), (38, 60)]
    # both groups' reductions buffered per level: 42 + 44, 85 + 86, 170 + 172 channels
    assert [f.shape[1] for f in bundle.features] == [86, 171, 342]
