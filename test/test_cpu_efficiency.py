"""CPU efficiency work (issue 21 items 2 and 4): the profile aggregation of
scripts/bench_efficiency.py against a naive sum, and the quantiser's SiLU / Concat / MaxPool
placement (training/quantize.py) against the fp32 graph on ONNX Runtime. No timing."""
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'scripts'))


def test_aggregate_profile_hand_counted():
    from bench_efficiency import aggregate_profile
    run = lambda ts: {'cat': 'Session', 'name': 'model_run', 'ts': ts, 'dur': 90}  # noqa: E731
    node = lambda ts, op, dur: {'cat': 'Node', 'name': f'n{ts}_kernel_time',  # noqa: E731
                                'ts': ts, 'dur': dur, 'args': {'op_name': op}}
    events = [run(0), node(1, 'Conv', 50), node(60, 'Sigmoid', 7),      # warm-up, skipped
              run(100), node(101, 'Conv', 40), node(150, 'Sigmoid', 5),
              {'cat': 'Node', 'name': 'n151_fence_before', 'ts': 151, 'dur': 3,
               'args': {'op_name': 'Conv'}},                              # not a kernel time
              run(200), node(201, 'Conv', 44), node(250, 'Mul', 2)]
    total, runs = aggregate_profile(events, 1)
    assert runs == 2
    assert dict(total) == {'Conv': 84.0, 'Sigmoid': 5.0, 'Mul': 2.0}


def _silu_graph():
    """x -> Conv -> SiLU -> {Conv -> SiLU} -> Concat -> MaxPool -> Conv -> y, plus a gate
    sigmoid(x) * conv (not a SiLU) and a Concat of two non-quantised tensors."""
    rng = np.random.default_rng(0)
    w = lambda name, co, ci: numpy_helper.from_array(  # noqa: E731
        (rng.standard_normal((co, ci, 3, 3)) * 0.2).astype(np.float32), name)
    nodes = [helper.make_node('Conv', ['x', 'w1'], ['c1'], name='conv1', pads=[1] * 4),
             helper.make_node('Sigmoid', ['c1'], ['s1'], name='sig1'),
             helper.make_node('Mul', ['c1', 's1'], ['a1'], name='silu1'),
             helper.make_node('Conv', ['a1', 'w2'], ['c2'], name='conv2', pads=[1] * 4),
             helper.make_node('Sigmoid', ['c2'], ['s2'], name='sig2'),
             helper.make_node('Mul', ['s2', 'c2'], ['a2'], name='silu2'),   # operands swapped
             helper.make_node('Concat', ['a1', 'a2'], ['cat'], name='cat', axis=1),
             helper.make_node('MaxPool', ['cat'], ['mp'], name='pool', kernel_shape=[3, 3],
                              pads=[1] * 4),
             helper.make_node('Conv', ['mp', 'w3'], ['y'], name='conv3', pads=[1] * 4),
             helper.make_node('Sigmoid', ['x'], ['gx'], name='gate_sig'),
             helper.make_node('Mul', ['gx', 'c1'], ['gate'], name='gate_mul'),
             helper.make_node('Concat', ['x', 'gx'], ['xcat'], name='float_cat', axis=1)]
    shape = lambda c: [1, c, 12, 16]  # noqa: E731
    graph = helper.make_graph(
        nodes, 'silu', [helper.make_tensor_value_info('x', TensorProto.FLOAT, shape(4))],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, shape(8)),
         helper.make_tensor_value_info('gate', TensorProto.FLOAT, shape(4)),
         helper.make_tensor_value_info('xcat', TensorProto.FLOAT, shape(8))],
        [w('w1', 4, 4), w('w2', 4, 4), w('w3', 8, 8)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], ir_version=8)


