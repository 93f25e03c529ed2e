"""The StreamNet family (DAMO-StreamNet): forecasts of the next frame from a feature buffer.

Bundle (``bundle.py`` gives the common ``model.json`` schema)::

    "graphs": {"encoder": "encoder.onnx", "forecast": "forecast.onnx"},
    "output": {"kind": "yolox"},
    "history": {"frames": 3, "step": 1,          # N past frames at step dt (in frames)
                "current": [{"name": "f0", "shape": [1, 32, 48, 80]}, ...],   # optional
                "features": [{"name": "l0", "shape": [1, 5, 48, 80]}, ...]}

* ``encoder.onnx``: input ``image`` [1, 3, H, W] -> outputs named as ``history.current`` then as
  ``history.features`` (in order). ``history.features`` are the per-frame features that are
  buffered (StreamNet: each frame's long-path reductions, computed once when it is encoded);
  ``history.current`` the ones the forecast reads of the current frame only (the neck maps).
* ``forecast.onnx``: inputs are the current frame's features (names as in ``history.current``),
  then for k = 1..N (k = 1 is the most recent past frame) ``{name}_h{k}`` for each buffered
  feature (``feature_buffer.history_entries``); output ``predictions`` [1, A, 5 + C] with (cx,
  cy, w, h) in network-input pixels and sigmoid-ed objectness and class scores (YOLOX
  ``decode_in_inference``).
* Without ``history.current`` (bundles exported before it, and N = 0 models, which buffer
  nothing) the buffered features are also the current ones: the encoder outputs
  ``history.features`` only and the forecast reads them, then their ``_h{k}``.
* torch: the builder's module offers ``encode`` and ``forecast`` with the graphs' signatures.

The detector encodes each frame once, the forecast graph reads the current features plus the N
buffered ones [t-dt, ..., t-N*dt], then frame t is pushed; ``detect`` returns the forecast for
frame t+1. ``BaseDetector`` decides when the buffer is reset (stamps back or leaping, a new image
size). The node (``streamnet_ros``) adds ``nms_iou``, forecast stamps and the leap threshold.
"""
from __future__ import annotations

import os
from typing import Dict, List, Sequence

import numpy as np

from video_perception import postprocess
from video_perception.backends.base import Backend
from video_perception.bundle import Bundle, image_input
from video_perception.bundle_check import check_classes, check_image, mismatch
from video_perception.detections import Detections
from video_perception.detector import BaseDetector, split_batch
from video_perception.feature_buffer import FeatureBuffer, history_entries
from video_perception.transport.base import ParameterSpec

NAME = 'streamnet'
GRAPHS = ('encoder', 'forecast')
OUTPUT_KINDS = ('yolox',)
HISTORY = True
TORCH_METHODS = {'encoder': 'encode', 'forecast': 'forecast'}
# history inputs past N are recognised (and refused) up to this depth
MAX_HISTORY_CHECKED = 64


def current_features(bundle: Bundle) -> tuple:
    """The current frame's features the forecast reads (FeatureSpecs): ``history.current``, or
    the buffered ones in a bundle without it."""
    return bundle.current_features or bundle.features


def graph_inputs(bundle: Bundle, role: str) -> Dict[str, tuple]:
    if role == 'encoder':
        return image_input(bundle)
    out = {f.name: tuple(f.shape) for f in current_features(bundle)}
    shapes = {f.name: tuple(f.shape) for f in bundle.features}
    for name, feature, _ in history_entries(list(shapes), bundle.history_frames):
        out[name] = shapes[feature]
    return out


def graph_outputs(bundle: Bundle, role: str) -> List[str]:
    if role != 'encoder':
        return ['predictions']
    return [f.name for f in bundle.current_features + bundle.features]


