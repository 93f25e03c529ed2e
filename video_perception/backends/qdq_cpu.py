"""Int8 (QDQ) graphs on an x86 CPU: signed activations rewritten to unsigned, exactly.

An int8 bundle's graphs carry signed symmetric activations (int8, zero point 0: the form
TensorRT's explicit quantisation takes; training/quantize.py). ONNX Runtime's x86 kernels fuse
DequantizeLinear -> Conv -> QuantizeLinear into QLinearConv for unsigned activations (U8S8:
AVX2's vpmaddubsw multiplies u8 by s8); with signed ones the Q/DQ pairs stay apart and the
convolutions run in float, plus the Q/DQ work (measured on the largest encoder of the INT8
section of docs/BENCHMARKS.md, 600x960, one thread, load 17: fp32 13.3 s, int8 as exported
16.2 s, rewritten 8.5 s).

The rewrite moves each activation's zero point from int8 0 to uint8 128: q_u8 = q_s8 + 128, so
(q_u8 - 128) * s = q_s8 * s, the same real values. Weights stay int8. It is applied to the
bytes handed to ONNX Runtime; the bundle's file (and what TensorRT reads) is unchanged. It
needs the ``onnx`` package (installed with the training extras); without it the graph runs as
exported. Not applied on ARM, whose kernels take S8S8.
"""
from __future__ import annotations

import platform
from typing import Optional

X86 = ('x86_64', 'amd64', 'i386', 'i686', 'x86')


def wants_u8(machine: Optional[str] = None) -> bool:
    return (machine or platform.machine()).lower() in X86


def activations_to_u8(path: str) -> Optional[bytes]:
    """The graph at ``path`` with its activation zero points as uint8 128 (serialised), or None
    when there is nothing to rewrite (no int8 QuantizeLinear) or no ``onnx`` to do it with."""
    try:
        import numpy as np
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return None
    model = onnx.load(path)
    inits = {i.name: i for i in model.graph.initializer}
    weight_zps = {n.input[2] for n in model.graph.node
                  if n.op_type == 'DequantizeLinear' and len(n.input) > 2 and n.input[0] in inits}
    zps = {n.input[2] for n in model.graph.node
           if n.op_type == 'QuantizeLinear' and len(n.input) > 2} - weight_zps
    changed = False
    for name in zps:
        if name not in inits:
            continue
        zp = numpy_helper.to_array(inits[name])
        if zp.dtype != np.int8:
            continue
        inits[name].CopyFrom(numpy_helper.from_array(
            (zp.astype(np.int16) + 128).astype(np.uint8), name))
        changed = True
    return model.SerializeToString() if changed else None
