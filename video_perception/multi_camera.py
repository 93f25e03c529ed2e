"""The serving loop of one node for several cameras, free of ROS: one model, a batch per step.

Each camera has a one-frame mailbox (the newest frame wins, a replaced one is counted as
dropped, as in ``node_core``), its own ``StampMonitor`` of the received stream (forecast
stamps), latency statistics and error counts; the detector (``detector.CameraBatch``) keeps one
state per camera, so a camera's reset never touches another's.

The worker forms a batch from the newest pending frame of each camera. It waits at most
``batch_timeout_ms`` after the oldest pending frame arrived, and only for cameras whose next
frame is due before then (from their arrival period) and which are alive (a frame within
``DEAD_PERIODS`` periods): a camera that stopped is skipped at once instead of stalling the
others, its missed slots counted and its silence reported in the diagnostics. Stale frames
never queue: a batch takes only the newest frame of each camera.

``batch_mode`` per_camera (``auto`` on a CPU) runs no batch: each frame runs alone on the one
shared backend (its camera's own detector state). With ``threads`` set there is one worker per
camera (``per_camera_workers``), each woken by its own camera only, as K single-camera nodes
are: a pool woken all at once by every frame and every finished frame cost 3 to 6 ms of median
processing at K = 4 on 2 cores (tiny: 17.7-21.0 against 14.3-15.4 ms, the Python threads
trading the interpreter lock; docs/BENCHMARKS.md 7a). Otherwise one worker serves every camera,
oldest pending frame first. On a CPU a convolution on B frames costs about B single frames, so a
batch buys nothing there and waits for its slowest camera (docs/BENCHMARKS.md section 7,
measured); on a GPU one launch for K frames is the point of batching, so ``auto`` batches there.
"""
from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from video_perception.families import bundle_family
from video_perception.feature_buffer import StampMonitor
from video_perception.multi_camera_diagnostics import CameraDiagnostics
from video_perception.multi_camera_plan import (DEAD_PERIODS, per_camera_workers,
                                                resolve_batch_mode)
from video_perception.node_core import (LatencyStats, _header_with_stamp, _OneLineLog,
                                        default_parameters, frame_decoder, output_stamp_ns,
                                        stamp_ns_of)


class CameraState:
    """What the worker and the diagnostics know about one camera."""

    def __init__(self, name: str):
        self.name = name
        self.pending = None                 # (msg, t_recv): the newest frame not yet taken
        self.wake: Optional[threading.Condition] = None   # its own worker's, when pinned
        self.stamps = StampMonitor()
        self.latency = LatencyStats()
        self.counts = collections.Counter()
        self.last_arrival: Optional[float] = None
        self.interval = LatencyStats(window=30)   # arrival periods (seconds * 1000)
        self.first_arrival = 0.0
        self.last_error = ''

    def period_s(self) -> Optional[float]:
        return self.interval.median() / 1000.0 if len(self.interval.samples) >= 2 else None

    def expected_by(self, now: float, deadline: float) -> bool:
        """Worth waiting for: alive and its next frame due before ``deadline``."""
        period = self.period_s()
        if self.last_arrival is None or period is None:
            return False
        return (now - self.last_arrival < DEAD_PERIODS * period
                and self.last_arrival + period <= deadline)

    def rate_hz(self) -> float:
        period = self.period_s()
        return 1.0 / period if period else 0.0


