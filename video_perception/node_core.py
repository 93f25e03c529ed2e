"""What both detector nodes do, free of any ROS or DDS import (the nodes are thin glue around it).

* The newest frame wins: the transport callback drops the frame into a one-slot mailbox and
  returns; one worker thread takes whatever is newest. No queue grows; a frame replaced before the
  worker reached it is counted as dropped (yolo_ros and Isaac get the same with depth 1, but do
  not count it; opendr#275 shows what a depth-10 queue does to latency).
* The output header is the input header (stamp and frame_id, darknet_ros#63), or in ``forecast``
  mode the input stamp plus one frame period estimated from the input stamps: StreamNet's boxes
  are its forecast of the next frame.
* Bad frames (malformed data, an unknown encoding) are logged in one line, counted and skipped; a
  frame of a new size is served and counted (the detector decides whether its state resets).
* ``forecast:=kalman`` / ``schedule:=shrinking_tail`` make the node a Streamer
  (``streaming.stage``): outputs are tracks forecast to the target time, stamped at it.
* Thresholds are read on every frame, so ``ros2 param set`` takes effect on the next one
  (isaac_ros_object_detection#65 is the bug this avoids).
"""
from __future__ import annotations

import collections
import copy
import re
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from video_perception.families import bundle_family
from video_perception.feature_buffer import StampMonitor
# the node's parameters have their own module; importable from here as before
from video_perception.node_params import default_parameters, parameter_specs  # noqa: F401


def output_stamp_ns(params: Dict[str, Any], stamp_ns: int, period_ns: Optional[int],
                    future_frames: int) -> int:
    """The output header's stamp: the input's, or with ``stamp_mode:=forecast`` the time the
    boxes describe, ``future_frames`` periods later (the period from the input stamps, until
    there are two of them ``frame_rate_hint``)."""
    if params.get('stamp_mode', 'input') != 'forecast':
        return stamp_ns
    if period_ns is None:
        period_ns = int(round(1e9 / float(params.get('frame_rate_hint', 30.0))))
    return stamp_ns + future_frames * period_ns


def stamp_ns_of(stamp) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def stamp_of_ns(ns: int, time_type: type):
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return time_type(sec=sec, nanosec=nanosec)


