"""ONNX Runtime and torch backends on the known-answer tiny bundles (test/tiny_bundles.py)."""
import numpy as np
import pytest

import tiny_bundles
from video_perception.backends.base import BackendError, BackendOptions, graph_input_names
from video_perception.backends.onnxruntime_backend import choose_providers
from video_perception.backends.select import auto_order, load_backend
from video_perception.bundle import load_bundle

pytestmark = pytest.mark.xdist_group('h3_bundles')


@pytest.fixture(scope='module')
def sn_bundle(tmp_path_factory):
    return load_bundle(tiny_bundles.make_streamnet_bundle(str(tmp_path_factory.mktemp('sn'))))


@pytest.fixture(scope='module')
def v2i_bundle(tmp_path_factory):
    return load_bundle(tiny_bundles.make_v2i_bundle(str(tmp_path_factory.mktemp('v2i'))))


def _square_image(x0, y0, x1, y1):
    img = np.zeros((1, 3, tiny_bundles.H, tiny_bundles.W), np.float32)   # [1, 3, H, W]
    img[:, :, y0:y1, x0:x1] = 1.0
    return img


@pytest.mark.parametrize('name', ['onnxruntime', 'torch'])
def test_streamnet_graphs_match_numpy_reference(sn_bundle, name):
    be = load_backend(sn_bundle, name, BackendOptions(threads=1), log=lambda s: None)
    img = _square_image(30, 10, 50, 20)
    feats = be.run('encoder', {'image': img})
    # reference: centroid of the lit pixels' centres, by a plain numpy computation
    ys, xs = np.nonzero(img[0, 0] > 0.5)
    np.testing.assert_allclose(feats['fa'].ravel(), [xs.mean() + 0.5, ys.mean() + 0.5], atol=1e-3)
    np.testing.assert_allclose(feats['fb'].ravel(), [len(xs)], rtol=1e-5)
    np.testing.assert_array_equal(feats['ca'], feats['fa'])    # the buffered feature
    inputs = {'fa': feats['fa'], 'fb': feats['fb'],
              'ca_h1': feats['ca'] - 3.0, 'ca_h2': feats['ca'] - 100.0}
    pred = be.run('forecast', inputs)['predictions']
    assert pred.shape == (1, tiny_bundles.NUM_ANCHORS, 6)
    np.testing.assert_allclose(pred[0, 0], [43.0, 18.0, 20, 20, 0.95, 0.95], atol=1e-3)
    assert np.all(pred[0, 1:] == 0)


@pytest.mark.parametrize('name', ['onnxruntime', 'torch'])
def test_v2i_graph_matches_numpy_reference(v2i_bundle, name):
    be = load_backend(v2i_bundle, name, BackendOptions(threads=1), log=lambda s: None)
    out = be.run('student', {'image': _square_image(30, 10, 50, 20)})
    assert out['pred_logits'].shape == (1, 3, 2) and out['pred_boxes'].shape == (1, 3, 4)
    box = out['pred_boxes'][0, 0] * np.array([tiny_bundles.W, tiny_bundles.H] * 2)
    np.testing.assert_allclose(box, [40, 15, 20, 10], atol=1e-3)
    assert out['pred_logits'][0, 0, 0] > out['pred_logits'][0, 0, 1]


def test_backends_agree(sn_bundle):
    ort = load_backend(sn_bundle, 'onnxruntime', log=lambda s: None)
    pt = load_backend(sn_bundle, 'torch', log=lambda s: None)
    rng = np.random.default_rng(0)
    img = (rng.random((1, 3, tiny_bundles.H, tiny_bundles.W)) > 0.7).astype(np.float32)
    a, b = ort.run('encoder', {'image': img}), pt.run('encoder', {'image': img})
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-4)


def test_input_order_is_the_contract(sn_bundle):
    assert graph_input_names(sn_bundle, 'forecast') == [
        'fa', 'fb', 'ca_h1', 'ca_h2']


def test_missing_input_is_one_line(sn_bundle):
    be = load_backend(sn_bundle, 'onnxruntime', log=lambda s: None)
    with pytest.raises(ValueError, match=r"missing inputs \['ca_h2'\]"):
        be.run('forecast', {'fa': np.zeros((1, 2, 1, 1), np.float32),
                            'fb': np.zeros((1, 1, 1, 1), np.float32),
                            'ca_h1': np.zeros((1, 2, 1, 1), np.float32)})
    with pytest.raises(BackendError, match='no "student" graph'):
        be.run('student', {'image': np.zeros((1, 3, 64, 96), np.float32)})


def test_corrupt_onnx_is_one_line(tmp_path):
    root = tiny_bundles.make_v2i_bundle(str(tmp_path / 'b'))
    (tmp_path / 'b' / 'student.onnx').write_bytes(b'not an onnx file')
    with pytest.raises(BackendError) as err:
        load_backend(load_bundle(root), 'onnxruntime', log=lambda s: None)
    assert 'student.onnx' in str(err.value) and '\n' not in str(err.value)


def test_torch_refuses_pickled_code(tmp_path):
    """weights_only=True: a state dict that carries an arbitrary object is refused."""
    import torch
    root = tiny_bundles.make_v2i_bundle(str(tmp_path / 'b'))
    torch.save({'logit_scale': torch.tensor(1.0), 'x': tiny_bundles.TinyBox}, root + '/model.pt')
    with pytest.raises(BackendError, match='torch cannot load'):
        load_backend(load_bundle(root), 'torch', log=lambda s: None)


def test_torch_unknown_builder(tmp_path):
    import json
    root = tiny_bundles.make_v2i_bundle(str(tmp_path / 'b'))
    meta = json.load(open(root + '/model.json'))
    meta['torch']['builder'] = 'no_such_module_xyz:build'
    json.dump(meta, open(root + '/model.json', 'w'))
    with pytest.raises(BackendError, match='no_such_module_xyz cannot be imported'):
        load_backend(load_bundle(root), 'torch', log=lambda s: None)


def test_auto_picks_cpu_here_and_says_why(sn_bundle):
    order = auto_order(sn_bundle)
    lines = []
    be = load_backend(sn_bundle, 'auto', log=lines.append)
    import importlib.util
    has_trt = importlib.util.find_spec('tensorrt') is not None
    if not has_trt and order[0][1] == 'cpu':
        assert (be.name, be.device) == ('onnxruntime', 'cpu')
        assert 'tensorrt' in lines[-1] and 'not installed' in lines[-1]
    assert order[-1][:2] == ('onnxruntime', 'cpu')


def test_cuda_provider_choice():
    cuda = ['CUDAExecutionProvider', 'CPUExecutionProvider']
    assert choose_providers('auto', cuda) == cuda
    assert choose_providers('cpu', cuda) == ['CPUExecutionProvider']
    assert choose_providers('auto', ['CPUExecutionProvider']) == ['CPUExecutionProvider']
    with pytest.raises(BackendError, match='no CUDA provider'):
        choose_providers('cuda', ['CPUExecutionProvider'])


def test_unknown_backend_name(v2i_bundle):
    with pytest.raises(BackendError, match='backend "tflite" unknown'):
        load_backend(v2i_bundle, 'tflite')
