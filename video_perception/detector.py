"""Detectors: a frame and its stamp in, ``Detections`` in original image pixels out.

``StreamNetDetector`` owns the long-path feature buffer: each frame is encoded once, the forecast
graph reads the current features plus the N buffered ones [t-dt, ..., t-N*dt], then frame t is
pushed. The buffer is reset when the stamps jump back (a new sequence, a bag loop), leap forward by
more than ``leap_threshold_periods`` frame periods, or the image size changes (the node calls
``reset``). ``V2IDetector`` runs a single-frame student and keeps no state.

Thresholds are plain attributes read on every call, so a run-time parameter change applies to the
next frame (``configure``).
"""
from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np

from video_perception import postprocess
from video_perception.backends.base import Backend, BackendOptions, graph_input_names
from video_perception.bundle import Bundle, BundleError, load_bundle
from video_perception.detections import Detections
from video_perception.feature_buffer import FeatureBuffer, StampMonitor
from video_perception.letterbox import preprocess


class _Detector:
    family = ''

    def __init__(self, bundle: Bundle, backend: Backend, score_threshold: float = 0.3,
                 nms_iou: float = 0.65, max_detections: int = 100):
        if bundle.family != self.family:
            raise BundleError(f'model bundle {bundle.root} is a "{bundle.family}" model; this '
                              f'detector runs "{self.family}" bundles')
        self.bundle, self.backend = bundle, backend
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.max_detections = int(max_detections)
        self.simulate_latency_ms = 0.0
        self.model_ms = 0.0

    @property
    def backend_description(self) -> str:
        return self.backend.describe()

    @property
    def class_names(self):
        return self.bundle.classes

    def configure(self, score_threshold: Optional[float] = None,
                  nms_iou: Optional[float] = None, max_detections: Optional[int] = None,
                  simulate_latency_ms: Optional[float] = None, **others) -> None:
        """Change thresholds; they apply from the next ``detect`` call."""
        if score_threshold is not None:
            self.score_threshold = float(score_threshold)
        if nms_iou is not None:
            self.nms_iou = float(nms_iou)
        if max_detections is not None:
            self.max_detections = int(max_detections)
        if simulate_latency_ms is not None:
            self.simulate_latency_ms = float(simulate_latency_ms)

    def _simulated_latency(self) -> None:
        """Testing only: a slower model, once per frame (``simulate_latency_ms`` parameter)."""
        if self.simulate_latency_ms > 0:
            time.sleep(self.simulate_latency_ms / 1000.0)

    def _preprocess(self, frame: np.ndarray):
        """Frame [h, w, 3] in the bundle's pixel order -> ([1, 3, H, W] float32, transform)."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 1 or frame.shape[1] < 1:
            raise ValueError(f'detector: frame of shape {frame.shape}; expected [h, w, 3]')
        return preprocess(frame, self.bundle)

    def warmup(self) -> None:
        self.backend.warmup()

    def close(self) -> None:
        self.backend.close()


class StreamNetDetector(_Detector):
    """DAMO-StreamNet with the feature buffer; ``detect`` returns its forecast for frame t+1."""

    family = 'streamnet'

    def __init__(self, bundle: Bundle, backend: Backend, score_threshold: float = 0.3,
                 nms_iou: float = 0.65, max_detections: int = 100,
                 leap_threshold_periods: float = 5.0):
        super().__init__(bundle, backend, score_threshold, nms_iou, max_detections)
        self.buffer = FeatureBuffer({f.name: f.shape for f in bundle.features},
                                    bundle.history_frames, bundle.history_step)
        self.stamps = StampMonitor(leap_periods=leap_threshold_periods)
        self.resets = 0
        self.last_reset_reason = ''

    @property
    def buffer_fill(self) -> float:
        return self.buffer.fill

    def configure(self, leap_threshold_periods: Optional[float] = None, **kw) -> None:
        if leap_threshold_periods is not None:
            self.stamps.leap_periods = float(leap_threshold_periods)
        super().configure(**kw)

    def reset(self, reason: str = 'asked') -> None:
        """Forget the history: the next frame primes the buffer as at start-up."""
        self.buffer.reset()
        self.resets += 1
        self.last_reset_reason = reason

    def detect(self, frame: np.ndarray, stamp_ns: int) -> Detections:
        kind = self.stamps.observe(stamp_ns)
        if kind in ('back', 'leap') and not self.buffer.empty:
            self.reset('stamp jumped back' if kind == 'back' else 'stamp leapt forward')
        image, transform = self._preprocess(frame)
        t0 = time.perf_counter()
        feats = self.backend.run('encoder', {'image': image})
        model_s = time.perf_counter() - t0
        if self.buffer.empty:
            self.buffer.prime(feats)
        inputs = dict(feats)
        inputs.update(self.buffer.history_inputs())
        t0 = time.perf_counter()
        preds = self.backend.run('forecast', inputs)['predictions']     # [1, A, 5 + C]
        model_s += time.perf_counter() - t0
        self.buffer.push(feats)
        t0 = time.perf_counter()
        self._simulated_latency()
        # graph time only: the buffer and decoding count as the node's overhead
        self.model_ms = (model_s + time.perf_counter() - t0) * 1000.0
        return postprocess.decode_yolox(preds[0], self.score_threshold, self.nms_iou,
                                        self.max_detections, transform=transform)


class V2IDetector(_Detector):
    """A single-frame V2I student (DETR family): no buffer, no NMS (set prediction)."""

    family = 'v2i'

    def detect(self, frame: np.ndarray, stamp_ns: int = 0) -> Detections:
        image, transform = self._preprocess(frame)
        inputs = {'image': image}
        if 'valid_hw' in graph_input_names(self.bundle, 'student'):
            # the picture's rows and columns on the canvas: the graph masks the rest
            inputs['valid_hw'] = np.array([[transform.new_height, transform.new_width]],
                                          np.float32)
        t0 = time.perf_counter()
        out = self.backend.run('student', inputs)
        self._simulated_latency()
        self.model_ms = (time.perf_counter() - t0) * 1000.0
        logits, boxes = out['pred_logits'][0], out['pred_boxes'][0]    # [Q, C'], [Q, 4]
        decode = (postprocess.decode_detr_softmax if self.bundle.output_kind == 'detr_softmax'
                  else postprocess.decode_detr_sigmoid)
        return decode(logits, boxes, self.bundle.width, self.bundle.height,
                      self.score_threshold, self.max_detections, transform=transform)


def load_detector(model_path: str, backend: str = 'auto',
                  options: Optional[BackendOptions] = None, family: Optional[str] = None,
                  log: Callable[[str], None] = print, warmup: bool = True,
                  simulate_latency_ms: float = 0.0, **thresholds):
    """Load a bundle, pick its backend and build the detector (warmed up unless told not to).

    Raises BundleError (bad bundle, wrong family) or BackendError, each with a one-line message.
    """
    from video_perception.backends.select import load_backend
    if not model_path:
        raise BundleError('model_path is empty: pass -p model_path:=DIR (a bundle folder made '
                          'by `video-perception export`)')
    bundle = load_bundle(model_path)
    if family is not None and bundle.family != family:
        raise BundleError(f'model bundle {model_path} is a "{bundle.family}" model; this node '
                          f'runs "{family}" bundles')
    be = load_backend(bundle, backend, options, log=log)
    cls = StreamNetDetector if bundle.family == 'streamnet' else V2IDetector
    if cls is V2IDetector:
        thresholds.pop('nms_iou', None)
        thresholds.pop('leap_threshold_periods', None)
    if cls is V2IDetector and 'valid_hw' not in graph_input_names(bundle, 'student'):
        log(f'WARNING: {model_path}: student graph without a valid_hw input (exported before '
            'the padding mask): non-square frames score differently from evaluation; re-export')
    det = cls(bundle, be, **thresholds)
    det.configure(simulate_latency_ms=simulate_latency_ms)
    if warmup:
        t0 = time.perf_counter()
        det.warmup()
        log(f'warm-up done in {(time.perf_counter() - t0) * 1000:.0f} ms')
    return det
