"""Detectors: a frame and its stamp in, ``Detections`` in original image pixels out.

``Detector`` is the interface the node core, replay and the benches use; ``BaseDetector`` is what
the families' detectors (``video_perception/families/``) share: thresholds read on every call (a
run-time parameter change applies to the next frame, ``configure``), the letterbox, and the one
place where a detector decides to forget its state: the stamps jump back (a new sequence, a bag
loop), leap forward by more than ``leap_threshold_periods`` frame periods, or the image size
changes (a new camera). A stateless detector ignores all three.

``load_detector`` reads a bundle and builds its family's detector on a backend. ``CameraBatch``
serves several cameras with one model: one detector (state, stamps, resets) per camera on one
shared backend, the newest frame of each camera run as one batch.
"""
from __future__ import annotations

import time
from typing import (Any, Callable, Dict, List, Optional, Protocol, Sequence, Tuple,
                    runtime_checkable)

import numpy as np

from video_perception.backends.base import Backend, BackendOptions
from video_perception.bundle import Bundle, BundleError, load_bundle
from video_perception.detections import Detections
from video_perception.feature_buffer import StampMonitor
from video_perception.letterbox import preprocess


@runtime_checkable
class Detector(Protocol):
    """What the node core, replay and the benches call; every family's detector offers it."""

    bundle: Bundle
    parameters: Tuple[str, ...]     # the node parameters ``configure`` reads (live ones)
    model_ms: float                 # graph time of the last ``detect``
    last_outputs: dict              # raw graph outputs of the last ``detect`` (for the bench)

    @property
    def backend_description(self) -> str: ...

    @property
    def class_names(self) -> tuple: ...

    @property
    def period_ns(self) -> Optional[int]:
        """Frame period estimated from the stamps of the frames it processed."""

    def detect(self, frame: np.ndarray, stamp_ns: int) -> Detections:
        """Frame [h, w, 3] in the bundle's pixel order -> detections in its pixels."""

    def reset(self, reason: str = 'asked') -> None:
        """Forget any state: the next frame starts a new stream."""

    def configure(self, **settings) -> None:
        """Change settings named in ``parameters``; they apply from the next ``detect``."""

    def decode(self, outputs: dict, transform) -> Detections:
        """Raw graph outputs -> detections (the post-processing step alone)."""

    def diagnostics(self) -> List[Tuple[str, str]]:
        """Family-specific (key, value) pairs for /diagnostics."""

    def warmup(self) -> None: ...

    def close(self) -> None: ...


class BaseDetector:
    """Shared by the families' detectors; a subclass sets ``family`` and implements ``_run``
    (graphs on the preprocessed image) and ``decode`` (their outputs -> Detections)."""

    family = ''
    parameters: Tuple[str, ...] = ('score_threshold', 'max_detections', 'simulate_latency_ms')

    def __init__(self, bundle: Bundle, backend: Backend, score_threshold: float = 0.3,
                 max_detections: int = 100, leap_threshold_periods: float = 5.0):
        if bundle.family != self.family:
            raise BundleError(f'model bundle {bundle.root} is a "{bundle.family}" model; this '
                              f'detector runs "{self.family}" bundles')
        self.bundle, self.backend = bundle, backend
        self.score_threshold = float(score_threshold)
        self.max_detections = int(max_detections)
        self.simulate_latency_ms = 0.0
        self.model_ms = 0.0
        self.last_outputs: dict = {}
        self._graph_s = 0.0
        self.stamps = StampMonitor(leap_periods=leap_threshold_periods)
        self.last_size: Optional[tuple] = None
        self.resets = 0
        self.last_reset_reason = ''
        self.transform = None         # this frame's letterbox, for graphs that take its geometry
        self.load_warnings: List[str] = []    # said once by load_detector (an outdated bundle)

    @property
    def backend_description(self) -> str:
        return self.backend.describe()

    @property
    def class_names(self):
        return self.bundle.classes

    @property
    def period_ns(self) -> Optional[int]:
        return self.stamps.period_ns

    def configure(self, **settings) -> None:
        """Change settings named in ``parameters`` (None: unchanged); from the next frame."""
        unknown = sorted(set(settings) - set(self.parameters))
        if unknown:
            raise ValueError(f'{type(self).__name__}: unknown settings {unknown}; expected '
                             f'some of {self.parameters}')
        for name, value in settings.items():
            if value is not None:
                self._set(name, value)

    def _set(self, name: str, value) -> None:
        setattr(self, name, type(getattr(self, name))(value))

    def reset(self, reason: str = 'asked') -> None:
        """Forget the state: the next frame starts as at start-up."""
        self._forget()
        self.resets += 1
        self.last_reset_reason = reason

    def _forget(self) -> None:
        """A stateful family's state is dropped here."""

    def _has_state(self) -> bool:
        """True while it holds state that a new stream must drop (a stateless family: never)."""
        return False

    def _new_stream(self, frame: np.ndarray, stamp_ns: int) -> str:
        """Why this frame starts a new stream ('' when it continues the last one)."""
        kind = self.stamps.observe(stamp_ns)
        size, last = tuple(frame.shape[:2]), self.last_size
        self.last_size = size
        if kind == 'back':
            return 'stamp jumped back'
        if kind == 'leap':
            return 'stamp leapt forward'
        if last is not None and size != last:
            return 'image size changed'
        return ''

    def detect(self, frame: np.ndarray, stamp_ns: int = 0) -> Detections:
        return detect_batch([self], [frame], [stamp_ns])[0]

    def _graph(self, role: str, inputs: dict) -> dict:
        """Run one graph on the backend, adding its time to this frame's model time."""
        t0 = time.perf_counter()
        out = self.backend.run(role, inputs)
        self._graph_s += time.perf_counter() - t0
        return out

    def _run(self, image: np.ndarray) -> dict:
        """The family's graphs on the preprocessed image [1, 3, H, W] -> raw outputs."""
        raise NotImplementedError

    def _run_batch(self, detectors: Sequence['BaseDetector'], images: np.ndarray) -> List[dict]:
        """The graphs on images [B, 3, H, W], frame b of ``detectors[b]``'s camera (each holds
        its own state) -> raw outputs per frame (leading dimension 1). A family that batches its
        graphs overrides this; here each frame runs alone."""
        return [d._run(images[b:b + 1]) for b, d in enumerate(detectors)]

    def decode(self, outputs: dict, transform) -> Detections:
        raise NotImplementedError

    def diagnostics(self) -> List[Tuple[str, str]]:
        return []

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