def test_silu_and_shared_ops_found():
    from training.quantize import quantized_extras, silu_nodes
    model = _silu_graph()
    assert sorted(silu_nodes(model)) == ['sig1', 'sig2', 'silu1', 'silu2']
    assert sorted(quantized_extras(model)) == ['cat', 'pool', 'sig1', 'sig2', 'silu1', 'silu2']
    # float_cat reads the graph input and the gate: not quantised tensors, so it stays float.
    # A float-kept conv reads float: the SiLU before it stays float (conv2 reads silu1), and the
    # Concat that reads that SiLU's output with it; a float conv3 keeps the pool's output float
    assert sorted(quantized_extras(model, ['conv2'])) == ['sig2', 'silu2']
    assert sorted(quantized_extras(model, ['conv3'])) == ['cat', 'sig1', 'sig2', 'silu1',
                                                          'silu2']


def test_quantised_silu_runs_fused_and_matches_fp32(tmp_path):
    ort = pytest.importorskip('onnxruntime')
    from training.quantize import quantize_graph
    from video_perception.backends.qdq_cpu import activations_to_u8
    src, dst = tmp_path / 'f.onnx', tmp_path / 'q.onnx'
    onnx.save(_silu_graph(), str(src))
    rng = np.random.default_rng(1)
    frames = [rng.standard_normal((1, 4, 12, 16)).astype(np.float32) for _ in range(4)]
    quantize_graph(str(src), str(dst), [lambda f=f: {'x': f} for f in frames], 'minmax')
    q = onnx.load(str(dst))
    qdq_inputs = {n.output[0] for n in q.graph.node if n.op_type == 'DequantizeLinear'}
    by_name = {n.name: n for n in q.graph.node}
    for name in ('sig1', 'silu2', 'cat', 'pool'):      # Q/DQ placed on them
        assert all(i in qdq_inputs for i in by_name[name].input[:1]), name
    # (the gate and float_cat read x, whose Q/DQ is shared with conv1: they run in float below)
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / 'opt.onnx')
    sess = ort.InferenceSession(activations_to_u8(str(dst)), so,
                                providers=['CPUExecutionProvider'])
    ops = [n.op_type for n in onnx.load(str(tmp_path / 'opt.onnx')).graph.node]
    assert 'QLinearSigmoid' in ops and 'QLinearMul' in ops and 'QLinearConcat' in ops
    assert ops.count('Sigmoid') == 1 and ops.count('Concat') == 1   # the gate's, float_cat
    ref = ort.InferenceSession(str(src), providers=['CPUExecutionProvider'])
    for f in frames[:2]:
        for r, g in zip(ref.run(None, {'x': f}), sess.run(None, {'x': f})):
            # 8-bit activations through three convs: a few percent of the output's range
            assert np.abs(r - g).max() <= 0.05 * np.abs(r).max() + 1e-3


def _dcn_matmul_graph():
    """DCN's product: columns [1, C*K, Ho*Wo] (here from a Reshape) times a weight [Cout, C*K]
    given first, as the dynamo exporter writes it: a Reshape of the [Cout, C, 3, 3] weight."""
    rng = np.random.default_rng(2)
    w = numpy_helper.from_array(rng.standard_normal((6, 2, 3, 3)).astype(np.float32) * 0.3, 'w')
    shape = numpy_helper.from_array(np.array([1, 18, 20], np.int64), 'shape')
    wshape = numpy_helper.from_array(np.array([6, 18], np.int64), 'wshape')
    graph = helper.make_graph(
        [helper.make_node('Reshape', ['x', 'shape'], ['cols'], name='flat'),
         helper.make_node('Reshape', ['w', 'wshape'], ['w2'], name='wflat'),
         helper.make_node('MatMul', ['w2', 'cols'], ['y'], name='dcn_mm')], 'dcn',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 2, 9, 4, 5])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 6, 20])], [w, shape, wshape])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], ir_version=8)


