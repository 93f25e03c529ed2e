"""Export a DETR-family student to ``student.onnx`` (contract: video_perception/bundle.py).

Static shapes, batch 1, opset 17: ``image`` [1, 3, H, W] and ``valid_hw`` [1, 2] float32 (rows
and columns of the letterboxed picture at the top-left; the graph makes the padding mask the
model was trained and evaluated with) -> ``pred_logits`` [1, Q, C'] and ``pred_boxes`` [1, Q, 4]
(cxcywh normalised to the H x W canvas). The graph is checked on the spot: the ONNX checker, the
operator set against TensorRT 10's ONNX parser list (when given) and ONNX Runtime against torch.
"""
import json
import os
import tempfile
import warnings
from typing import Dict, Optional

import numpy as np
import torch
import torch.nn as nn

INPUT_NAMES = ['image', 'valid_hw']
OUTPUT_NAMES = ['pred_logits', 'pred_boxes']

# INT8 bundles (training/quantize.py): layer groups as regexes on node / weight names, and the
# groups kept in float, chosen by quantising one group at a time (docs/BENCHMARKS.md, INT8)
INT8_FLOAT_GROUPS = {
    'backbone_stem': (r'backbone\.0[./]body[./]conv1[./]',),
    'input_proj': (r'input_proj',),
    'sampling_offsets': (r'sampling_offsets',),       # MSDA (Deformable DETR)
    'attention_weights': (r'attention_weights',),
    'class_head': (r'class_embed',),
    'box_mlp': (r'bbox_embed',),                      # the decoder's box MLP
}
# measured on the shipped Deformable DETR tiny student (max score drift, one group quantised
# alone): backbone_stem 0.009, input_proj 0.016, sampling_offsets 0.001, attention_weights 0.001,
# class_head 0.005, box_mlp 0.002, the rest 0.048; all 0.059, all but backbone_stem 0.049
INT8_KEEP_FLOAT = ('backbone_stem',)


class _ExportWrapper(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, valid_hw: torch.Tensor):
        return self.model.forward_export(image, valid_hw)


def graph_ops(path: str) -> set:
    import onnx
    return {node.op_type for node in onnx.load(path).graph.node}


def export_student_onnx(model: nn.Module, height: int, width: int, path: str,
                        opset: int = 17, check: bool = True, atol: Optional[float] = None,
                        trt_ops_json: Optional[str] = None, seed: int = 0,
                        dynamo: bool = False, batch: int = 1) -> Dict:
    """Export ``model.forward_export`` at [1, 3, height, width] to ``path`` (written atomically).

    Returns {'path', 'output_kind', 'num_queries', 'max_abs_logits', 'max_abs_boxes', 'ops'};
    with ``check`` raises ValueError when ONNX Runtime differs from torch beyond the fp32
    tolerance of ``training.output_compare`` (``atol`` overrides its absolute term)
    or (with ``trt_ops_json``) the graph uses an operator TensorRT's parser lacks.

    ``dynamo=False`` (default) uses the TorchScript exporter (seconds; static graph I/O, some
    Shape plumbing inside); ``dynamo=True`` the torch.export-based one (tens of seconds; every
    intermediate shape static too).
    """
    if height < 32 or width < 32:
        # any size works (ceil at every stride, the mask covers the rest); below one stride-32
        # cell the last level is empty
        raise ValueError(f'export size {height}x{width}: expected at least 32x32')
    if not hasattr(model, 'forward_export'):
        raise ValueError(f'{type(model).__name__}: not a student (no forward_export)')
    model = model.eval()
    wrapper = _ExportWrapper(model).eval()
    gen = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, 3, height, width, generator=gen)   # B > 1: for B cameras
    # a landscape picture on the canvas: the mask path is traced and checked, not folded away
    valid_hw = torch.tensor([[max(1, (height * 5) // 8), width]] * batch, dtype=torch.float32)
    with torch.no_grad():
        ref_logits, ref_boxes = wrapper(image, valid_hw)
    out_dir = os.path.dirname(os.path.abspath(path))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix='.onnx', dir=out_dir)
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # shape checks in python become constants under tracing: expected for static shapes
            warnings.simplefilter('ignore')
            if dynamo:
                torch.onnx.export(wrapper, (image, valid_hw), tmp, input_names=INPUT_NAMES,
                                  output_names=OUTPUT_NAMES, opset_version=opset, dynamo=True,
                                  external_data=False, verbose=False)
            else:
                torch.onnx.export(wrapper, (image, valid_hw), tmp, input_names=INPUT_NAMES,
                                  output_names=OUTPUT_NAMES, opset_version=opset,
                                  dynamo=False, do_constant_folding=True)
        ops = graph_ops(tmp)
        result = {'path': path, 'output_kind': model.output_kind,
                  'num_queries': int(ref_logits.shape[1]), 'ops': sorted(ops)}
        if check:
            import onnx
            import onnxruntime as ort
            onnx.checker.check_model(tmp)
            if trt_ops_json is not None:
                with open(trt_ops_json, encoding='utf-8') as f:
                    missing = ops - set(json.load(f))
                if missing:
                    raise ValueError(f'{path}: operators TensorRT 10 cannot parse: '
                                     f'{sorted(missing)}')
            sess = ort.InferenceSession(tmp, providers=['CPUExecutionProvider'])
            logits, boxes = sess.run(OUTPUT_NAMES, {'image': image.numpy(),
                                                    'valid_hw': valid_hw.numpy()})
            result['max_abs_logits'] = float(np.abs(logits - ref_logits.numpy()).max())
            result['max_abs_boxes'] = float(np.abs(boxes - ref_boxes.numpy()).max())
            # Polygraphy's per-element rule at the fp32 tolerance (check-bundle's rule)
            from training.output_compare import compare_outputs, tolerance_for
            bad = [d for d in compare_outputs(
                {'pred_logits': logits, 'pred_boxes': boxes},
                {'pred_logits': ref_logits.numpy(), 'pred_boxes': ref_boxes.numpy()},
                tolerance_for('fp32', atol)) if not d.ok]
            if bad:
                raise ValueError(f'{path}: ONNX Runtime differs from torch in {bad[0].name}: '
                                 f'{bad[0].n_bad} of {bad[0].n} elements outside the fp32 '
                                 f'tolerance (max abs {bad[0].max_abs:.3g})')
        os.replace(tmp, path)
        return result
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