class MultiCameraCore(CameraDiagnostics):
    """Serving loop of a node with ``cameras`` (their names); ``detector`` is a
    ``CameraBatch`` with one detector per camera. ``publish(camera, dets, header, frame)`` is
    called from the worker thread for each camera of a batch."""

    def __init__(self, node_name: str, cameras: Sequence[str], params: Dict[str, Any],
                 detector, decode: Callable[[Any], np.ndarray],
                 publish: Callable[[int, Any, Any, np.ndarray], None],
                 log_warning: Callable[[str], None] = print):
        self.node_name = node_name
        self.cameras = [CameraState(name) for name in cameras]
        self.params = dict(params)
        self.detector = detector
        self.decode, self.publish = decode, publish
        self.warn = _OneLineLog(log_warning)
        self.fill: collections.deque = collections.deque(maxlen=300)  # cameras in a batch / all
        self.wait = LatencyStats()           # from the first pending frame to the batch
        self.batches = 0
        backend = detector.detectors[0].backend
        self.mode = resolve_batch_mode(str(self.params.get('batch_mode', 'auto')), backend)
        self.workers = per_camera_workers(len(self.cameras), backend) \
            if self.mode == 'per_camera' else 1
        self._busy: set = set()             # cameras a per-camera worker holds now
        from video_perception.streaming.stage import StreamingStage   # a tracker per camera
        self.streaming = StreamingStage(self.params, detector.detectors[0].bundle,
                                        len(self.cameras))
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._threads: List[threading.Thread] = []
        self.apply_parameters(self.params)

    # -- transport side -------------------------------------------------------------------------
    def callback(self, index: int) -> Callable[[Any], None]:
        """The subscription callback of camera ``index``."""
        return lambda msg: self.on_image(index, msg)

    def on_image(self, index: int, msg) -> None:
        now = time.monotonic()
        cam = self.cameras[index]
        with self._cond:
            cam.counts['received'] += 1
            cam.stamps.observe(stamp_ns_of(msg.header.stamp))
            if cam.last_arrival is not None:
                cam.interval.add(now - cam.last_arrival)
            cam.last_arrival = now
            if cam.pending is not None:
                cam.counts['dropped'] += 1
            else:
                cam.first_arrival = now
            cam.pending = (msg, now)
            if cam.wake is not None:
                cam.wake.notify()           # its own worker, not all K
            else:
                self._cond.notify_all()

    def on_parameters(self, changes: Dict[str, Any]) -> None:
        self.params.update(changes)
        self.apply_parameters(changes)

    def apply_parameters(self, changes: Dict[str, Any]) -> None:
        params = self.detector.detectors[0].parameters
        live = self.streaming.detector_settings({k: v for k, v in changes.items()
                                                 if k in params})
        if live:
            self.detector.configure(**live)

    # -- worker side ----------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        pinned = self.mode == 'per_camera' and self.workers >= len(self.cameras) > 1
        for cam in self.cameras:            # the lock stays one: a camera's state is shared
            cam.wake = threading.Condition(self._lock) if pinned else None
        loop = self._loop if self.mode == 'batch' else \
            self._loop_pinned if pinned else self._loop_each
        self._threads = [threading.Thread(target=loop, args=(i,) if pinned else (),
                                          name=f'{self.node_name}-worker{i}', daemon=True)
                         for i in range(len(self.cameras) if pinned else self.workers)]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._cond:
            for cam in self.cameras:            # as node_core's slot: not served after a restart
                if cam.pending is not None:
                    cam.counts['dropped'] += 1
                    cam.pending = None
            self._cond.notify_all()
            for cam in self.cameras:
                if cam.wake is not None:
                    cam.wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def next_batch(self, poll_s: float = 0.2) -> List[tuple]:
        """Wait for a batch: [(camera index, msg, t_recv)], empty after ``poll_s`` idle."""
        timeout = float(self.params.get('batch_timeout_ms', 10.0)) / 1000.0
        with self._cond:
            pending = [c for c in self.cameras if c.pending is not None]
            if not pending:
                self._cond.wait(poll_s)
                pending = [c for c in self.cameras if c.pending is not None]
                if not pending or self._stop.is_set():
                    return []
            start = min(c.first_arrival for c in pending)
            deadline = start + timeout
            while not self._stop.is_set():
                now = time.monotonic()
                waiting = [c for c in self.cameras
                           if c.pending is None and c.expected_by(now, deadline)]
                if not waiting or now >= deadline:
                    break
                self._cond.wait(deadline - now)
            batch = []
            for i, cam in enumerate(self.cameras):
                if cam.pending is not None:
                    batch.append((i,) + cam.pending)
                    cam.pending = None
                elif cam.expected_by(time.monotonic(), deadline):
                    cam.counts['skipped'] += 1     # due but late: this batch left without it
            self.wait.add(time.monotonic() - start)
            self.fill.append(len(batch) / len(self.cameras))
        return batch

    def next_frame(self, poll_s: float = 0.2) -> List[tuple]:
        """Per-camera mode: [(camera index, msg, t_recv)] of the oldest pending frame of a
        camera no other worker holds (now held by the caller until ``release``); empty after
        ``poll_s`` idle. No batch wait: the frame leaves at once."""
        with self._cond:
            ready = [c for i, c in enumerate(self.cameras)
                     if c.pending is not None and i not in self._busy]
            if not ready:
                self._cond.wait(poll_s)
                ready = [c for i, c in enumerate(self.cameras)
                         if c.pending is not None and i not in self._busy]
                if not ready or self._stop.is_set():
                    return []
            cam = min(ready, key=lambda c: c.first_arrival)
            index = self.cameras.index(cam)
            item, cam.pending = (index,) + cam.pending, None
            self._busy.add(index)
            self.wait.add(time.monotonic() - cam.first_arrival)
            self.fill.append(1.0 / len(self.cameras))
        return [item]

    def release(self, index: int) -> None:
        with self._cond:
            self._busy.discard(index)
            self._cond.notify_all()         # a worker may wait for this camera's next frame

    def _loop_pinned(self, index: int) -> None:
        """Per-camera mode, one worker per camera: camera ``index``'s frames, in order."""
        cam = self.cameras[index]
        while not self._stop.is_set():
            with self._cond:
                if cam.pending is None:
                    cam.wake.wait(0.2)
                if cam.pending is None or self._stop.is_set():
                    continue
                item, cam.pending = (index,) + cam.pending, None
                self.wait.add(time.monotonic() - cam.first_arrival)
                self.fill.append(1.0 / len(self.cameras))
            try:
                self.process([item])
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any one frame
                self._fail(cam, 'failed_frames', f'detection failed: {type(exc).__name__}: {exc}')

    def _loop_each(self) -> None:
        while not self._stop.is_set():
            batch = self.next_frame()
            if not batch:
                continue
            try:
                self.process(batch)
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any one frame
                self._fail(self.cameras[batch[0][0]], 'failed_frames',
                           f'detection failed: {type(exc).__name__}: {exc}')
            finally:
                self.release(batch[0][0])

    def _loop(self) -> None:
        while not self._stop.is_set():
            batch = self.next_batch()
            if not batch:
                continue
            try:
                self.process(batch)
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any one batch
                for index, *_ in batch:
                    self._fail(self.cameras[index], 'failed_frames',
                               f'batch failed: {type(exc).__name__}: {exc}')

    def process(self, batch: List[tuple]) -> int:
        """Decode, detect and publish one batch; returns the number of cameras served."""
        cams, frames, items = [], [], []
        for index, msg, t_recv in batch:
            cam = self.cameras[index]
            try:
                frames.append(self.decode(msg))
            except (ValueError, TypeError) as exc:
                self._fail(cam, 'bad_frames', f'skipped a bad image: {exc}')
                continue
            cams.append(index)
            items.append((msg, t_recv))
        if not cams:
            return 0
        stamps = [stamp_ns_of(msg.header.stamp) for msg, _ in items]
        t_start = time.monotonic()
        try:
            results = self.detector.detect(cams, frames, stamps)
        except (ValueError, RuntimeError) as exc:
            for index in cams:
                self._fail(self.cameras[index], 'failed_frames', f'detection failed: {exc}')
            return 0
        with self._cond:
            self.batches += 1                # per-camera workers count here at once
        for index, frame, item, stamp, dets in zip(cams, frames, items, stamps, results):
            cam, (msg, t_recv) = self.cameras[index], item
            with self._cond:
                newest = (cam.stamps.last, cam.last_arrival)
            dets, target = self.streaming.apply(
                index, dets, stamp, cam.stamps.period_ns, (frame.shape[1], frame.shape[0]),
                newest, time.monotonic() - t_start)
            header = _header_with_stamp(msg.header, self.output_stamp_ns(cam, stamp)
                                        if target is None else target)
            self.publish(index, dets, header, frame)
            cam.latency.add(time.monotonic() - t_recv)
            cam.counts['processed'] += 1
        return len(cams)

    def _fail(self, cam: CameraState, kind: str, text: str) -> None:
        cam.counts[kind] += 1
        cam.last_error = text
        self.warn(kind, f'{self.node_name}: camera {cam.name}: {text}')

    def output_stamp_ns(self, cam: CameraState, stamp_ns: int) -> int:
        bundle = self.detector.detectors[0].bundle
        return output_stamp_ns(self.params, stamp_ns, cam.stamps.period_ns, bundle.future_frames)


def build_multi_core(node_name: str, detector, names: Sequence[str],
                     publish: Callable[[int, Any, Any, np.ndarray], None],
                     params: Optional[Dict[str, Any]] = None,
                     log_warning: Callable[[str], None] = print) -> MultiCameraCore:
    """The MultiCameraCore of a loaded detector (``CameraBatch`` of len(names) cameras made
    here), as ``node_core.build_core`` makes the single-camera one."""
    from video_perception.detector import CameraBatch
    values = default_parameters(bundle_family(detector.bundle))
    values.update(params or {})
    return MultiCameraCore(node_name, names, values, CameraBatch(detector, len(names)),
                           frame_decoder(detector.bundle.pixel_format), publish,
                           log_warning=log_warning)
