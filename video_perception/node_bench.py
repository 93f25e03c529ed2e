"""What the node adds around the model, measured in one process (``make bench``, the node bench).

Per frame, as on the robot: the Image arrives as CDR bytes (deserialise), the node core decodes
it, the detector letterboxes, runs the graphs and decodes, the node builds the Detection2DArray
and serialises it. ``overhead_ms`` = that whole path minus the time spent inside the graphs
(``model_ms``, which includes ``simulate_latency_ms``); ``buffer_ms`` = the feature buffer's read
+ push for the bundle's real feature shapes (families with buffered features). DDS transmission
itself is not included (it depends on the network); test_node_e2e_dds.py measures it end to end.

``NodePath`` is the one place the benchmarked path is assembled: ``bench_node`` here and the
per-stage table of ``scripts/bench_node.py`` both time it. Any registered family runs.
"""
from __future__ import annotations

import time
from typing import Callable, Dict, List, Optional

import numpy as np

from video_perception import msgs
from video_perception.backends.base import BackendOptions
from video_perception.feature_buffer import FeatureBuffer

PERIOD_NS = 33_333_333      # stamps of the benchmarked frames: a 30 Hz camera


def _frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), np.uint8)     # [H, W, 3] BGR


def image_bytes(frame: np.ndarray, stamp_ns: int = 0) -> bytes:
    """sensor_msgs/Image (bgr8) of ``frame`` as CDR bytes: what the transport hands the node."""
    from video_perception.node_runner import image_to_msg
    from video_perception.transport import cdr
    header = msgs.Header(stamp=msgs.Time.from_ns(stamp_ns), frame_id='camera')
    return cdr.serialize(image_to_msg(frame, header, 'bgr'))


class NodePath:
    """A detector in a NodeCore fed CDR bytes, publishing serialised Detection2DArrays.

    ``whole()`` runs one frame through the whole path and returns its seconds minus the model
    time (``last_total_s`` keeps the whole); ``stages()`` gives a callable per step, each on its
    own input, to show where the time goes.
    """

    def __init__(self, detector, payload: bytes, params: Optional[dict] = None):
        from video_perception.node_core import build_core
        from video_perception.ros_convert import detections_to_msg
        from video_perception.transport import cdr
        self.det, self.payload = detector, payload
        self.sent: List[bytes] = []
        self.core = build_core('bench', detector, lambda d, header, _frame: self.sent.append(
            cdr.serialize(detections_to_msg(d, header))), params, log_warning=lambda _: None)
        self.stamp_ns = 0
        self.last_total_s = 0.0

    def whole(self) -> float:
        """What the DDS callback receives (bytes) -> what the DDS writer sends (bytes)."""
        from video_perception.transport import cdr
        self.stamp_ns += PERIOD_NS
        t0 = time.perf_counter()
        msg = cdr.deserialize(self.payload, msgs.Image)
        msg.header.stamp = msgs.Time.from_ns(self.stamp_ns)
        if not self.core.process(msg, time.monotonic()):
            raise RuntimeError(f'node path failed: {self.core.last_error}')
        self.last_total_s = time.perf_counter() - t0
        return self.last_total_s - self.det.model_ms / 1000.0

    def stages(self) -> Dict[str, Callable[[], object]]:
        """Deserialise, decode, letterbox, post-process, build and serialise, one callable each
        (post-processing on the outputs of the last ``whole``)."""
        from video_perception import image_codec
        from video_perception.letterbox import preprocess
        from video_perception.ros_convert import detections_to_msg
        from video_perception.transport import cdr
        det, payload, order = self.det, self.payload, self.det.bundle.pixel_format
        if not det.last_outputs:
            self.whole()
        msg = cdr.deserialize(payload, msgs.Image)
        frame = image_codec.decode_image_msg(msg, order)
        _, transform = preprocess(frame, det.bundle)
        raw = det.last_outputs
        dets = det.decode(raw, transform)
        out_msg = detections_to_msg(dets, msg.header)
        return {
            'deserialise Image (CDR -> msg)': lambda: cdr.deserialize(payload, msgs.Image),
            'decode to BGR': lambda: image_codec.decode_image_msg(msg, order),
            'letterbox + normalise': lambda: preprocess(frame, det.bundle),
            'postprocess (decode, NMS)': lambda: det.decode(raw, transform),
            'build Detection2DArray': lambda: detections_to_msg(dets, msg.header),
            'serialise Detection2DArray': lambda: cdr.serialize(out_msg),
        }


def bench_node(model_path: str, backend: str = 'onnxruntime', width: int = 1920,
               height: int = 1200, frames: int = 30, warmup: int = 3,
               options: Optional[BackendOptions] = None,
               simulate_latency_ms: float = 0.0) -> Dict[str, float]:
    """Median per-frame milliseconds: ``total_ms``, ``model_ms``, ``overhead_ms``, ``buffer_ms``.

    Args:
        model_path: a bundle folder of any registered family; backend: as the node parameter.
        width, height: camera image size (1920x1200: Argoverse's front camera).
        frames: timed frames after ``warmup`` untimed ones.
    """
    from video_perception.detector import load_detector
    det = load_detector(model_path, backend, options or BackendOptions(), log=lambda s: None,
                        simulate_latency_ms=simulate_latency_ms)
    # the core applies live parameters: it must hold the one asked for
    path = NodePath(det, image_bytes(_frame(width, height)),
                    {'simulate_latency_ms': simulate_latency_ms})
    totals, models = [], []
    for i in range(warmup + frames):
        path.whole()
        if i >= warmup:
            totals.append(path.last_total_s * 1000.0)
            models.append(det.model_ms)
    out = {'total_ms': float(np.median(totals)), 'model_ms': float(np.median(models)),
           'overhead_ms': float(np.median(np.subtract(totals, models))),
           'frames': float(frames), 'width': float(width), 'height': float(height)}
    if det.bundle.features:
        out['buffer_ms'] = bench_buffer({f.name: f.shape for f in det.bundle.features},
                                        det.bundle.history_frames, det.bundle.history_step)
    det.close()
    return out


def bench_buffer(shapes: Dict[str, tuple], frames: int, step: int = 1,
                 iterations: int = 200) -> float:
    """Median ms of one history read + one push (what the node pays per frame for the buffer)."""
    buf = FeatureBuffer(shapes, frames, step)
    feats = {n: np.random.default_rng(0).random(s, dtype=np.float32) for n, s in shapes.items()}
    buf.prime(feats)
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        inputs = buf.history_inputs()
        buf.push(feats)
        times.append((time.perf_counter() - t0) * 1000.0)
    del inputs
    return float(np.median(times))