def test_weight_first_matmul_becomes_a_1x1_conv_with_the_same_output(tmp_path):
    ort = pytest.importorskip('onnxruntime')
    from training.quantize import quantize_graph, weight_matmuls_as_convs
    from video_perception.backends.qdq_cpu import activations_to_u8
    model = _dcn_matmul_graph()
    x = np.random.default_rng(3).standard_normal((1, 2, 9, 4, 5)).astype(np.float32)
    w = numpy_helper.to_array(model.graph.initializer[0]).reshape(6, 18)
    naive = np.einsum('ok,kn->on', w, x.reshape(18, 20))[None]   # the product by hand
    rewritten = _dcn_matmul_graph()
    assert weight_matmuls_as_convs(rewritten) == 1
    assert [n.op_type for n in rewritten.graph.node] == ['Reshape', 'Reshape', 'Unsqueeze',
                                                         'Conv', 'Squeeze']
    run = lambda m, feed: ort.InferenceSession(  # noqa: E731
        m if isinstance(m, bytes) else m.SerializeToString(),
        providers=['CPUExecutionProvider']).run(None, feed)[0]
    np.testing.assert_allclose(run(rewritten, {'x': x}), naive, rtol=1e-5, atol=1e-5)
    # quantised: the product runs as QLinearConv (the MatMul form stayed float before)
    src, dst = tmp_path / 'f.onnx', tmp_path / 'q.onnx'
    onnx.save(model, str(src))
    quantize_graph(str(src), str(dst), [lambda: {'x': x}], 'minmax')
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / 'opt.onnx')
    got = ort.InferenceSession(activations_to_u8(str(dst)), so,
                               providers=['CPUExecutionProvider']).run(None, {'x': x})[0]
    ops = [n.op_type for n in onnx.load(str(tmp_path / 'opt.onnx')).graph.node]
    assert 'QLinearConv' in ops and 'MatMul' not in ops
    assert np.abs(got - naive).max() <= 0.03 * np.abs(naive).max()
    assert not (tmp_path / 'q.onnx.src.onnx').exists()


@pytest.mark.slow      # exports and quantises the tiny StreamNet, then times it: about a minute
def test_bench_section_efficiency_tables_add_up(tmp_path):
    """`bench.py --quick --only efficiency`: the section's derived numbers against the
    numbers in its own tables (GFLOP/s and % of peak from the medians, the profile's total
    against a naive sum of its rows)."""
    import os
    import re
    import subprocess
    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / 'B.md'
    proc = subprocess.run(
        [sys.executable, str(repo / 'scripts' / 'bench.py'), '--quick', '--only', 'efficiency',
         '--out', str(out), '--bundle-dir', str(tmp_path / 'bundles')], cwd=repo,
        env=dict(os.environ, PYTHONPATH=str(repo)), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    assert '### 2a. StreamNet-S on ONNX Runtime CPU' in text
    rows = {r[0]: r[1:] for r in (
        [c.strip() for c in line.strip('|').split('|')] for line in text.splitlines()
        if line.startswith('| ') and not line.startswith('|---'))}
    gemm_best = max(float(v[4]) for k, v in rows.items() if k.startswith('GEMM ') and len(v) == 7)
    fp32 = rows['fp32']
    gflop = float(re.search(r'fp32 on ONNX Runtime CPU: ([\d.]+) GFLOP/s', text).group(1))
    assert abs(gflop - float(fp32[3])) < 0.06
    assert abs(100 * float(fp32[3]) / gemm_best - float(fp32[5])) < 0.2
    profile = [k for k in rows if k.startswith(('encoder: ', 'forecast: ', 'other ('))]
    for col in (0, 1):                                   # fp32, int8
        naive = sum(float(rows[k][col]) for k in profile if rows[k][col] != '-')
        assert abs(naive - float(rows['**all kernels**'][col])) <= 0.05 * len(profile) + 0.1
    assert 'fp32 on ONNX Runtime CPU' in text.split('## Headline')[1].split('###')[0]
