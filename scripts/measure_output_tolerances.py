"""Measures what ``training/output_compare.TOLERANCES`` must allow, per precision.

Usage: ``PYTHONPATH=. python scripts/measure_output_tolerances.py BUNDLE [BUNDLE ...]``

For every output of every graph of each bundle, on check-bundle's frames and inputs
(``training.check_bundle.raw_cases``), against the fp32 torch twin:

* fp32: ONNX Runtime (CPU) running the bundle's graphs;
* fp16: the torch twin in float16 (weights, activations and inputs; CPU), what a TensorRT FP16
  engine approaches from below (it keeps some layers in fp32 and accumulates in fp32); a model
  that cannot run all-half (grid_sample with float32 constants) runs under CPU autocast fp16;
* int8: the graphs quantised by ONNX Runtime (``quantize_static``, QDQ, per-channel weights,
  MinMax calibration on other frames than the ones compared), run by ONNX Runtime;
* scaled: the bundle's largest weight tensor (ONNX initializer) times 1.1, fp32 ONNX Runtime:
  what a tolerance must NOT allow.

Prints, per mode and output, the largest |ref| and, for several rtol, the atol that every
element needs (max over elements of |got - ref| - rtol |ref|); then the share of elements the
table's tolerances reject.
"""
from __future__ import annotations

import copy
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

from training.check_bundle import default_frames, raw_cases, reference_run
from training.export import build_from_bundle
from training.onnx_check import largest_initializer, scale_initializer
from training.output_compare import TOLERANCES, compare_outputs
from video_perception.backends.base import graph_input_names
from video_perception.bundle import load_bundle

RTOLS = (1e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2)


def _ort(path):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(path, opts, providers=['CPUExecutionProvider'])


def _run_graph(session, inputs):
    names = [i.name for i in session.get_inputs()]
    outs = session.run(None, {n: np.asarray(inputs[n], np.float32) for n in names})
    return {o.name: v for o, v in zip(session.get_outputs(), outs)}


def _quantised(bundle, role, calib_cases, tmp):
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{n: np.asarray(c[n], np.float32)
                                for n in graph_input_names(bundle, role)} for c in calib_cases])

        def get_next(self):
            return next(self.items, None)
    out = os.path.join(tmp, f'{role}_int8.onnx')
    quantize_static(bundle.graphs[role], out, Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8)
    return _ort(out)


@torch.no_grad()
def _half_run(twin16, bundle, role, inputs):
    from video_perception.families import get_family
    method = getattr(twin16, getattr(get_family(bundle.family), 'TORCH_METHODS', {})
                     .get(role, '__call__'))
    args = [torch.from_numpy(np.asarray(inputs[n], np.float32))
            for n in graph_input_names(bundle, role)]
    try:
        outs = method(*[a.half() for a in args])
    except RuntimeError:   # an op with a float32 constant inside (grid_sample): autocast
        method = getattr(twin16.float(), method.__name__)
        with torch.autocast('cpu', dtype=torch.float16):
            outs = method(*args)
        twin16.half()
        print(f'  ({role}: fp16 measured under torch.autocast, the model does not run all-half)')
    outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    from video_perception.backends.base import graph_output_names
    return {n: o.float().numpy() for n, o in zip(graph_output_names(bundle, role), outs)}


def measure(bundle_dir: str) -> None:
    bundle = load_bundle(bundle_dir)
    twin = build_from_bundle(bundle).eval()
    n = 2 if bundle.family == 'v2i' else bundle.history_frames + 1
    frames = default_frames(n, portrait=bundle.family == 'v2i')
    calib = default_frames(n, seed=1, portrait=bundle.family == 'v2i')
    cases = raw_cases(twin, bundle, frames)
    calib_cases = raw_cases(twin, bundle, calib)
    twin16 = copy.deepcopy(twin).half()
    tmp = tempfile.mkdtemp(prefix='measure_tol_')
    try:
        fp32 = {role: _ort(path) for role, path in bundle.graphs.items()}
        int8 = {role: _quantised(bundle, role, [c for r, _, c in calib_cases if r == role], tmp)
                for role in bundle.graphs}
        scaled_dir = os.path.join(tmp, 'scaled')
        shutil.copytree(bundle_dir, scaled_dir)
        graph, init, size = largest_initializer(scaled_dir)
        scale_initializer(os.path.join(scaled_dir, graph), init, 1.1)
        scaled = {role: _ort(os.path.join(scaled_dir, os.path.basename(path)))
                  for role, path in bundle.graphs.items()}
        print(f'== {bundle_dir}: largest initializer {graph}:{init} ({size} values)')
        rows = {}
        for role, label, inputs in cases:
            ref = reference_run(twin, bundle, role, inputs)
            got = {'fp32': _run_graph(fp32[role], inputs),
                   'fp16': _half_run(twin16, bundle, role, inputs),
                   'int8': _run_graph(int8[role], inputs),
                   'scaled': _run_graph(scaled[role], inputs)}
            for mode, outs in got.items():
                for name, r in ref.items():
                    a = outs[name].astype(np.float64)
                    b = r.astype(np.float64)
                    d = np.abs(a - b)
                    need = [float(np.max(d - rt * np.abs(b))) for rt in RTOLS]
                    key = (mode, role, name)
                    old = rows.get(key)
                    rows[key] = (max(float(np.abs(b).max()), old[0] if old else 0),
                                 [max(x, o) for x, o in zip(need, old[1])] if old else need)
                for prec in ('fp32', 'fp16', 'int8'):
                    diffs = compare_outputs(outs, ref, TOLERANCES[prec])
                    for dd in diffs:
                        k = ('reject', mode, prec, role, dd.name)
                        b0, n0 = rows.get(k, (0, 0))
                        rows[k] = (b0 + dd.n_bad, n0 + dd.n)
        print('mode    graph     output        max|ref|  atol needed at rtol ' +
              ' '.join(f'{r:g}' for r in RTOLS))
        for key, (scale, need) in rows.items():
            if key[0] != 'reject':
                print(f'{key[0]:7s} {key[1]:9s} {key[2]:13s} {scale:9.3g}  ' +
                      ' '.join(f'{max(x, 0):.2g}' for x in need))
        print('share of elements rejected by the table (mode / tolerance row):')
        for key, (bad, total) in rows.items():
            if key[0] == 'reject':
                print(f'  {key[1]:7s} under {key[2]}: {key[3]}:{key[4]} {bad}/{total} '
                      f'({100.0 * bad / max(total, 1):.2f} %)')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    torch.set_num_threads(1)
    for path in sys.argv[1:]:
        measure(path)