def split_batch(outputs: Dict[str, np.ndarray], n: int) -> List[Dict[str, np.ndarray]]:
    """Outputs [B, ...] by name -> B dicts of [1, ...] (views, no copy)."""
    return [{k: v[b:b + 1] for k, v in outputs.items()} for b in range(n)]


def detect_batch(detectors: Sequence[BaseDetector], frames: Sequence[np.ndarray],
                 stamps: Sequence[int]) -> List[Detections]:
    """Frame b [h_b, w_b, 3] of camera b through ``detectors[b]`` (one per camera, sharing one
    backend): each camera decides its own reset and letterbox (its own size and transform), the
    graphs run once on the batch, each camera decodes its outputs in its own pixels."""
    images, transforms = [], []
    for det, frame, stamp in zip(detectors, frames, stamps):
        reason = det._new_stream(frame, stamp)
        if reason and det._has_state():
            det.reset(reason)              # this camera's state only
        image, transform = det._preprocess(frame)          # [1, 3, H, W]
        det.transform = transform          # for graphs that take the letterbox's geometry
        images.append(image)
        transforms.append(transform)
    for det in detectors:
        det._graph_s = 0.0
    lead = detectors[0]
    outputs = lead._run_batch(detectors, np.concatenate(images))      # [B, 3, H, W] in
    t0 = time.perf_counter()
    lead._simulated_latency()              # once per model call, as one slower model would
    # graph time only: buffers and decoding count as the node's overhead
    model_ms = (sum(d._graph_s for d in detectors) + time.perf_counter() - t0) * 1000.0
    results = []
    for det, out, transform in zip(detectors, outputs, transforms):
        det.model_ms, det.last_outputs = model_ms, out
        results.append(det.decode(out, transform))
    return results


class CameraBatch:
    """One model for ``n`` cameras: a detector per camera (its buffer, stamp monitor, resets)
    built by the first one's family on the first one's backend; ``detect`` runs the newest
    frame of some cameras as one batch. A camera's reset never touches another's state."""

    def __init__(self, detector: BaseDetector, n: int):
        settings = {p: getattr(detector, p) for p in detector.parameters}
        self.detectors = [detector] + [type(detector)(detector.bundle, detector.backend)
                                       for _ in range(n - 1)]
        for det in self.detectors[1:]:
            det.configure(**settings)

    def __len__(self) -> int:
        return len(self.detectors)

    def configure(self, **settings) -> None:
        for det in self.detectors:
            det.configure(**settings)

    def detect(self, cameras: Sequence[int], frames: Sequence[np.ndarray],
               stamps: Sequence[int]) -> List[Detections]:
        """Frames of ``cameras`` (indices, each at most once) -> their detections, in order."""
        return detect_batch([self.detectors[c] for c in cameras], frames, stamps)


def load_detector(model_path: str, backend: str = 'auto',
                  options: Optional[BackendOptions] = None, family: Any = None,
                  log: Callable[[str], None] = print, warmup: bool = True,
                  **settings) -> Detector:
    """Load a bundle, pick its backend and build its family's detector (warmed up unless told
    not to). ``settings``: node parameters (thresholds, ``simulate_latency_ms``); those the
    family's detector does not read are ignored, as its node does not declare them.

    ``family``: the family the bundle must be of: a family object (a node hands down the one it
    resolved) or a registered name; None: the bundle's own, resolved once by ``load_bundle``.

    Raises BundleError (bad bundle, wrong or unknown family) or BackendError, one line each.
    """
    from video_perception.backends.select import load_backend
    from video_perception.bundle_check import check_bundle
    from video_perception.families import resolve
    if not model_path:
        raise BundleError('model_path is empty: pass -p model_path:=DIR (a bundle folder made '
                          'by `video-perception export`)')
    bundle = load_bundle(model_path, None if family is None else resolve(family, 'node'))
    cls = bundle.family_module.Detector
    check_bundle(bundle)  # model.json against the graphs: one line, not an ORT traceback later
    be = load_backend(bundle, backend, options, log=log)
    det = cls(bundle, be)
    det.configure(**{k: v for k, v in settings.items() if k in cls.parameters})
    for line in det.load_warnings:
        log(f'WARNING: {model_path}: {line}')
    if warmup:
        t0 = time.perf_counter()
        det.warmup()
        log(f'warm-up done in {(time.perf_counter() - t0) * 1000:.0f} ms')
    return det