def check_graphs(bundle: Bundle, sigs: Dict[str, tuple]) -> None:
    """model.json against the graphs' signatures (``bundle_check``): image size, the current and
    buffered features, the history inputs and the number of classes."""
    enc_in, enc_out = sigs['encoder']
    check_image(bundle, 'encoder', enc_in)
    enc = os.path.basename(bundle.graphs['encoder'])
    fc = os.path.basename(bundle.graphs['forecast'])
    names = [f.name for f in bundle.features]
    current = [f.name for f in bundle.current_features]
    if list(enc_out) != current + names:
        field = ('history.current + history.features names' if current
                 else 'history.features names (no history.current)')
        raise mismatch(field, current + names, f'{enc} outputs', list(enc_out))
    for key, specs in (('current', bundle.current_features), ('features', bundle.features)):
        for f in specs:
            if tuple(enc_out[f.name]) != tuple(f.shape):
                raise mismatch(f'history.{key} "{f.name}" shape', list(f.shape),
                               f'{enc} output "{f.name}"', list(enc_out[f.name]))
    fc_in, fc_out = sigs['forecast']
    reads = [f.name for f in current_features(bundle)]
    past = [n for n in fc_in if n not in reads]
    # the exporter drops inputs a graph never reads (a test fixture reads only some of the
    # history), so a partial set is no mismatch; inputs past N, or a full set of another N, are
    allowed = {name for name, _, _ in history_entries(names, bundle.history_frames)}
    deepest = {name: k for name, _, k in history_entries(names, MAX_HISTORY_CHECKED)}
    frames = max((deepest.get(n, 0) for n in past), default=0)
    full = set(past) == {name for name, _, _ in history_entries(names, frames)}
    if not set(past) <= allowed or (full and frames != bundle.history_frames):
        raise mismatch('history.frames', bundle.history_frames, fc,
                       f'{frames} buffered frames ({len(past)} history inputs)')
    pred = fc_out.get('predictions')
    if pred is not None and len(pred) == 3 and isinstance(pred[2], int):
        check_classes(bundle, pred[2] - 5, f'{fc} "predictions" [1, A, 5 + C]')


def parameter_specs() -> List[ParameterSpec]:
    return [
        ParameterSpec('nms_iou', 0.65, 'IoU above which class-aware NMS drops a box',
                      min_value=0.0, max_value=1.0),
        ParameterSpec('stamp_mode', 'input', 'output stamp: input (header copied) or '
                      'forecast (input + one frame period: the time the boxes refer to)',
                      choices=('input', 'forecast')),
        ParameterSpec('frame_rate_hint', 30.0, 'camera rate (Hz) assumed for forecast stamps '
                      'until two input stamps give the real period',
                      min_value=0.1, max_value=1000.0),
        ParameterSpec('leap_threshold_periods', 5.0, 'reset the feature buffer when the '
                      'stamps leap forward by more than this many frame periods',
                      min_value=1.0, max_value=1e6),
    ]


class StreamNetDetector(BaseDetector):
    """DAMO-StreamNet with the feature buffer; ``detect`` returns its forecast for frame t+1."""

    family = NAME
    parameters = BaseDetector.parameters + ('nms_iou', 'leap_threshold_periods')

    def __init__(self, bundle: Bundle, backend: Backend, score_threshold: float = 0.3,
                 nms_iou: float = 0.65, max_detections: int = 100,
                 leap_threshold_periods: float = 5.0):
        super().__init__(bundle, backend, score_threshold, max_detections,
                         leap_threshold_periods)
        self.nms_iou = float(nms_iou)
        self.buffer = FeatureBuffer({f.name: f.shape for f in bundle.features},
                                    bundle.history_frames, bundle.history_step)

    @property
    def buffer_fill(self) -> float:
        return self.buffer.fill

    @property
    def leap_threshold_periods(self) -> float:
        return self.stamps.leap_periods

    @leap_threshold_periods.setter
    def leap_threshold_periods(self, value: float) -> None:
        self.stamps.leap_periods = float(value)

    def _has_state(self) -> bool:
        return not self.buffer.empty

    def _forget(self) -> None:
        self.buffer.reset()

    def _run(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        return self._run_batch([self], image)[0]

    def _run_batch(self, detectors: Sequence['StreamNetDetector'],
                   images: np.ndarray) -> List[Dict[str, np.ndarray]]:
        """Frame b of images [B, 3, H, W] reads and then feeds ``detectors[b]``'s buffer."""
        feats = self._graph('encoder', {'image': images})   # name -> [B, ...]
        per_frame = split_batch(feats, len(detectors))        # name -> [1, ...] each
        history = []
        for det, own in zip(detectors, per_frame):
            if det.buffer.empty:
                det.buffer.prime(own)
            history.append(det.buffer.history_inputs())
        inputs = {f.name: feats[f.name] for f in current_features(self.bundle)}
        for name in history[0]:
            # one camera reads the buffer's slots in place; a batch needs them side by side
            inputs[name] = history[0][name] if len(history) == 1 else \
                np.concatenate([h[name] for h in history])
        out = self._graph('forecast', inputs)               # predictions [B, A, 5 + C]
        for det, own in zip(detectors, per_frame):
            det.buffer.push(own)
        return split_batch(out, len(detectors))

    def decode(self, outputs: Dict[str, np.ndarray], transform) -> Detections:
        return postprocess.decode_yolox(outputs['predictions'][0], self.score_threshold,
                                        self.nms_iou, self.max_detections, transform=transform)

    def diagnostics(self) -> List[tuple]:
        return [('buffer_fill', f'{self.buffer_fill:.2f}'), ('buffer_resets', str(self.resets))]


Detector = StreamNetDetector
