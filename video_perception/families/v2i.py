"""The V2I family: a single-frame V2I-DETR student (lesion detection in medical video).

Bundle (``bundle.py`` gives the common ``model.json`` schema)::

    "graphs": {"student": "student.onnx"},
    "output": {"kind": "detr_softmax" | "detr_sigmoid", "num_queries": 100}

* ``student.onnx``: input ``image`` [1, 3, H, W] and, when ``input.valid_hw`` is true,
  ``valid_hw`` [1, 2] float32: the rows and columns of the letterboxed picture at the top-left,
  from which the graph makes the padding mask the student was trained and evaluated with
  (older bundles without it treat the whole canvas as the picture, with a warning);
  outputs ``pred_logits`` [1, Q, C'] (C' = C + 1 with a trailing no-object class for
  ``detr_softmax``; C for ``detr_sigmoid``) and ``pred_boxes`` [1, Q, 4] normalised cxcywh.
* torch: the builder's module is called (``forward``) with the graph's signature.

The detector keeps no state and needs no NMS (set prediction); the node (``v2i_ros``) fixes
``stamp_mode`` to ``input``: the student detects the present frame.
"""
from __future__ import annotations

import os
from typing import Dict, List, Sequence

import numpy as np

from video_perception import postprocess
from video_perception.bundle import Bundle, image_input
from video_perception.bundle_check import check_classes, check_image, mismatch
from video_perception.detections import Detections
from video_perception.detector import BaseDetector, split_batch
from video_perception.transport.base import ParameterSpec

NAME = 'v2i'
GRAPHS = ('student',)
DECODERS = {'detr_softmax': postprocess.decode_detr_softmax,
            'detr_sigmoid': postprocess.decode_detr_sigmoid}
OUTPUT_KINDS = tuple(DECODERS)
HISTORY = False
TORCH_METHODS = {'student': '__call__'}


def takes_valid_hw(bundle: Bundle) -> bool:
    return bool((bundle.raw.get('input') or {}).get('valid_hw'))


def graph_inputs(bundle: Bundle, role: str) -> Dict[str, tuple]:
    inputs = image_input(bundle)
    if takes_valid_hw(bundle):
        inputs['valid_hw'] = (1, 2)       # the picture's rows and columns on the canvas
    return inputs


def graph_outputs(bundle: Bundle, role: str) -> List[str]:
    return ['pred_logits', 'pred_boxes']


def check_graphs(bundle: Bundle, sigs: Dict[str, tuple]) -> None:
    """model.json against the student graph's signature (``bundle_check``): image size, classes
    and queries."""
    inputs, outputs = sigs['student']
    check_image(bundle, 'student', inputs)
    name = os.path.basename(bundle.graphs['student'])
    logits = outputs.get('pred_logits')
    if logits is None or len(logits) != 3:
        raise mismatch('output', 'pred_logits [1, Q, C]', name, f'outputs {dict(outputs)}')
    if isinstance(logits[2], int):
        extra = 1 if bundle.output_kind == 'detr_softmax' else 0   # the no-object class
        check_classes(bundle, logits[2] - extra,
                      f'{name} "pred_logits" ({bundle.output_kind}: C{" + 1" * extra} wide)')
    if bundle.num_queries is not None and isinstance(logits[1], int) \
            and logits[1] != int(bundle.num_queries):
        raise mismatch('output.num_queries', bundle.num_queries, f'{name} "pred_logits"',
                       f'{logits[1]} queries')


def parameter_specs() -> List[ParameterSpec]:
    return [ParameterSpec('stamp_mode', 'input', 'output stamp: input (header copied); V2I '
                          'detects the present frame', choices=('input',))]


class V2IDetector(BaseDetector):
    """A single-frame V2I student (DETR family): no buffer, no NMS (set prediction)."""

    family = NAME

    def __init__(self, bundle: Bundle, backend, **settings):
        super().__init__(bundle, backend, **settings)
        self.valid_hw = takes_valid_hw(bundle)
        if not self.valid_hw:
            self.load_warnings.append(
                'student graph without a valid_hw input (exported before the padding mask): '
                'non-square frames score differently from evaluation; re-export the bundle')

    def _run(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        return self._run_batch([self], image)[0]

    def _run_batch(self, detectors: Sequence[BaseDetector],
                   images: np.ndarray) -> List[Dict[str, np.ndarray]]:
        # images [B, 3, H, W] -> pred_logits [B, Q, C'], pred_boxes [B, Q, 4], split per frame
        inputs = {'image': images}
        if self.valid_hw:
            # each letterboxed picture's rows and columns: the graph masks the padding, as the
            # student was trained and evaluated (each camera its own letterbox)
            inputs['valid_hw'] = np.array([[d.transform.new_height, d.transform.new_width]
                                           for d in detectors], np.float32)        # [B, 2]
        return split_batch(self._graph('student', inputs), len(detectors))

    def decode(self, outputs: Dict[str, np.ndarray], transform) -> Detections:
        logits, boxes = outputs['pred_logits'][0], outputs['pred_boxes'][0]  # [Q, C'], [Q, 4]
        return DECODERS[self.bundle.output_kind](
            logits, boxes, self.bundle.width, self.bundle.height, self.score_threshold,
            self.max_detections, transform=transform)


Detector = V2IDetector
