"""ONNX export and the checks every exported graph must pass before it goes into a bundle.

* ``onnx.checker.check_model(full_check=True)`` (includes strict shape inference);
* every node's op is in TensorRT 10's ONNX parser list (``tensorrt10_onnx_ops.json``, a copy of
  the operator list of onnx-tensorrt's docs/operators.md for TensorRT 10), default domain only;
* every graph input, output and inferred intermediate shape is static (no symbolic dims);
* ONNX Runtime (CPU) against torch on the same input, every output element by element under
  Polygraphy's rule at the fp32 tolerance (``training.output_compare``: the rule check-bundle
  applies too).

Shared by the StreamNet and the V2I exporters.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from typing import Dict, Optional, Sequence

import numpy as np
import torch

TRT_OPS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            'tensorrt10_onnx_ops.json')


class ExportCheckError(ValueError):
    """An exported graph that TensorRT or the nodes could not use; the message says why."""


def trt_supported_ops() -> set:
    with open(TRT_OPS_FILE, encoding='utf-8') as f:
        return set(json.load(f))


def export_onnx(module: torch.nn.Module, args: tuple, path: str, input_names: Sequence[str],
                output_names: Sequence[str], opset: int = 17) -> str:
    """torch.onnx.export with the dynamo exporter, static shapes, quietly (it prints a lot)."""
    module.eval()
    for name in ('torch.onnx', 'torch.onnx._internal.exporter._registration', 'onnxscript'):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter('ignore')
        torch.onnx.export(module, args, path, input_names=list(input_names),
                          output_names=list(output_names), opset_version=opset, dynamo=True,
                          external_data=False, verbose=False)
    return path


def _dims(value_info):
    return [d.dim_value if d.HasField('dim_value') else (d.dim_param or '?')
            for d in value_info.type.tensor_type.shape.dim]


def check_graph(path: str, inputs: Dict[str, torch.Tensor], expected: Dict[str, torch.Tensor],
                tol: Optional[float] = None, min_opset: int = 17,
                static_intermediates: bool = True, rtol: Optional[float] = None) -> Dict:
    """Run every check on ``path``; returns {'nodes', 'ops', 'max_abs', 'opset', 'unresolved'}.

    Graph inputs and outputs must always have static shapes. With ``static_intermediates`` every
    tensor ONNX shape inference (with data propagation) can see must be static too; otherwise
    the count of intermediates it cannot resolve is only reported (``unresolved``): TorchScript
    exports leave Shape-computed Reshapes that TensorRT folds at build time but ONNX cannot.

    Outputs must agree element by element as ``|onnxruntime - torch| <= atol + rtol |torch|``
    (``output_compare``, the fp32 row of its table; ``tol`` / ``rtol`` override atol / rtol):
    the relative term takes a large activation's float32 rounding (StreamNet's boxes are in
    pixels, a random-weight model's activations reach hundreds), the absolute one values near 0.

    Raises:
        ExportCheckError: naming the graph and the first failed check.
    """
    import onnx
    import onnxruntime as ort
    name = os.path.basename(path)
    model = onnx.load(path)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportCheckError(f'{name}: onnx.checker failed: {str(exc).splitlines()[0]}') \
            from None
    opset = max((o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')),
                default=0)
    if opset < min_opset:
        raise ExportCheckError(f'{name}: opset {opset}, expected >= {min_opset}')
    supported = trt_supported_ops()
    ops = sorted({n.op_type for n in model.graph.node})
    bad = sorted({f'{n.domain}::{n.op_type}' if n.domain else n.op_type
                  for n in model.graph.node if n.domain not in ('', 'ai.onnx')
                  or n.op_type not in supported})
    if bad:
        raise ExportCheckError(f'{name}: ops not supported by TensorRT 10\'s ONNX parser: {bad}')
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    unresolved = 0
    io_names = {vi.name for vi in list(model.graph.input) + list(model.graph.output)}
    for vi in list(inferred.graph.input) + list(inferred.graph.output) + \
            list(inferred.graph.value_info):
        dims = _dims(vi)
        if any(not isinstance(d, int) or d < 0 for d in dims):
            if static_intermediates or vi.name in io_names:
                raise ExportCheckError(f'{name}: tensor {vi.name!r} has a non-static shape '
                                       f'{dims}')
            unresolved += 1
    if [i.name for i in model.graph.input] != list(inputs):
        raise ExportCheckError(f'{name}: inputs {[i.name for i in model.graph.input]}, '
                               f'expected {list(inputs)}')
    if [o.name for o in model.graph.output] != list(expected):
        raise ExportCheckError(f'{name}: outputs {[o.name for o in model.graph.output]}, '
                               f'expected {list(expected)}')
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(path, opts, providers=['CPUExecutionProvider'])
    feeds = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in inputs.items()}
    outs = session.run(list(expected), feeds)
    from training.output_compare import compare_outputs, tolerance_for
    diffs = compare_outputs(dict(zip(expected, outs)),
                            {k: v.detach().cpu().numpy() for k, v in expected.items()},
                            tolerance_for('fp32', tol, rtol))
    for d in diffs:
        if not d.ok:
            detail = d.problem or (f'{d.n_bad} of {d.n} elements outside atol + rtol |value|, '
                                   f'max abs {d.max_abs:.3g}, max rel {d.max_rel:.3g}')
            raise ExportCheckError(f'{name}: output {d.name}: onnxruntime differs from torch: '
                                   f'{detail}')
    max_abs = max(d.max_abs for d in diffs)
    return {'nodes': len(model.graph.node), 'ops': ops, 'max_abs': max_abs, 'opset': opset,
            'unresolved': unresolved}


def largest_initializer(bundle_dir: str):
    """(graph file, initializer name, number of values) of the largest float32 ONNX initializer
    of a bundle's graphs: the weight tensor an alteration test scales."""
    import onnx
    best = None
    for name in sorted(os.listdir(bundle_dir)):
        if name.endswith('.onnx'):
            model = onnx.load(os.path.join(bundle_dir, name), load_external_data=False)
            for init in model.graph.initializer:
                size = int(np.prod(init.dims)) if len(init.dims) else 1
                if init.data_type == onnx.TensorProto.FLOAT and (best is None or size > best[2]):
                    best = (name, init.name, size)
    return best


def scale_initializer(path: str, init_name: str, factor: float) -> None:
    """Multiply the initializer ``init_name`` of the ONNX graph at ``path`` by ``factor``, in
    place (an altered graph for check-bundle to catch)."""
    import onnx
    from onnx import numpy_helper
    model = onnx.load(path)
    for init in model.graph.initializer:
        if init.name == init_name:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(factor),
                                                  init_name))
            onnx.save(model, path)
            return
    raise KeyError(f'{path}: no initializer {init_name!r}')
