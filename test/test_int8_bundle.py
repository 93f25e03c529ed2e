"""INT8 bundles of the shipped tiny StreamNet, calibrated from a rosbag2 (training/quantize.py,
training/calibration.py): deterministic calibration, the float-kept layers, what model.json
records, check-bundle's int8 verdict, and the bundle in replay against the fp32 bundle."""
import filecmp
import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import int8_bundles
from training.calibration import pick_indices

pytestmark = pytest.mark.xdist_group('int8_bundles')


@pytest.fixture(scope='module')
def int8(tmp_path_factory):
    return int8_bundles.shared_int8_tiny(tmp_path_factory)


@pytest.fixture(scope='module')
def bag(int8):
    return int8_bundles.calib_bag(int8.parent)


@pytest.fixture(scope='module')
def held_out(tmp_path_factory):
    """20 frames of the README's held-out clip (seed 101), in time order."""
    from video_perception.cli import main
    from video_perception.sources import open_source
    out = tmp_path_factory.mktemp('heldout') / 'clip'
    assert main(['synth', 'driving', str(out), '--seed', '101', '--videos', '1',
                 '--frames', '20']) == 0
    return out, [f.load() for f in open_source(out / 'dataset.json').frames()]


def test_pick_indices_spread_evenly():
    assert pick_indices(10, 4) == [0, 3, 6, 9]          # by hand: linspace(0, 9, 4) rounded
    assert pick_indices(3, 200) == [0, 1, 2]
    assert pick_indices(0, 5) == []


def test_calibration_is_deterministic(int8, bag, tmp_path):
    again = int8_bundles.int8_tiny(tmp_path, bag, name='again')
    for graph in ('encoder.onnx', 'forecast.onnx'):
        assert filecmp.cmp(int8 / graph, again / graph, shallow=False), graph
    # and the bytes do depend on the frames: other frames, other scales
    other = int8_bundles.int8_tiny(tmp_path, bag, name='other', frames=3)
    assert not filecmp.cmp(int8 / 'encoder.onnx', other / 'encoder.onnx', shallow=False)


def _graph_maps(model):
    producer = {o: n for n in model.graph.node for o in n.output}
    inits = {i.name: i for i in model.graph.initializer}
    return producer, inits


def _weight_name(node, producer, inits):
    """The weight initialiser behind input 1, through its DequantizeLinear if there is one."""
    w = node.input[1]
    if w in producer and producer[w].op_type == 'DequantizeLinear':
        w = producer[w].input[0]
    return w if w in inits else ''


def test_float_kept_convs_have_no_qdq_and_the_rest_are_int8(int8):
    model = onnx.load(int8 / 'forecast.onnx')
    producer, inits = _graph_maps(model)
    kept = quantised = 0
    for node in (n for n in model.graph.node if n.op_type == 'Conv'):
        w = _weight_name(node, producer, inits)
        fed_by_dq = [producer.get(i) is not None and producer[i].op_type == 'DequantizeLinear'
                     for i in node.input[:2]]
        # the head's last convs, named here by hand (the "head's last convolutions")
        if any(f'head.{k}_preds.' in w for k in ('cls', 'reg', 'obj')):
            kept += 1
            assert not any(fed_by_dq), node.name
            assert inits[w].data_type == onnx.TensorProto.FLOAT
        else:
            quantised += 1
            assert all(fed_by_dq), node.name
            q_weight = inits[w]
            assert q_weight.data_type == onnx.TensorProto.INT8
            scale = numpy_helper.to_array(inits[producer[node.input[1]].input[1]])
            assert scale.shape == (q_weight.dims[0],)        # one scale per output channel
            zero = numpy_helper.to_array(inits[producer[node.input[0]].input[2]])
            assert zero.dtype == np.int8 and not zero.any()   # symmetric: TensorRT's rule
    assert kept == 9 and quantised > 10      # 3 levels x (cls, reg, obj)


def test_another_float_group_is_honoured(bag, tmp_path):
    out = int8_bundles.int8_tiny(tmp_path, bag, name='dcn', frames=2,
                                 keep_float=('dcn_offsets', 'head_preds'))
    model = onnx.load(out / 'encoder.onnx')
    producer, inits = _graph_maps(model)
    offsets = [n for n in model.graph.node if n.op_type == 'Conv'
               and 'conv_offset' in _weight_name(n, producer, inits)]
    assert offsets, 'the tiny encoder has DCN offset convs'
    for n in offsets:
        assert producer.get(n.input[0]) is None or \
            producer[n.input[0]].op_type != 'DequantizeLinear'
        assert inits[n.input[1]].data_type == onnx.TensorProto.FLOAT


