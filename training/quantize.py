"""INT8 (QDQ) bundles: ``export ... --int8 --calib SRC [--calib-frames N] [--calib-method M]``.

Post-training quantisation of a bundle's graphs, in place, after the fp32 export: every Conv,
MatMul and Gemm gets explicit QuantizeLinear / DequantizeLinear nodes (QDQ format) on its
inputs and output, weights per output channel; so do each SiLU and the Concat / MaxPool /
Resize nodes between quantised layers (``quantized_extras``), and a weight-first MatMul (the
DCN's) is first rewritten as a 1x1 Conv (``weight_matmuls_as_convs``): what ONNX Runtime then
runs in int8 instead of round trips to float (measured: docs/BENCHMARKS.md section 2a).
The graph stays a plain ONNX graph: ONNX Runtime
(CPU) fuses the Q/DQ pairs into int8 kernels, and TensorRT 10 builds an *explicitly* quantised
engine from the same file (backends/tensorrt_backend.py: INT8 flag, precision in the cache key).

Quantiser: ``onnxruntime.quantization`` (``quantize_static``, ``QuantFormat.QDQ``), not NVIDIA
ModelOpt. It is already installed wherever the nodes run (no new dependency; ModelOpt's ONNX PTQ
pulls in torch, cupy and onnx-graphsurgeon pins and prefers a GPU for calibration); it
calibrates on the CPU, deterministically (same frames, same bytes); it has the three methods
asked for (min-max, entropy, percentile) and per-node exclusion for the float-kept layers; and
with the options below its output is what TensorRT's explicit quantisation accepts: signed int8,
symmetric (zero point 0) activations and weights, per-channel weights on the output-channel
axis, biases left in float (``QuantizeBias=False``: TensorRT folds float biases itself and does
not take int32 DequantizeLinear), weights in 7 bits of range (``reduce_range``: x86 CPUs without
VNNI add pairs of u8 x s8 products in int16 (vpmaddubsw), which saturates with full-range
weights: measured, the shipped tiny StreamNet lost 7 points of offline AP on ONNX Runtime's fused
path; TensorRT takes the narrower weights as they are). ModelOpt's advantage (TensorRT-tuned
Q/DQ placement) matters for engines; the same placement rule (quantise the inputs and outputs of
the GEMM-like ops) is used here.

Calibration frames come from a dataset JSON, an image folder or a rosbag2 (video_perception/
sources.py), ``N`` of them spread evenly over the source, letterboxed as the node does
(letterbox.preprocess). StreamNet: the forecast graph is calibrated on what it sees in the node:
the fp32 encoder runs over each calibration frame and its history (t - k * step, the earliest
frame of the segment repeated where the past runs out, as the node's buffer primes) and the
forecast's inputs are those features. Layers that stay in float are a per-family list of regular
expressions (``INT8_FLOAT_GROUPS`` / ``INT8_KEEP_FLOAT`` in the family's export_onnx.py), matched
against each node's name and the names of its weight initialisers; ``measure_groups`` quantises
one group at a time and reports the output drift (docs/BENCHMARKS.md, INT8 section).
"""
from __future__ import annotations

import os
import re
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np

CALIB_METHODS = ('minmax', 'entropy', 'percentile')
DEFAULT_FRAMES = 200
QUANT_OPS = ('Conv', 'MatMul', 'Gemm')
SHARED_OPS = ('Concat', 'MaxPool', 'Resize')   # quantised where their inputs are (see below)
# check-bundle's int8 tolerances: the largest score and box (network px) difference over every
# anchor / query. Measured on the shipped tiny StreamNet (8 calibration frames, 3 held-out
# frames, ONNX Runtime CPU): 0.253 and 51 px, the box maximum set by anchors the model scores
# near 0 (over those it scores >= 0.1: under 8 px); the V2I student: 0.051 and 2.3 px
# (docs/BENCHMARKS.md, INT8). Margin for other CPUs' kernels. fp32 backends agree to ~1e-5.
INT8_SCORE_TOL = 0.35
INT8_BOX_TOL = 64.0
CHUNK = 8          # calibration frames per ONNX Runtime pass (bounds the calibrator's memory)

Feed = Callable[[], Dict[str, np.ndarray]]


def family_float_groups(family: str) -> Dict[str, Sequence[str]]:
    """group name -> regexes of the layers in it, from the family's export code."""
    if family == 'streamnet':
        from training.models.streamnet.export_onnx import INT8_FLOAT_GROUPS
    else:
        from training.models.detr.export_onnx import INT8_FLOAT_GROUPS
    return dict(INT8_FLOAT_GROUPS)


def family_keep_float(family: str) -> Sequence[str]:
    """The groups a family keeps in float by default (measured: BENCHMARKS.md)."""
    if family == 'streamnet':
        from training.models.streamnet.export_onnx import INT8_KEEP_FLOAT
    else:
        from training.models.detr.export_onnx import INT8_KEEP_FLOAT
    return tuple(INT8_KEEP_FLOAT)


