"""A third detector family defined from the test folder alone (the guide in docs/ARCHITECTURE.md).

``toy_centroid``: one graph, ``locator.onnx`` (built here with ``onnx.helper``, no torch), reads
the letterboxed frame and outputs the centroid of its bright pixels (``centre`` [1, 2], network
pixels) and their count (``mass`` [1, 1]). The detector publishes one square box of side
``box_size`` (network pixels; its own node parameter) around the centroid, score 0.9, class 0,
or nothing when no pixel is bright. A pixel is bright when its channel mean / 255 > 0.5; the
letterbox pad (114) is not.

Registered with ``register_family(toy_family)`` in-process, or in a node / replay process with
``VIDEO_PERCEPTION_FAMILIES=toy_family`` and this folder on PYTHONPATH.
"""
from __future__ import annotations

import os
from typing import Dict, List

import numpy as np

from video_perception.bundle import Bundle, image_input, write_model_json
from video_perception.detections import Detections
from video_perception.detector import BaseDetector
from video_perception.transport.base import ParameterSpec

NAME = 'toy_centroid'
GRAPHS = ('locator',)
OUTPUT_KINDS = ('centroid',)
HISTORY = False
TORCH_METHODS: Dict[str, str] = {}
H, W = 64, 96


def graph_inputs(bundle: Bundle, role: str) -> Dict[str, tuple]:
    return image_input(bundle)


def graph_outputs(bundle: Bundle, role: str) -> List[str]:
    return ['centre', 'mass']


def parameter_specs() -> List[ParameterSpec]:
    return [ParameterSpec('box_size', 20.0, 'side of the published box, network pixels',
                          min_value=1.0, max_value=1000.0)]


class ToyDetector(BaseDetector):
    family = NAME
    parameters = BaseDetector.parameters + ('box_size',)

    def __init__(self, bundle, backend, **kw):
        super().__init__(bundle, backend, **kw)
        self.box_size = 20.0

    def _run(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        return self._graph('locator', {'image': image})

    def decode(self, outputs, transform) -> Detections:
        (cx, cy), mass = outputs['centre'][0], float(outputs['mass'][0, 0])
        if mass < 1 or self.score_threshold > 0.9:
            return Detections(np.zeros((0, 4), np.float32), np.zeros(0), np.zeros(0, int))
        half = self.box_size / 2
        box = np.array([[cx - half, cy - half, cx + half, cy + half]], np.float32)
        return Detections(transform.boxes_to_original(box), np.array([0.9]), np.array([0]))


Detector = ToyDetector


def make_bundle(root: str) -> str:
    """A toy_centroid bundle: model.json and locator.onnx (opset 13)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    xs = (np.arange(W, dtype=np.float32) + 0.5).reshape(1, 1, 1, W)
    ys = (np.arange(H, dtype=np.float32) + 0.5).reshape(1, 1, H, 1)
    inits = [numpy_helper.from_array(xs, 'xs'), numpy_helper.from_array(ys, 'ys'),
             numpy_helper.from_array(np.array([0.5], np.float32), 'half'),
             numpy_helper.from_array(np.array([2, 3], np.int64), 'hw')]
    nodes = [
        helper.make_node('ReduceMean', ['image'], ['gray'], axes=[1], keepdims=1),  # [1,1,H,W]
        helper.make_node('Greater', ['gray', 'half'], ['bright']),
        helper.make_node('Cast', ['bright'], ['mask'], to=TensorProto.FLOAT),
        helper.make_node('ReduceSum', ['mask', 'hw'], ['mass'], keepdims=0),        # [1, 1]
        helper.make_node('Mul', ['mask', 'xs'], ['mx']),
        helper.make_node('Mul', ['mask', 'ys'], ['my']),
        helper.make_node('ReduceSum', ['mx', 'hw'], ['sx'], keepdims=0),
        helper.make_node('ReduceSum', ['my', 'hw'], ['sy'], keepdims=0),
        helper.make_node('Div', ['sx', 'mass'], ['cx']),
        helper.make_node('Div', ['sy', 'mass'], ['cy']),
        helper.make_node('Concat', ['cx', 'cy'], ['centre'], axis=1),               # [1, 2]
    ]
    graph = helper.make_graph(
        nodes, 'toy_centroid',
        [helper.make_tensor_value_info('image', TensorProto.FLOAT, [1, 3, H, W])],
        [helper.make_tensor_value_info('centre', TensorProto.FLOAT, [1, 2]),
         helper.make_tensor_value_info('mass', TensorProto.FLOAT, [1, 1])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    os.makedirs(root, exist_ok=True)
    onnx.save(model, os.path.join(root, 'locator.onnx'))
    write_model_json(root, {
        'family': NAME, 'variant': 'toy', 'classes': ['blob'],
        'input': {'height': H, 'width': W, 'pixel_format': 'bgr', 'scale': 1 / 255.0,
                  'mean': [0, 0, 0], 'std': [1, 1, 1], 'letterbox': 'top_left',
                  'pad_value': 114},
        'graphs': {'locator': 'locator.onnx'}, 'output': {'kind': 'centroid'},
        'provenance': {'note': 'test fixture: a third family from the test folder'}})
    return root