class LatestSlot:
    """A one-item mailbox: ``put`` replaces what is there (counting a drop), ``take`` waits."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item = None
        self._has = False
        self.dropped = 0
        self.closed = False

    def put(self, item) -> bool:
        """Store ``item``; True when an unprocessed item was replaced (a drop)."""
        with self._cond:
            replaced = self._has
            if replaced:
                self.dropped += 1
            self._item, self._has = item, True
            self._cond.notify()
            return replaced

    def take(self, timeout: Optional[float] = None):
        """The newest item, or None after ``timeout`` seconds or once closed."""
        with self._cond:
            if not self._has and not self.closed:
                self._cond.wait(timeout)
            if not self._has:
                return None
            item, self._item, self._has = self._item, None, False
            return item

    def close(self) -> None:
        """Stop serving: a frame still waiting is dropped (counted), not kept for the next
        ``start``, where its stamp would be from before the stop (lifecycle deactivate)."""
        with self._cond:
            self.closed = True
            if self._has:
                self.dropped += 1
                self._item, self._has = None, False
            self._cond.notify_all()


class LatencyStats:
    """Median and p95 over the last ``window`` samples, in milliseconds."""

    def __init__(self, window: int = 300):
        self.samples: collections.deque = collections.deque(maxlen=window)

    def add(self, seconds: float) -> None:
        self.samples.append(seconds * 1000.0)

    def median(self) -> float:
        return float(np.percentile(self.samples, 50)) if self.samples else float('nan')

    def p95(self) -> float:
        return float(np.percentile(self.samples, 95)) if self.samples else float('nan')


class _OneLineLog:
    """Log a kind of problem once per ``period_s`` (with a count of the ones in between)."""

    def __init__(self, log: Callable[[str], None], period_s: float = 5.0):
        self.log, self.period_s = log, period_s
        self.last: Dict[str, float] = {}
        self.suppressed: Dict[str, int] = collections.Counter()

    def __call__(self, kind: str, text: str) -> None:
        # one report per kind of problem: numbers (sizes, byte counts) do not make a new kind
        kind = kind + ':' + re.sub(r'\d+', '#', text)[:80]
        now = time.monotonic()
        if now - self.last.get(kind, -1e9) < self.period_s:
            self.suppressed[kind] += 1
            return
        more = self.suppressed.pop(kind, 0)
        self.last[kind] = now
        self.log(text + (f' ({more} more since the last report)' if more else ''))


class NodeCore:
    """The serving loop of a detector node.

    Args:
        node_name: for logs and the diagnostics status name.
        params: current parameter values by name (as declared by ``parameter_specs``).
        detector: a ``detector.Detector`` (``detect``, ``configure`` of its ``parameters``,
            ``diagnostics``); it decides itself when its state resets.
        decode: message -> image array in the detector's pixel order (raises ValueError).
        publish_detections: called with (Detections, header, image) from the worker thread;
            the glue turns it into messages.
        log_warning: one-line warnings.
    """

    def __init__(self, node_name: str, params: Dict[str, Any], detector,
                 decode: Callable[[Any], np.ndarray],
                 publish_detections: Callable[[Any, Any, np.ndarray], None],
                 log_warning: Callable[[str], None] = print,
                 make_header: Optional[Callable[[Any, int], Any]] = None):
        self.node_name = node_name
        self.params = dict(params)
        self.detector = detector
        self.decode = decode
        self.publish_detections = publish_detections
        self.warn = _OneLineLog(log_warning)
        self.make_header = make_header or _header_with_stamp
        self.slot = LatestSlot()
        self.stamps = StampMonitor()
        self.latency = LatencyStats()
        self.model_latency = LatencyStats()
        self.counts = collections.Counter()
        self.last_size = None
        self.last_error = ''
        self.newest: Optional[tuple] = None     # (stamp, monotonic arrival) of the newest frame
        from video_perception.streaming.stage import StreamingStage
        self.streaming = StreamingStage(self.params, detector.bundle)
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.apply_parameters(self.params)

    # -- transport side -------------------------------------------------------------------------
    def on_image(self, msg) -> None:
        """The subscription callback: note the arrival, keep only the newest frame, return."""
        t_recv = time.monotonic()
        self.counts['received'] += 1
        stamp = stamp_ns_of(msg.header.stamp)
        with self._lock:
            self.stamps.observe(stamp)
            self.newest = (stamp, t_recv)
        self.slot.put((msg, t_recv))

    def on_parameters(self, changes: Dict[str, Any]) -> None:
        """Run-time parameter change: applied before the next frame is processed."""
        self.params.update(changes)
        self.apply_parameters(changes)

    def apply_parameters(self, changes: Dict[str, Any]) -> None:
        # the detector's own parameters are read on every frame: changeable while serving
        live = {k: v for k, v in changes.items() if k in self.detector.parameters}
        live = self.streaming.detector_settings(live)
        if live:
            self.detector.configure(**live)

    # -- worker side ----------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self.slot.closed = False       # open again after a stop (lifecycle deactivate/activate)
        self._thread = threading.Thread(target=self._loop, name=f'{self.node_name}-worker',
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.slot.close()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            item = self.slot.take(timeout=0.2)
            if item is None:
                continue
            item = self.streaming.pick(item, self.slot, self.stamps.period_ns, item[1])
            try:
                self.process(*item)
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any one frame
                self.counts['failed_frames'] += 1
                self.last_error = f'{type(exc).__name__}: {exc}'
                if not self._stop.is_set():
                    self.warn('worker', f'{self.node_name}: frame failed: {self.last_error}')

    def output_stamp_ns(self, stamp_ns: int) -> int:
        with self._lock:
            period = self.stamps.period_ns
        return output_stamp_ns(self.params, stamp_ns, period, self.detector.bundle.future_frames)

    def process(self, msg, t_recv: float) -> bool:
        """Decode, detect and publish one frame; False (counted, one line logged) if bad."""
        t_start = time.monotonic()
        try:
            frame = self.decode(msg)
        except (ValueError, TypeError) as exc:
            self.counts['bad_frames'] += 1
            self.last_error = str(exc)
            self.warn('bad', f'{self.node_name}: skipped a bad image: {exc}')
            return False
        size = (int(frame.shape[1]), int(frame.shape[0]))
        if self.last_size is not None and size != self.last_size:
            self.counts['size_changes'] += 1
            self.warn('size', f'{self.node_name}: image size changed from '
                      f'{self.last_size[0]}x{self.last_size[1]} to {size[0]}x{size[1]}')
        self.last_size = size
        stamp = stamp_ns_of(msg.header.stamp)
        t0 = time.monotonic()
        try:
            dets = self.detector.detect(frame, stamp)
            dets, target = self.streaming.apply(0, dets, stamp, self.stamps.period_ns, size,
                                                self.newest, time.monotonic() - t_start)
        except (ValueError, RuntimeError) as exc:
            self.counts['failed_frames'] += 1
            self.last_error = str(exc)
            self.warn('detect', f'{self.node_name}: detection failed on a frame: {exc}')
            return False
        self.model_latency.add(time.monotonic() - t0)
        header = self.make_header(msg.header, self.output_stamp_ns(stamp) if target is None
                                  else target)
        self.publish_detections(dets, header, frame)
        self.latency.add(time.monotonic() - t_recv)
        self.counts['processed'] += 1
        return True

    # -- diagnostics ----------------------------------------------------------------------------
    @property
    def dropped(self) -> int:
        return self.slot.dropped

    def diagnostics_values(self) -> List[tuple]:
        """(key, value) pairs for the DiagnosticStatus, all as strings."""
        det = self.detector
        values = [
            ('backend', str(det.backend_description)),
            ('frames_received', str(self.counts['received'])),
            ('frames_processed', str(self.counts['processed'])),
            ('frames_dropped', str(self.dropped)),
            ('frames_missing_by_stamp', str(self.stamps.missed)),
            ('bad_frames', str(self.counts['bad_frames'])),
            ('failed_frames', str(self.counts['failed_frames'])),
            ('size_changes', str(self.counts['size_changes'])),
            ('latency_ms_median', f'{self.latency.median():.2f}'),
            ('latency_ms_p95', f'{self.latency.p95():.2f}'),
            ('model_ms_median', f'{self.model_latency.median():.2f}'),
            ('stamp_mode', str(self.params.get('stamp_mode', 'input'))),
        ]
        values += det.diagnostics() + self.streaming.diagnostics()
        if self.last_error:
            values.append(('last_error', self.last_error))
        return values

    def diagnostics_level(self) -> tuple:
        """(level, message): 0 OK, 1 WARN (bad frames or nothing served yet)."""
        if self.counts['received'] == 0:
            return 1, 'no images received yet'
        if self.counts['bad_frames'] or self.counts['failed_frames']:
            return 1, (f"serving; {self.counts['bad_frames']} bad and "
                       f"{self.counts['failed_frames']} failed frames so far")
        return 0, 'serving'


def build_core(node_name: str, detector,
               publish_detections: Callable[[Any, Any, np.ndarray], None],
               params: Optional[Dict[str, Any]] = None,
               log_warning: Callable[[str], None] = print) -> NodeCore:
    """The NodeCore of a loaded detector (node, node bench, scripts/bench): its family's
    defaults updated by ``params``; images decoded in the bundle's pixel order."""
    values = default_parameters(bundle_family(detector.bundle))
    values.update(params or {})
    return NodeCore(node_name, values, detector, frame_decoder(detector.bundle.pixel_format),
                    publish_detections, log_warning=log_warning)


def frame_decoder(order: str) -> Callable[[Any], np.ndarray]:
    """Image or CompressedImage -> [h, w, 3] uint8 in pixel ``order`` (raises ValueError)."""
    from video_perception import image_codec, msgs

    def decode(msg) -> np.ndarray:
        if isinstance(msg, msgs.CompressedImage):
            return image_codec.decode_compressed(msg, order)
        return image_codec.decode_image_msg(msg, order)
    return decode


def _header_with_stamp(header, stamp_ns: int):
    """A copy of ``header`` (frame_id kept) with ``stamp_ns`` as its stamp."""
    out = copy.copy(header)
    out.stamp = stamp_of_ns(stamp_ns, type(header.stamp))
    return out