def test_model_json_records_precision_and_calibration(int8, bag):
    meta = json.loads((int8 / 'model.json').read_text())
    assert meta['precision'] == 'int8'
    cal = meta['quantization']['calibration']
    assert cal['source'] == str(bag) and cal['kind'] == 'bag' and cal['method'] == 'minmax'
    assert cal['frames'] == int8_bundles.CALIB_FRAMES and cal['source_frames'] == 12
    assert list(meta['quantization']['float_kept']) == ['head_preds']


def test_check_bundle_passes_int8_tolerance_fails_fp32(int8, held_out, capsys):
    """check-bundle's precision comes from model.json (int8): it passes; asked for fp32's
    tolerances it fails (raw outputs and decoded detections)."""
    from training.check_bundle import check_bundle
    from training.quantize import INT8_BOX_TOL, INT8_SCORE_TOL
    frames = held_out[1][8:12]
    assert check_bundle(str(int8), frames=frames, score_tol=INT8_SCORE_TOL,
                        box_tol=INT8_BOX_TOL) == 0
    assert 'int8 tolerance' in capsys.readouterr().out
    assert check_bundle(str(int8), frames=frames, precision='fp32') == 1
    out = capsys.readouterr().out
    assert 'FAIL' in out and 'OUTSIDE' in out


def _iou(a, b):
    lt, rb = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = np.prod(np.clip(rb - lt, 0, None))
    return inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter)


def test_int8_detections_follow_fp32_on_held_out_frames(int8, held_out):
    """The int8 detector over the held-out clip (feature buffer and all) finds the confident
    fp32 detections again: same class, IoU >= 0.7 (independent reference: the fp32 bundle)."""
    from video_perception.backends.base import BackendOptions
    from video_perception.detector import load_detector
    dets = {k: load_detector(str(p), 'onnxruntime', BackendOptions(threads=1), log=lambda s: None,
                             score_threshold=0.05, max_detections=50)
            for k, p in (('fp32', int8_bundles.SHIPPED_TINY), ('int8', int8))}
    confident = found = 0
    for i, frame in enumerate(held_out[1]):
        ref, got = (dets[k].detect(frame, i * 33_000_000) for k in ('fp32', 'int8'))
        for box, cls in zip(ref.boxes_xyxy[ref.scores >= 0.5], ref.class_ids[ref.scores >= 0.5]):
            confident += 1
            found += any(c == cls and _iou(box, b) >= 0.7
                         for b, c in zip(got.boxes_xyxy, got.class_ids))
    assert confident >= 10, 'too few confident detections: the test checks little'
    assert found >= 0.9 * confident, (found, confident)


def test_int8_bundle_serves_in_replay(int8, held_out, tmp_path):
    """replay of the held-out clip: the int8 bundle's offline AP within 5 points of the fp32
    bundle's (the reference), which itself finds something."""
    from video_perception.cli import main
    from video_perception.eval.metrics import headline
    clip, ap = held_out[0], {}
    for k, model in (('fp32', int8_bundles.SHIPPED_TINY), ('int8', int8)):
        assert main(['replay', str(clip / 'dataset.json'), '--model', str(model), '--out',
                     str(tmp_path / k), '--backend', 'onnxruntime', '--threads', '1',
                     '--gt', str(clip / 'dataset.json')]) == 0
        res = json.loads((tmp_path / k / 'results.json').read_text())
        assert res['outputs'] and res['detections']
        ap[k] = headline(json.loads((tmp_path / k / 'report.json').read_text()))['offline_AP']
    assert ap['fp32'] > 0.05, ap
    assert abs(ap['int8'] - ap['fp32']) <= 0.05, ap


def test_cpu_u8_rewrite_is_exact_and_fuses(int8, tmp_path):
    """backends/qdq_cpu.py: activation zero points int8 0 -> uint8 128 leave every real value
    as it was (reference: ONNX Runtime's plain Q/DQ ops, no fusion, on the graph as exported)
    and let ONNX Runtime fuse the convolutions (QLinearConv in its optimised graph)."""
    import onnxruntime as ort
    from video_perception.backends.qdq_cpu import activations_to_u8
    path = str(int8 / 'encoder.onnx')
    u8 = activations_to_u8(path)
    assert u8 is not None
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 192, 320)).astype(np.float32)

    def run(src, level, save=None):
        so = ort.SessionOptions()
        so.graph_optimization_level = level
        so.intra_op_num_threads = 1
        if save:
            so.optimized_model_filepath = save
        return ort.InferenceSession(src, so, providers=['CPUExecutionProvider']).run(
            None, {'image': x})
    off = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for a, b in zip(run(path, off), run(u8, off)):
        np.testing.assert_array_equal(a, b)
    run(u8, ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, str(tmp_path / 'opt.onnx'))
    ops = [n.op_type for n in onnx.load(tmp_path / 'opt.onnx').graph.node]
    assert ops.count('QLinearConv') >= 20