def node_labels(model) -> Dict[str, str]:
    """node name -> 'name weight-initialiser-names ...': what the float-kept regexes see (the
    dynamo exporter names nodes node_Conv_12 but keeps module paths in the weights' names)."""
    inits = {i.name for i in model.graph.initializer}
    return {n.name: ' '.join([n.name] + [i for i in n.input if i in inits])
            for n in model.graph.node}


def unsupported_by_ort(model) -> List[str]:
    """MatMuls whose *first* input is a weight (DCN's weight x columns): ORT quantises that
    weight per channel, and its QLinearMatMul takes only a per-tensor A; those that
    weight_matmuls_as_convs could not rewrite (input not of rank 3) stay float."""
    consts = {i.name for i in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type == 'MatMul' and n.input[0] in consts]


def weight_matmuls_as_convs(model) -> int:
    """Rewrite, in place, each MatMul W [Cout, K] x X [B, K, N] (DCN's weight x columns) as
    Unsqueeze -> 1x1 Conv -> Squeeze: the same sums, but ONNX Runtime fuses a QDQ Conv into
    QLinearConv with per-channel weights, where its QLinearMatMul takes only a per-tensor A and
    the MatMul would stay float (the fp32 graph keeps the MatMul: as a conv, ONNX Runtime's fp32
    path adds a layout reorder of the columns and gains nothing; docs/BENCHMARKS.md 2a).
    Returns how many were rewritten."""
    from onnx import helper, numpy_helper, shape_inference
    inits = {i.name: i for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    rank = {v.name: len(v.type.tensor_type.shape.dim) for v in
            shape_inference.infer_shapes(model).graph.value_info}

    def weight(name):      # (array, name) of an initializer, or of a Reshape of one (dynamo)
        if name in inits:
            return numpy_helper.to_array(inits[name]), name
        r = producer.get(name)
        if r is not None and r.op_type == 'Reshape' and all(i in inits for i in r.input):
            a, shape = (numpy_helper.to_array(inits[i]) for i in r.input)
            return a.reshape(shape), r.input[0]
        return None, None

    nodes, count = [], 0
    for n in model.graph.node:
        w, wname = weight(n.input[0]) if n.op_type == 'MatMul' else (None, None)
        if w is None or w.ndim != 2 or rank.get(n.input[1]) != 3:
            nodes.append(n)
            continue
        w4 = numpy_helper.from_array(w[:, :, None, None], f'{wname}_as_conv')
        axes = numpy_helper.from_array(np.array([3], np.int64), f'{n.name}_axes')
        model.graph.initializer.extend([w4, axes])
        col4, out4 = f'{n.name}_cols4', f'{n.name}_out4'
        nodes += [helper.make_node('Unsqueeze', [n.input[1], axes.name], [col4],
                                   name=f'{n.name}_unsqueeze'),          # [B, K, N, 1]
                  helper.make_node('Conv', [col4, w4.name], [out4], name=n.name),
                  helper.make_node('Squeeze', [out4, axes.name], list(n.output),
                                   name=f'{n.name}_squeeze')]            # [B, Cout, N]
        count += 1
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return count


def silu_nodes(model) -> List[str]:
    """The Sigmoid and Mul nodes of every SiLU, x * sigmoid(x) (how the exporter writes it)."""
    sig = {n.output[0]: n for n in model.graph.node if n.op_type == 'Sigmoid'}
    out = []
    for n in model.graph.node:
        if n.op_type == 'Mul' and len(n.input) == 2:
            for a, b in (n.input, n.input[::-1]):
                if b in sig and sig[b].input[0] == a:
                    out += [sig[b].name, n.name]
                    break
    return out


def quantized_extras(model, float_nodes: Iterable[str] = ()) -> List[str]:
    """Names of the nodes beyond QUANT_OPS that get Q/DQ too: each SiLU (ONNX Runtime fuses it
    into QLinearSigmoid, a lookup table, and QLinearMul, instead of dequantising the conv's
    output, running Sigmoid and Mul in float and quantising again for the next conv), and the
    Concat / MaxPool / Resize nodes all of whose activation inputs come from quantised nodes
    (QLinearConcat; MaxPool and Resize run on the 8-bit tensor with its scale). The DCN's
    sampling grid (Concat of coordinates) stays float, and so does any of them whose output
    feeds a float-kept node (``float_nodes``): a float-kept layer reads float, not 8-bit, input."""
    float_nodes = set(float_nodes)
    feeds_float = {i for n in model.graph.node if n.name in float_nodes for i in n.input}
    silu = silu_nodes(model)
    pairs = [silu[i:i + 2] for i in range(0, len(silu), 2)]      # (sigmoid, mul)
    by_name = {n.name: n for n in model.graph.node}
    pairs = [p for p in pairs if by_name[p[1]].output[0] not in feeds_float]
    quantized = {n.output[0] for n in model.graph.node
                 if n.op_type in QUANT_OPS and n.name not in float_nodes}
    quantized |= {by_name[m].output[0] for _, m in pairs}
    extras = sorted(x for p in pairs for x in p)
    for n in model.graph.node:        # topological order: a chain of them is followed
        data = n.input if n.op_type == 'Concat' else n.input[:1]
        if n.op_type in SHARED_OPS and data and all(i in quantized for i in data) \
                and n.output[0] not in feeds_float:
            quantized.add(n.output[0])
            extras.append(n.name)
    return extras


def float_kept_nodes(model, patterns: Iterable[str]) -> List[str]:
    """Names of the nodes (of QUANT_OPS) whose label matches one of ``patterns``."""
    regexes = [re.compile(p) for p in patterns]
    labels = node_labels(model)
    return sorted(n.name for n in model.graph.node if n.op_type in QUANT_OPS
                  and any(r.search(labels[n.name]) for r in regexes))


class _Feeds:
    """A CalibrationDataReader over lazily made feeds, read in ranges (ORT's strided path:
    one augmented-model pass per CHUNK frames, so the calibrator never holds them all)."""

    def __init__(self, feeds: Sequence[Feed]):
        self.feeds = list(feeds)
        self.set_range(0, len(self.feeds))

    def __len__(self) -> int:
        return len(self.feeds)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._it = iter(self.feeds[start_index:end_index])

    def get_next(self):
        feed = next(self._it, None)
        return None if feed is None else feed()


def _chunk(n: int) -> int:
    """The largest chunk <= CHUNK that divides n (ORT's strided calibration needs one)."""
    return next(c for c in range(min(CHUNK, n), 0, -1) if n % c == 0)


def quantize_graph(fp32_path: str, out_path: str, feeds: Sequence[Feed], method: str,
                   keep_float: Iterable[str] = (), only: Optional[Iterable[str]] = None,
                   cache: Optional[str] = None) -> List[str]:
    """Write the QDQ int8 graph of ``fp32_path`` to ``out_path``, calibrated on ``feeds`` with
    ``method``; nodes matching ``keep_float`` stay float, and with ``only`` every node that does
    not match it too (one group at a time). ``cache``: a file for the calibrated ranges, reused
    when it exists (the ranges do not depend on which nodes are quantised). Returns the names
    of the nodes left in float."""
    import onnx
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    if method not in CALIB_METHODS:
        raise ValueError(f'--calib-method {method}: expected one of {", ".join(CALIB_METHODS)}')
    if not feeds:
        raise ValueError('calibration: no frames to calibrate on')
    model = onnx.load(fp32_path)
    source = fp32_path
    if weight_matmuls_as_convs(model):
        source = out_path + '.src.onnx'
        onnx.save(model, source)
    exclude = set(float_kept_nodes(model, keep_float)) | set(unsupported_by_ort(model))
    if only is not None:
        chosen = set(float_kept_nodes(model, only))
        exclude |= {n.name for n in model.graph.node if n.op_type in QUANT_OPS} - chosen
    exclude = sorted(exclude)
    extras = set(quantized_extras(model, exclude)) if only is None else set()
    others = sorted(n.name for n in model.graph.node
                    if n.op_type in ('Sigmoid', 'Mul') + SHARED_OPS and n.name not in extras)
    calib = {'minmax': CalibrationMethod.MinMax, 'entropy': CalibrationMethod.Entropy,
             'percentile': CalibrationMethod.Percentile}[method]
    tmp = out_path + '.partial'
    quantize_static(
        source, tmp, _Feeds(feeds), quant_format=QuantFormat.QDQ,
        op_types_to_quantize=list(QUANT_OPS) + ['Sigmoid', 'Mul'] + list(SHARED_OPS),
        per_channel=True, reduce_range=True,
        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
        nodes_to_exclude=exclude + others, calibrate_method=calib,
        extra_options={'ActivationSymmetric': True, 'WeightSymmetric': True,
                       'QuantizeBias': False, 'CalibStridedMinMax': _chunk(len(feeds)),
                       'CalibTensorRangeSymmetric': True, 'CalibPercentile': 99.999},
        calibration_cache_path=cache)
    os.replace(tmp, out_path)
    if source != fp32_path:
        os.unlink(source)
    return exclude


def has_qdq(onnx_path: str) -> bool:
    """True when the graph holds QuantizeLinear / DequantizeLinear nodes."""
    import onnx
    return any(n.op_type in ('QuantizeLinear', 'DequantizeLinear')
               for n in onnx.load(onnx_path, load_external_data=False).graph.node)
