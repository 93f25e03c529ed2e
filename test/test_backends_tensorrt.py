"""TensorRT backend: the engine-cache key (pure, runs everywhere) and the engine build and run
(skip without TensorRT and a CUDA GPU, with the reason)."""
import hashlib
import json
import os

import numpy as np
import pytest

import tiny_bundles
from video_perception.backends import tensorrt_backend as trtb
from video_perception.backends.base import BackendError, BackendOptions
from video_perception.bundle import load_bundle

pytestmark = pytest.mark.xdist_group('h3_bundles')

SHAPES = {'image': (1, 3, 384, 640)}


def test_key_is_sha256_of_the_canonical_fields():
    key = trtb.engine_cache_key('ab' * 32, 'fp16', SHAPES, '10.3.0', 'Orin')
    # independent reference: the canonical JSON written out by hand
    text = ('{"gpu":"Orin","input_shapes":{"image":[1,3,384,640]},"onnx_sha256":"' + 'ab' * 32
            + '","precision":"fp16","tensorrt":"10.3.0"}')
    assert key == hashlib.sha256(text.encode()).hexdigest()[:24]


@pytest.mark.parametrize('field,value', [
    ('onnx', 'cd' * 32), ('precision', 'fp32'), ('shapes', {'image': (1, 3, 600, 960)}),
    ('trt', '10.4.0'), ('gpu', 'NVIDIA GeForce RTX 4090')])
def test_key_changes_with_every_field(field, value):
    base = dict(onnx='ab' * 32, precision='fp16', shapes=SHAPES, trt='10.3.0', gpu='Orin')
    changed = dict(base, **{field: value})
    k = lambda d: trtb.engine_cache_key(d['onnx'], d['precision'], d['shapes'], d['trt'],  # noqa
                                        d['gpu'])
    assert k(base) != k(changed)
    assert k(base) == k(dict(base))          # stable


def test_key_ignores_input_order_and_rejects_unknown_precision():
    a = trtb.engine_cache_key('x', 'fp32', {'a': (1,), 'b': (2,)}, '10', 'g')
    b = trtb.engine_cache_key('x', 'fp32', {'b': (2,), 'a': (1,)}, '10', 'g')
    assert a == b
    with pytest.raises(ValueError, match='precision "int4"'):
        trtb.engine_cache_key('x', 'int4', SHAPES, '10', 'g')


def test_engine_path_hashes_the_onnx_bytes(tmp_path):
    bundle = load_bundle(tiny_bundles.make_streamnet_bundle(str(tmp_path / 'b')))
    path = trtb.engine_path(bundle, 'forecast', 'fp16', '10.3.0', 'Orin')
    sha = hashlib.sha256(open(bundle.graph('forecast'), 'rb').read()).hexdigest()
    shapes = {'fa': (1, 2, 1, 1), 'fb': (1, 1, 1, 1), 'ca_h1': (1, 2, 1, 1),
              'ca_h2': (1, 2, 1, 1)}
    key = trtb.engine_cache_key(sha, 'fp16', shapes, '10.3.0', 'Orin')
    assert path == os.path.join(bundle.root, 'engines', f'forecast-fp16-{key}.engine')
    assert trtb.input_shapes(bundle, 'encoder') == {'image': (1, 3, 64, 96)}
    # a changed graph gets another engine
    with open(bundle.graph('forecast'), 'ab') as f:
        f.write(b'\0')
    assert trtb.engine_path(bundle, 'forecast', 'fp16', '10.3.0', 'Orin') != path
    assert trtb.engine_path(bundle, 'forecast', 'fp16', '10.3.0', 'Orin',
                            str(tmp_path / 'c')).startswith(str(tmp_path / 'c'))


def _trt_reason():
    return trtb.available()


def test_without_tensorrt_the_backend_says_why(tmp_path):
    if _trt_reason() is None:
        pytest.skip('TensorRT is installed here; the missing-TensorRT message is not reachable')
    bundle = load_bundle(tiny_bundles.make_v2i_bundle(str(tmp_path / 'b')))
    with pytest.raises(BackendError) as err:
        trtb.load(bundle, 'cuda')
    assert '\n' not in str(err.value)


@pytest.mark.gpu
def test_tensorrt_build_cache_and_parity(tmp_path):
    reason = _trt_reason()
    if reason is not None:
        pytest.skip(f'TensorRT engine tests need TensorRT 10 and a CUDA GPU: {reason}')
    from video_perception.backends.onnxruntime_backend import OnnxRuntimeBackend
    bundle = load_bundle(tiny_bundles.make_streamnet_bundle(str(tmp_path / 'b')))
    lines = []
    opts = BackendOptions(fp16=False, engine_cache_dir=str(tmp_path / 'cache'))
    be = trtb.TensorRTBackend(bundle, opts, log=lines.append)
    assert any('building' in s for s in lines)
    engines = sorted(os.listdir(tmp_path / 'cache'))
    assert len(engines) == 2
    mtimes = [os.path.getmtime(tmp_path / 'cache' / e) for e in engines]
    lines.clear()
    trtb.TensorRTBackend(bundle, opts, log=lines.append)
    assert all('using cached' in s for s in lines)
    opts.force_engine_update = True
    trtb.TensorRTBackend(bundle, opts, log=lines.append)
    assert [os.path.getmtime(tmp_path / 'cache' / e) for e in engines] != mtimes
    be.warmup()
    img = np.zeros((1, 3, 64, 96), np.float32)
    img[:, :, 10:20, 30:50] = 1
    ref = OnnxRuntimeBackend(bundle).run('encoder', {'image': img})
    got = be.run('encoder', {'image': img})
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-3, atol=1e-2)
    json.dumps(lines)


def test_build_engine_cli_one_line_errors(tmp_path, capsys):
    from video_perception.tools import build_engine
    assert build_engine.main([str(tmp_path / 'missing')]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and 'not a directory' in err
    if _trt_reason() is not None:
        root = tiny_bundles.make_v2i_bundle(str(tmp_path / 'b'))
        assert build_engine.main([root, '--fp16']) == 2
        err = capsys.readouterr().err.strip()
        assert err.count('\n') == 0 and 'TensorRT' in err
