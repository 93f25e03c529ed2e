"""The TensorRT path of an int8 bundle up to the builder call, without TensorRT: a stand-in for
the ``tensorrt`` module object records what the backend hands it (TensorRT cannot run here).
The stand-in's parser reads the graph bytes with ``onnx`` and makes one layer per node, so the
backend's own Q/DQ check sees the real graph."""
import hashlib
import sys
import types

import onnx
import pytest

import int8_bundles
from video_perception.backends import tensorrt_backend as trtb
from video_perception.backends.base import BackendError, BackendOptions
from video_perception.bundle import load_bundle

pytestmark = pytest.mark.xdist_group('int8_bundles')


class _Enum:
    def __init__(self, **names):
        self.__dict__.update(names)


def fake_tensorrt(with_int8_flag=True, version='10.3.0'):
    """A module object with the parts of TensorRT 10's API the builder path uses."""
    calls = {'network_flags': [], 'config_flags': [], 'parsed': [], 'built': 0}
    flags = {'FP16': 'FP16', **({'INT8': 'INT8'} if with_int8_flag else {})}
    layer = _Enum(QUANTIZE='QUANTIZE', DEQUANTIZE='DEQUANTIZE', OTHER='OTHER')

    class Network:
        def __init__(self):
            self.layers = []

        @property
        def num_layers(self):
            return len(self.layers)

        def get_layer(self, i):
            return self.layers[i]

    class Parser:
        def __init__(self, network, logger):
            self.network = network
            self.num_errors = 0

        def parse(self, data):
            calls['parsed'].append(data)
            kinds = {'QuantizeLinear': layer.QUANTIZE, 'DequantizeLinear': layer.DEQUANTIZE}
            self.network.layers = [types.SimpleNamespace(type=kinds.get(n.op_type, layer.OTHER))
                                   for n in onnx.load_from_string(data).graph.node]
            return True

    class Config:
        def set_memory_pool_limit(self, pool, size):
            pass

        def set_flag(self, flag):
            calls['config_flags'].append(flag)

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            calls['network_flags'].append(flags)
            return Network()

        def create_builder_config(self):
            return Config()

        def build_serialized_network(self, network, config):
            calls['built'] += 1
            return b'plan'

    trt = types.ModuleType('tensorrt')
    trt.__version__ = version
    trt.Logger = type('Logger', (), {'WARNING': 2, '__init__': lambda self, level: None})
    trt.Builder, trt.OnnxParser = Builder, Parser
    trt.BuilderFlag = _Enum(**flags)
    trt.NetworkDefinitionCreationFlag = _Enum(STRONGLY_TYPED=5)
    trt.MemoryPoolType = _Enum(WORKSPACE='WORKSPACE')
    trt.LayerType = layer
    return trt, calls


@pytest.fixture(scope='module')
def int8(tmp_path_factory):
    return int8_bundles.shared_int8_tiny(tmp_path_factory)


def _engines(monkeypatch, bundle_path, tmp_path, fp16, **fake):
    trt, calls = fake_tensorrt(**fake)
    monkeypatch.setitem(sys.modules, 'tensorrt', trt)
    bundle = load_bundle(str(bundle_path))
    paths = trtb.ensure_engines(bundle, BackendOptions(fp16=fp16,
                                                       engine_cache_dir=str(tmp_path / 'e')),
                                log=lambda s: None)
    return bundle, paths, calls


def test_int8_bundle_builds_explicitly_quantised_with_int8_flag(monkeypatch, int8, tmp_path):
    bundle, paths, calls = _engines(monkeypatch, int8, tmp_path, fp16=True)
    # the builder got exactly the bundle's graph files, and they hold Q/DQ nodes
    for role in ('encoder', 'forecast'):
        data = open(bundle.graph(role), 'rb').read()
        assert data in calls['parsed']
        assert any(n.op_type == 'QuantizeLinear' for n in onnx.load_from_string(data).graph.node)
    assert calls['network_flags'] == [0, 0]              # weakly typed: TensorRT 10 + INT8 flag
    assert calls['config_flags'] == ['INT8', 'FP16'] * 2
    assert calls['built'] == 2
    for label, path in paths.items():
        assert f'{label}-int8+fp16-' in path
    # the key of the int8 engine is not the fp16 key of the same file
    sha = hashlib.sha256(open(bundle.graph('encoder'), 'rb').read()).hexdigest()
    shapes = trtb.input_shapes(bundle, 'encoder')
    assert trtb.engine_cache_key(sha, 'int8+fp16', shapes, '10.3.0', trtb.gpu_name()) != \
        trtb.engine_cache_key(sha, 'fp16', shapes, '10.3.0', trtb.gpu_name())
    assert paths['encoder'].endswith(trtb.engine_cache_key(
        sha, 'int8+fp16', shapes, '10.3.0', trtb.gpu_name()) + '.engine')


def test_without_the_int8_flag_the_network_is_strongly_typed(monkeypatch, int8, tmp_path):
    _, paths, calls = _engines(monkeypatch, int8, tmp_path, fp16=False, with_int8_flag=False,
                               version='11.0.0')
    assert calls['network_flags'] == [1 << 5, 1 << 5]    # STRONGLY_TYPED
    assert calls['config_flags'] == []
    assert all('-int8-' in p for p in paths.values())


def test_fp32_bundle_keeps_its_flags_and_int8_without_qdq_is_refused(monkeypatch, int8,
                                                                     tmp_path):
    _, paths, calls = _engines(monkeypatch, int8_bundles.SHIPPED_TINY, tmp_path / 'a', fp16=True)
    assert calls['config_flags'] == ['FP16', 'FP16'] and calls['network_flags'] == [0, 0]
    assert all('-fp16-' in p for p in paths.values())
    trt, calls = fake_tensorrt()
    monkeypatch.setitem(sys.modules, 'tensorrt', trt)
    with pytest.raises(BackendError, match='no QuantizeLinear'):
        trtb.build_engine(str(int8_bundles.SHIPPED_TINY / 'encoder.onnx'),
                          str(tmp_path / 'x.engine'), False, lambda s: None, int8=True)
    assert calls['built'] == 0
